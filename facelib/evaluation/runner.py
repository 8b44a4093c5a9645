"""One evaluation runner for every method (DESIGN 2, 7).

``evaluate(predict, root, ...)`` runs a method's ``predict`` over a split of a face set (the
synthetic benchmark or a converted real set, :mod:`facelib.data.folder`), computes every metric
of :mod:`facelib.metrics` that the set's annotations allow, and merges the result under the
method's name into ``results/<chapter>/<profile>/metrics.json`` with the run's config — the file
the chapters and the benchmark chapter read.

``predict`` is a :class:`~facelib.methods.base.Predictor` (a trained method, a refinement, the
mean face, ...) or a function; either takes ``(B, 3, H, W)`` float RGB in ``[0, 1]`` and returns a
:class:`~facelib.methods.base.Prediction`: ``(B, layout.total)`` coefficients and, when it segments
the face, a ``(B, 1, H, W)`` mask (1 = face, 0 = outlier) for the segmentation scores (a reader's
function may return the coefficients alone).

Per input view (``clean``, ``occluded``, ``noisy``) the runner reports:

* ``landmark_me``, ``landmark_mse_x``, ``landmark_mse_y`` — ORN's errors, in pixels of a 224 px
  crop (ORN's CelebA setting), and ``landmark_me_normalised`` (coordinates ÷ image size; ORN's
  AFLW2000-3D setting) — against the ground-truth 68 points;
* ``histogram_dissimilarity`` — render vs the clean image in the rendered face region;
* ``visible_rmse`` — FOCUS's fitting RMSE against the input inside the visible face (the ground
  truth visible mask for occluded inputs, the face mask otherwise) ∩ the rendered region;
* ``seg_acc``/``seg_ppv``/``seg_tpr``/``seg_f1`` — when ``predict`` returns a mask;
* ``perceptual_<embedder>`` — ROGUE's Algorithm 1 for each embedder available here (the others
  are listed under ``skipped`` with the reason);
* ``shape_v2v_mm`` (all vertices pooled, after a similarity alignment), ``identity_v2v_mm`` (per
  face: the predicted identity with the true expression, :func:`facelib.metrics.identity_v2v`;
  not for a method that predicts its own mesh) and ``shape_s2m_mm`` (NoW-style: ground-truth
  surface points to the predicted surface after landmark + ICP alignment) — when the set stores
  ground-truth coefficients.

Each metric is a :func:`facelib.metrics.summary` (mean, std, median, n); for the occluded and
noisy views, ``by_kind`` repeats the means per occluder / noise type.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import metrics as M
from .. import occlusion, recognition, results
from ..camera import REFERENCE_SIZE
from ..data.folder import FaceFolder, read_index
from ..errors import FacelibError
from ..methods.base import Prediction, predict_function


def model_for(index: dict):
    """The :class:`~facelib.morphable.MorphableModel` a set's ``index.json`` names."""
    from ..morphable import MorphableModel

    name = index.get("model", "")
    if name.startswith("ict-facekit-light"):
        region = name.split("/", 1)[1] if "/" in name else "narrow"
        return MorphableModel.from_ict(region=region)
    raise FacelibError(f"the set names model {name!r}; pass model=MorphableModel(...) to evaluate()")


def rounded(values: torch.Tensor) -> list:
    """Per-face values ``(N,)`` for the JSON file: 6 significant digits, NaN as null."""
    return [float(f"{x:.6g}") if math.isfinite(x) else None for x in values.tolist()]


class Collector:
    """Per-view values of every metric: per image (one value per face) or pooled (many values per
    face, e.g. per vertex, with the face's mean kept separately), their occluder / noise kinds and
    the faces' indices and identities — so that :mod:`facelib.stats` can compare methods face by
    face and resample identities."""

    def __init__(self):
        self.values = defaultdict(lambda: defaultdict(list))
        self.per_face = defaultdict(lambda: defaultdict(list))
        self.faces = defaultdict(list)
        self.identities = defaultdict(list)
        self.kinds = defaultdict(list)

    def add_faces(self, view: str, indices, identities=None) -> None:
        """Declare the faces (dataset indices) whose values the next :meth:`add` calls of ``view``
        bring, and each face's identity (the cluster :mod:`facelib.stats` resamples; ``None``: not
        known, then faces are resampled one by one)."""
        self.faces[view] += [int(i) for i in indices]
        if identities is not None:
            self.identities[view] += [int(i) for i in identities]

    def add(self, view: str, name: str, values, per_face=None) -> None:
        """``values``: one per face, or pooled values (then ``per_face`` gives one per face)."""
        v = torch.as_tensor(values, dtype=torch.float64).detach().cpu().flatten()
        self.values[view][name].append(v)
        self.per_face[view][name].append(v if per_face is None else
                                         torch.as_tensor(per_face, dtype=torch.float64).detach().cpu().flatten())

    def report(self, per_image: dict[str, bool]) -> dict:
        """``{view: {metric: summary, …, "by_kind": {kind: {metric: mean}}, "faces": [index, …],
        "identities": [identity per face], "per_face": {metric: [value per face]}}}``
        (``identities`` where every face's is known); ``summary`` pools every value (as NoW pools
        scan points), ``per_face`` is what paired comparisons resample."""
        out = {}
        for view, table in self.values.items():
            row = {name: M.summary(torch.cat(chunks)) for name, chunks in table.items()}
            kinds = self.kinds.get(view)
            if kinds and any(kinds):
                groups = defaultdict(dict)
                for name, chunks in table.items():
                    if not per_image.get(name, True):
                        continue
                    v = torch.cat(chunks)
                    for kind in sorted(set(kinds)):
                        sel = torch.tensor([k == kind for k in kinds])
                        groups[kind][name] = M.summary(v[sel])["mean"]
                row["by_kind"] = dict(groups)
            faces = self.faces.get(view, [])
            per_face = {name: torch.cat(chunks) for name, chunks in self.per_face[view].items()}
            if faces:
                row["faces"] = faces
                if len(self.identities.get(view, [])) == len(faces):
                    row["identities"] = self.identities[view]
                row["per_face"] = {name: rounded(v) for name, v in per_face.items() if len(v) == len(faces)}
            out[view] = row
        return out


def evaluate(predict, root: str | Path, *, method: str, chapter: str, profile="auto",
             split: str = "test", views=("clean", "occluded", "noisy"),
             embedders=recognition.NAMES, batch_size: int = 16, limit: int | None = None,
             scan_points: int = 1000, icp_iterations: int = 3, model=None, write: bool = True,
             config: dict | None = None, progress: bool = True) -> dict:
    """Evaluate ``predict`` on ``split`` of the set at ``root``; returns (and with ``write``
    merges into ``results/<chapter>/<profile>/metrics.json``) ``{"views": {view: {metric:
    summary}}, "skipped": {metric: reason}, "config": ...}``."""
    from tqdm.auto import tqdm

    from .. import profile as profiles
    from ..data.synthetic import vertices as gt_vertices
    from ..render import Renderer

    predict = predict_function(predict)
    prof = profiles.resolve(profile) if isinstance(profile, str) else profile
    index = read_index(root)
    views = [v for v in views if v in index["views"]]
    if not views:
        raise FacelibError(f"none of the views requested is in {root} (it has {index['views']})")
    masks = [m for m in ("face_mask", "visible_mask") if m in index.get("masks", [])]
    dataset = FaceFolder(root, split, views=tuple(views), masks=tuple(masks))
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise FacelibError(f"split {split!r} of {root} is empty")
    model = model or model_for(index)
    size = int(index["config"].get("image_size", dataset[0][views[0]].shape[-1]))
    renderer = Renderer(model, size)
    mm = M.millimetres_per_unit(model.info.units)
    annotations = dataset.annotations

    embed, skipped = {}, {}
    for name in embedders:
        try:
            embed[name] = recognition.load(name, allow_download=False)
        except recognition.EmbedderUnavailable as err:
            skipped[f"perceptual_{name}"] = str(err)

    faces = model.triangles.numpy()
    now_lm = model.landmarks[list(M.NOW_LANDMARKS)]
    col = Collector()
    has_mask = False
    started = time.perf_counter()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=batch_size)
    for batch in tqdm(loader, desc=f"evaluate {method}", disable=not progress):
        idx = batch["index"].numpy()
        lm_gt = batch["landmarks68"].double()
        clean = batch.get("clean")
        with torch.no_grad():
            preds = {v: predict(batch[v]) for v in views}
            clean_coeffs = preds["clean"].coefficients.detach().float().cpu() if "clean" in preds else None
            # shared by every view of this batch: the clean images' embeddings and the true meshes
            clean_embeddings = ({name: emb.embed(clean, lm_gt) for name, emb in embed.items()}
                                if clean is not None and clean_coeffs is not None else {})
            truth_v = gt_vertices(model, batch["coefficients"]).double() if "coefficients" in batch else None
            # the clean prediction's mesh, landmarks and render embeddings, for the invariance metrics:
            # taken from the clean view's own pass when it comes first (no second render or embedding)
            twin = (clean_twin(model, renderer, preds["clean"], clean, embed, lm_gt)
                    if clean_coeffs is not None and views[0] != "clean" else None)
            for v in views:
                seg = preds[v].mask
                coeffs = preds[v].coefficients.detach().float().cpu()
                image = batch[v]
                col.add_faces(v, idx, batch.get("identity"))
                out = renderer(coeffs, background=image)
                out.image = out.image.clamp(0, 1)  # what a viewer sees; shading may overshoot
                region = out.mask
                if v == "occluded":
                    col.kinds[v] += [str(k) for k in annotations["occluder"][idx]] if "occluder" in annotations else []
                elif v == "noisy" and "noise" in annotations:
                    col.kinds[v] += [str(k) for k in annotations["noise"][idx]]
                reference = clean if clean is not None else image
                for name, values in render_metrics(out, lm_gt, reference, size).items():
                    col.add(v, name, values)
                truth = batch.get("visible_mask" if v == "occluded" else "face_mask")
                if truth is not None:
                    col.add(v, "visible_rmse", M.visible_rmse(image, out.image, truth * region))
                if seg is not None and truth is not None:
                    has_mask = True
                    for key, val in M.segmentation_scores(seg.float().cpu(), truth, region).items():
                        col.add(v, f"seg_{key}", val)
                rendered = {}  # each embedder's features of the render the perceptual error scores
                if clean_embeddings:
                    if v == "clean":  # the swap changes nothing, and the background is the same
                        render = out.image
                    else:
                        swapped = M.rogue_swap(coeffs, clean_coeffs, model.layout)
                        render = renderer(swapped, background=clean).image.clamp(0, 1)
                    for name, emb in embed.items():  # ROGUE's perceptual error (M.perceptual_error)
                        rendered[name] = emb.embed(render, lm_gt)
                        col.add(v, f"perceptual_{name}", M.embedding_distance(clean_embeddings[name], rendered[name]))
                pred_v = predicted_vertices(model, preds[v])
                if v == "clean" and twin is None and clean_coeffs is not None:
                    twin = CleanTwin(pred_v, out.landmarks, rendered, coeffs)
                if twin is not None and v != "clean":
                    for name, values in invariance(twin, pred_v, out, rendered if clean_embeddings else None,
                                                   mm, size, coeffs, model).items():
                        col.add(v, name, values)
                if truth_v is not None:
                    v2v = M.vertex_error(pred_v, truth_v, mm)
                    col.add(v, "shape_v2v_mm", v2v, per_face=v2v.mean(1))
                    if preds[v].vertices is None:  # a mesh of its own has no identity coefficients to score
                        col.add(v, "identity_v2v_mm", M.identity_v2v(model, preds[v].coefficients, batch["coefficients"]))
                    s2m = []
                    for b in range(len(idx)):
                        rng = np.random.default_rng(int(idx[b]))  # same points for every view
                        pick = rng.choice(truth_v.shape[1], min(scan_points, truth_v.shape[1]), replace=False)
                        s2m.append(M.scan_to_mesh(truth_v[b, pick].numpy(), truth_v[b, now_lm].numpy(),
                                                  pred_v[b].numpy(), faces, pred_v[b, now_lm].numpy(), mm,
                                                  iterations=icp_iterations))
                    col.add(v, "shape_s2m_mm", np.concatenate(s2m), per_face=[d.mean() for d in s2m])
    seconds = time.perf_counter() - started
    report = col.report(per_image={"shape_v2v_mm": False, "shape_s2m_mm": False})
    if not has_mask:
        skipped["segmentation"] = f"{method} predicts no face/outlier mask"
    run_config = {"root": results.portable_path(root), "set": index.get("name"), "set_checksum": index.get("checksum"),
                  "split": split, "images": n, "views": views, "batch_size": batch_size,
                  "scan_points": scan_points, "icp_iterations": icp_iterations,
                  "embedders": sorted(embed), "seconds": round(seconds, 2), **(config or {})}
    record = {"views": report, "skipped": skipped, "config": run_config}
    if write:
        merge_into_results(chapter, prof, method, record)
    return record


def predicted_vertices(model, prediction: Prediction) -> torch.Tensor:
    """The ``(B, V, 3)`` float64 mesh of a prediction, in the model's frame: its own vertices where it
    brings them (e.g. FOCUS-MP's misfit-corrected mesh), else the model's shape of its identity and
    expression."""
    if prediction.vertices is not None:
        return prediction.vertices.detach().cpu().double()
    c = model.layout.split(prediction.coefficients.detach().float().cpu())
    return model.shape(c["id"], c["exp"]).double()


@dataclass
class CleanTwin:
    """What a method predicted from the clean twin of a batch, for the invariance metrics: its mesh
    ``(B, V, 3)``, its rendered landmarks ``(B, 68, 2)``, each embedder's features ``(B, D)`` of its
    render over the clean image, and its coefficients ``(B, P)`` (on the CPU)."""

    vertices: torch.Tensor
    landmarks: torch.Tensor
    embeddings: dict
    coefficients: torch.Tensor | None = None


def clean_twin(model, renderer, prediction: Prediction, clean: torch.Tensor, embed: dict, landmarks) -> CleanTwin:
    """:class:`CleanTwin` of ``prediction`` (made from the ``(B, 3, H, W)`` clean images ``clean``)."""
    out = renderer(prediction.coefficients.detach().float().cpu(), background=clean)
    image = out.image.clamp(0, 1)
    return CleanTwin(predicted_vertices(model, prediction), out.landmarks,
                     {name: emb.embed(image, landmarks) for name, emb in embed.items()},
                     prediction.coefficients.detach().float().cpu())


def invariance(twin: CleanTwin, vertices: torch.Tensor, out, rendered: dict | None, mm: float,
               size: int, coefficients: torch.Tensor | None = None, model=None) -> dict[str, torch.Tensor]:
    """How far a method's prediction moves between a face's clean twin and its occluded or noisy view
    (issue 32; where ORN and ROGUE put their mechanism), per face ``(B,)``: ``invariance_v2v_mm`` —
    the mean vertex distance between the two meshes after similarity alignment
    (:func:`facelib.metrics.vertex_error`), ``invariance_landmark_px`` — the mean distance between
    their rendered landmarks (px at 224), ``invariance_perceptual_<embedder>`` — the embedding
    distance between the clean prediction's render and the view's identity and texture rendered in
    the clean twin's pose and light (``rendered``: each embedder's features of that render, as the
    perceptual error renders and embeds it; ``None``: skip); given the view's ``coefficients``
    ``(B, P)`` and the ``model``, ROGUE's ‖C_O − C_G‖ split into who and what colour
    (:func:`facelib.metrics.identity_albedo_change`): ``invariance_identity_mm`` — the mean vertex
    distance between the two identities worn with no expression, after alignment, and
    ``invariance_albedo`` — the mean absolute per-vertex albedo difference (RGB in [0, 1]).
    A constant prediction scores 0 on all of them: read them beside accuracy."""
    scores = {"invariance_v2v_mm": M.vertex_error(vertices, twin.vertices, mm).mean(1),
              "invariance_landmark_px": M.landmark_errors(out.landmarks, twin.landmarks,
                                                          normaliser=size / REFERENCE_SIZE)["me"]}
    for name, features in (rendered or {}).items():
        scores[f"invariance_perceptual_{name}"] = M.embedding_distance(twin.embeddings[name], features)
    if coefficients is not None and model is not None and twin.coefficients is not None:
        identity, albedo = M.identity_albedo_change(model, coefficients, twin.coefficients)
        scores["invariance_identity_mm"], scores["invariance_albedo"] = identity, albedo
    return scores


def render_metrics(out, landmarks: torch.Tensor, reference: torch.Tensor, size: int) -> dict[str, torch.Tensor]:
    """The per-image numbers ``(B,)`` every view and condition reports for a render ``out``
    (clamped) — ORN's: landmark ME and per-axis MSE in px of a 224 px crop, ME ÷ image size, and the
    histogram dissimilarity to ``reference`` ``(B, 3, H, W)`` in the rendered region;
    ``landmarks`` ``(B, 68, 2)`` in px of the ``size`` px image."""
    lme = M.landmark_errors(out.landmarks, landmarks, normaliser=size / REFERENCE_SIZE)
    return {"landmark_me": lme["me"], "landmark_mse_x": lme["mse_x"], "landmark_mse_y": lme["mse_y"],
            "landmark_me_normalised": M.landmark_errors(out.landmarks, landmarks, size)["me"],
            "histogram_dissimilarity": M.histogram_dissimilarity(reference, out.image, out.mask)}


def condition_seeds(condition: str, indices, seed: int = 0) -> list[int]:
    """The occluder seed of each sample under one test condition: fixed by (seed, condition, sample
    index), so every method sees the very same occluded images."""
    import zlib

    base = zlib.crc32(condition.encode()) + 1_000_003 * seed
    return [base * 100_003 + int(i) for i in indices]


def score_condition(predict, renderer, clean, landmarks, indices, name, kinds, seed, col, identities=None) -> None:
    """Add to ``col`` under ``name`` the :func:`render_metrics` of ``predict`` on ``clean``
    ``(B, 3, H, W)`` occluded with ``kinds`` (seeded by :func:`condition_seeds`; no occluder when
    empty); ``landmarks`` ``(B, 68, 2)``; ``identities``: each face's, for the cluster bootstrap."""
    shown = clean if not kinds else occlusion.occlude_batch(clean, landmarks, kinds, condition_seeds(name, indices, seed)).images
    with torch.no_grad():
        coeffs = predict_function(predict)(shown).coefficients.detach().float().cpu()
        out = renderer(coeffs, background=shown)
    out.image = out.image.clamp(0, 1)
    col.add_faces(name, indices, identities)
    for metric, values in render_metrics(out, landmarks.double(), clean, clean.shape[-1]).items():
        col.add(name, metric, values)


def occlusion_conditions(predict, root: str | Path, conditions: dict, *,
                         split: str = "test", limit: int | None = None, model=None, batch_size: int = 32,
                         seed: int = 0, progress: bool = False) -> dict:
    """``predict`` on the clean images of ``split`` occluded under each condition of ``conditions``
    (name → occluder kinds, empty = unoccluded), every method seeing the same occluders (ORN's
    Tables 1-2 and 5-7 use :data:`facelib.evaluation.protocols.orn.CONDITIONS`).

    Returns ``{condition: {metric: summary}}`` with :func:`render_metrics`' numbers (landmark ME and per-axis MSE in
    px of a 224 px crop, ME ÷ size, histogram dissimilarity against the clean image) — the shape
    of :func:`evaluate`'s ``views``, so :func:`facelib.evaluation.tables.metrics_table` prints it.
    """
    from tqdm.auto import tqdm

    from ..render import Renderer

    n, loader = split_batches(root, split, limit, ("clean",), batch_size=batch_size)
    model = model or model_for(read_index(root))
    renderer, col = None, Collector()
    for batch in tqdm(loader, desc="conditions", disable=not progress):
        clean = batch["clean"]
        renderer = renderer or Renderer(model, clean.shape[-1])
        for name, kinds in conditions.items():
            score_condition(predict, renderer, clean, batch["landmarks68"], batch["index"].tolist(), name,
                            kinds, seed, col, batch["identity"].tolist())
    return {**col.report({}), "images": n}


def merge_into_results(chapter: str, prof, method: str, record: dict) -> Path:
    """Put ``record``'s views under ``metrics[method]`` of the chapter's ``metrics.json``, keeping the
    other methods already there and what else the chapter stored for this method (e.g. chapter 9's
    inpainting scores under the same name); the run's config goes under ``config[method]``."""
    existing = results.existing_record(chapter, prof.name)
    metrics = existing.get("metrics", {})
    config = existing.get("config", {})
    metrics[method] = {**metrics.get(method, {}), "views": record["views"], "skipped": record["skipped"]}
    config[method] = record["config"]
    return results.write_metrics(chapter, prof, metrics, config)


class MeanFace:
    """The floor every trained method must clear, a :class:`~facelib.methods.base.Predictor` whose
    coefficients are all zero — the mean shape and texture, frontal, under ambient light (what a
    zero-initialised head predicts). With ``everything_face`` it also calls every pixel face, the
    floor of the segmentation scores."""

    name = "mean face"

    def __init__(self, model, everything_face: bool = False):
        self.model, self.everything_face = model, everything_face

    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images → ``(B, P)`` zeros (and a ``(B, 1, H, W)`` mask of ones)."""
        mask = torch.ones(len(images), 1, *images.shape[-2:]) if self.everything_face else None
        return Prediction(torch.zeros(len(images), self.model.layout.total), mask=mask)


def mean_face_predictor(model, everything_face: bool = False) -> MeanFace:
    """:class:`MeanFace` of ``model`` (the name the chapters use)."""
    return MeanFace(model, everything_face)


def image_key(image: torch.Tensor) -> bytes:
    """A key of an image's exact pixel content (``(3, H, W)``, compared as float32): how the reference
    predictors find a test image in the set."""
    import hashlib

    return hashlib.sha1(image.detach().cpu().float().contiguous().numpy().tobytes()).digest()


class SetLookup:
    """Every image of ``split`` of a synthetic set, found by its pixels (:func:`image_key`): its item
    index and view — so a reference predictor can answer for an image with what the set knows of it."""

    def __init__(self, root: str | Path, split: str):
        index = read_index(root)
        masks = tuple(m for m in ("face_mask", "visible_mask") if m in index.get("masks", []))
        self.root, self.split = root, split
        self.dataset = FaceFolder(root, split, views=tuple(index["views"]), masks=masks)
        self.items = [self.dataset[i] for i in range(len(self.dataset))]
        if self.items and "coefficients" not in self.items[0]:
            raise FacelibError(f"{root} stores no ground-truth coefficients (not a synthetic set)")
        self.where = {image_key(item[view]): (i, view) for i, item in enumerate(self.items) for view in index["views"]}

    def find(self, images: torch.Tensor) -> list[tuple[int, str]]:
        """``(item index, view)`` of each of ``images`` ``(B, 3, H, W)``."""
        try:
            return [self.where[image_key(im)] for im in images]
        except KeyError:
            raise FacelibError(f"an image is not in split {self.split!r} of {self.root}") from None

    def truth_mask(self, i: int, view: str) -> torch.Tensor | None:
        """The segmentation the evaluation scores in ``view`` (the visible face of an occluded view,
        else the face), ``(1, H, W)``, or ``None`` where the set stores no masks."""
        return self.items[i].get("visible_mask" if view == "occluded" else "face_mask")


def ground_truth_predictor(root: str | Path, split: str = "test", change: Callable | None = None,
                           masks: bool = False) -> Callable:
    """A reference ``predict`` for checking metrics: it returns each image's ground-truth
    coefficients (found by the image's exact pixel content in ``split`` of the synthetic set),
    optionally passed through ``change(coefficients) -> coefficients`` (e.g. the mean identity);
    with ``masks`` also the true segmentation (the ceiling of the segmentation scores).
    Perfect predictions must score 0 on every error metric; ``change`` shows what each metric sees."""
    lookup = SetLookup(root, split)

    def predict(images: torch.Tensor):
        found = lookup.find(images)
        c = torch.stack([lookup.items[i]["coefficients"] for i, _ in found])
        c = change(c.clone()) if change else c
        if not masks:
            return c
        truth = [lookup.truth_mask(i, view) for i, view in found]
        return Prediction(c, mask=torch.stack(truth).float() if all(t is not None for t in truth) else None)

    return predict


def clean_input_oracle(predictor, root: str | Path, split: str = "test") -> Callable:
    """The **clean-input oracle** of a method (issue 32): for an occluded or noisy test image, the
    method's prediction from the image's clean twin — what a perfectly invariant method would score
    on that view. ``predictor``: a :class:`~facelib.methods.base.Predictor` or a ``predict``
    function; its mask is dropped (a segmentation of the clean twin is not one of the view)."""
    lookup = SetLookup(root, split)
    predict = predict_function(predictor)

    def oracle(images: torch.Tensor) -> Prediction:
        clean = torch.stack([lookup.items[i]["clean"] for i, _ in lookup.find(images)])
        p = predict(clean)
        return Prediction(p.coefficients, vertices=p.vertices)

    return oracle


def split_batches(root, split: str, limit: int | None, views, masks=(), batch_size: int = 32):
    """``(n, loader)``: the first ``limit`` samples (all with ``None``) of ``split`` at ``root`` with
    ``views`` and ``masks``, in batches, in index order — the same faces for every method."""
    dataset = FaceFolder(root, split, views=tuple(views), masks=tuple(masks))
    n = len(dataset) if limit is None else min(limit, len(dataset))
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=batch_size)
    return n, loader


def albedo_bleeding(predict, root: str | Path, *, split: str = "test", limit: int | None = None,
                    model=None, batch_size: int = 32) -> dict:
    """:func:`facelib.metrics.albedo_bleeding` of ``predict`` over a split whose samples have
    clean and occluded views: ``{"shift" | "toward" | "shift_lit" | "toward_lit": summary,
    "images": n, "faces": [index], "identities": [identity], "per_face": {key: [value per face]}}``."""
    predict = predict_function(predict)
    model = model or model_for(read_index(root))
    n, loader = split_batches(root, split, limit, ("clean", "occluded"), ("face_mask", "occluder_mask"), batch_size)
    keys = ("shift", "toward", "shift_lit", "toward_lit")
    values, faces, identities = {k: [] for k in keys}, [], []
    with torch.no_grad():
        for b in loader:
            out = M.albedo_bleeding(model, predict(b["occluded"]).coefficients.float().cpu(),
                                    predict(b["clean"]).coefficients.float().cpu(), b["occluded"], b["clean"],
                                    b["face_mask"] * b["occluder_mask"])
            for k in keys:
                values[k].append(out[k])
            faces += b["index"].tolist()
            identities += b["identity"].tolist()
    cat = {k: torch.cat(v) for k, v in values.items()}
    return {**{k: M.summary(v) for k, v in cat.items()}, "images": n, "faces": faces, "identities": identities,
            "per_face": {k: rounded(v) for k, v in cat.items()}}


def framing(predict, root: str | Path, *, split: str = "test", view: str = "clean",
            limit: int | None = None, model=None, batch_size: int = 32) -> dict:
    """Where ``predict`` puts the face in the image, per face of ``view``: ``coverage`` (fraction of
    the image its render covers) and ``centre_offset`` (px of a 224 px crop between the centroids
    of the projected and the true 68 landmarks); ``off_frame`` is the fraction of faces whose
    render covers no pixel at all. A loss that only compares renders with each other (MOPI's
    L_perc alone) is minimised by a face moved out of the picture: this is how to see it.

    Returns ``{"coverage" | "centre_offset": summary, "off_frame": float, "images": n,
    "faces": [index], "per_face": {key: [value per face]}}``."""
    from ..render import Renderer

    predict = predict_function(predict)
    model = model or model_for(read_index(root))
    n, loader = split_batches(root, split, limit, (view,), batch_size=batch_size)
    coverage, offset, faces, identities, renderer = [], [], [], [], None
    with torch.no_grad():
        for b in loader:
            images = b[view]
            renderer = renderer or Renderer(model, images.shape[-1])
            out = renderer(predict(images).coefficients.detach().float().cpu())
            coverage.append(out.mask.flatten(1).mean(1).double())
            centre = out.landmarks.double().mean(1) - b["landmarks68"].double().mean(1)
            offset.append(centre.norm(dim=-1) * REFERENCE_SIZE / images.shape[-1])
            faces += b["index"].tolist()
            identities += b["identity"].tolist()
    cov, off = torch.cat(coverage), torch.cat(offset)
    return {"coverage": M.summary(cov), "centre_offset": M.summary(off), "off_frame": float((cov == 0).double().mean()),
            "images": n, "faces": faces, "identities": identities, "per_face": {"coverage": rounded(cov), "centre_offset": rounded(off)}}


def shape_breakdown(predict, root: str | Path, *, split: str = "test", view: str = "clean",
                    limit: int | None = None, model=None) -> dict:
    """:func:`facelib.metrics.shape_breakdown` of ``predict`` on ``view`` of a synthetic split (all
    ``limit`` images in one batch), plus ``images``."""
    predict = predict_function(predict)
    model = model or model_for(read_index(root))
    n, loader = split_batches(root, split, limit, (view,), batch_size=10**9)
    b = next(iter(loader))
    with torch.no_grad():
        pred = predict(b[view]).coefficients
    out = M.shape_breakdown(model, pred, b["coefficients"])
    return {**out, "images": n}
