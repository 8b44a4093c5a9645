"""Run profiles: one code path, three sizes (DESIGN 2).

``smoke`` proves every cell runs (CI, nbval), ``cpu`` gives meaningful numbers on a 2-core CPU,
``gpu`` is the reproduction at paper sizes, and ``gpu-dry`` is the paper-size dry run: the ``gpu``
profile's networks and image size for a handful of steps on a tiny set, which proves on a CPU that
the paper-size configuration runs end to end (``make dry-run``). A profile changes sizes, step counts
and the encoder's network (with its identity reader and its stand-in for pretrained weights, the
same design at every size but smoke's), never the algorithm. Measured cpu training times (1,500 steps, one process on 2 cores): R-Net ≈ 15 min,
MoFA ≈ 9 min, SOPI ≈ 21 min, MOPI ≈ 26 min; a chapter's cpu time is its trainings (skipped when
their finished runs exist) plus its evaluation.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

from .errors import FacelibError

PROFILES = ("smoke", "cpu", "gpu", "gpu-dry")


@dataclass(frozen=True)
class Profile:
    """Sizes and step counts of one profile.

    Attributes:
        name: ``smoke`` | ``cpu`` | ``gpu`` | ``gpu-dry``.
        image_size: side of the square network input in pixels.
        backbone: encoder architecture name (``resnet_tiny``, ``resnet18``, ``resnet50``, or
            ``dlib_face``: dlib's face-recognition network with its pretrained weights).
        reader: the face-recognition network that reads every encoder's identity from the chip at
            its own landmarks (:class:`facelib.nets.identity.IdentityReading`; ``None``: the encoder's
            own head; issue 34).
        batch_size: training batch size.
        fit_steps: optimisation steps of the analysis-by-synthesis fit (chapter 2).
        render_size: side of the images rendered for figures.
        train_steps: optimisation steps of each method's training (chapters 5 on).
        test_faces: test faces each chapter evaluates on (``None``: the whole test split).
        refine_steps: test-time refinement steps of every method's "+ refinement" row
            (:class:`facelib.methods.refine.Refinement`; chapter 5 measures the choice).
        precision: what the trainings ask for (:attr:`facelib.train.TrainConfig.mixed_precision`):
            ``"no"`` (float32), ``"bf16"`` (bf16 autocast where the CPU or GPU has bf16 units,
            float32 elsewhere) or ``"auto"`` (bf16 or fp16 on CUDA, float32 on a CPU); the run
            signature records the precision actually used.
        stand_in_steps: steps of the supervised stand-in (:class:`facelib.methods.pretrain.Pretrain`,
            chapter 5) that every method the papers start from pretrained weights starts from
            (:func:`facelib.runs.build_with_prerequisites`); 0: they start from the backbone's own
            weights.
        threads: torch's intra-op threads for the run (None: one per core). The reference runs fix
            it (a reduction over two threads adds in another order than over eight);
            ``$FACELIB_THREADS`` overrides it (:func:`facelib.reproduce.use_threads`).
    """

    name: str
    image_size: int
    backbone: str
    batch_size: int
    fit_steps: int
    render_size: int
    train_steps: int
    test_faces: int | None = None
    refine_steps: int = 200
    precision: str = "no"
    threads: int | None = None
    reader: str | None = None
    stand_in_steps: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


_TABLE = {
    "smoke": Profile("smoke", 64, "resnet_tiny", 4, 60, 96, 40, refine_steps=4, threads=2, stand_in_steps=8),
    # the stand-in chosen side by side (DESIGN-NOTES 36): dlib's face network as encoder and as identity reader
    "cpu": Profile("cpu", 112, "dlib_face", 16, 1200, 224, 1500, 200, refine_steps=100, precision="bf16",
                   threads=2, reader="dlib", stand_in_steps=6000),
    "gpu": Profile("gpu", 224, "resnet50", 32, 1500, 224, 30000, precision="auto", reader="dlib",
                   stand_in_steps=20000),
    # gpu's networks and sizes, a handful of steps, a tiny set: the paper-size dry run on a CPU
    "gpu-dry": Profile("gpu-dry", 224, "resnet50", 8, 5, 224, 12, 6, refine_steps=2, precision="auto",
                       reader="dlib", stand_in_steps=8),
}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency in practice
        return False
    return torch.cuda.is_available()


def resolve(name: str = "auto") -> Profile:
    """Return the profile called ``name``; ``"auto"`` picks ``$FACELIB_PROFILE``, else ``gpu``
    when CUDA is available, else ``cpu``."""
    if name == "auto":
        name = os.environ.get("FACELIB_PROFILE", "").strip() or ("gpu" if _cuda_available() else "cpu")
    if name not in _TABLE:
        raise FacelibError(
            f"unknown profile {name!r}; use one of {', '.join(PROFILES)} or 'auto' "
            "(set FACELIB_PROFILE to override auto-detection)"
        )
    return _TABLE[name]


def override(profile: Profile, **changes) -> Profile:
    """A copy of ``profile`` with some fields changed (for experiments; the name is kept)."""
    return replace(profile, **changes)


#: the fields issue 34's stand-in changed in a profile, as they were before it
BEFORE_STAND_IN = {"cpu": {"backbone": "resnet18"}}


def before_stand_in(name: str = "auto") -> Profile:
    """Profile ``name`` as it was before the stand-in became its start (no identity reader, no
    stand-in, the cpu profile's ResNet-18): the measurements committed before it (the identity
    levers, the controls) run again with it, so the same command gives the same numbers."""
    base = resolve(name)
    return replace(base, reader=None, stand_in_steps=0, **BEFORE_STAND_IN.get(base.name, {}))
