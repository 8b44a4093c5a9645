"""How far test-time refinement takes a trained method's shape (chapter 5, issue 15).

:func:`refinement_curve` refines the same clean test faces for an increasing number of steps,
with each landmark anchor of :class:`facelib.methods.refine.Refined` and, as an oracle bound, the
true landmarks, and reports per-face shape error, identity cosine and landmark error — the budget
a reader pays per face for each level of shape accuracy.
"""

from __future__ import annotations

import time

import torch

from .. import metrics as M
from ..camera import REFERENCE_SIZE
from ..data.folder import read_index
from ..methods.base import predict_function
from ..methods.refine import Refined, Refinement
from ..render import Renderer
from .runner import model_for, rounded, split_batches

#: the oracle anchor: the ground-truth landmarks (not available for a real photo)
TRUTH = "truth"


def refinement_curve(method, root, *, steps=(0, 50, 100, 200, 400), anchors=("network", "detector", TRUTH),
                     limit: int | None = 32, model=None, batch_size: int = 32, weights=None,
                     split: str = "test") -> dict:
    """Refine the predictions of ``method`` (a trained method or a predictor wrapping one, e.g. R-Net's
    :meth:`~facelib.methods.rnet.RNet.skin_masked`) on the first ``limit`` clean faces of ``split`` of
    the synthetic set at ``root`` for each number of ``steps`` and each anchor.

    Returns ``{"faces": [index], "identities": [identity], "mean_face": scores, "curves": {anchor:
    {steps: scores}}}`` where
    ``scores`` = ``{metric: summary, "per_face": {metric: [value]}, "seconds_per_face": s}`` for
    ``shape_v2v_mm``, ``identity_cosine`` and ``landmark_me`` (px at 224).
    """
    model = model or model_for(read_index(root))
    _, loader = split_batches(root, split, limit, ("clean",), batch_size=batch_size)
    batches = list(loader)
    faces = [int(i) for b in batches for i in b["index"]]
    identities = [int(i) for b in batches for i in b["identity"]]
    renderer = Renderer(model, batches[0]["clean"].shape[-1])

    def scores(make) -> dict:
        values, seconds = {"shape_v2v_mm": [], "identity_cosine": [], "landmark_me": []}, 0.0
        for b in batches:
            started = time.perf_counter()
            coeffs = make(b).detach().float().cpu()
            seconds += time.perf_counter() - started
            for k, v in M.shape_scores(model, coeffs, b["coefficients"]).items():
                values.setdefault(k, []).append(v)
            with torch.no_grad():
                lm = renderer.landmarks(coeffs)
            values["landmark_me"].append(M.landmark_errors(lm.double(), b["landmarks68"].double(),
                                                           normaliser=renderer.image_size / REFERENCE_SIZE)["me"])
        cat = {k: torch.cat(v) for k, v in values.items()}
        return {**{k: M.summary(v) for k, v in cat.items()}, "per_face": {k: rounded(v) for k, v in cat.items()},
                "seconds_per_face": seconds / max(len(faces), 1)}

    curves = {}
    for anchor in anchors:
        curves[anchor] = {}
        for k in steps:
            settings = {"weights": weights} if weights is not None else {}
            refined = Refined(method, Refinement(steps=k, anchor="network" if anchor == TRUTH else anchor, **settings))

            def make(b, refined=refined, anchor=anchor):
                return refined.predict(b["clean"], landmarks=b["landmarks68"] if anchor == TRUTH else None).coefficients

            curves[anchor][k] = scores(make)
            if anchor == "detector":
                curves[anchor][k]["detector_fallbacks"] = refined.fallbacks
    mean_face = scores(lambda b: torch.zeros(len(b["clean"]), model.layout.total))
    return {"faces": faces, "identities": identities, "mean_face": mean_face, "curves": curves}


def photo_check(method, photos, *, steps: int, fit_steps: int) -> dict:
    """Refinement and fitting on real photos, which have no 3D truth: landmark ME (px at 224)
    against the photos' dlib landmarks for the method, the method refined with each anchor (the
    ``"detector"`` anchor *is* those landmarks, so its error measures how well the fit follows a
    target on a real face), and plain analysis-by-synthesis from the mean face
    (:func:`facelib.fitting.fit`, ``fit_steps``), with the range of every fitted expression weight.

    Args:
        method: a trained method or a predictor wrapping one (as :func:`refinement_curve`).
        photos: :class:`facelib.data.miniset.AlignedPhotos` (images ``(N, 3, H, W)``, landmarks68
            ``(N, 68, 2)``, names).
    Returns:
        ``{variant: {"landmark_me": summary, "per_photo": [ME], "expression_range": [min, max]}, "photos": [name]}``.
    """
    from ..fitting import fit

    model = method.model
    images, target = photos.images.float(), photos.landmarks68.float()
    renderer = Renderer(model, images.shape[-1])
    variants = {
        "network": lambda: predict_function(method)(images).coefficients,
        "refined (network anchor)": lambda: Refined(method, Refinement(steps=steps)).predict(images).coefficients,
        "refined (detector anchor)": lambda: Refined(method, Refinement(steps=steps)).predict(
            images, landmarks=target).coefficients,
        "fit from the mean face": lambda: fit(renderer, images, target, torch.zeros(len(images), model.layout.total),
                                              steps=fit_steps).coeffs,
    }
    out = {"photos": list(photos.names)}
    for name, make in variants.items():
        coeffs = make().detach().float().cpu()
        with torch.no_grad():
            me = M.landmark_errors(renderer.landmarks(coeffs).double(), target.double(),
                                   normaliser=renderer.image_size / REFERENCE_SIZE)["me"]
        exp = model.layout.split(coeffs)["exp"]
        out[name] = {"landmark_me": M.summary(me), "per_photo": rounded(me),
                     "expression_range": [float(exp.min()), float(exp.max())]}
    return out
