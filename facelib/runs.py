"""Finished runs as building blocks: load a trained method by name, and build a method together
with the finished runs it declares as prerequisites (ORN's teachers) and, for the methods the
papers start from pretrained weights, the profile's supervised stand-in (chapter 5's ``pretrain``
run; issue 34) — for the command line and the chapters. The training loop itself (:mod:`facelib.train`) knows no method; this module does,
through the registry (:mod:`facelib.methods`).
"""

from __future__ import annotations

from pathlib import Path

from .errors import FacelibError
from .methods import build, chapter_of, method_class, stand_in_options
from .results import run_dir as chapter_run_dir
from .train import CHECKPOINT, load_checkpoint, load_finished


def train_command(name: str, profile, run_dir) -> str:
    """The command that trains method ``name`` of ``profile`` into ``run_dir``."""
    return f"python -m facelib train --method {name} --profile {profile.name} --run-dir {run_dir}"


def finished(name: str, model, profile, run_dir: str | Path):
    """The finished run of method ``name`` in ``run_dir``, loaded for prediction (its own
    prerequisites are not loaded: a trained student needs no teacher), built as it was trained (a
    method that :func:`starts_from_stand_in` with its reader frozen, so that a run started from it,
    such as MOPI from SOPI, inherits that). A missing or unfinished run raises the error naming
    the command that trains it."""
    options = {p.argument: None for p in method_class(name).prerequisites}
    if starts_from_stand_in(name, profile):
        options = stand_in_options(profile, options)
    method = build(name, model, profile, **options)
    load_finished(method, run_dir, train_command(name, profile, run_dir))
    return method


#: the registered method whose finished run is the stand-in for pretrained weights
STAND_IN = "pretrain"


def starts_from_stand_in(name: str, profile) -> bool:
    """Whether method ``name`` starts from the stand-in in ``profile``: it declares
    :attr:`~facelib.methods.base.Method.starts_from_stand_in` and the profile has one
    (``stand_in_steps`` > 0)."""
    return bool(getattr(profile, "stand_in_steps", 0)) and method_class(name).starts_from_stand_in


def stand_in_run_dir(profile) -> Path:
    """Where the profile's stand-in trains: ``runs/05_baselines/<profile>/pretrain``."""
    return chapter_run_dir(chapter_of(STAND_IN), profile.name, STAND_IN)


def stand_in_finished(profile) -> bool:
    """Whether the profile's stand-in has a finished run in :func:`stand_in_run_dir`."""
    path = stand_in_run_dir(profile) / CHECKPOINT
    return path.is_file() and bool(load_checkpoint(path)["finished"])


def build_with_prerequisites(name: str, model, profile, prerequisite_runs: dict | None = None, stand_in=None,
                             **options):
    """:func:`facelib.methods.build`, first loading every prerequisite the method declares and that
    ``options`` does not already give: from ``prerequisite_runs[argument]`` if given, else from the
    chapter's run folder (``runs/<chapter>/<profile>/<method>``). A method that
    :func:`starts_from_stand_in` then starts from ``stand_in`` (a finished ``pretrain``), else from
    the one in :func:`stand_in_run_dir` (a missing one raises the error naming its command), with
    its identity reader frozen (:func:`facelib.methods.stand_in_options`; ``reader_frozen`` in ``options``
    decides otherwise); its run signature records the stand-in's."""
    for p in method_class(name).prerequisites:
        if p.argument not in options:
            chapter = p.chapter or chapter_of(p.method)
            folder = (prerequisite_runs or {}).get(p.argument) or chapter_run_dir(chapter, profile.name, p.method)
            options[p.argument] = finished(p.method, model, profile, folder)
    start = starts_from_stand_in(name, profile)
    if start:
        options = stand_in_options(profile, options)
    method = build(name, model, profile, **options)
    if start:
        method.start_from(stand_in if stand_in is not None else
                          finished(STAND_IN, model, profile, stand_in_run_dir(profile)))
    return method


def trained_in_chapter(name: str, model, profile, root, progress: bool = False):
    """Method ``name`` in its default configuration, as the chapter that declares it trains it
    (:func:`facelib.methods.chapter_of`): loaded from that chapter's run folder when the run has
    finished, trained there now when it has not (a chapter opened alone) — and so is the stand-in
    it starts from, if it does. Returns ``(method, result)``; ``result.steps == 0`` when it was
    loaded."""
    return trained_variant(name, model, profile, root, chapter_run_dir(chapter_of(name), profile.name, name), progress)


def variant(name: str, model, profile, root, progress: bool = False, start=None, **options):
    """Method ``name`` built with ``options`` (a chapter's configuration or lever) from its
    prerequisites and, if it :func:`starts_from_stand_in`, from the profile's stand-in (trained in
    its chapter's folder first when missing) — or from ``start``, a finished method of the same
    encoder (ROGUE from chapter 5's R-Net), with the reader frozen alike —, untrained: what
    :func:`trained_variant` trains, and what :func:`facelib.train.signature_on_set` names without
    training (:func:`facelib.ablations.expected_key`)."""
    if start is not None and not starts_from_stand_in(name, profile):
        raise FacelibError(f"{name} does not start from the stand-in in profile {profile.name}, so it cannot start "
                           "from another run in its place")
    stand_in = start if start is not None else (
        trained_in_chapter(STAND_IN, model, profile, root, progress)[0] if starts_from_stand_in(name, profile) else None)
    return build_with_prerequisites(name, model, profile, stand_in=stand_in, **options)


def trained_variant(name: str, model, profile, root, run_dir, progress: bool = False, snapshots: tuple = (),
                    start=None, **options):
    """:func:`variant` trained in ``run_dir``, or loaded from it when that run has finished
    (``snapshots``: :attr:`facelib.train.TrainConfig.snapshots`). Returns ``(method, result)``."""
    from .train import train_on_set

    method = variant(name, model, profile, root, progress, start=start, **options)
    return method, train_on_set(method, root, run_dir, profile, progress=progress, snapshots=snapshots)
