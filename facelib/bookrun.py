"""``make book``'s driver (``python -m facelib book``): execute every chapter with papermill, one
after the other, telling the reader where the run is, and resume where an interrupted run stopped.

* **Where it is.** A line per chapter (``chapter 5 of 10: 05_baselines``, with the time its stored
  run of the same profile took), then, every ``every`` seconds while it runs, what it is doing: the
  training it is in (the newest ``runs/<chapter>/<profile>/<run>/log.jsonl``), its step, its pace and
  the time left (or that no training is running).
* **Resume.** Each executed chapter is kept in ``_build/executed/<profile>/`` with a record of what
  produced it (a hash of the notebook and of facelib's source, and the profile). A chapter whose
  record matches is not run again; the first one that does not match, and every later one, is.
  Trainings resume by themselves: a chapter run again loads finished runs and continues an
  interrupted one from its checkpoint (:func:`facelib.train.train_on_set`).
* **Interrupt.** Ctrl-C (or SIGTERM) sends SIGTERM to the chapter's kernel, whose training saves a
  checkpoint (DESIGN 18), waits for it, and stops: the same command resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .errors import FacelibError
from .results import duration, project_root, timings
from .train import LOG, read_log

#: what a record of an executed chapter holds besides its hashes
RECORD = ".done.json"


def chapters(book: Path) -> list[Path]:
    """The chapters of ``book`` (``NN_name.ipynb``), in order."""
    found = sorted(Path(book).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FacelibError(f"no chapters (NN_name.ipynb) in {book}; run from the checkout's root")
    return found


def source_hash(paths) -> str:
    """SHA-256 over the contents of ``paths`` (in the order given), 16 hex digits."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).name.encode() + b"\0" + Path(p).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_hash() -> str:
    """:func:`source_hash` of facelib's Python source: a chapter executed by other code runs again."""
    package = Path(__file__).resolve().parent
    return source_hash(sorted(package.rglob("*.py")))


def _notebook_hash(path: Path) -> str:
    """The hash of a notebook's cells' *sources* (its stored outputs do not make it another chapter)."""
    nb = json.loads(Path(path).read_text())
    text = json.dumps([[c.get("cell_type"), "".join(c.get("source", ""))] for c in nb.get("cells", [])])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chapter_key(notebook: Path, profile: str, code: str) -> dict:
    """What must match for an executed chapter to be reused: its cells, facelib's source, the profile."""
    return {"notebook": _notebook_hash(notebook), "code": code, "profile": profile}


def training_status(runs: Path, since: float, now: float | None = None) -> str | None:
    """The training running under ``runs`` (the ``log.jsonl`` written most recently, and since
    ``since``, a ``time.time()``): ``"training rnet (05_baselines): step 340 of 1500, 0.41 s/step,
    about 8 min left"``; None when no log has been written since ``since`` or the newest one's
    training has finished. The pace is the log's training seconds over its steps (resumed segments
    included)."""
    now = time.time() if now is None else now
    logs = [p for p in Path(runs).glob(f"*/*/*/{LOG}") if p.stat().st_mtime >= since]
    if not logs:
        return None
    log = max(logs, key=lambda p: p.stat().st_mtime)
    timed = [e for e in read_log(log.parent, while_written=True) if "time" in e and e.get("step")]
    where = f"training {log.parent.name} ({log.parent.parent.parent.name})"
    if not timed:
        return f"{where}: starting"
    last = timed[-1]
    if "of" in last and last["step"] >= last["of"]:
        return None  # that training has finished: the chapter is on to something else
    pace = last["time"] / last["step"]
    text = f"{where}: step {last['step']}"
    if "of" in last:
        left = max(last["of"] - last["step"], 0) * pace
        text += f" of {last['of']}, {pace:.2f} s/step, about {duration(left)} left"
    else:
        text += f", {pace:.2f} s/step"
    return text


def _kept(i: int) -> str:
    """What a rerun keeps when chapter ``i`` (1-based) stopped."""
    return {1: "nothing is kept", 2: "chapter 1 is kept"}.get(i, f"chapters 1-{i - 1} are kept")


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (a papermill process: its kernel), found with psutil."""
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - psutil missing or the process gone: nothing to signal
        return []


class Interrupted(Exception):
    """The reader stopped ``make book``; the chapter's kernel was asked to checkpoint."""


def _execute(notebook: Path, out: Path, log: Path, report: Callable[[str], None], every: float,
             runs: Path, started: float, grace: float) -> int:
    """Run papermill on one chapter in its own session (a terminal's Ctrl-C reaches this driver, not
    the kernel), reporting progress every ``every`` seconds; on Ctrl-C/SIGTERM, SIGTERM the kernel,
    wait up to ``grace`` seconds for it to save, and raise :class:`Interrupted`."""
    cmd = [sys.executable, "-m", "papermill", "--cwd", str(notebook.parent), "-k", "python3",
           "--log-level", "WARNING", "--no-progress-bar", str(notebook), str(out)]
    stopped: list[int] = []

    def on_signal(signum, frame):  # noqa: ARG001
        stopped.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open(log, "w") as sink:
            proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
            last_report = time.time()
            while proc.poll() is None:
                if stopped:
                    report("stopping: asking the kernel to checkpoint its training …")
                    for pid in _descendants(proc.pid):
                        try:
                            os.kill(pid, signal.SIGTERM)
                        except ProcessLookupError:
                            pass
                    try:
                        proc.wait(timeout=grace)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                    raise Interrupted
                time.sleep(min(1.0, every))
                if time.time() - last_report >= every:
                    text = training_status(runs, started) or "no training running"
                    report(f"  {duration(time.time() - started)} in: {text}")
                    last_report = time.time()
            return proc.returncode
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_book(profile: str, book: Path | None = None, out_dir: Path | None = None, restart: bool = False,
             every: float = 60.0, grace: float = 300.0, report: Callable[[str], None] = print) -> list[Path]:
    """Execute every chapter of ``book`` (default ``<checkout>/book``) in ``profile`` into ``out_dir``
    (default ``_build/executed/<profile>``), reusing chapters executed earlier by the same cells and
    code unless ``restart``. Returns the executed notebooks, in order. Raises :class:`FacelibError`
    when a chapter fails (naming its log) and :class:`Interrupted` when the reader stops it."""
    root = project_root()
    book = Path(book) if book is not None else root / "book"
    out_dir = Path(out_dir) if out_dir is not None else root / "_build" / "executed" / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = root / "runs"
    code = code_hash()
    stored = {row["chapter"]: row["chapter_seconds"] for row in timings(profile)}
    todo = chapters(book)
    done: list[Path] = []
    fresh = restart  # once a chapter runs again, every later one does (it may read the earlier's runs)
    for i, nb in enumerate(todo, 1):
        out, record = out_dir / nb.name, out_dir / (nb.stem + RECORD)
        key = chapter_key(nb, profile, code)
        if not fresh and out.is_file() and record.is_file() and json.loads(record.read_text()).get("key") == key:
            report(f"chapter {i} of {len(todo)}: {nb.stem} — executed earlier, kept")
            done.append(out)
            continue
        fresh = True
        record.unlink(missing_ok=True)
        expected = stored.get(nb.stem)
        hint = f" (its stored {profile} run took {duration(expected)}, trainings loaded)" if expected else ""
        report(f"chapter {i} of {len(todo)}: {nb.stem}{hint}")
        started = time.time()
        log = out_dir / f"{nb.stem}.log"
        try:
            rc = _execute(nb, out, log, report, every, runs, started, grace)
        except Interrupted:
            raise Interrupted(f"stopped in chapter {i} of {len(todo)} ({nb.stem}); a training saves its checkpoint "
                              f"on the way out. `make book` resumes: {_kept(i)}.") from None
        if rc != 0:
            tail = "\n".join(log.read_text().splitlines()[-15:])
            raise FacelibError(f"chapter {nb.stem} failed (papermill exit {rc}); the executed copy with the error is "
                               f"{out}, papermill's log {log}:\n{tail}\nFix it and run `make book` again: {_kept(i)}, "
                               "trainings resume from their checkpoints.")
        seconds = time.time() - started
        record.write_text(json.dumps({"key": key, "seconds": round(seconds, 1)}, indent=1) + "\n")
        report(f"chapter {i} of {len(todo)}: {nb.stem} done in {duration(seconds)}")
        done.append(out)
    return done


def main(args) -> int:
    """``python -m facelib book``."""
    from . import profile as profiles

    prof = profiles.resolve(args.profile)
    os.environ["FACELIB_PROFILE"] = prof.name  # the kernels read it (each chapter's parameters cell)
    try:
        executed = run_book(prof.name, restart=args.restart, every=args.every,
                            report=lambda line: print(line, flush=True))
    except Interrupted as stop:
        print(stop, flush=True)
        return 130
    if args.stage is not None:
        target = Path(args.stage)
        target.mkdir(parents=True, exist_ok=True)
        for nb in executed:
            (target / nb.name).write_bytes(nb.read_bytes())
    return 0
