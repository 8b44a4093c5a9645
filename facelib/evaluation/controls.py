"""Controls that show what the benchmark's comparisons can tell (issue 32).

**The negative control** (:func:`seed_control`): one method trained twice, the same command with
two seeds (initial weights and batch order), scored on the same test faces. Nothing distinguishes the
two but chance, so every comparison between them must come out undecided — its paired 95 % interval
(identities resampled, :mod:`facelib.stats`) must contain zero. A comparison that "decides" here
would decide on noise, and its verdicts elsewhere would mean nothing.

``python -m facelib controls seeds --method rnet --profile cpu`` trains (or loads) the two runs and
prints one JSON record; ``python -m facelib controls visibility`` does the same for the positive
control (:func:`visibility_control`).

**Their base.** A control must be trained as the book trains the methods whose claims it vouches for:
from the profile's stand-in for pretrained weights, with its identity reader frozen (chapter 5). The
runs layer above builds such methods (``facelib.experiments.controls``) and passes them in as a
:class:`Base`; without one the arms are built as the controls were first measured, on the profile
before the stand-in (:func:`facelib.profile.before_stand_in`: ResNet-18 from random weights at cpu).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import stats
from . import tables

#: the metrics the papers use, in the benchmark's views (those a method's rows hold are compared)
METRICS = ("landmark_me", "shape_v2v_mm", "shape_s2m_mm", "perceptual_dlib", "visible_rmse", "seg_f1")
VIEWS = ("clean", "occluded", "noisy")


def seed_comparisons(metrics: dict, a: str, b: str, metrics_used=METRICS, views=VIEWS) -> list[dict]:
    """Every ``metric`` × ``view`` that both rows ``a`` and ``b`` of ``metrics`` hold: ``a``'s
    relative change against ``b`` (per cent, paired over the same faces, identities resampled)
    and whether its interval excludes zero (``"differs"``) or not (``"undecided"``)."""
    rows = comparisons(metrics, a, b, views, metrics_used)
    return [{**r, "verdict": stats.UNDECIDED if r["verdict"] == stats.UNDECIDED else "differs"} for r in rows]


#: the reference rows chapter 4 stores: the true coefficients with the true segmentation (the
#: ceiling) and the mean face calling every pixel face (the floor)
CEILING, FLOOR = "reference: ground truth", "reference: mean face"
#: how far a prediction moves between the clean twin and the view (:func:`facelib.evaluation.runner.invariance`)
INVARIANCE = ("invariance_v2v_mm", "invariance_landmark_px", "invariance_perceptual_dlib")


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (every error; not the segmentation scores)."""
    return tables.METRIC_LABELS.get(metric, ("", "", True))[2]


def room(metrics: dict, worse: str, better: str, view: str, metric: str) -> stats.Interval:
    """How much better row ``better`` is than row ``worse`` on ``metric`` in ``view``, in the metric's
    unit (positive: ``better`` is better), paired over the same faces, identities resampled — the
    room between a floor and a ceiling, or between a method and its clean-input oracle."""
    first, second = (worse, better) if lower_is_better(metric) else (better, worse)
    return tables.difference_against(metrics, first, second, view, metric)


def controls_rows(metrics: dict, ceiling: str = CEILING, floor: str = FLOOR, metrics_used=METRICS,
                  views=VIEWS) -> list[dict]:
    """The benchmark's controls table (issue 32), one row per ``metric`` × ``view`` both references
    hold: the ceiling's and the floor's means with their 95 % intervals and the room between them
    (:func:`room`). A metric whose room's interval does not exclude zero cannot tell a right face
    from the mean face in that view: no claim on it is testable there."""
    out = []
    for metric in metrics_used:
        for view in views:
            try:
                top, bottom = tables.interval_of(metrics, ceiling, view, metric), tables.interval_of(metrics, floor, view, metric)
                gap = room(metrics, floor, ceiling, view, metric)
            except KeyError:
                continue
            out.append({"metric": metric, "view": view, "ceiling": top, "floor": bottom, "room": gap,
                        "separates": stats.verdict(gap, 0.0, "above") == stats.HOLDS})
    return out


def controls_markdown(rows: list[dict]) -> str:
    """:func:`controls_rows` as a Markdown table (means and 95 % intervals in each metric's format)."""
    body = []
    for r in rows:
        label, spec = tables.METRIC_LABELS.get(r["metric"], (r["metric"],))[0], tables.spec_of(r["metric"])
        body.append([label, r["view"], r["ceiling"].format(spec), r["floor"].format(spec), r["room"].format(spec),
                     "yes" if r["separates"] else "no"])
    return tables.markdown_table(["metric", "view", "ceiling: true coefficients", "floor: mean face",
                                  "room (floor − ceiling)", "separates"], body, "llrrrl")


@dataclass(frozen=True)
class Base:
    """What the controls' arms are trained on: ``name`` (recorded), the profile ``prof``, its face
    set's ``root`` and the face ``model``; ``build(method, options)`` gives the untrained method of
    an arm; ``folder(built, options, run)`` is where that arm (``built``, the untrained method)
    trains, ``None`` for the controls' own folder (``runs/controls/<profile>/<run>``) — a run the book already trained with the same
    signature (chapter 5's R-Net is the seed-0 arm) is loaded from its folder instead of trained
    again."""

    name: str
    prof: object
    root: Path
    model: object
    build: Callable
    folder: Callable = lambda built, options, run: None  # noqa: E731


#: the base the controls were first measured on (issue 32, before the stand-in)
BEFORE_STAND_IN = "before the stand-in"


def before_stand_in(profile: str, progress: bool) -> Base:
    """The controls' first base: the profile before the stand-in (:func:`facelib.profile.before_stand_in`:
    their methods start from no other run), its generated set and the face model, threads set as the
    profile says; every arm built by :func:`facelib.methods.build` (a method with prerequisites is
    refused: those would need the run layer above this one)."""
    from .. import methods
    from .. import profile as profiles
    from ..data import synthetic
    from ..errors import FacelibError

    prof = profiles.before_stand_in(profile)
    root, model = synthetic.prepared(prof, progress)

    def build(method, options):
        needs = methods.method_class(method).prerequisites
        if needs:
            raise FacelibError(f"the controls train methods that start from no other run; {method} needs "
                               f"{[p.method for p in needs]}: run it for one that does not (e.g. rnet, mofa, rogue)")
        return methods.build(method, model, prof, **options)

    return Base(BEFORE_STAND_IN, prof, root, model, build)


def train_arms(arms: dict, profile: str = "cpu", folder: Path | None = None, progress: bool = True,
               clean_input: bool = False, base: Base | None = None):
    """Train each arm ``label → (method, options, run name)`` on ``base`` (default
    :func:`before_stand_in`) with the reader's training (:func:`facelib.train.train_on_set`; a
    finished run is loaded) under ``folder`` (default ``runs/controls/<profile>``, or where ``base``
    keeps the run) and evaluate it on the profile's test faces. Returns ``(profile, metrics,
    trainings)``: ``{label: {"views": …}}`` as the benchmark stores rows (with ``clean_input`` also
    each arm's clean-input oracle, :func:`~.runner.clean_input_oracle`, as ``"<label> (clean
    input)"``), and each arm's run folder, steps and seconds."""
    from ..results import portable_path, project_root
    from ..train import train_on_set
    from .runner import clean_input_oracle, evaluate

    base = base or before_stand_in(profile, progress)
    prof, root = base.prof, base.root
    folder = Path(folder) if folder else project_root() / "runs" / "controls" / prof.name
    metrics, trainings = {}, {}
    for label, (method, options, run) in arms.items():
        m = base.build(method, dict(options))
        run_dir = base.folder(m, dict(options), run) or folder / run
        res = train_on_set(m, root, run_dir, prof, seed=int(options.get("seed", 0)), progress=progress)
        trainings[label] = {"run": run, "folder": portable_path(run_dir), "options": dict(options),
                            "steps": res.started_at + res.steps, "signature": res.signature,
                            "training_seconds": round(res.training_seconds, 1), "status": res.status}
        rec = evaluate(m.predict, root, method=label, chapter="controls", profile=prof,
                       limit=prof.test_faces, write=False, progress=progress)
        metrics[label] = {"views": rec["views"]}
        if clean_input:
            rec = evaluate(clean_input_oracle(m, root), root, method=f"{label} (clean input)", chapter="controls",
                           profile=prof, limit=prof.test_faces, write=False, progress=progress)
            metrics[f"{label} (clean input)"] = {"views": rec["views"]}
    return prof, metrics, trainings


def _by_view(views, names, interval) -> dict:
    """``{view: {name: interval(view, name).as_dict()}}``, leaving out what the metrics lack (``KeyError``)."""
    out = {}
    for view in views:
        for name in names:
            try:
                out.setdefault(view, {})[name] = interval(view, name).as_dict()
            except KeyError:
                continue
    return out


def intervals(metrics: dict, label: str, names=INVARIANCE, views=("occluded", "noisy")) -> dict:
    """``{view: {metric: interval dict}}`` of one row's means (identities resampled), for the
    ``names`` it holds."""
    return _by_view(views, names, lambda view, name: tables.interval_of(metrics, label, view, name))


def robustness_rooms(metrics: dict, label: str, metrics_used=METRICS, views=("occluded", "noisy")) -> dict:
    """``{view: {metric: interval dict}}``: how much better row ``label``'s clean-input oracle scores
    than ``label`` itself on each view (:func:`room`) — the most a robustness mechanism could gain."""
    return _by_view(views, metrics_used, lambda view, metric: room(metrics, label, f"{label} (clean input)", view, metric))


def _means(metrics: dict) -> dict:
    """``{label: {view: {metric: mean}}}`` of the papers' metrics."""
    return {label: {view: {name: row[name]["mean"] for name in METRICS if name in row} for view, row in rec["views"].items()}
            for label, rec in metrics.items()}


def robustness_grid(metrics: dict, labels, metric: str, views=("occluded", "noisy")) -> str:
    """Markdown: one row per method of ``labels``, one column per view, each cell how much better its
    clean-input oracle (row ``"<label> (clean input)"`` of ``metrics``) scores than the method itself
    on ``metric`` (:func:`robustness_rooms`), with its 95 % interval; "–" where either lacks it."""
    spec = tables.spec_of(metric)
    rows = []
    for label in labels:
        rooms = robustness_rooms(metrics, label, (metric,), views)
        rows.append([label, *(stats.Interval(**rooms[v][metric]).format(spec) if metric in rooms.get(v, {}) else "–"
                              for v in views)])
    return tables.markdown_table(["method", *views], rows)


def seed_control(method: str, profile: str = "cpu", seeds=(0, 1), folder: Path | None = None,
                 progress: bool = True, base: Base | None = None) -> dict:
    """Train ``method`` with each of ``seeds`` on ``base`` (:func:`train_arms`, runs
    ``<method>-seed<s>``), evaluate each on the profile's test faces, and compare the second seed
    with the first on every metric and view (:func:`seed_comparisons`)."""
    arms = {f"seed {s}": (method, {"seed": s}, f"{method}-seed{s}") for s in seeds}
    base = base or before_stand_in(profile, progress)
    prof, metrics, trainings = train_arms(arms, profile, folder, progress, base=base)
    a, b = f"seed {seeds[1]}", f"seed {seeds[0]}"
    rows = seed_comparisons(metrics, a, b)
    return {"control": "seeds", "method": method, "profile": prof.name, "base": base.name, "seeds": list(seeds),
            "trainings": trainings,
            "comparisons": rows, "passes": all(r["verdict"] == stats.UNDECIDED for r in rows), "means": _means(metrics)}


#: the visibility oracle's twin: R-Net trained on the same occluded faces with its own skin attention
TWIN = "R-Net on occluded faces"
#: the visibility control's arms: label → (method, options, run name). The plain arm is the seed
#: control's seed-0 run, so the two controls share it.
VISIBILITY_ARMS = {
    "R-Net": ("rnet", {"seed": 0}, "rnet-seed0"),
    TWIN: ("rnet", {"seed": 0, "view": "occluded"}, "rnet-occluded"),
    "visibility oracle": ("rnet", {"seed": 0, "view": "occluded", "attention": "visible_mask"}, "rnet-visibility-oracle"),
}
#: the metrics the visibility oracle must improve on occluded faces (issue 32's must-show)
VISIBILITY_MUST = ("landmark_me", "shape_v2v_mm", "perceptual_dlib")


def comparisons(metrics: dict, a: str, b: str, views=VIEWS, metrics_used=METRICS, claim: str = "below") -> list[dict]:
    """``a``'s relative change against ``b`` on every metric × view both hold, with the verdict of
    "``a`` is ``claim`` ``b``" (lower is better for every metric here but segmentation F1, whose
    claim is turned)."""
    out = []
    for view in views:
        for metric in metrics_used:
            try:
                iv = tables.change_against(metrics, a, b, view, metric)
            except KeyError:
                continue
            direction = claim if metric != "seg_f1" else ("above" if claim == "below" else "below")
            out.append({"view": view, "metric": metric, "change_pct": iv.as_dict(),
                        "verdict": stats.verdict(iv, 0.0, direction)})
    return out


def visibility_passes(must: dict) -> dict:
    """Whether the positive control passed, from its occluded-face verdicts ``must``
    (``{arm: {metric: verdict}}``): ``passes`` — the oracle beats its twin, R-Net trained on the same
    occluded faces without the mask, on every metric of :data:`VISIBILITY_MUST` (the matched
    comparison: only the mask differs); ``passes_against_plain`` — it also beats R-Net trained on
    clean faces (the training data differ too); ``passing_metrics`` — the metrics on which it beats
    the twin (what :mod:`.claims` reads)."""
    twin, plain = must.get(TWIN, {}), must.get("R-Net", {})
    return {"passes": all(twin.get(m) == stats.HOLDS for m in VISIBILITY_MUST),
            "passes_against_plain": all(plain.get(m) == stats.HOLDS for m in VISIBILITY_MUST),
            "passing_metrics": [m for m in VISIBILITY_MUST if twin.get(m) == stats.HOLDS]}


def visibility_control(profile: str = "cpu", folder: Path | None = None, progress: bool = True,
                       base: Base | None = None) -> dict:
    """The positive control (issue 32): R-Net trained on occluded faces with its photometric and
    identity terms restricted to the true visible face pixels (``attention="visible_mask"``) against
    its twin trained on the same occluded faces with R-Net's own skin attention, and against plain
    R-Net (trained on clean faces). The benchmark can show an occlusion-robustness claim only if the
    oracle beats its twin on occluded faces (:func:`visibility_passes`)."""
    base = base or before_stand_in(profile, progress)
    prof, metrics, trainings = train_arms(VISIBILITY_ARMS, profile, folder, progress, clean_input=True, base=base)
    oracle = "visibility oracle"
    against = {other: comparisons(metrics, oracle, other) for other in VISIBILITY_ARMS if other != oracle}
    must = {other: {r["metric"]: r["verdict"] for r in rows if r["view"] == "occluded" and r["metric"] in VISIBILITY_MUST}
            for other, rows in against.items()}
    return {"control": "visibility", "profile": prof.name, "base": base.name, "trainings": trainings,
            "comparisons": against,
            "must": must, **visibility_passes(must), "means": _means(metrics),
            "invariance": {label: intervals(metrics, label) for label in VISIBILITY_ARMS},
            "robustness_room": {label: robustness_rooms(metrics, label) for label in VISIBILITY_ARMS}}


#: the renders' levers of issue 33 (DESIGN-NOTES 35): label → (changes to the profile's set config, run name)
RENDER_ARMS = {
    "narrow face (today's renders)": ({}, "rnet-renders-narrow"),
    "face with ears and neck": ({"region": "face"}, "rnet-renders-face"),
    "a camera response per face": ({"camera_jitter": True}, "rnet-renders-camera"),
}


def render_levers(arms: dict = RENDER_ARMS, profile: str = "cpu", folder: Path | None = None,
                  progress: bool = True) -> dict:
    """Which renders teach something that transfers to real photos (issue 33): for each arm a set
    generated with the profile's config changed as the arm says (its own folder beside the
    profile's), R-Net trained on it as a reader would (seed 0, the profile's steps), and every arm
    scored on the real annotated photos (:func:`~.real_faces.evaluate_real_faces`), with each arm's
    per-photo change of NME against the first arm (paired over the photos). Every R-Net predicts the
    coefficients of the book's model (the narrow face), also where its set renders more of the head:
    the coefficients are the same, only the pixels it learns from differ."""
    import dataclasses
    import time

    from .. import methods
    from ..data import synthetic
    from ..results import code_version, project_root
    from ..train import train_on_set
    from .real_faces import evaluate_real_faces

    base = before_stand_in(profile, progress)  # the renders' levers were measured on the first base
    prof, root, model = base.prof, base.root, base.model
    folder = Path(folder) if folder else project_root() / "runs" / "controls" / prof.name
    predictors, trainings = {}, {}
    for label, (changes, run) in arms.items():
        config = dataclasses.replace(synthetic.config_for(prof), **changes)
        arm_root = root.parent / f"{prof.name}-{run.removeprefix('rnet-renders-')}" if changes else root
        generated = synthetic.generate(arm_root, config, progress=progress)
        m = methods.build("rnet", model, prof, seed=0)
        res = train_on_set(m, arm_root, folder / run, prof, seed=0, progress=progress)
        trainings[label] = {"run": run, "set": {"changes": changes, "checksum": generated.checksum},
                            "steps": res.started_at + res.steps, "training_seconds": round(res.training_seconds, 1),
                            "status": res.status}
        predictors[label] = m
    record = evaluate_real_faces(model, prof.image_size, predictors, fit_steps=prof.fit_steps,
                                 refine_steps=prof.refine_steps)
    first = next(iter(arms))
    base = np.asarray(record["rows"][first]["nme_percent"])
    changes = {}
    for label in list(arms)[1:]:
        iv = stats.paired_difference(np.asarray(record["rows"][label]["nme_percent"]), base, groups=record["photos"])
        changes[label] = {"nme_points": round(iv.estimate, 3), "interval": [round(iv.low, 3), round(iv.high, 3)],
                          "verdict": stats.verdict(iv, claim="below")}
    return {"control": "renders", "profile": prof.name, "commit": code_version(), "date": time.strftime("%Y-%m-%d"),
            "command": f"python -m facelib.evaluation.controls renders --profile {prof.name}",
            "trainings": trainings, **record,
            "against": first, "changes": changes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the renders' levers (the negative and positive controls: "
                                "python -m facelib controls seeds | visibility)")
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("renders", help="the renders' levers: R-Net trained on each kind of render, scored on real photos")
    r.add_argument("--profile", default="cpu")
    r.add_argument("--folder", default=None, help="where the runs go (default runs/controls/<profile>)")
    r.add_argument("--out", default=None, help="also write the record here")
    r.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    from ..errors import FacelibError

    try:
        record = render_levers(profile=args.profile, folder=args.folder, progress=not args.quiet)
    except FacelibError as err:
        print(f"error: {err}")
        return 2
    text = json.dumps(record)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
