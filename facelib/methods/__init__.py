"""The book's methods: each is model construction + loss assembly + ``train_step`` + ``predict``
(a :class:`.base.Method`), trained by :func:`facelib.train.train`, which knows none of them.

* :mod:`.base` — the contract (:class:`~.base.Method`, the typed :class:`~.base.Prediction`, the
  :class:`~.base.Predictor` protocol, :class:`~.base.Schedule`); :mod:`.regressor` — image →
  coefficients with an encoder and a renderer, what every method here builds on;
* :mod:`.rnet` — R-Net (Deep3D), :mod:`.mofa` — MoFA: the baselines;
* :mod:`.orn` — ORN's SOPI (distilled from a trained R-Net) and MOPI (from a trained SOPI);
* :mod:`.rogue` — ROGUE's guidance and robustification pipelines with a coefficient discriminator;
* :mod:`.focus` — FOCUS's face autoencoder and outlier-segmentation U-Net, trained EM-style;
* :mod:`.contour` — the contour-guided method: occlusion mask, contour GAN, inpainting GAN, regression;
* :mod:`.refine` — test-time refinement of any predictor's prediction (a predictor, not a method).

**One declaration per method.** A method is registered once, with :func:`register`: its name, its
class, the chapter that trains it (its run folder is ``runs/<chapter>/<profile>/<name>``) and the
rows it gives the book's tables, each with the predictor evaluated under that label. The command
line, the chapters' run folders, the benchmark's rows (:mod:`facelib.evaluation.protocols.benchmark`)
and its trained runs (:mod:`facelib.benchmark`) are all read from these declarations. Adding a
method is its paper file here, its losses, one :func:`register` line below, and its chapter
(README, "Adding a method"). Importing this package imports no method.
"""

from __future__ import annotations

import dataclasses
import importlib

from ..errors import FacelibError


@dataclasses.dataclass(frozen=True)
class Row:
    """A row of the book's tables for a trained method.

    Attributes:
        label: the row's label in every table (``"R-Net"``); unique across the book.
        predictor: the name of a method of the trained object that takes an
            :class:`~.base.EvaluationContext` and returns the :class:`~.base.Predictor` evaluated
            under this label (R-Net: ``"skin_masked"``, its coefficients with its skin segmentation;
            FOCUS-MP: ``"misfit_corrected"``); ``None``: the trained method itself.
    """

    label: str
    predictor: str | None = None

    def evaluated(self, method, context):
        """The predictor evaluated under this row, built from the trained ``method``."""
        return method if self.predictor is None else getattr(method, self.predictor)(context)


@dataclasses.dataclass(frozen=True)
class Declaration:
    """Everything the book knows about a method, in one place.

    Attributes:
        name: the registry name (command line, run folder): ``"rnet"``.
        target: ``"module:Class"`` of its :class:`~.base.Method`, imported on first use.
        chapter: the chapter that trains its default configuration, ``"05_baselines"``.
        rows: its rows in the benchmark, in table order (none for a building block such as FOCUS's
            backbone).
    """

    name: str
    target: str
    chapter: str
    rows: tuple[Row, ...] = ()


_DECLARED: dict[str, Declaration] = {}


def register(declaration: Declaration) -> Declaration:
    """Add a method to the book: every registry reader (command line, benchmark rows, run folders)
    sees it from now on. Refuses a name or a row label that is already taken."""
    if declaration.name in _DECLARED:
        raise FacelibError(f"a method named {declaration.name!r} is already registered")
    taken = {r.label for d in _DECLARED.values() for r in d.rows}
    clash = {r.label for r in declaration.rows} & taken
    if clash:
        raise FacelibError(f"row label(s) {sorted(clash)} of {declaration.name!r} are already taken")
    if ":" not in declaration.target:
        raise FacelibError(f"target {declaration.target!r} of {declaration.name!r} must read 'module:Class'")
    _DECLARED[declaration.name] = declaration
    return declaration


def unregister(name: str) -> None:
    """Remove method ``name`` (a reader's experiment, a test's toy)."""
    _DECLARED.pop(name, None)


def declarations() -> tuple[Declaration, ...]:
    """Every registered method, in table order."""
    return tuple(_DECLARED.values())


def declaration(name: str) -> Declaration:
    """The declaration of method ``name``."""
    if name not in _DECLARED:
        raise FacelibError(f"unknown method {name!r}; choose one of {sorted(_DECLARED)}")
    return _DECLARED[name]


def names() -> tuple[str, ...]:
    """The registered methods' names."""
    return tuple(_DECLARED)


def chapter_of(name: str) -> str:
    """The chapter that trains method ``name``."""
    return declaration(name).chapter


def rows() -> tuple[tuple[Declaration, Row], ...]:
    """Every benchmark row of a trained method, in table order, with its method's declaration."""
    return tuple((d, r) for d in _DECLARED.values() for r in d.rows)


def method_class(name: str) -> type:
    """The class registered as ``name``."""
    module, cls = declaration(name).target.split(":")
    return getattr(importlib.import_module(module), cls)


#: a method started from the stand-in keeps its identity reader's weights (``reader_frozen``), unless
#: its options say otherwise: chosen side by side on the validation faces (DESIGN-NOTES 38)
STAND_IN_READER_FROZEN = True


def stand_in_options(profile, options: dict) -> dict:
    """``options`` for :func:`build` of a method started from the stand-in: where it has an identity
    reader (``reader`` in ``options``, else the profile's), ``reader_frozen`` is
    :data:`STAND_IN_READER_FROZEN` unless ``options`` says otherwise. A new dict."""
    if options.get("reader", getattr(profile, "reader", None)) is None:
        return dict(options)
    return {"reader_frozen": STAND_IN_READER_FROZEN, **options}


def build(name: str, model, profile, **options):
    """The method called ``name``, sized by ``profile`` (backbone, input size) and ``model``
    (its coefficient layout); ``options`` go to the method's constructor. The learning rate is
    ``lr`` if given, else the class's ``default_lr`` if it has one (MOPI), else the profile's;
    ``seed`` (default 0) seeds the encoder's initial weights; ``reader`` (an embedder name; default
    the profile's, ``None``: none) makes the encoder read identity from that face-recognition
    network's chip, ``reader_frozen=True`` keeps that reader's weights fixed
    (:class:`~.regressor.EncoderConfig`). A class's ``profile_options(profile)`` and
    ``inherited_options(options)`` (MOPI: the reader frozen as its SOPI's) fill the options not given."""
    from .regressor import EncoderConfig

    cls = method_class(name)
    if hasattr(cls, "profile_options"):  # options a method sizes by the profile (e.g. FOCUS's EM schedule)
        options = {**cls.profile_options(profile), **options}
    if hasattr(cls, "inherited_options"):  # options a method takes from a run it starts from (MOPI from SOPI)
        options = {**cls.inherited_options(options), **options}
    lr = options.pop("lr", None) or getattr(cls, "default_lr", None)
    seed = options.pop("seed", None)
    reader = options.pop("reader", getattr(profile, "reader", None))
    frozen = bool(options.pop("reader_frozen", False))
    encoder = EncoderConfig.from_profile(profile, **({"lr": lr} if lr is not None else {}),
                                         **({"seed": int(seed)} if seed is not None else {}),
                                         identity=reader, **({"identity_frozen": True} if frozen else {}))
    return cls(model, encoder, **options)


# The book's methods, in the order of its tables.
register(Declaration("pretrain", "facelib.methods.pretrain:Pretrain", "05_baselines"))
register(Declaration("mofa", "facelib.methods.mofa:MoFA", "05_baselines", (Row("MoFA"),)))
register(Declaration("rnet", "facelib.methods.rnet:RNet", "05_baselines", (Row("R-Net", "skin_masked"),)))
register(Declaration("sopi", "facelib.methods.orn:SOPI", "06_orn", (Row("SOPI"),)))
register(Declaration("mopi", "facelib.methods.orn:MOPI", "06_orn", (Row("MOPI"),)))
register(Declaration("rogue", "facelib.methods.rogue:ROGUE", "07_rogue", (Row("ROGUE"),)))
register(Declaration("focus", "facelib.methods.focus:FOCUS", "08_focus",
                     (Row("FOCUS"), Row("FOCUS-MP", "misfit_corrected"))))
register(Declaration("focus_backbone", "facelib.methods.focus:FaceAutoencoder", "08_focus"))
register(Declaration("contour", "facelib.methods.contour:Contour", "09_contour", (Row("contour-guided"),)))
