"""The rows a chapter shows beside its paper's method but that the book's reference path does not
train (issue 35, item 4): ablation arms, levers and the refinement rows, declared here once per
chapter, trained and evaluated by ``python -m facelib ablations --profile cpu`` (``make
ablations``) and committed as ``results/<chapter>/<profile>/ablations.json`` with their runs' logs,
which the chapter reads beside its own rows (:func:`rows`).

A committed row is used only if it was made from the same training as the chapter would make now:
each arm's expected run signature is computed from its declaration, its prerequisites' finished
runs and the data (:func:`facelib.train.signature_on_set`, no training; :func:`expected_key`), and
a row whose signature (or, for a refinement row, whose refinement) differs — or a file that lacks an
arm — is refused with the command that makes it again, unless the chapter asks for the rows to be
made now (every profile but the reference cpu one does: :data:`COMMITTED_PROFILES`).

Each arm names the sections it fills (:data:`SECTIONS`: the same protocols the chapter calls for
its own rows), so that the chapter's tables, claims and glue read ``M[row][section]`` alike for both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import runs
from .errors import FacelibError
from .methods.focus import CHAPTER_OPTIONS as _FOCUS
from .results import code_version, results_dir
from .results import run_dir as chapter_run_dir
from .train import TrainResult, keep_log, signature_on_set

#: the file a chapter's ablation rows are committed in, beside its ``metrics.json``
FILE = "ablations.json"


@dataclass(frozen=True)
class Arm:
    """One row off the reference path.

    ``row``: the key the chapter's tables use; ``method``: a registered method, trained with
    ``options`` in the chapter's run folder ``run`` (default ``row``) from its prerequisites and,
    if it starts from one, the stand-in (:func:`facelib.runs.trained_variant`) — or, with
    ``start``, from that registered method's finished run in its chapter instead of the stand-in
    (ROGUE from chapter 5's R-Net), its reader frozen alike; ``refines``:
    instead of training, the finished run of that method in its chapter — trained with ``options``,
    as that chapter trains it (chapter 8's FOCUS with the code's preserve weight) — refined per face
    (:class:`facelib.methods.refine.Refined` at the profile's ``refine_steps``); ``sections``: what
    is measured (keys of :data:`SECTIONS`); ``views``: the views of the ``"views"`` section."""

    row: str
    method: str | None = None
    options: Mapping = field(default_factory=dict)
    run: str | None = None
    refines: str | None = None
    start: str | None = None
    sections: tuple[str, ...] = ("views",)
    views: tuple[str, ...] = ("clean", "occluded", "noisy")

    def __post_init__(self):
        if (self.method is None) == (self.refines is None):
            raise FacelibError(f"ablation arm {self.row!r}: give either a method to train or the run it refines")
        if self.start is not None and (self.method is None or not _starts_from_stand_in(self.method)):
            raise FacelibError(f"ablation arm {self.row!r}: only a method that starts from the stand-in can start from "
                               f"another run instead (start={self.start!r})")
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown:
            raise FacelibError(f"ablation arm {self.row!r}: unknown sections {unknown}; choose from {sorted(SECTIONS)}")

    @property
    def run_name(self) -> str:
        return self.run or self.row


def _views(arm, predictor, root, prof, model, chapter):
    from .evaluation import runner

    return runner.evaluate(predictor, root, method=arm.row, chapter=chapter, profile=prof, limit=prof.test_faces,
                           views=arm.views, model=model, write=False, progress=False)


def _conditions(arm, predictor, root, prof, model, chapter):
    from .evaluation.protocols import orn

    return orn.conditions(predictor.predict, root, limit=prof.test_faces, model=model)


def _photos(arm, predictor, root, prof, model, chapter):
    from .data import miniset
    from .evaluation.protocols import orn

    return orn.photo_conditions(predictor.predict, miniset.aligned_photos(prof.image_size), model)


def _framing(arm, predictor, root, prof, model, chapter):
    from .evaluation import runner

    return runner.framing(predictor.predict, root, limit=prof.test_faces, model=model)


def _shape_breakdown(arm, predictor, root, prof, model, chapter):
    from .evaluation import runner

    return runner.shape_breakdown(predictor.predict, root, limit=prof.test_faces, model=model)


#: what an arm can measure: section → function(arm, predictor, root, profile, model, chapter) → the
#: value stored as ``M[row][section]``, as the chapter stores its own rows' (``"views"``: the
#: evaluation runner's record, whose ``views`` and ``skipped`` are the row's own keys, as
#: :func:`facelib.evaluation.runner.evaluate` writes them)
SECTIONS = {"views": _views, "conditions": _conditions, "photos": _photos, "framing": _framing,
            "shape_breakdown": _shape_breakdown}

#: each chapter's arms, in the order its tables show them (filled by the chapters' declarations below)
DECLARED: dict[str, tuple[Arm, ...]] = {}


def declare(chapter: str, *arms: Arm) -> None:
    """Register ``chapter``'s arms (row keys unique within it)."""
    rows_ = [a.row for a in arms]
    if len(set(rows_)) != len(rows_):
        raise FacelibError(f"chapter {chapter}: ablation rows declared twice in {rows_}")
    DECLARED[chapter] = tuple(arms)


def arms_of(chapter: str) -> tuple[Arm, ...]:
    """``chapter``'s declared arms (none for a chapter without)."""
    return DECLARED.get(chapter, ())


def _starts_from_stand_in(name: str) -> bool:
    from .methods import method_class

    return method_class(name).starts_from_stand_in


def _start(arm: Arm, prof, root, model, progress: bool = False):
    """What the arm's method starts from: ``None`` (its declared start: the profile's stand-in if
    it has one), or the finished run of ``arm.start`` from its chapter (trained there when missing)."""
    return None if arm.start is None else runs.trained_in_chapter(arm.start, model, prof, root, progress)[0]


def _refinement(prof):
    from .methods.refine import Refinement

    return Refinement(steps=prof.refine_steps)


def _key(arm: Arm, prof, signature: str) -> str:
    """What identifies an arm's row: its training's run signature, what it measures (sections, and
    views where it has them) and, for a refinement row, the refinement's settings."""
    import dataclasses

    measured = list(arm.sections) + ([f"views={','.join(arm.views)}"] if "views" in arm.sections else [])
    key = f"{signature} measures {' '.join(measured)}"
    if arm.refines is None:
        return key
    return f"{key} refined {json.dumps(dataclasses.asdict(_refinement(prof)), sort_keys=True)}"


def _built(arm: Arm, chapter: str, prof, root, model, progress: bool = False):
    """``(predictor, key, training record)``: the arm's method trained (or loaded) in the chapter's
    run folder, or the run it refines — its declared row's predictor (R-Net's skin-masked one) —
    wrapped in the profile's refinement; ``key`` is :func:`_key`."""
    from .benchmark import context
    from .methods import chapter_of, declaration
    from .methods.refine import Refined

    if arm.refines is not None:
        method, res = runs.trained_variant(arm.refines, model, prof, root,
                                           chapter_run_dir(chapter_of(arm.refines), prof.name, arm.refines), progress,
                                           **dict(arm.options))
        base = declaration(arm.refines).rows[0].evaluated(method, context(model, prof, root))
        refined = Refined(base, _refinement(prof))
        return refined, _key(arm, prof, res.signature), {"refines": arm.refines, **refined.describe()}
    run_dir = chapter_run_dir(chapter, prof.name, arm.run_name)
    method, res = runs.trained_variant(arm.method, model, prof, root, run_dir, progress,
                                       start=_start(arm, prof, root, model, progress), **dict(arm.options))
    return method, _key(arm, prof, res.signature), {
        "log": arm.run_name, "steps": method.steps_for(prof), "seconds": round(res.training_seconds, 1), "signature": res.signature,
        "hyperparameters": method.hyperparameters()}


def expected_key(arm: Arm, prof, root, model) -> str:
    """The :func:`_key` the arm's committed row must have, computed without training (its
    prerequisites' and the stand-in's finished runs are loaded): the run signature of the arm's
    method built as :func:`_built` builds it — for a refinement row, of the run it refines."""
    method = runs.variant(arm.refines or arm.method, model, prof, root, start=_start(arm, prof, root, model),
                          **dict(arm.options))
    return _key(arm, prof, signature_on_set(method, root, prof))


def run(chapter: str, profile, root, model, progress: bool = False, logs: bool = True, fresh: bool = False) -> dict:
    """Train (or load) and evaluate every arm of ``chapter``; write ``ablations.json`` (and, with
    ``logs``, each trained run's log under ``results/<chapter>/<profile>/logs/``) after each arm,
    so that an interrupted call keeps what it finished. A row already there with the key the arm
    must have (:func:`expected_key`) is kept as it is unless ``fresh`` (evaluated again). Returns
    the record."""
    arms = arms_of(chapter)
    if not arms:
        raise FacelibError(f"chapter {chapter} declares no ablation rows; chapters with some: {sorted(DECLARED)}")
    out = results_dir(chapter, profile.name) / FILE
    before = {} if fresh or not out.is_file() else json.loads(out.read_text()).get("rows", {})
    record = {"chapter": chapter, "profile": profile.name, "code": code_version(), "rows": {}}
    for arm in arms:
        if arm.row in before and before[arm.row].get("key") == expected_key(arm, profile, root, model):
            record["rows"][arm.row] = before[arm.row]
            continue
        predictor, key, training = _built(arm, chapter, profile, root, model, progress)
        row = {"key": key, "training": training}
        started = time.perf_counter()
        for section in arm.sections:
            value = SECTIONS[section](arm, predictor, root, profile, model, chapter)
            if section == "views":  # the runner's record is the row itself, as the chapter stores its own
                row.update({k: v for k, v in value.items() if k != "config"})
            else:
                row[section] = value
        row["evaluation_seconds"] = round(time.perf_counter() - started, 1)  # its sections (a refinement row: all of it)
        record["rows"][arm.row] = row
        if logs and arm.method is not None:
            keep_log(chapter_run_dir(chapter, profile.name, arm.run_name), out.parent / "logs", arm.run_name)
        out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return record


def committed_run(chapter: str, profile, run: str) -> TrainResult:
    """An arm's training as its committed log records it (``results/<chapter>/<profile>/logs/<run>.jsonl``,
    kept by :func:`run`), for the chapter's training figures and numbers: a
    :class:`facelib.train.TrainResult` that trained nothing now (``losses()``, ``validation()``,
    ``training_seconds`` read the log)."""
    path = results_dir(chapter, profile.name) / "logs" / f"{run}.jsonl"
    if not path.is_file():
        raise FacelibError(f"no committed log of run {run!r} at {path}: make chapter {chapter}'s ablation rows "
                           f"(`python -m facelib ablations --chapter {chapter} --profile {profile.name}`)")
    log = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    last = max((e["step"] for e in log if "losses" in e), default=0)
    return TrainResult(run_dir=Path(run), steps=0, started_at=last, seconds=0.0, log=log)


def store(chapter: str, profile, made: dict) -> None:
    """Write ``made`` (:func:`rows`) into the chapter's ``metrics.json`` beside its own rows, so that
    what reads a chapter's results (chapter 10, the stored claims) finds every row in one place; each
    of these rows is replaced whole, so nothing of an earlier run of it stays."""
    from .results import existing_record, write_metrics

    existing = existing_record(chapter, profile.name)
    table = existing.get("metrics", {})
    table.update({row: dict(sections) for row, sections in made.items()})
    config = {k: v for k, v in existing.get("config", {}).items() if k not in made}  # an earlier run's settings
    write_metrics(chapter, profile, table, config)


#: the profiles whose ablation rows are committed and read, never made by the chapter unless asked:
#: the book's reference run. Elsewhere (smoke, the paper-size dry run, a reader's gpu run) a chapter
#: makes its rows itself, since no committed rows of that profile exist to read.
COMMITTED_PROFILES = ("cpu",)


def rows(chapter: str, profile, root, model, make: bool | None = None) -> dict:
    """``{row: {section: value, "training": …}}`` for the chapter to merge into its metrics: read
    from the committed ``ablations.json`` when every arm is there with the signature it must have
    (:func:`expected_key`); otherwise made now by :func:`run` if ``make`` (default: in every profile
    but :data:`COMMITTED_PROFILES`), else refused with the command that makes them."""
    make = profile.name not in COMMITTED_PROFILES if make is None else make
    path = results_dir(chapter, profile.name) / FILE
    stale = _stale(chapter, profile, root, model, path)
    if stale:
        if not make:
            raise FacelibError(f"chapter {chapter}'s ablation rows for profile {profile.name} are not those of this "
                               f"code and data ({'; '.join(stale)}): make them with `python -m facelib ablations "
                               f"--chapter {chapter} --profile {profile.name}` (`make ablations` makes every "
                               "chapter's), or run the chapter with ABLATIONS = True to make them now")
        return run(chapter, profile, root, model)["rows"]
    committed = json.loads(path.read_text())["rows"]
    return {arm.row: committed[arm.row] for arm in arms_of(chapter)}  # an arm no longer declared is not read


def _stale(chapter: str, profile, root, model, path: Path) -> list[str]:
    """Why the committed rows cannot be used (empty: they can)."""
    if not path.is_file():
        return [f"{path.name} is missing"]
    committed = json.loads(path.read_text()).get("rows", {})
    why = []
    for arm in arms_of(chapter):
        if arm.row not in committed:
            why.append(f"row {arm.row!r} is missing")
        elif committed[arm.row].get("key") != expected_key(arm, profile, root, model):
            why.append(f"row {arm.row!r} is not this arm's (another training, or other sections or views)")
    return why


# Chapter 5 (the baselines): the training lever of its section "A shape lever" (R-Net's identity term
# ten times larger, judged on clean faces) and MoFA's refinement row, each with the shape breakdown the
# chapter shows for its own rows; R-Net + refinement stays on the reference path (chapters 6, 7 and 9
# print it beside their methods).
declare("05_baselines",
        Arm("R-Net, identity term x10", "rnet", {"weights": {"identity": 2.0}}, run="rnet_identity",
            sections=("views", "shape_breakdown"), views=("clean",)),
        Arm("MoFA + refinement", refines="mofa", sections=("views", "shape_breakdown")))

# Chapter 6 (ORN): Fig. 6's L1 loss and Table 7's single-loss MOPIs (with where each puts the face,
# the chapter's diagnosis of L_perc alone), and the refinement rows of its shape section (R-Net +
# refinement is chapter 5's row, on the same faces).
declare("06_orn",
        Arm("sopi_l1", "sopi", {"loss": "l1"}, sections=("conditions", "photos")),
        Arm("mopi_label", "mopi", {"losses_used": ("label",)}, sections=("conditions", "photos", "framing")),
        Arm("mopi_perceptual", "mopi", {"losses_used": ("perceptual",)}, sections=("conditions", "photos", "framing")),
        Arm("SOPI + refinement", refines="sopi", views=("clean",)),
        Arm("MOPI + refinement", refines="mopi", views=("clean",)))

# Chapter 7 (ROGUE): β_C ten times larger, the two ablations, the lever that starts ROGUE from chapter
# 5's R-Net (its reader frozen as from the stand-in), and the refinement row; the same three views.
declare("07_rogue",
        Arm("ROGUE, beta_C = 1", "rogue", {"robust": {"consistency": 1.0}}, run="rogue_beta_c_1"),
        Arm("ROGUE without L_C", "rogue", {"robust": {"consistency": 0.0}}, run="rogue_no_consistency"),
        Arm("ROGUE without L_O, L_N", "rogue", {"robust": {"occlusion": 0.0, "noise": 0.0}}, run="rogue_no_resistive"),
        Arm("ROGUE from R-Net", "rogue", run="rogue_from_rnet", start="rnet"),
        Arm("ROGUE + refinement", refines="rogue"))

# Chapter 8 (FOCUS): Table 5's ablations (S's loss terms), Table 1's backbones (taught by the true
# mask, with cutout or cutmix) and the refinement row, on the two views the chapter evaluates; every
# FOCUS run with the authors' code's preserve weight, as the chapter's own (DESIGN-NOTES 42).
_FOCUS_VIEWS = ("clean", "occluded")
_PRESERVE = _FOCUS["segmentation_weights"]
declare("08_focus",
        Arm("FOCUS, neighbour only", "focus", {"segmentation_weights": {**_PRESERVE, "distance": 0.0, "preserve": 0.0}},
            run="focus_neighbour", views=_FOCUS_VIEWS),
        Arm("FOCUS, perceptual only", "focus", {"segmentation_weights": {**_PRESERVE, "neighbour": 0.0}},
            run="focus_perceptual", views=_FOCUS_VIEWS),
        Arm("FOCUS, baseline", "focus", {"segmentation_weights": {**_PRESERVE, "distance": 0.0, "preserve": 0.0},
                                         "neighbour_radius": 0}, run="focus_baseline", views=_FOCUS_VIEWS),
        Arm("Backbone", "focus_backbone", run="backbone", views=_FOCUS_VIEWS),
        Arm("Backbone-Supervised", "focus_backbone", {"mask": "truth"}, run="backbone_supervised", views=_FOCUS_VIEWS),
        Arm("Backbone-cutout", "focus_backbone", {"mask": "truth", "augment": "cutout"}, run="backbone_cutout",
            views=_FOCUS_VIEWS),
        Arm("Backbone-cutmix", "focus_backbone", {"mask": "truth", "augment": "cutmix"}, run="backbone_cutmix",
            views=_FOCUS_VIEWS),
        Arm("FOCUS + refinement", refines="focus", options=_FOCUS, views=_FOCUS_VIEWS))

# Chapter 9 (the contour-guided method): the refinement row, on the chapter's two views. Its landmark
# lever stays in the chapter: it starts from the chapter's own chain (stages 1-3), not from a run.
declare("09_contour", Arm("contour-guided + refinement", refines="contour", views=("clean", "occluded")))
