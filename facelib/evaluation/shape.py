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
