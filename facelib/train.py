"""One training loop for every method of the book (DESIGN 3; issue 5).

A method supplies only what is its own — its networks, its optimisers, ``train_step(batch, step)
-> losses`` and ``predict(images)`` — by subclassing :class:`facelib.methods.base.Method` (the
contract). :func:`train` does the rest the same way for all of them, and imports no method:

* devices, mixed precision on GPU and multi-GPU through Hugging Face ``accelerate`` (run a script
  with ``accelerate launch`` or ``torchrun`` and each process trains its shard of every batch);
* seeds, and a batch order that is a pure function of (seed, step), so a run can stop anywhere;
* a ``tqdm`` progress bar, a JSON-lines log (``log.jsonl``) of the losses and of periodic
  validation that the chapters plot;
* checkpoints every ``checkpoint_every`` steps and on SIGINT/SIGTERM (the Jupyter "interrupt"
  button, a batch scheduler's notice); calling :func:`train` again with the same run folder
  resumes, and on CPU the resumed run is bit-identical to an uninterrupted one.

Which optimiser a loss drives is declared, not coded: ``Method.objectives`` maps a key of the
dict ``train_step`` returns to the optimisers that loss steps (one ``total`` for R-Net; a
generator and a discriminator objective for adversarial methods, stepped in the declared order).
The other keys of the dict are logged only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from . import checkpoints
from .checkpoints import CHECKPOINT, CheckpointError, RunLock
from .errors import FacelibError
from .reproduce import cpu_has_bf16, deterministic

if TYPE_CHECKING:  # the contract, for type hints only: the loop imports no method at run time
    from .methods.base import Method

LOG = "log.jsonl"
#: the run folders this process trained or loaded a finished run from (:func:`train`), in order: what
#: a chapter run used, whose logs it keeps beside its results (:func:`facelib.chapter.RunBanner.finish`)
RUNS_USED: list[Path] = []


class TrainingInterrupted(KeyboardInterrupt):
    """Raised after SIGINT/SIGTERM once the checkpoint is on disk; the message says how to resume."""


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train (the method's own hyper-parameters live in the method).

    Attributes:
        steps: optimisation steps in total (a resumed run continues up to this number).
        batch_size: images per step, over all processes.
        seed: seeds torch, numpy and Python and fixes the batch order.
        log_every: steps averaged into one log line.
        val_every: steps between validations (0: never).
        checkpoint_every: steps between checkpoints (0: only at the end and on interruption).
        mixed_precision: ``"auto"`` (bf16 on a CUDA device that supports it, else fp16 on CUDA,
            none on a CPU), ``"no"``, ``"fp16"`` (CUDA) or ``"bf16"`` (CUDA, or a CPU with bf16
            units: AVX-512 BF16 or AMX; elsewhere it falls back to float32). The run signature
            records the precision actually used (:func:`precision_in_use`), not the choice.
        cpu: force the CPU even where CUDA is available.
        snapshots: steps after which the networks are also saved as ``snapshot-<step>.pt``, to show
            how a run evolved (:func:`load_snapshot`); not part of the run's signature.
    """

    steps: int
    batch_size: int
    seed: int = 0
    log_every: int = 10
    val_every: int = 100
    checkpoint_every: int = 200
    mixed_precision: str = "auto"
    cpu: bool = False
    snapshots: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------- batch order
def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The dataset indices of global batch ``step``: epoch ``e`` visits a permutation drawn from
    ``(seed, e)``, batches are consecutive slices of it (the last partial slice is dropped).
    A pure function of its arguments, so any step can be the first after a resume."""
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise FacelibError(f"the training set has {n} samples, fewer than one batch of {batch_size}; "
                           "use a smaller batch_size or a larger set")
    epoch, k = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return perm[k * batch_size:(k + 1) * batch_size].tolist()


class StepBatches(torch.utils.data.Sampler):
    """Batches for steps ``start, start+1, … steps−1`` from a ``batches(step) -> indices`` rule,
    each cut to this process's shard (process ``rank`` of ``world`` takes every world-th item)."""

    def __init__(self, batches, start: int, steps: int, rank: int = 0, world: int = 1):
        self.batches, self.start, self.steps, self.rank, self.world = batches, start, steps, rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.steps):
            yield self.batches(step)[self.rank::self.world]


# ------------------------------------------------------------------------------- checkpoints
def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def run_signature(method: Method, config: TrainConfig, data: dict, precision: str | None = None) -> str:
    """Hash of what determines a run's result; a checkpoint resumes only the same run. ``precision``:
    the precision in use (:func:`precision_in_use`; default: the one ``config`` gives here) —
    recorded instead of the config's choice, so "auto" on two machines never shares a run."""
    train = {k: v for k, v in config.as_dict().items() if k not in ("log_every", "val_every", "checkpoint_every",
                                                                     "snapshots", "mixed_precision")}
    train["precision"] = precision or precision_in_use(config.mixed_precision, config.cpu)
    blob = {"method": method.name, "hyperparameters": method.hyperparameters(), "data": data, "train": train}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_checkpoint(run_dir: Path, method: Method, step: int, signature: str, finished: bool,
                    window: dict | None = None, elapsed: float = 0.0) -> Path:
    """Write the run's checkpoint with :func:`facelib.checkpoints.save` (fsynced temporary file,
    the current checkpoint kept as the previous, then a rename; a ``finished`` run's previous is
    then deleted): an interruption never leaves the folder without a loadable checkpoint.
    ``window`` holds the losses of the steps since the last log line (so the log resumes exactly),
    ``elapsed`` the training seconds so far (over all resumed segments)."""
    state = {"step": step, "signature": signature, "finished": finished, "method": method.name,
             "state": method.state_dict(), "rng": _rng_state(), "window": window or {}, "elapsed": elapsed,
             "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return checkpoints.save(run_dir, state, final=finished)


def load_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict (``step``, ``signature``, ``finished``, ``state``, ``rng``), loaded without
    executing pickled code (:func:`facelib.checkpoints.load`)."""
    return checkpoints.load(path)


def load_finished(method: Method, run_dir: str | Path, command: str) -> str:
    """Load the weights of the finished run in ``run_dir`` into ``method`` (a teacher, or a run
    to evaluate) without checking its signature; returns the signature (also set as
    ``method.run_signature``). A missing or unfinished run raises the error naming ``command``,
    the command that trains it."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise FacelibError(f"no trained {method.name} in {run_dir}; train it first: {command}")
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}; train it again: {command}") from None
    if not ckpt["finished"]:
        raise FacelibError(f"the {method.name} run in {run_dir} stopped at step {ckpt['step']}; "
                           f"finish it first: {command}")
    try:
        method.load_state_dict(ckpt["state"], optimizers=False)
    except (KeyError, RuntimeError) as err:
        raise FacelibError(f"the checkpoint in {run_dir} is not a {method.name} of this size ({err}); "
                           f"train it again: {command}") from None
    method.train_mode(False)
    method.run_signature = ckpt["signature"]
    return ckpt["signature"]


def load_snapshot(method: Method, run_dir: str | Path, step: int, signature: str | None = None) -> Method:
    """Load into ``method`` (built with the run's arguments) the networks of the run in ``run_dir``
    as they were after ``step`` (``TrainConfig.snapshots``); returns ``method``, in eval mode.
    ``signature``: the run's expected signature (e.g. :func:`signature_on_set` of the method as
    built): a snapshot of another run is refused."""
    path = Path(run_dir) / checkpoints.SNAPSHOT.format(step=step)
    if not path.is_file():
        have = checkpoints.snapshot_steps(run_dir)
        raise FacelibError(f"no snapshot of step {step} in {run_dir} (it has {have or 'none'}): the run was trained "
                           f"without it; train it again keeping step {step} (delete the folder and re-run the "
                           f"chapter, or `python -m facelib train ... --restart --snapshots {step}`)")
    snap = checkpoints.load(path, fields=checkpoints.SNAPSHOT_FIELDS)
    if signature is not None and snap["signature"] != signature:
        raise CheckpointError(f"the snapshot of step {step} in {run_dir} belongs to run {snap['signature']}, not to "
                              f"{signature} (the method as built now): train it again, or load it with the options "
                              "it was trained with")
    method.load_state_dict({"nets": snap["nets"]}, optimizers=False)
    method.train_mode(False)
    method.run_signature = f"{snap['signature']}@{snap['step']}"
    return method


def keep_log(run_dir: str | Path, logs: str | Path, name: str) -> Path:
    """Copy a finished run's log to ``logs/<name>.jsonl`` (a record's evidence, committed beside it
    under ``results/``; ``runs/`` is not). Returns the copy's path."""
    import shutil

    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(Path(run_dir) / LOG, logs / f"{name}.jsonl"))


def read_log(run_dir: str | Path, while_written: bool = False) -> list[dict]:
    """The log lines of a run (training entries have ``losses``, validation entries ``val``).
    ``while_written``: the run may be writing its log now, so a last line not yet complete is left out."""
    p = Path(run_dir) / LOG
    lines = [line for line in p.read_text().splitlines() if line.strip()] if p.is_file() else []
    if while_written and lines:
        try:
            json.loads(lines[-1])
        except json.JSONDecodeError:
            lines = lines[:-1]
    return [json.loads(line) for line in lines]


def _truncate_log(run_dir: Path, step: int) -> None:
    """Drop log lines written after ``step`` (by a run that stopped between two checkpoints)."""
    keep = [e for e in read_log(run_dir) if e["step"] <= step]
    (run_dir / LOG).write_text("".join(json.dumps(e) + "\n" for e in keep))


# ------------------------------------------------------------------------------- the loop
@dataclass
class TrainResult:
    """What :func:`train` did: steps run now, where it started, the wall time of this call, and the
    whole log (whose ``time`` entries count training seconds since step 0 over all segments)."""

    run_dir: Path
    steps: int
    started_at: int
    seconds: float
    log: list[dict] = field(default_factory=list)
    signature: str = ""

    @property
    def resumed(self) -> bool:
        return self.started_at > 0

    @property
    def training_seconds(self) -> float:
        """Seconds spent training this run in total (all segments), from the log."""
        times = [e["time"] for e in self.log if "time" in e]
        return float(times[-1]) if times else self.seconds

    def seconds_at(self, step: int) -> float:
        """Training seconds the run had spent when it finished step ``step`` (the last log line at
        or before it; e.g. the end of an initialisation phase)."""
        times = [e["time"] for e in self.log if "time" in e and e["step"] <= step]
        if not times:
            raise FacelibError(f"the log of {self.run_dir} has no training entry at or before step {step}")
        return float(times[-1])

    @property
    def status(self) -> str:
        """What this call did, in words: loaded a finished run, resumed one, or trained it."""
        if self.steps == 0:
            return "loaded (finished earlier)"
        return f"resumed at step {self.started_at}" if self.resumed else "trained"

    def describe(self) -> str:
        """One line for a chapter: ``"rnet: loaded (finished earlier); 806 s of training for 1500 steps"``."""
        total = self.started_at + self.steps
        return f"{self.run_dir.name}: {self.status}; {self.training_seconds:.0f} s of training for {total} steps"

    def losses(self) -> list[dict]:
        """``[{"step": s, <loss>: value, ...}]`` — the training entries of the log."""
        return [{"step": e["step"], **e["losses"]} for e in self.log if "losses" in e]

    def validation(self) -> list[dict]:
        """``[{"step": s, <metric>: value, ...}]`` — the validation entries of the log."""
        return [{"step": e["step"], **e["val"]} for e in self.log if "val" in e]

    def seconds_by(self, key: str, names: tuple[str, ...]) -> dict[str, float]:
        """Training seconds per stage for a method that logs its stage index as loss ``key``
        (FOCUS's ``phase``, the contour method's ``stage``): each logged interval goes to the
        stage its mean index rounds to (intervals straddling a boundary are split by that rounding)."""
        out, last = dict.fromkeys(names, 0.0), 0.0
        for e in self.log:
            if "time" not in e or key not in e.get("losses", {}):
                continue
            out[names[int(round(e["losses"][key]))]] += e["time"] - last
            last = e["time"]
        return out


class _Stop:
    """Remembers SIGINT/SIGTERM during training instead of dying mid-step."""

    def __init__(self):
        self.signal: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self):
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: no handlers (interruptions then kill the run)
            self.previous = {}
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


PRECISIONS = ("auto", "no", "fp16", "bf16")


def precision_in_use(choice: str, cpu: bool = False) -> str:
    """The precision a run with ``TrainConfig.mixed_precision == choice`` trains in here: ``"no"``
    (float32), ``"bf16"`` or ``"fp16"``. On a CPU, ``"bf16"`` needs bf16 units (else float32) and
    ``"auto"`` and ``"fp16"`` mean float32."""
    if choice not in PRECISIONS:
        raise FacelibError(f"unknown mixed precision {choice!r}; choose one of {PRECISIONS}")
    on_cpu = cpu or not torch.cuda.is_available()
    if on_cpu:
        return "bf16" if choice == "bf16" and cpu_has_bf16() else "no"
    if choice == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return choice


def autocast(precision: str, device: torch.device | str = "cpu"):
    """The block a training step runs in: bf16 autocast on a CPU when ``precision == "bf16"``
    (matrix products and convolutions in bf16, everything else — the renderer included — in
    float32), a no-op otherwise (on CUDA, accelerate casts the prepared networks itself)."""
    device = torch.device(device)
    enabled = precision == "bf16" and device.type == "cpu"
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def optimisation_step(method: Method, batch: dict, step: int, backward=torch.Tensor.backward,
                      precision: str = "no") -> dict:
    """One step of the loop: ``method.train_step(batch, step)`` (``step``: 0-based; inside
    :func:`autocast` of ``precision``), then, for each of its
    :attr:`~facelib.methods.base.Method.objectives` present in the returned losses, in the declared
    order, zero that objective's optimisers, ``backward(loss)`` into their parameters only, and step
    them. Returns the losses
    (what the loop logs). On a CPU it runs torch's deterministic kernels
    (:func:`facelib.reproduce.deterministic`): the same weights whatever else the machine runs.
    :mod:`facelib.bench` times exactly this."""
    with deterministic(method.device):
        return _optimisation_step(method, batch, step, backward, precision)


def _optimisation_step(method: Method, batch: dict, step: int, backward, precision: str) -> dict:
    with autocast(precision, method.device):
        losses = method.train_step(batch, step)
    if all(k not in losses for k in method.objectives):
        raise FacelibError(f"{method.name}.train_step returned {sorted(losses)}, none of its "
                           f"objectives {sorted(method.objectives)}")
    for key, opt_names in method.objectives.items():
        if key not in losses:  # e.g. an alternating (EM) schedule skips a phase
            continue
        opts = [method.optimizers[o] for o in opt_names]
        for o in opts:
            o.zero_grad(set_to_none=True)
        # only this objective's parameters: a generator's loss does not also compute the
        # discriminator's weight gradients (its optimiser would zero them before its own step)
        backward(losses[key], inputs=_trained_parameters(opts))
        for o in opts:
            o.step()
    return losses


def _trained_parameters(optimizers) -> list[torch.Tensor]:
    """The parameters that ``optimizers`` step and that take a gradient."""
    return [p for o in optimizers for group in o.param_groups for p in group["params"] if p.requires_grad]


def _collate_to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def train(method: Method, train_set, run_dir: str | Path, config: TrainConfig, *, val_set=None,
          val_batches: int = 4, batches=None, data_signature: dict | None = None, resume: bool = True,
          progress: bool = True) -> TrainResult:
    """Train ``method`` on ``train_set`` (a map-style dataset of dicts), checkpointing in ``run_dir``.

    Args:
        method: a :class:`Method`.
        train_set: its items are dicts of tensors (e.g. :class:`facelib.data.folder.FaceFolder`).
        run_dir: checkpoints and ``log.jsonl`` go here; an existing checkpoint of the same run
            (same method, hyper-parameters, data and config) is resumed, a finished one is loaded.
        config: :class:`TrainConfig`.
        val_set: validated every ``config.val_every`` steps on its first ``val_batches`` batches.
        batches: ``batches(step) -> list of indices`` (default :func:`batch_indices`; ORN's MOPI
            passes identity groups).
        data_signature: what identifies the data (e.g. the set's checksum) for the run signature.
        resume: ``False`` starts over even when a matching checkpoint exists.
        progress: show a tqdm bar.
    Returns:
        :class:`TrainResult`; the method holds the trained weights.
    Raises:
        TrainingInterrupted: after SIGINT/SIGTERM, once the checkpoint is saved.
    """
    from accelerate import Accelerator

    run_dir = Path(run_dir)
    precision = precision_in_use(config.mixed_precision, config.cpu)
    on_cuda = torch.cuda.is_available() and not config.cpu
    # on CUDA accelerate casts the prepared networks; on a CPU the loop's own autocast does (all of
    # a step but the renderer, see :func:`autocast`)
    accelerator = Accelerator(cpu=config.cpu, mixed_precision=precision if on_cuda else "no")
    main = accelerator.is_main_process
    signature = run_signature(method, config, data_signature or {"samples": len(train_set)}, precision)
    ckpt_path = run_dir / CHECKPOINT
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(run_dir) if main else contextlib.nullcontext():  # one trainer per run folder
        result = _train_locked(method, train_set, run_dir, config, accelerator, signature, ckpt_path, val_set,
                               val_batches, batches, resume, progress, precision)
    RUNS_USED.append(run_dir.resolve())
    return result


def _train_locked(method, train_set, run_dir, config, accelerator, signature, ckpt_path, val_set, val_batches,
                  batches, resume, progress, precision) -> TrainResult:
    from tqdm.auto import tqdm

    main = accelerator.is_main_process
    start = 0
    found = checkpoints.resumable(run_dir, signature) if resume else checkpoints.Resumable(None, None)
    ckpt = found.checkpoint
    if found.skipped and ckpt is not None:
        note = (f"resuming {method.name} from {found.path.name} (step {ckpt['step']}) because "
                + "; ".join(found.skipped))
        print(note)
        if main:
            with open(run_dir / LOG, "a") as f:
                f.write(json.dumps({"step": int(ckpt["step"]), "event": note}) + "\n")
    method.to(accelerator.device)
    if ckpt is not None:
        method.load_state_dict(ckpt["state"])
        start = ckpt["step"]
    else:
        seed_everything(config.seed)
        if main and (run_dir / LOG).exists():
            (run_dir / LOG).unlink()
    if ckpt is not None and ckpt["finished"] and start >= config.steps:
        method.train_mode(False)
        method.run_signature = signature
        return TrainResult(run_dir, 0, start, 0.0, read_log(run_dir), signature)

    # wrap the trained networks (DDP on several GPUs, autocast for mixed precision)
    names = list(method.nets)
    prepared = accelerator.prepare(*[method.nets[k] for k in names], *method.optimizers.values())
    prepared = prepared if isinstance(prepared, (list, tuple)) else [prepared]
    for k, m in zip(names, prepared[:len(names)], strict=True):
        method.nets[k] = m
    for k, o in zip(list(method.optimizers), prepared[len(names):], strict=True):
        method.optimizers[k] = o
    if ckpt is not None:
        _set_rng_state(ckpt["rng"])  # after prepare(), which may draw random numbers
        if main:
            _truncate_log(run_dir, start)

    order = batches or (lambda step: batch_indices(len(train_set), config.batch_size, config.seed, step))
    sampler = StepBatches(order, start, config.steps, accelerator.process_index, accelerator.num_processes)
    # its own generator: a DataLoader otherwise draws a seed from the global RNG per iterator
    loader = torch.utils.data.DataLoader(train_set, batch_sampler=sampler, num_workers=0,
                                         generator=torch.Generator())
    log_file = open(run_dir / LOG, "a") if main else None
    window: dict[str, list[float]] = dict(ckpt.get("window", {})) if ckpt is not None else {}
    # the log's times are training seconds since step 0, over every resumed segment
    started = time.perf_counter() - (float(ckpt.get("elapsed", 0.0)) if ckpt is not None else 0.0)
    segment_start = time.perf_counter()
    step = start
    bar = tqdm(total=config.steps, initial=start, desc=f"train {method.name}",
               disable=not (progress and main), dynamic_ncols=True)

    def checkpoint(finished: bool) -> None:
        accelerator.wait_for_everyone()
        if main:
            save_checkpoint(run_dir, method, step, signature, finished, window, time.perf_counter() - started)

    def write(entry: dict) -> None:
        if log_file is not None:
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()

    try:
        with _Stop() as stop:
            method.train_mode(True)
            method.forget()  # rows remembered from another set (or an earlier call) are not this run's
            for batch in loader:
                losses = optimisation_step(method, _collate_to(batch, accelerator.device), step, accelerator.backward,
                                           precision)
                step += 1
                for k, v in losses.items():
                    value = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
                    if not math.isfinite(value):
                        raise FacelibError(f"{method.name}: loss {k!r} is {value} at step {step}; the last "
                                           f"checkpoint is in {ckpt_path} (lower the learning rate?)")
                    window.setdefault(k, []).append(value)
                if step % config.log_every == 0 or step == config.steps:
                    means = {k: float(np.mean(v)) for k, v in window.items()}
                    write({"step": step, "of": config.steps, "time": round(time.perf_counter() - started, 3),
                           "losses": means})
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(means.items())[:3]})
                    window = {}
                bar.update(1)
                if val_set is not None and config.val_every and (step % config.val_every == 0 or step == config.steps):
                    write({"step": step, "val": validate(method, val_set, config.batch_size, val_batches)})
                    method.train_mode(True)
                if main and step in config.snapshots:
                    checkpoints.save_snapshot(run_dir, step, signature,
                                              {k: accelerator.unwrap_model(m).state_dict() for k, m in method.nets.items()})
                if stop.signal is not None:
                    checkpoint(finished=False)
                    raise TrainingInterrupted(
                        f"training of {method.name} stopped at step {step}/{config.steps} "
                        f"({signal.Signals(stop.signal).name}); checkpoint saved in {ckpt_path}. "
                        "Run the same call again to resume.")
                if config.checkpoint_every and step % config.checkpoint_every == 0 and step < config.steps:
                    checkpoint(finished=False)
            checkpoint(finished=True)
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
        method.train_mode(False)
        for k in names:  # hand back plain modules and optimisers (no DDP/accelerate wrappers)
            method.nets[k] = accelerator.unwrap_model(method.nets[k])
        for k, o in method.optimizers.items():
            method.optimizers[k] = getattr(o, "optimizer", o)
    method.run_signature = signature
    return TrainResult(run_dir, step - start, start, time.perf_counter() - segment_start, read_log(run_dir),
                       signature)


@torch.no_grad()
def validate(method: Method, val_set, batch_size: int, max_batches: int) -> dict[str, float]:
    """Mean of ``method.validation_step`` over the first ``max_batches`` batches of ``val_set``."""
    method.train_mode(False)
    n = min(len(val_set), batch_size * max_batches)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(val_set, range(n)), batch_size=batch_size,
                                         generator=torch.Generator())
    sums: dict[str, float] = {}
    count = 0
    for batch in loader:
        out = method.validation_step(_collate_to(batch, method.device))
        b = len(batch["index"]) if "index" in batch else 1
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v) * b
        count += b
    return {k: v / max(count, 1) for k, v in sums.items()}


def train_on_set(method: Method, root: str | Path, run_dir: str | Path, profile, *, steps: int | None = None,
                 seed: int = 0, val_views=("clean", "occluded"), resume: bool = True, progress: bool = True,
                 val_batches: int = 4, **config) -> TrainResult:
    """Train ``method`` on the ``train`` split of the face set at ``root`` (its :attr:`Method.views`
    and :attr:`Method.masks`, held in memory), validating on ``val`` — the profile's sizes: batch
    size (:meth:`Method.batch_items` of it), ``method.steps_for(profile)`` steps (unless ``steps``), validation (on the first
    ``val_batches`` batches) and checkpoints every tenth of the run. ``config`` overrides :class:`TrainConfig` fields."""
    from .data.folder import FaceFolder, read_index

    index = read_index(root)
    train_set = FaceFolder(root, "train", views=method.views, masks=method.masks, in_memory=True)
    val_views = tuple(v for v in val_views if v in index["views"])
    val_set = FaceFolder(root, "val", views=val_views, in_memory=True) if "val" in index["splits"] else None
    cfg, data = _config_on_set(method, index, profile, steps, seed, config)
    return train(method, train_set, run_dir, cfg, val_set=val_set, data_signature=data, resume=resume,
                 progress=progress, val_batches=val_batches)


def _config_on_set(method: Method, index: dict, profile, steps: int | None, seed: int, config: dict):
    """The :class:`TrainConfig` and data signature :func:`train_on_set` trains ``method`` with."""
    steps = int(steps or method.steps_for(profile))
    cfg = TrainConfig(**{"steps": steps, "batch_size": method.batch_items(profile.batch_size), "seed": seed,
                         "log_every": max(1, min(10, steps // 20)), "val_every": max(1, steps // 10),
                         "checkpoint_every": max(1, steps // 10),
                         "mixed_precision": getattr(profile, "precision", "auto"), **config})
    data = {"set": index.get("checksum"), "split": "train", "views": list(method.views), "masks": list(method.masks)}
    return cfg, data


def signature_on_set(method: Method, root: str | Path, profile, *, steps: int | None = None, seed: int = 0,
                     **config) -> str:
    """The run signature :func:`train_on_set` gives ``method`` on the set at ``root`` with these
    arguments: a finished run with this signature is that very training."""
    from .data.folder import read_index

    cfg, data = _config_on_set(method, read_index(root), profile, steps, seed, config)
    return run_signature(method, cfg, data)
