"""The method contract: what a trainable method of this book declares, and nothing else.

:func:`facelib.train.train` trains any :class:`Method` without knowing which one it is, and
:func:`facelib.evaluation.runner.evaluate` evaluates its :meth:`Method.predict`. A method is model
construction + loss assembly + ``train_step`` + ``predict`` (how to add one: README, "Adding a
method").

**Hyper-parameters are recorded, not listed.** Every argument a subclass's ``__init__`` receives
(defaults applied) is captured when the object is built and serialised by :func:`describe` into
:meth:`Method.hyperparameters`, which the run signature hashes — so a checkpoint never resumes a
run that was built with other arguments, and nobody has to remember to add a new argument to a
hand-written list. :meth:`Method.derived_hyperparameters` adds what the arguments alone do not
fix (e.g. the effective loss weights, which also depend on module constants).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import inspect
from typing import Callable, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..errors import FacelibError
from ..morphable import MorphableModel


@dataclasses.dataclass(frozen=True)
class Prerequisite:
    """A finished run a method is built from (a teacher): the constructor argument ``argument``
    takes a trained ``method``, from the run folder ``runs/<chapter>/<profile>/<method>`` of the
    chapter that method's declaration names (:func:`facelib.methods.chapter_of`; ``chapter``
    overrides it). :mod:`facelib.runs` loads it for the command line and the chapters."""

    argument: str
    method: str
    chapter: str | None = None


def describe(value, where: str = "value"):
    """A JSON-able description of a hyper-parameter value, stable across processes.

    Plain values pass through; tuples and lists become lists, dicts keep their keys; dataclasses
    become dicts (a field whose metadata says ``omit_if_default`` is left out at its default, so a
    field added later leaves earlier runs' signatures as they were); a :class:`Method` (a teacher)
    is described by the signature of the run it was trained in (``run_signature``) or, untrained,
    by its own hyper-parameters; a morphable model by
    its name and coefficient layout; a tensor or array by a digest of its values. Anything else is
    refused — a value the signature cannot see would let a changed run resume silently.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [describe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): describe(v, f"{where}[{k!r}]") for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: describe(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)
                if not (f.metadata.get("omit_if_default") and getattr(value, f.name) == f.default)}
    if isinstance(value, Method):
        run = getattr(value, "run_signature", None)
        return {"method": value.name, "run": run} if run else {"method": value.name, "untrained": value.hyperparameters()}
    if isinstance(value, (torch.Tensor, np.ndarray)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        return {"array": list(array.shape), "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]}
    if isinstance(value, MorphableModel):
        return {"model": value.info.name, "layout": dict(value.layout.sizes)}
    raise FacelibError(f"cannot record hyper-parameter {where} of type {type(value).__name__}: give it a plain "
                       "value, a dataclass or a method, or extend facelib.methods.base.describe")


@dataclasses.dataclass
class Prediction:
    """What every predictor returns (:class:`Predictor`): a method, a refinement, a correction.

    Attributes:
        coefficients: ``(B, P)`` float32 coefficients on the CPU (``P = layout.total``).
        mask: ``(B, 1, H, W)`` face mask in {0, 1} (1 = face, 0 = outlier) when the predictor
            segments the image (R-Net's skin classifier, FOCUS's U-Net, the contour chain), else
            ``None``; the evaluation runner then scores it as a segmentation.
        vertices: ``(B, V, 3)`` model-space mesh when the predictor corrects the coefficients' mesh
            (FOCUS-MP), else ``None``; the shape metrics then use it.
        extras: anything else a method adds (not scored).
    """

    coefficients: torch.Tensor
    mask: torch.Tensor | None = None
    vertices: torch.Tensor | None = None
    extras: dict = dataclasses.field(default_factory=dict)


@runtime_checkable
class Predictor(Protocol):
    """What the evaluation runner, the refinement and the benchmark evaluate: a face ``model`` and
    ``predict(images)``, ``(B, 3, H, W)`` in [0, 1] → :class:`Prediction`. Every :class:`Method`
    is one; so are :class:`facelib.methods.refine.Refined`, :class:`facelib.methods.focus.MisfitCorrected`,
    R-Net's :class:`facelib.methods.rnet.SkinMasked` and the runner's mean face
    (:class:`facelib.evaluation.runner.MeanFace`)."""

    model: MorphableModel

    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → a :class:`Prediction` (``(B, P)`` coefficients, ...)."""
        ...


def as_prediction(out) -> Prediction:
    """A :class:`Prediction` of what a predict function returned: a :class:`Prediction`, or — from a
    reader's own function — ``(B, P)`` coefficients alone, or a dict with ``"coefficients"`` and
    optionally ``"mask"`` ``(B, 1, H, W)`` and ``"vertices"`` ``(B, V, 3)``."""
    if isinstance(out, Prediction):
        return out
    if isinstance(out, dict):
        if "coefficients" not in out:
            raise FacelibError("predict() returned a dict without 'coefficients'; return a "
                               "facelib.methods.base.Prediction")
        return Prediction(out["coefficients"], out.get("mask"), out.get("vertices"))
    if isinstance(out, torch.Tensor):
        return Prediction(out)
    raise FacelibError(f"predict() returned {type(out).__name__}; return a facelib.methods.base.Prediction")


def predict_function(predictor) -> Callable[[torch.Tensor], Prediction]:
    """The ``images -> Prediction`` function of a :class:`Predictor`, or of a plain function that
    returns coefficients, a dict or a :class:`Prediction` (see :func:`as_prediction`)."""
    fn = predictor.predict if isinstance(predictor, Predictor) else predictor
    if not callable(fn):
        raise FacelibError(f"cannot evaluate {predictor!r}: pass a predictor (with .model and .predict) or a "
                           "function of images")
    return lambda images: as_prediction(fn(images))


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Which phase a training step belongs to: ``stages`` ``((phase, steps), ...)`` one after the
    other, then ``cycle`` ``((phase, steps), ...)`` repeated to the end of the run (FOCUS's EM
    alternation; the contour method's last stage is a cycle of one phase). A pure function of the
    step: a resumed run and :mod:`facelib.bench` need no counter."""

    stages: tuple[tuple[str, int], ...]
    cycle: tuple[tuple[str, int], ...]

    def __post_init__(self):
        if any(n < 0 for _, n in (*self.stages, *self.cycle)) or sum(n for _, n in self.cycle) <= 0:
            raise FacelibError(f"invalid schedule {self}: stage lengths must be non-negative and the cycle "
                               "must have steps")

    def phase(self, step: int) -> str:
        """The phase of training step ``step`` (0-based)."""
        for name, length in self.stages:
            if step < length:
                return name
            step -= length
        step %= sum(n for _, n in self.cycle)
        for name, length in self.cycle:
            if step < length:
                return name
            step -= length
        raise AssertionError("unreachable: the cycle's lengths sum to more than step")


@dataclasses.dataclass(frozen=True)
class EvaluationContext:
    """What a declared row's predictor may need beyond its trained method
    (:class:`facelib.methods.Row`): the face ``model``, the ``profile``, the face set's ``root``,
    and ``load(method, run)``: the finished run ``run`` of registered method ``method``, from its
    chapter's run folder (FOCUS-MP loads its R_syn so)."""

    model: MorphableModel
    profile: object
    root: object
    load: Callable[[str, str], Method]


class Method:
    """Base class of a trainable method.

    A subclass sets :attr:`name`, builds its networks and optimisers in ``__init__`` and registers
    them in :attr:`nets` / :attr:`optimizers` (fixed helpers — a renderer, a frozen teacher or
    embedder — go in :attr:`fixed`: moved to the device, never trained), and implements
    :meth:`train_step` and :meth:`predict`. What it declares:

    * :attr:`views` / :attr:`masks`: the batch keys it trains on (of
      :class:`facelib.data.folder.FaceFolder`);
    * :attr:`objectives`: loss key of ``train_step``'s dict → the optimisers that loss steps, in
      this order (``{"total": ("encoder",)}`` for R-Net; a generator and a discriminator objective
      for adversarial methods; an EM schedule returns only the current phase's key);
    * :attr:`prerequisites`: finished runs it is built from (ORN's teachers);
    * :attr:`starts_from_stand_in`: whether its encoder starts from the profile's supervised
      stand-in (the papers start it from pretrained weights; :func:`facelib.runs.build_with_prerequisites`);
    * :meth:`steps_for`: its training steps in a profile;
    * :meth:`batch_items`: training-set items per batch of images (MOPI turns one item into seven);
    * :attr:`later_arguments`: arguments the run signature leaves out at their default.
    """

    name: ClassVar[str] = "method"
    views: tuple[str, ...] = ("clean",)
    masks: tuple[str, ...] = ()
    objectives: ClassVar[dict[str, tuple[str, ...]]] = {"total": ("encoder",)}
    prerequisites: ClassVar[tuple[Prerequisite, ...]] = ()
    starts_from_stand_in: ClassVar[bool] = False
    #: constructor arguments added after runs of the method were trained: left out of the run
    #: signature at their default, so those runs keep loading (like ``omit_if_default`` fields)
    later_arguments: ClassVar[tuple[str, ...]] = ()
    #: the signature of the run these weights come from (set by the training loop and the loaders)
    run_signature: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            if "_arguments" not in self.__dict__:  # the most derived class's call is the record
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop(next(iter(signature.parameters)))  # self
                for p in signature.parameters.values():
                    if p.kind is inspect.Parameter.VAR_KEYWORD and p.name in arguments:
                        arguments.update(arguments.pop(p.name))
                self.__dict__["_arguments"] = arguments
            init(self, *args, **kw)

        cls.__init__ = recording_init

    #: bytes :meth:`remembered` may keep per name (beyond it, rows are computed every step)
    #: (the cpu profile's 3,200 inpainted training faces at 112 px take 480 MB)
    memory_budget: ClassVar[int] = 768 * 2**20

    def __init__(self):
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.fixed: dict[str, nn.Module] = {}
        self.device = torch.device("cpu")
        self._memory: dict[str, dict] = {}

    # -- what a method implements ------------------------------------------------------------
    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        """Losses of one batch at training step ``step`` (0-based; the loop's own count, so a
        resumed run and a method's schedule agree): tensors with graphs for the :attr:`objectives`
        keys; other keys are logged only. ``batch`` holds ``(B, 3, H, W)`` images per view in
        [0, 1] and their annotations (``landmarks68`` ``(B, 68, 2)``, ...)."""
        raise NotImplementedError

    def predict(self, images: torch.Tensor) -> Prediction:
        """``(B, 3, H, W)`` images in [0, 1] → a :class:`Prediction`: ``(B, layout.total)``
        coefficients on the CPU and, if the method segments the face, its ``(B, 1, H, W)`` mask."""
        raise NotImplementedError

    def validation_step(self, batch: dict) -> dict[str, float]:
        """Numbers to log on a validation batch (default: none)."""
        return {}

    def steps_for(self, profile) -> int:
        """Training steps of this method in ``profile`` (default: its ``train_steps``)."""
        return profile.train_steps

    def batch_items(self, images: int) -> int:
        """How many training-set items make a batch of ``images`` images."""
        return images

    def derived_hyperparameters(self) -> dict:
        """What changes training beyond the constructor's arguments (default: nothing)."""
        return {}

    # -- what a training step may remember ----------------------------------------------------
    @staticmethod
    def row_keys(batch: dict, view: str) -> list | None:
        """One key per row of the batch's stored ``view`` (its training-set item), or ``None`` when
        the batch carries no item indices."""
        return [(view, int(i)) for i in batch["index"].tolist()] if "index" in batch else None

    def remembered(self, name: str, keys: list | None, compute) -> torch.Tensor:
        """``compute()`` — rows of a fixed function (a frozen network or formula, no gradient) of
        fixed training inputs, one row per key — or, when every key was met in an earlier step, the
        rows remembered then. ``keys=None`` (inputs that change between steps: drawn on the fly,
        augmented) always computes. Rows are remembered only from whole batches as the loop gives
        them, and a frozen network's row does not depend on the other rows of a batch of the same
        size (measured on CPU: ``tests/test_methods.py``), so training computes the same numbers
        with or without this memory; it is not saved in checkpoints (a resumed run rebuilds it)."""
        if keys is None:
            return compute()
        store = self._memory.setdefault(name, {"rows": {}, "bytes": 0})
        rows = store["rows"]
        if all(k in rows for k in keys):
            return torch.stack([rows[k] for k in keys])
        out = compute()
        size = out[0].numel() * out.element_size() if len(out) else 0
        for k, row in zip(keys, out.detach(), strict=True):
            if k not in rows and store["bytes"] + size <= self.memory_budget:
                rows[k] = row.clone()
                store["bytes"] += size
        return out

    @contextlib.contextmanager
    def recomputing(self):
        """Inside the block nothing is remembered or reused — each step as it was before
        :meth:`remembered` (:mod:`facelib.bench` times both); the memory is back after it."""
        saved, budget = self._memory, self.memory_budget
        self._memory, self.memory_budget = {}, 0
        try:
            yield self
        finally:
            self._memory, self.memory_budget = saved, budget

    def forget(self) -> None:
        """Drop every remembered row (:meth:`remembered`); the training loop calls it when a run
        starts or resumes, since rows are keyed by item index and another set reuses the indices."""
        self._memory.clear()

    def phase_of(self, step: int) -> str:
        """The name of the schedule phase training step ``step`` (0-based) belongs to, for a method
        whose steps differ by phase (FOCUS's EM, the contour method's stages: a :class:`Schedule`);
        default: one phase."""
        return "train"

    # -- recorded configuration ----------------------------------------------------------------
    @property
    def arguments(self) -> dict:
        """The constructor's arguments as the object was built (defaults applied)."""
        return dict(self.__dict__.get("_arguments", {}))

    def hyperparameters(self) -> dict:
        """Everything that changes what training computes, JSON-able: the recorded constructor
        arguments (through :func:`describe`) and :meth:`derived_hyperparameters`."""
        defaults = inspect.signature(type(self).__init__).parameters if self.later_arguments else {}
        args = {k: describe(v, f"{self.name}.{k}") for k, v in self.arguments.items()
                if not (k in self.later_arguments and k in defaults and v == defaults[k].default)}
        out = {"arguments": args, **describe(self.derived_hyperparameters(), f"{self.name}.derived")}
        if self.__dict__.get("_warm_start"):  # only when used, so other runs keep their signatures
            out["warm_start"] = self.__dict__["_warm_start"]
        return out

    # -- shared plumbing -----------------------------------------------------------------------
    def to(self, device) -> Method:
        self.device = torch.device(device)
        for m in (*self.nets.values(), *self.fixed.values()):
            m.to(self.device)
        return self

    def train_mode(self, on: bool = True) -> None:
        for m in self.nets.values():
            m.train(on)
        for m in self.fixed.values():
            m.eval()

    @contextlib.contextmanager
    def evaluating(self):
        """Every trained network in eval mode inside the block, each back in its own mode after."""
        was = {k: n.training for k, n in self.nets.items()}
        self.train_mode(False)
        try:
            yield self
        finally:
            for k, n in self.nets.items():
                n.train(was[k])

    def state_dict(self) -> dict:
        return {"nets": {k: unwrap(m).state_dict() for k, m in self.nets.items()},
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()}}

    def load_state_dict(self, state: dict, optimizers: bool = True) -> None:
        for k, m in self.nets.items():
            unwrap(m).load_state_dict(state["nets"][k])
        if optimizers:
            for k, o in self.optimizers.items():
                try:
                    o.load_state_dict(state["optimizers"][k])
                except (ValueError, KeyError) as e:
                    raise FacelibError(
                        f"{self.name}: the checkpoint's optimiser state {k!r} does not fit this method's "
                        f"optimiser ({e}); it was written by a facelib whose {self.name} grouped its parameters "
                        "otherwise. Train the run again in a fresh run folder (or delete the old one).") from None


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP / accelerate wrapper (or the module itself)."""
    return module.module if hasattr(module, "module") and isinstance(module.module, nn.Module) else module
