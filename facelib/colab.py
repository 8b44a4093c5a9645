"""Setting up a chapter opened alone — in Colab or any fresh kernel — after its first cell has
installed ``facelib``: ``colab.setup("05_baselines")``.

It fetches only the assets that chapter reads, installs FaceNet where ``torchvision`` works (Colab
has it; facenet-pytorch's own requirements would replace the runtime's torch, so it goes in without
them), optionally keeps runs and results in Google Drive, and picks a profile sized for a Colab
session — ``cpu``, the book's reference run, unless ``FACELIB_PROFILE`` says otherwise: the ``gpu``
profile trains 30,000 steps per run, more than a Colab session lasts — printing which and how long.
Every failing step prints its own output and the command to retry.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from . import assets
from .errors import FacelibError

#: the assets each chapter reads (chapters not listed read all of them)
CHAPTER_ASSETS = {
    "01_morphable_model": ("ict-facekit-light",),
    "02_differentiable_rendering": ("ict-facekit-light",),
}
#: facenet-pytorch as ``make`` installs it (the pin of pyproject's ``[tool.facelib] no-deps``)
FACENET = "facenet-pytorch==2.6.0"
#: Colab's Drive folder for runs and results when ``drive=True``
DRIVE_FOLDER = "/content/drive/MyDrive/occluded-faces"
#: measured wall time of each chapter in the cpu profile on 2 CPU cores with its trainings loaded,
#: minutes (the run banner of the stored chapter has the current numbers)
#: (README's generated table; tests/test_packaging.py keeps the two equal)
CPU_MINUTES_HINT = ("chapters 1-3: under a minute; chapter 4: 4 min; chapters 5-9: 1-16 min each with their trainings "
                    "finished, plus 5-42 min per training; chapter 10: 15 min once every method is trained")


def in_colab() -> bool:
    return "google.colab" in sys.modules


def _run(command: list[str], what: str) -> None:
    step = subprocess.run(command, capture_output=True, text=True)
    if step.returncode:
        print(step.stdout[-4000:], step.stderr[-4000:], sep="\n")
        raise FacelibError(f"{what} failed (its output is above); retry with: {' '.join(command)}")


def chapter_assets(chapter: str) -> tuple[str, ...]:
    """The assets ``chapter`` reads."""
    return CHAPTER_ASSETS.get(chapter, tuple(assets.REGISTRY))


def assets_ready(chapter: str) -> bool:
    """Whether every asset ``chapter`` reads is in the cache or the mirror (nothing is downloaded)."""
    for name in chapter_assets(chapter):
        try:
            assets.path(name)
        except assets.AssetMissingError:
            return False
    return True


def install_facenet() -> str:
    """Install facenet-pytorch without its requirements where ``torchvision`` imports; returns what
    happened (FaceNet is one of the book's optional embedders: without it chapters use dlib's)."""
    if importlib.util.find_spec("facenet_pytorch") is not None:
        return "FaceNet: already installed"
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True)
    if probe.returncode:  # torchvision missing, or built for another torch (facelib never imports it itself)
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"FaceNet: skipped (torchvision does not import here: {last})"
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", FACENET], "installing FaceNet")
    return f"FaceNet: installed ({FACENET}, without its requirements)"


def use_drive(folder: str = DRIVE_FOLDER) -> Path:
    """Mount Google Drive and keep runs and results there (they survive a disconnect)."""
    from google.colab import drive  # type: ignore[import-not-found]

    drive.mount("/content/drive")
    root = Path(folder)
    for name, env in (("runs", "FACELIB_RUNS"), ("results", "FACELIB_RESULTS")):
        (root / name).mkdir(parents=True, exist_ok=True)
        os.environ[env] = str(root / name)
    return root


def fetch_assets(chapter: str) -> None:
    """Fetch every asset ``chapter`` reads (cache, mirror, then upstream), or raise the error that
    names the command to retry."""
    for name in chapter_assets(chapter):
        try:
            folder = assets.fetch(name, progress=False)
        except Exception as err:
            raise FacelibError(f"asset {name!r} could not be fetched ({err}); retry with: "
                               f"python -m data_scripts.fetch_assets {name}") from err
        print(f"asset {name}: {folder}")


def profile_file() -> Path:
    """Where Colab's setup keeps the reader's profile: a runtime restart clears the environment
    (``FACELIB_PROFILE``) but keeps the files; ``$FACELIB_PROFILE_FILE`` moves it."""
    return Path(os.environ.get("FACELIB_PROFILE_FILE") or Path.home() / ".config" / "facelib" / "profile")


def chosen_profile() -> tuple[str, str]:
    """``(profile, why)``: ``$FACELIB_PROFILE`` if set, else the one this runtime chose before a
    restart (:func:`profile_file`), else ``cpu`` — the book's reference run — never ``auto``'s
    silent ``gpu`` (30,000 steps a training)."""
    from .profile import PROFILES

    if os.environ.get("FACELIB_PROFILE", "").strip():
        return os.environ["FACELIB_PROFILE"].strip(), "FACELIB_PROFILE"
    saved = profile_file()
    if saved.is_file() and saved.read_text().strip() in PROFILES:
        return saved.read_text().strip(), f"kept from before the restart, {saved}"
    return "cpu", "the book's reference run; set FACELIB_PROFILE to choose another"


def remember_profile(name: str) -> None:
    """Write ``name`` to :func:`profile_file` (a read-only home only loses the memory)."""
    try:
        profile_file().parent.mkdir(parents=True, exist_ok=True)
        profile_file().write_text(name + "\n")
    except OSError:
        pass


def setup(chapter: str, drive: bool = False, facenet: bool = True) -> str:
    """Everything a chapter needs in Colab after ``facelib`` is installed; returns the profile's name."""
    fetch_assets(chapter)
    if facenet:
        print(install_facenet())
    if drive:
        print(f"runs and results in Google Drive: {use_drive()}")
    name, why = chosen_profile()
    os.environ["FACELIB_PROFILE"] = name
    remember_profile(name)
    import torch

    where = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU only"
    print(f"profile {name} ({why}; {where}); in the cpu profile on 2 CPU cores: {CPU_MINUTES_HINT}. "
          "A GPU runtime is several times faster. Set FACELIB_PROFILE=smoke for a two-minute wiring check.")
    return name
