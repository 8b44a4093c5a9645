"""A real textured 3D face scan (issue 33): does fitting move identity toward a real surface?

The synthetic set cannot answer this: its faces lie inside the model's span and share its albedo,
so any fit that explains the pixels also explains the shape. A real scan lies outside both. The
scan is menpo3d's "james" (asset ``face-scan``: a Di3D capture in millimetres, 6,393 vertices, a
photographic texture and 68 annotated 3D landmarks; BSD-3-Clause).

The protocol (:func:`scan_fit_grid`):

1. the scan is placed where the benchmark's camera sees the mean face — a similarity from its 68
   landmarks onto the mean face's (:func:`placed_scan`) — and rendered frontally with its own
   texture, unlit (the texture holds the capture's light) over grey (:func:`render_scan`);
2. each fit starts from the mean face and targets the render and the scan's own projected 68
   landmarks (a perfect detector: what is measured is the fit's objective, not dlib);
3. the fitted mesh is scored with the NoW protocol (:func:`facelib.metrics.scan_to_mesh`: seven
   landmarks, a similarity, ICP) over the scan's face region — its points within
   :data:`CROP_RADIUS_MM` of the nose tip, as NoW crops its scans — median in mm; once with the
   fitted identity and expression, once with the fitted identity alone (the person, not the smile).

The mean face is the floor: a fit whose scan-to-mesh median is above it has moved the surface away
from the person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import assets
from ..errors import FacelibError
from ..fitting import FitWeights, fit
from ..metrics import NOW_LANDMARKS, procrustes, scan_to_mesh
from ..rasterize import barycentrics, interpolate, rasterize
from ..render import Renderer

#: NoW's protocol measures the scan's face region; its points within this distance of the nose tip
#: (iBUG 30). 95 mm reaches the forehead and the jaw, short of the ears and the neck.
CROP_RADIUS_MM = 95.0

#: menpo3d's 68-point order (chin 17, left eye 6, right eye 6, left brow 5, nose 9, right brow 5,
#: mouth 20) → iBUG's (jaw, brows, nose, eyes, mouth). Checked by :func:`load_scan`: the first brow
#: and the first eye lie on the side of jaw point 0, and mouth, nose tip, eyes and brows rise in that
#: order from the chin.
_IBUG_FROM_MENPO3D = np.r_[0:17, 29:34, 43:48, 34:43, 17:29, 48:68]


@dataclass
class Scan:
    """A textured scan.

    Attributes:
        vertices: ``(N, 3)`` mm.
        triangles: ``(F, 3)`` vertex indices.
        corner_uv: ``(F, 3, 2)`` texture coordinates of each triangle's corners (u right, v up).
        texture: ``(3, H, W)`` in [0, 1].
        landmarks: ``(68, 3)`` mm, iBUG order.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    corner_uv: np.ndarray
    texture: torch.Tensor
    landmarks: np.ndarray


def read_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices ``(N, 3)``, triangles ``(F, 3)`` and corner texture coordinates ``(F, 3, 2)`` of a
    triangulated OBJ whose faces are written ``f v/vt v/vt v/vt``."""
    verts, uv, faces, corners = [], [], [], []
    for line in Path(path).read_text().splitlines():
        head, _, rest = line.partition(" ")
        if head == "v":
            verts.append([float(x) for x in rest.split()[:3]])
        elif head == "vt":
            uv.append([float(x) for x in rest.split()[:2]])
        elif head == "f":
            parts = [p.split("/") for p in rest.split()]
            if len(parts) != 3 or any(len(p) < 2 or not p[1] for p in parts):
                raise FacelibError(f"{path}: expected triangles written 'f v/vt v/vt v/vt', found 'f {rest}'")
            faces.append([int(p[0]) - 1 for p in parts])
            corners.append([int(p[1]) - 1 for p in parts])
    return np.asarray(verts), np.asarray(faces), np.asarray(uv)[np.asarray(corners)]


def load_scan(allow_download: bool = True) -> Scan:
    """menpo3d's "james" scan from the ``face-scan`` asset, landmarks in iBUG order."""
    from ..detect import read_image

    folder = assets.fetch("face-scan", allow_download=allow_download, progress=False)
    vertices, triangles, corner_uv = read_obj(folder / "james.obj")
    points = json.loads((folder / "james.ljson").read_text())["groups"]["LJSON"]["landmarks"]["points"]
    landmarks = np.asarray(points, np.float64)[_IBUG_FROM_MENPO3D]
    # the order's check: iBUG's first brow (17) and first eye corner (36) on jaw point 0's side, and
    # from the chin up: mouth, nose tip, eyes, brows
    side = np.sign((landmarks[[17, 36]] - landmarks[8]) @ (landmarks[0] - landmarks[16]))
    up = landmarks[17:27].mean(0) - landmarks[8]
    height = [float((landmarks[block].mean(0) - landmarks[8]) @ up) for block in
              (slice(48, 68), slice(30, 31), slice(36, 48), slice(17, 27))]
    if not (side > 0).all() or height != sorted(height):
        raise FacelibError("face-scan: the landmarks' order is not the one this code maps to iBUG's")
    texture = torch.as_tensor(np.array(read_image(folder / "james.jpg")), dtype=torch.float32).permute(2, 0, 1) / 255
    return Scan(vertices, triangles, corner_uv, texture, landmarks)


def mean_face(model) -> torch.Tensor:
    """The model's mean face ``(V, 3)`` (model units)."""
    zeros = model.layout.split(torch.zeros(1, model.layout.total))
    return model.shape(zeros["id"], zeros["exp"])[0]


def placed_scan(model, scan: Scan) -> tuple[torch.Tensor, torch.Tensor]:
    """The scan's vertices ``(N, 3)`` and landmarks ``(68, 3)`` moved by the similarity that takes
    its 68 landmarks onto the mean face's (model units): where the benchmark's camera sees a face."""
    target = mean_face(model)[model.landmarks].double()
    _, r, s, t = procrustes(torch.as_tensor(scan.landmarks), target, "similarity")

    def move(x):
        return (s * torch.as_tensor(x) @ r.T + t).float()

    return move(scan.vertices), move(scan.landmarks)


def render_scan(model, scan: Scan, size: int, background: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """The placed scan rendered frontally with its texture, unlit: ``(1, 3, S, S)`` in [0, 1] and its
    68 landmarks projected ``(1, 68, 2)`` pixels."""
    from .. import camera

    verts, lms = placed_scan(model, scan)
    # every triangle gets its own three corners, so each corner carries its own texture coordinate
    corners = torch.as_tensor(scan.triangles.reshape(-1))
    xy, depth = camera.project(verts[corners][None], size)
    tri = torch.arange(len(corners)).reshape(-1, 3)
    frags = rasterize(xy, depth, tri, size, size, cull_backfaces=True)
    pixel, vid, weights = barycentrics(xy, depth, tri, frags)
    uv = torch.as_tensor(scan.corner_uv.reshape(1, -1, 2), dtype=torch.float32)
    uv_map = interpolate(uv, pixel, vid, weights, frags.face_id.shape, 0.0)  # (1, 2, S, S)
    grid = torch.stack([2 * uv_map[:, 0] - 1, 1 - 2 * uv_map[:, 1]], dim=-1)
    colour = torch.nn.functional.grid_sample(scan.texture[None], grid, align_corners=False)
    mask = frags.mask[:, None].float()
    image = mask * colour + (1 - mask) * background
    landmarks, _ = camera.project(lms[None], size)
    return image.clamp(0, 1), landmarks


def face_region(scan: Scan, radius_mm: float = CROP_RADIUS_MM) -> np.ndarray:
    """The scan's points ``(M, 3)`` mm within ``radius_mm`` of its nose tip (iBUG 30)."""
    keep = np.linalg.norm(scan.vertices - scan.landmarks[30], axis=1) <= radius_mm
    return scan.vertices[keep]


def scan_errors(model, coefficients: torch.Tensor, scan: Scan, points: np.ndarray,
                identity_only: bool = False) -> np.ndarray:
    """Scan-to-mesh distances ``(M,)`` mm of the scan's ``points`` to the mesh of ``coefficients``
    ``(P,)`` (identity and expression, or identity alone), NoW's seven landmarks and ICP."""
    c = model.layout.split(coefficients.detach().float().reshape(1, -1))
    expression = torch.zeros_like(c["exp"]) if identity_only else c["exp"]
    with torch.no_grad():
        verts = model.shape(c["id"], expression)[0].double().numpy()
    now = list(NOW_LANDMARKS)
    return scan_to_mesh(points, scan.landmarks[now], verts, model.triangles.numpy(),
                        verts[model.landmarks.numpy()[now]], mm_per_unit=1.0)


def scan_fit(model, scan: Scan, size: int, *, steps: int, weights: FitWeights, image: torch.Tensor | None = None,
             landmarks: torch.Tensor | None = None) -> torch.Tensor:
    """Coefficients ``(P,)`` fitted from the mean face, with ``weights``, to the scan's render and its
    projected landmarks (``image`` ``(1, 3, S, S)`` and ``landmarks`` ``(1, 68, 2)`` when already rendered)."""
    if image is None:
        image, landmarks = render_scan(model, scan, size)
    zeros = torch.zeros(1, model.layout.total)
    return fit(Renderer(model, size), image, landmarks, zeros, steps=steps, **weights.kwargs()).coeffs[0]


def scan_scores(model, coefficients: torch.Tensor, scan: Scan, points: np.ndarray) -> dict:
    """The scan-to-mesh median (mm) of ``coefficients`` ``(P,)`` with its identity and expression
    (``median_mm``) and with its identity alone (``identity_only_median_mm``)."""
    return {"median_mm": summary_mm(scan_errors(model, coefficients, scan, points))["median"],
            "identity_only_median_mm": summary_mm(scan_errors(model, coefficients, scan, points,
                                                              identity_only=True))["median"]}


def dlib_points(image: torch.Tensor) -> torch.Tensor:
    """dlib's 68 points ``(1, 68, 2)`` on a render ``(1, 3, S, S)`` of the scan (a reader's pipeline:
    no true landmarks); a clear error when dlib finds no face at that size."""
    from ..detect import FaceDetector, NoFaceError

    pixels = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    try:
        return torch.as_tensor(FaceDetector().detect(pixels)[0].landmarks68, dtype=torch.float32)[None]
    except NoFaceError:
        raise FacelibError(f"dlib finds no face in the scan's render at {image.shape[-1]} px; scoring the scan as a "
                           f"reader's photo needs its points: use a profile with larger images (cpu or gpu)") from None


def evaluate_scan(model, predictors: dict, *, image_size: int, fit_steps: int, refine_steps: int) -> dict:
    """The real scan scored as chapter 5 scores a network: its render (:func:`render_scan`, framed by
    the scan's own 3D landmarks where the benchmark's camera sees a face — a placement no photo has),
    dlib's points on it (:func:`dlib_points`), then for each ``predictors[label]`` (a trained method
    or predictor) the network alone and its refinement anchored on dlib's points, a fit from the mean
    face to dlib's points, and — an oracle — the same fit to the scan's own projected landmarks; the
    refinement and both fits with :data:`facelib.fitting.REAL_GEOMETRY`'s weights.
    Each row: :func:`scan_scores`. One person's scan: no interval.

    Returns ``{"points", "crop_radius_mm", "dlib_vs_truth_px", "rows": {label: scores}}``."""
    from ..fitting import REAL_GEOMETRY
    from ..methods.base import predict_function
    from ..methods.refine import Refined, Refinement

    scan = load_scan()
    points = face_region(scan)
    image, truth = render_scan(model, scan, image_size)
    detected = dlib_points(image)
    renderer = Renderer(model, image_size)
    zeros = torch.zeros(1, model.layout.total)
    rows = {"mean face": scan_scores(model, zeros[0], scan, points)}
    for label, predictor in predictors.items():
        with torch.no_grad():
            rows[label] = scan_scores(model, predict_function(predictor)(image).coefficients[0], scan, points)
        refined = Refined(predictor, Refinement(steps=refine_steps, anchor="detector"))
        rows[f"{label} + refinement"] = scan_scores(
            model, refined.predict(image, landmarks=detected).coefficients[0], scan, points)
    for name, target in (("fit from the mean face", detected), ("fit from the mean face, true landmarks (oracle)", truth)):
        fitted = fit(renderer, image, target, zeros, steps=fit_steps, **REAL_GEOMETRY.kwargs()).coeffs[0]
        rows[name] = scan_scores(model, fitted, scan, points)
    return {"points": len(points), "crop_radius_mm": CROP_RADIUS_MM,
            "dlib_vs_truth_px": round(float((detected - truth).norm(dim=-1).mean()), 3), "rows": rows}


def markdown(record: dict) -> str:
    """An :func:`evaluate_scan` record as a Markdown table: each row's scan-to-mesh median (mm), with
    identity and expression predicted and with identity alone (the scan's expression is neutral)."""
    from . import tables

    return tables.markdown_table(["prediction", "identity and expression", "identity alone"],
                                 [[label, f"{r['median_mm']:.3f}", f"{r['identity_only_median_mm']:.3f}"]
                                  for label, r in record["rows"].items()])


def summary_mm(distances: np.ndarray) -> dict:
    """NoW's summary of distances (mm): median, mean, std."""
    return {"median": round(float(np.median(distances)), 4), "mean": round(float(distances.mean()), 4),
            "std": round(float(distances.std()), 4)}


def fit_levers(model, method, root, arms: dict, *, image_size: int, fit_steps: int, refine_steps: int,
               synthetic_limit: int = 96, progress: bool = True) -> dict:
    """The fit's weights side by side on three kinds of evidence (issue 33; DESIGN-NOTES 35).

    For each of ``arms`` (``{label: FitWeights}``), with ``method`` a trained network:

    * ``scan``: scan-to-mesh median (mm; identity and expression, and identity alone) of a fit from the
      mean face (``fit_steps``) to the scan's render and true landmarks, and of the network's
      prediction refined (``refine_steps``, anchored on dlib's points in the render);
    * ``photos``: 300-W NME (%) on the annotated real photos of the same fit (to dlib's points) and
      refinement;
    * ``synthetic``: chapter 5's refinement (``refine_steps``, anchored on the network's landmarks) on
      the first ``synthetic_limit`` clean faces of the validation split (a choice of the benchmark's is
      never made on its test faces): v2v (mm) with its interval, and its paired
      difference from the network alone (the shape gain that must survive), intervals over identities.

    Beside the arms: the mean face and the network alone on each. Returns a JSON-able dict.
    """
    import time

    from .. import stats
    from ..methods.base import predict_function
    from ..methods.refine import Refined, Refinement
    from .real_faces import photo_landmarks, real_faces, score
    from .shape import refinement_curve

    def say(text):
        if progress:
            print(text, flush=True)

    scan = load_scan()
    points = face_region(scan)
    image, landmarks = render_scan(model, scan, image_size)
    renderer = Renderer(model, image_size)
    faces = real_faces(image_size)
    crops = torch.stack([f.crop for f in faces])
    targets = torch.stack([f.crop_landmarks for f in faces])
    names = [f.name for f in faces]
    zeros = torch.zeros(len(faces), model.layout.total)
    predict = predict_function(method)
    with torch.no_grad():
        net_scan = predict(image).coefficients[0]
        net_photos = predict(crops).coefficients

    def on_scan(c) -> dict:
        return scan_scores(model, c, scan, points)

    def on_photos(c) -> dict:
        return score({"row": photo_landmarks(renderer, c, faces)}, faces)["row"]

    def v2v(curve) -> np.ndarray:
        return np.asarray(curve["per_face"]["shape_v2v_mm"], np.float64)

    out = {"scan": {"points": len(points), "crop_radius_mm": CROP_RADIUS_MM, "mean face": on_scan(torch.zeros(model.layout.total)),
                    "network": on_scan(net_scan)},
           "photos": {"photos": names, "mean face": on_photos(zeros), "network": on_photos(net_photos)},
           "synthetic": {}, "arms": {}}
    base = refinement_curve(method, root, steps=(0,), anchors=("network",), limit=synthetic_limit, model=model,
                            split="val")
    identities = base["identities"]
    network_v2v = v2v(base["curves"]["network"][0])
    mean_v2v = v2v(base["mean_face"])

    def interval(iv) -> list:
        return [round(iv.low, 4), round(iv.high, 4)]

    out["synthetic"] = {"split": "val", "faces": len(network_v2v), "identities": len(set(identities)),
                        "mean face": round(float(mean_v2v.mean()), 4), "network": round(float(network_v2v.mean()), 4)}
    for label, weights in arms.items():
        started = time.perf_counter()
        fitted = scan_fit(model, scan, image_size, steps=fit_steps, weights=weights, image=image, landmarks=landmarks)
        refine = Refinement(steps=refine_steps, anchor="detector", weights=weights)
        refined_scan = Refined(method, refine).predict(image).coefficients[0]
        fitted_photos = fit(renderer, crops, targets, zeros, steps=fit_steps, **weights.kwargs()).coeffs
        refined_photos = Refined(method, refine).predict(crops, landmarks=targets).coefficients
        curve = refinement_curve(method, root, steps=(refine_steps,), anchors=("network",), limit=synthetic_limit,
                                 model=model, weights=weights, split="val")
        refined_v2v = v2v(curve["curves"]["network"][refine_steps])
        gain = stats.paired_difference(refined_v2v, network_v2v, groups=identities)
        out["arms"][label] = {
            "weights": {"photometric": weights.photometric, "landmark": weights.landmark, "prior": weights.prior},
            "scan": {"fit": on_scan(fitted), "refinement": on_scan(refined_scan)},
            "photos": {"fit": on_photos(fitted_photos), "refinement": on_photos(refined_photos)},
            "synthetic": {"refinement_v2v_mm": round(float(refined_v2v.mean()), 4),
                          "against_network_mm": round(gain.estimate, 4), "interval": interval(gain)},
            "seconds": round(time.perf_counter() - started, 1)}
        a = out["arms"][label]
        say(f"{label}: scan fit {a['scan']['fit']['median_mm']:.3f} mm (identity {a['scan']['fit']['identity_only_median_mm']:.3f}), "
            f"refinement {a['scan']['refinement']['median_mm']:.3f}; photos fit {a['photos']['fit']['mean']:.2f} %, "
            f"refinement {a['photos']['refinement']['mean']:.2f} %; synthetic refinement {a['synthetic']['refinement_v2v_mm']:.3f} mm "
            f"({a['synthetic']['against_network_mm']:+.3f} {a['synthetic']['interval']} against the network) [{a['seconds']} s]")
    return out


def scan_diagnosis(model, method, arms: dict, *, image_size: int, fit_steps: int, refine_steps: int) -> dict:
    """Why a refinement and a fit differ on the scan: for each arm, the scan-to-mesh median of a fit
    from the mean face and of the network's refinement, each to the scan's true projected landmarks
    and to dlib's points on the render, the refinement at ``refine_steps`` and at ``fit_steps``."""
    scan = load_scan()
    points = face_region(scan)
    image, truth = render_scan(model, scan, image_size)
    dlib = dlib_points(image)
    renderer = Renderer(model, image_size)
    with torch.no_grad():
        start = method.predict(image).coefficients.float()
    out = {"dlib_vs_truth_px": round(float((dlib - truth).norm(dim=-1).mean()), 3), "arms": {}}
    for label, weights in arms.items():
        row = {}
        for target_name, target in (("true landmarks", truth), ("dlib's points", dlib)):
            for init_name, init, steps in (("fit from the mean face", torch.zeros_like(start), fit_steps),
                                           (f"refinement, {refine_steps} steps", start, refine_steps),
                                           (f"refinement, {fit_steps} steps", start, fit_steps)):
                c = fit(renderer, image, target, init, steps=steps, **weights.kwargs()).coeffs[0]
                row[f"{init_name}, {target_name}"] = summary_mm(scan_errors(model, c, scan, points))["median"]
        out["arms"][label] = row
        print(label, row, flush=True)
    return out


#: the levers of DESIGN-NOTES 35: Deep3D's weights, a stronger prior, and landmarks alone
def lever_arms() -> dict:
    from ..fitting import DEEP3D, FitWeights

    return {"Deep3D": DEEP3D, "prior ×3": DEEP3D.with_prior(3), "prior ×10": DEEP3D.with_prior(10),
            "prior ×30": DEEP3D.with_prior(30), "landmarks only": FitWeights(photometric=0.0),
            "landmarks only, prior ×10": FitWeights(photometric=0.0).with_prior(10)}


#: iBUG's jaw line (0-16, 0-based): dlib places them on the silhouette, the model on fixed vertices
JAW = tuple(range(17))


def fit_arms() -> dict:
    """The fit's landmark and expression levers on :data:`facelib.fitting.REAL_GEOMETRY` (DESIGN-NOTES
    49): ``{label: fit keyword arguments}``. "jaw dropped" gives dlib's jaw points (:data:`JAW`) no
    weight (their convention is the face's silhouette, not fixed vertices: DESIGN-NOTES 35's
    diagnosis); "expression prior ×k" weighs the expression block's prior k times the default arm's
    (whose whole prior is 30 times Deep3D's), the identity and texture blocks' unchanged."""
    import inspect

    from ..fitting import REAL_GEOMETRY
    from ..losses.deep3d import coefficient_regularizer, deep3d_landmark_weights

    no_jaw = deep3d_landmark_weights()
    no_jaw[list(JAW)] = 0.0
    base = REAL_GEOMETRY.kwargs()
    w_exp = inspect.signature(coefficient_regularizer).parameters["w_exp"].default  # Deep3D's 0.8
    expression = {"w_exp": w_exp * 10}  # the other blocks keep the regulariser's defaults
    return {"prior ×30 (the default)": base,
            "jaw dropped": {**base, "landmark_weights": no_jaw},
            "expression prior ×10": {**base, "prior": expression},
            "expression prior ×100": {**base, "prior": {"w_exp": w_exp * 100}},
            "jaw dropped, expression prior ×10": {**base, "landmark_weights": no_jaw, "prior": expression}}


def fit_only_levers(model, root, arms: dict, *, image_size: int, fit_steps: int, synthetic_limit: int = 32,
                    progress: bool = True) -> dict:
    """The fit from the mean face with each of ``arms`` (``{label: fit keyword arguments}``,
    :func:`fit_arms`) on three kinds of evidence, no network needed:

    * ``scan``: :func:`scan_scores` of the fit to dlib's points on the scan's render (a reader's
      pipeline) and to the scan's own projected landmarks (the oracle);
    * ``photos``: 300-W NME (%) on the annotated real photos of the fit to dlib's points;
    * ``synthetic``: v2v (mm) of the fit to the true landmarks of the first ``synthetic_limit`` clean
      faces of the validation split, with its paired difference from the first arm's (intervals over
      identities): what a lever costs where the model can explain the face.

    Returns a JSON-able dict; the mean face beside the arms."""
    import time

    from .. import metrics as M
    from .. import stats
    from .real_faces import photo_landmarks, real_faces, score
    from .runner import split_batches

    scan = load_scan()
    points = face_region(scan)
    image, truth = render_scan(model, scan, image_size)
    detected = dlib_points(image)
    renderer = Renderer(model, image_size)
    faces = real_faces(image_size)
    crops = torch.stack([f.crop for f in faces])
    targets = torch.stack([f.crop_landmarks for f in faces])
    _, loader = split_batches(root, "val", synthetic_limit, ("clean",), batch_size=synthetic_limit)
    batch = next(iter(loader))
    identities = [int(i) for i in batch["identity"]]

    def on_photos(c) -> dict:
        return score({"row": photo_landmarks(renderer, c, faces)}, faces)["row"]

    def v2v(c) -> np.ndarray:
        return M.shape_scores(model, c.detach().float(), batch["coefficients"])["shape_v2v_mm"].double().numpy()

    zeros = torch.zeros(1, model.layout.total)
    out = {"scan": {"points": len(points), "mean face": scan_scores(model, zeros[0], scan, points)},
           "photos": {"photos": [f.name for f in faces], "mean face": on_photos(zeros.expand(len(faces), -1))},
           "synthetic": {"split": "val", "faces": len(identities), "identities": len(set(identities)),
                         "mean face": round(float(v2v(zeros.expand(len(identities), -1)).mean()), 4)},
           "arms": {}}
    first = None
    for label, kwargs in arms.items():
        started = time.perf_counter()

        def fitted(img, target, kwargs=kwargs):
            init = torch.zeros(len(img), model.layout.total)
            return fit(Renderer(model, img.shape[-1]), img, target, init, steps=fit_steps, **kwargs).coeffs

        synthetic = v2v(fitted(batch["clean"], batch["landmarks68"]))
        first = synthetic if first is None else first
        gain = stats.paired_difference(synthetic, first, groups=identities)
        out["arms"][label] = {
            "scan": {"fit, dlib's points": scan_scores(model, fitted(image, detected)[0], scan, points),
                     "fit, true landmarks (oracle)": scan_scores(model, fitted(image, truth)[0], scan, points)},
            "photos": on_photos(fitted(crops, targets)),
            "settings": {"weights": {k: kwargs[k] for k in ("w_photo", "w_landmark", "w_reg")},
                         "prior_blocks": kwargs.get("prior"),
                         "unweighted_landmarks": [i for i, w in enumerate(kwargs["landmark_weights"].tolist()) if w == 0]
                         if "landmark_weights" in kwargs else []},
            "synthetic": {"fit_v2v_mm": round(float(synthetic.mean()), 4),
                          "against_first_arm_mm": round(gain.estimate, 4), "interval": [round(gain.low, 4), round(gain.high, 4)]},
            "seconds": round(time.perf_counter() - started, 1)}
        if progress:
            print(label, json.dumps(out["arms"][label], ensure_ascii=False), flush=True)
    return out
