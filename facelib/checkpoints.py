"""Checkpoint files and run folders that are safe to load, to share and to lose (issue 21).

* **No pickle execution.** Checkpoints load with ``torch.load(weights_only=True)``: tensors,
  plain containers and numbers only, plus exactly the numpy types that numpy's RNG state holds
  (:data:`SAFE_NUMPY`). A checkpoint carrying any other object is refused with
  :class:`CheckpointError`, which names the file and the type.
* **Never without a loadable checkpoint.** :func:`save` writes a temporary file, flushes and
  fsyncs it, keeps the current checkpoint as ``checkpoint.prev.pt``, renames the new one into place
  and fsyncs the folder. Whatever instant a process dies at, or if the disk is full, the folder
  holds a loadable latest or previous checkpoint; :func:`resumable` picks the newest one that loads
  and belongs to the run, and says what it skipped and why. A run's *final* checkpoint (training
  finished) drops the previous once it is in place and synced: nothing is saved after it, and the
  previous would double what a finished run keeps on disk (a ResNet-50 run with its Adam state:
  0.58 GB instead of 0.29 GB; the paper-size dry run: about 7 GB less).
* **One trainer per folder.** :class:`RunLock` holds an exclusive ``flock`` on ``.lock`` in the
  run folder while training; a second trainer stops at once naming the process that holds it. The
  kernel drops the lock when a process dies, so a stale lock file (a killed run) is simply taken
  over.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import FacelibError

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
#: a run's networks as they were after a given step (``TrainConfig.snapshots``)
SNAPSHOT = "snapshot-{step:06d}.pt"
SNAPSHOT_FIELDS = ("step", "signature", "nets")
LOCK = ".lock"
#: what a checkpoint must hold to resume a run
FIELDS = ("step", "signature", "finished", "state", "rng")


def _numpy_rng_types() -> list:
    """The numpy globals a pickled ``np.random.get_state()`` needs: array reconstruction, the
    array and dtype classes, and the uint32 dtype class of the MT19937 key."""
    multiarray = getattr(np, "_core", None)
    reconstruct = (multiarray.multiarray._reconstruct if multiarray is not None
                   else np.core.multiarray._reconstruct)  # numpy < 2
    return [reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


SAFE_NUMPY = _numpy_rng_types()


class CheckpointError(FacelibError):
    """A checkpoint file that cannot be used: unreadable, not a checkpoint, or unsafe to load."""


def load(path: str | Path, fields: tuple[str, ...] = FIELDS) -> dict:
    """The checkpoint dict in ``path`` (``step``, ``signature``, ``finished``, ``state``, ``rng``, …;
    a snapshot's :data:`SNAPSHOT_FIELDS` with ``fields=SNAPSHOT_FIELDS``), loaded without executing
    pickled code. Raises :class:`CheckpointError` naming the file and why."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(SAFE_NUMPY):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # random bytes make the unpickler fail in arbitrary ways (IndexError, struct.error, …)
        if isinstance(err, pickle.UnpicklingError) and "Unsupported global" in str(err):
            reason = ("it holds an object that is not a tensor, number or container "
                      f"({_unsupported_global(str(err))}); facelib refuses to execute pickled code")
        else:
            reason = f"damaged or truncated ({_cause(err)})"
        raise CheckpointError(f"{path}: not loadable — {reason}") from None
    missing = [k for k in fields if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not a facelib checkpoint (missing {', '.join(missing)})")
    return ckpt


def _cause(err: Exception) -> str:
    """The informative part of a load error: torch wraps every weights-only failure in a paragraph
    (that even suggests ``weights_only=False``); the unpickler's own words follow its marker."""
    text = str(err).strip()
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].strip()
    first = text.splitlines()[0].strip() if text else "no details"
    return f"{type(err).__name__}: {first[:200]}"


def _unsupported_global(message: str) -> str:
    for line in message.splitlines():
        if "Unsupported global" in line:
            return line.strip().split("GLOBAL", 1)[-1].split(" was not", 1)[0].strip()
    return "an unsupported global"


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(src: Path, dst: Path) -> None:
    """``os.replace`` (a seam for the fault tests, which stop a save between its renames)."""
    os.replace(src, dst)


def _write_synced(path: Path, obj) -> None:
    """``torch.save`` to ``path``, flushed and fsynced (the caller renames it into place)."""
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def save(run_dir: str | Path, state: dict, final: bool = False) -> Path:
    """Write ``state`` as the run folder's latest checkpoint, keeping the current one as the
    previous (``final``: deleting it once the new one is in place and synced); returns the latest's
    path. On a write error (disk full, …) the folder is left as it was and :class:`CheckpointError`
    says which checkpoint is intact."""
    run_dir = Path(run_dir)
    latest, previous, tmp = run_dir / CHECKPOINT, run_dir / PREVIOUS, run_dir / (CHECKPOINT + ".tmp")
    try:
        _write_synced(tmp, state)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        kept = latest if latest.is_file() else previous if previous.is_file() else None
        raise CheckpointError(f"could not write a checkpoint in {run_dir} ({err.strerror or err}); "
                              + (f"{kept.name} there is intact" if kept else "no earlier checkpoint exists")
                              + "; free space and run the same command again to resume") from err
    if latest.is_file():
        _replace(latest, previous)
    _replace(tmp, latest)
    _fsync_folder(run_dir)
    if final:
        previous.unlink(missing_ok=True)
    return latest


def save_snapshot(run_dir: str | Path, step: int, signature: str, nets: dict) -> Path:
    """Write the networks' state dicts ``nets`` after ``step`` as :data:`SNAPSHOT` (written to a
    temporary file, then renamed: never half a file under the final name); returns its path."""
    path = Path(run_dir) / SNAPSHOT.format(step=step)
    tmp = path.with_name(path.name + ".tmp")
    _write_synced(tmp, {"step": int(step), "signature": signature, "nets": nets})
    _replace(tmp, path)
    return path


def snapshot_steps(run_dir: str | Path) -> list[int]:
    """The steps a run folder holds snapshots of, in order."""
    return sorted(int(p.stem.split("-")[1]) for p in Path(run_dir).glob("snapshot-*.pt"))


@dataclass
class Resumable:
    """What :func:`resumable` found: the checkpoint to resume (or ``None``), its file, and one
    line per file it skipped, with the reason."""

    checkpoint: dict | None
    path: Path | None
    skipped: list[str] = field(default_factory=list)


def resumable(run_dir: str | Path, signature: str) -> Resumable:
    """The newest checkpoint of ``run_dir`` that loads and belongs to the run ``signature``: the
    latest, else the previous. Raises :class:`CheckpointError` when checkpoints exist but none is
    usable, naming each file, its reason and the choices."""
    run_dir = Path(run_dir)
    skipped = []
    for path in (run_dir / CHECKPOINT, run_dir / PREVIOUS):
        if not path.is_file():
            continue
        try:
            ckpt = load(path)
        except CheckpointError as err:
            skipped.append(str(err))
            continue
        if ckpt["signature"] != signature:
            skipped.append(f"{path}: belongs to another run (method, hyper-parameters, data or config differ: "
                           f"signature {ckpt['signature']} ≠ {signature})")
            continue
        return Resumable(ckpt, path, skipped)
    if skipped:
        raise CheckpointError(
            "no usable checkpoint in " + str(run_dir) + ":\n  " + "\n  ".join(skipped)
            + "\nchoices: use another run folder; or start this one over (resume=False, or --restart on "
              "the command line; the files are overwritten); or move the files away to keep them")
    return Resumable(None, None, [])


class RunLock:
    """An exclusive lock on a run folder while one trainer uses it (``with RunLock(folder): ...``).

    A second trainer raises :class:`FacelibError` naming the holder (pid, host, start time). The
    lock is an ``flock`` on ``<folder>/.lock``: released by the kernel when its process ends, so a
    file left by a killed run does not block the next one. Where ``fcntl`` does not exist
    (Windows) the lock is advisory only: the file records the holder but nothing is enforced.
    """

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise FacelibError(f"the run folder {self.path.parent} is in use by {holder}; wait for that "
                                   "training to finish or stop it (its checkpoint is kept), or use another "
                                   "run folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}"
                 .encode())
        os.fsync(fd)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> bool:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None
        return False
