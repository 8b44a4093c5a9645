"""Where chapters write their metrics: ``results/<chapter>/<profile>/metrics.json`` (DESIGN 2).

The benchmark chapter and the prose (through ``myst_nb.glue``) read these files; nobody types a
number by hand.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch


def project_root(start: Path | None = None) -> Path:
    """The checkout root (the folder with ``_toc.yml``) above ``start`` (default: cwd), else cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "facelib").is_dir():
            return folder
    return here


def results_base() -> Path:
    """``$FACELIB_RESULTS`` or ``<root>/results``: the folder holding every chapter's results."""
    return Path(os.environ.get("FACELIB_RESULTS") or project_root() / "results")


def results_dir(chapter: str, profile: str) -> Path:
    """:func:`results_base`, then ``<chapter>/<profile>/`` (created)."""
    out = results_base() / chapter / profile
    out.mkdir(parents=True, exist_ok=True)
    return out


def runs_folder(chapter: str, profile: str) -> Path:
    """The folder of a chapter's training runs at ``profile``: ``$FACELIB_RUNS`` or ``<root>/runs``,
    then ``<chapter>/<profile>/`` (gitignored)."""
    return Path(os.environ.get("FACELIB_RUNS") or project_root() / "runs") / chapter / profile


def run_dir(chapter: str, profile: str, name: str) -> Path:
    """Where a training run keeps its checkpoint and log: ``<chapter>/<profile>/<name>/`` under
    :func:`runs_folder` (a finished run there is reused, not retrained)."""
    return runs_folder(chapter, profile) / name


def write_metrics(chapter: str, profile, metrics: dict, config: dict | None = None, run: dict | None = None) -> Path:
    """Write ``metrics.json`` with the metrics, the run's config and the machine; returns its path.
    ``run`` (what :class:`facelib.chapter.RunBanner` records: date, commit, wall time per section) is
    kept from the existing file when not given."""
    path = results_dir(chapter, profile.name) / "metrics.json"
    if run is None:
        run = existing_record(chapter, profile.name).get("run")
    record = {
        "chapter": chapter,
        "profile": profile.name,
        "profile_config": profile.as_dict(),
        "config": config or {},
        "metrics": metrics,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "device": "cuda" if torch.cuda.is_available() else "cpu",
                    "threads": torch.get_num_threads()},
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **({"run": run} if run else {}),
    }
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    _OPENED.discard(path)  # this run's file from now on: later writes merge
    return path


#: the ``metrics.json`` files of the chapter runs :func:`start_afresh` opened in this process that
#: the run has not written yet: the first write replaces the file whole, later writes merge into it
_OPENED: set[Path] = set()


def start_afresh(chapter: str, profile) -> None:
    """Mark one run of the chapter as begun (:func:`facelib.chapter.start`): its first write of
    ``metrics.json`` for ``profile`` replaces the file instead of merging into it, so that what the
    file holds afterwards is that run's — rows merge as the chapter writes them, and a row an earlier
    run wrote but this one no longer does (a row now read from another chapter, an arm renamed) would
    otherwise stay. Nothing is removed now: a reader who opens a chapter and stops before its first
    result keeps the committed file."""
    _OPENED.add(results_dir(chapter, profile.name) / "metrics.json")


def existing_record(chapter: str, profile: str) -> dict:
    """The chapter's ``metrics.json`` record to merge a write into: the file's, or nothing when the
    file is missing or belongs to a run before the one :func:`start_afresh` opened."""
    path = results_dir(chapter, profile) / "metrics.json"
    if path in _OPENED or not path.is_file():
        return {}
    return json.loads(path.read_text())


def read_metrics(chapter: str, profile: str) -> dict:
    """The record written by :func:`write_metrics`."""
    return json.loads((results_dir(chapter, profile) / "metrics.json").read_text())


def earlier_chapter(chapter: str, profile: str) -> dict:
    """The ``metrics`` an earlier chapter wrote for ``profile`` (a later chapter's reference rows),
    with an error naming the notebook to run when they are missing."""
    from .errors import FacelibError

    path = results_dir(chapter, profile) / "metrics.json"
    if not path.is_file():
        raise FacelibError(f"chapter {chapter}'s results for profile {profile} are missing ({path}): run "
                           f"book/{chapter}.ipynb first (`make book` runs the chapters in order)")
    return json.loads(path.read_text())["metrics"]


def record_run(chapter: str, profile, run: dict) -> Path:
    """Store the chapter run's description ``run`` at the top of its ``metrics.json``."""
    existing = existing_record(chapter, profile.name)
    return write_metrics(chapter, profile, existing.get("metrics", {}), existing.get("config", {}), run)


def code_version() -> str:
    """The commit the running facelib comes from (``abc1234``, ``+ local changes`` when its checkout
    differs from it), or ``facelib <version> (installed)`` outside a git checkout."""
    import subprocess

    here = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--",
                                "facelib"], capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"facelib {version('facelib')} (installed)"
        except PackageNotFoundError:
            return "facelib (unknown version)"
    return commit + (" + local changes" if dirty else "")


def add_to_metrics(chapter: str, profile, method: str, key: str, value) -> None:
    """Store ``value`` as ``metrics[method][key]`` in the chapter's ``metrics.json`` (created when
    missing), keeping everything else — for numbers a chapter computes beside the evaluation runner.
    Returns nothing, so a cell that ends with it shows no path of the machine it ran on."""
    existing = existing_record(chapter, profile.name)
    table = existing.get("metrics", {})
    table.setdefault(method, {})[key] = value
    write_metrics(chapter, profile, table, existing.get("config", {}))


def ablation_logs(folder: Path) -> set[str]:
    """The names of the training logs (``logs/<name>.jsonl``) that ``folder``'s ``ablations.json``
    names: the trainings of the rows off the reference path (:mod:`facelib.ablations`)."""
    made = Path(folder) / "ablations.json"
    if not made.is_file():
        return set()
    return {row["training"]["log"] for row in json.loads(made.read_text())["rows"].values()
            if "log" in row.get("training", {})}


def timings(profile: str, base: Path | None = None) -> list[dict]:
    """Measured wall time per chapter in ``profile``, from what the runs committed: the chapter's own
    run (``metrics.json`` → ``run.total_seconds``, trainings that had finished earlier loaded, not
    counted) and each training's log (``logs/<run>.jsonl``: the last logged ``time``). One dict per
    chapter folder, in chapter order: ``chapter``, ``chapter_seconds`` (None when not run),
    ``trainings`` (run name → seconds: the reference path's) and ``ablations`` (run name → seconds:
    the trainings of the rows off the reference path, whose logs ``ablations.json`` names — made by
    ``python -m facelib ablations``, not by ``make book``)."""
    base = Path(base) if base is not None else results_base()
    rows = []
    for folder in sorted(p for p in base.glob(f"*/{profile}") if p.is_dir()):
        metrics = folder / "metrics.json"
        run = json.loads(metrics.read_text()).get("run", {}) if metrics.is_file() else {}
        off_path = ablation_logs(folder)
        trainings, ablations = {}, {}
        for log in sorted((folder / "logs").glob("*.jsonl")):
            times = [json.loads(line)["time"] for line in log.read_text().splitlines() if '"time"' in line]
            if times:
                (ablations if log.stem in off_path else trainings)[log.stem] = float(times[-1])
        if run or trainings or ablations:
            rows.append({"chapter": folder.parent.name, "chapter_seconds": run.get("total_seconds"),
                         "training_section": float(run.get("seconds", {}).get("training", 0.0)),
                         "trainings": trainings, "ablations": ablations})
    return rows


def book_seconds(profile: str, base: Path | None = None, rows: list[dict] | None = None) -> dict:
    """The whole book's time in ``profile`` as ``make book`` from nothing would spend it, summed from
    the committed records (:func:`timings`): each chapter's run without its "training" section (a
    training made during the run is counted once, by its log; a loaded one costs seconds there) plus
    every reference-path training's log; the trainings off the reference path (``make ablations``)
    are not part of it. ``{"chapters", "trainings", "total"}`` in seconds and ``"not_run"``: the
    chapters with no committed run (the total then leaves them out)."""
    rows = timings(profile, base)
    chapters = sum(r["chapter_seconds"] - r["training_section"] for r in rows if r["chapter_seconds"] is not None)
    trainings = sum(s for r in rows for s in r["trainings"].values())
    return {"chapters": chapters, "trainings": trainings, "total": chapters + trainings,
            "not_run": [r["chapter"] for r in rows if r["chapter_seconds"] is None]}


def duration(seconds: float) -> str:
    """``42 s`` under two minutes, else ``17 min``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def timings_markdown(profile: str, base: Path | None = None) -> str:
    """:func:`timings` as the Markdown table README shows (``python -m facelib timings``)."""
    lines = [f"| chapter ({profile} profile) | chapter run, trainings loaded | trainings (one each) | "
             "off the reference path: trainings (`make ablations`) |", "|---|---:|---|---|"]
    rows = timings(profile, base)
    for row in rows:
        own = "not run yet" if row["chapter_seconds"] is None else duration(row["chapter_seconds"])
        runs, off = (", ".join(f"{name} {duration(s)}" for name, s in row[k].items()) or "—"
                     for k in ("trainings", "ablations"))
        lines.append(f"| {row['chapter']} | {own} | {runs} | {off} |")
    book = book_seconds(profile, base, rows)
    missing = f"; not run yet: {', '.join(book['not_run'])}" if book["not_run"] else ""
    lines.append(f"| **the book (`make book` from nothing)** | {duration(book['chapters'])} (training sections left "
                 f"out) | {duration(book['trainings'])} | total {book['total'] / 3600:.1f} h{missing} |")
    return "\n".join(lines)


def portable_path(path) -> str:
    """``path`` as a committed file may record it: relative to the checkout when inside it (no
    machine's folder layout in ``results/``), else as given."""
    path = Path(path).resolve()
    try:
        return path.relative_to(project_root()).as_posix()
    except ValueError:
        return str(path)
