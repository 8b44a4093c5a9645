"""Finished runs as building blocks: load a trained method by name, and build a method together
with the finished runs it declares as prerequisites (ORN's teachers) — for the command line and
the chapters. The training loop itself (:mod:`facelib.train`) knows no method; this module does,
through the registry (:mod:`facelib.methods`).
"""

from __future__ import annotations

from pathlib import Path

from .methods import build, chapter_of, method_class
from .results import run_dir as chapter_run_dir
from .train import load_finished


def train_command(name: str, profile, run_dir) -> str:
    """The command that trains method ``name`` of ``profile`` into ``run_dir``."""
    return f"python -m facelib train --method {name} --profile {profile.name} --run-dir {run_dir}"


def finished(name: str, model, profile, run_dir: str | Path):
    """The finished run of method ``name`` in ``run_dir``, loaded for prediction (its own
    prerequisites are not loaded: a trained student needs no teacher). A missing or unfinished
    run raises the error naming the command that trains it."""
    options = {p.argument: None for p in method_class(name).prerequisites}
    method = build(name, model, profile, **options)
    load_finished(method, run_dir, train_command(name, profile, run_dir))
    return method


def build_with_prerequisites(name: str, model, profile, prerequisite_runs: dict | None = None, **options):
    """:func:`facelib.methods.build`, first loading every prerequisite the method declares and that
    ``options`` does not already give: from ``prerequisite_runs[argument]`` if given, else from the
    chapter's run folder (``runs/<chapter>/<profile>/<method>``)."""
    for p in method_class(name).prerequisites:
        if p.argument not in options:
            chapter = p.chapter or chapter_of(p.method)
            folder = (prerequisite_runs or {}).get(p.argument) or chapter_run_dir(chapter, profile.name, p.method)
            options[p.argument] = finished(p.method, model, profile, folder)
    return build(name, model, profile, **options)


def trained_in_chapter(name: str, model, profile, root, progress: bool = False):
    """Method ``name`` in its default configuration, as the chapter that declares it trains it
    (:func:`facelib.methods.chapter_of`): loaded from that chapter's run folder when the run has
    finished, trained there now when it has not (a chapter opened alone). Returns ``(method,
    result)``; ``result.steps == 0`` when it was loaded."""
    from .train import train_on_set

    method = build_with_prerequisites(name, model, profile)
    result = train_on_set(method, root, chapter_run_dir(chapter_of(name), profile.name, name), profile, progress=progress)
    return method, result
