"""Issue 35's experiments that train from finished runs: each paper's departures and mechanism arms,
built the way the chapters build their methods (:mod:`facelib.runs`: prerequisites, the stand-in)
and scored on the validation split by :mod:`facelib.evaluation.mechanisms`, never on the test faces.

* :func:`focus_oracle` — FOCUS's S against an oracle R, the preserve weight side by side;
* :func:`focus_departures` — FOCUS's preserve weight and identity reader, side by side on its real R;
* :func:`orn_curve` — SOPI's learning curve to four times the chapter's budget, with the
  occluded/unoccluded landmark change at each chapter budget, beside an arm trained on the true
  coefficients (a perfect teacher) and one started from the stand-in;
* :func:`mopi_balance` — MOPI's Eq. (9) beside its terms balanced by their measured gradients;
* :func:`rogue_arms` — ROGUE's arms against R-Net continued on clean faces, judged on how far C_O and
  C_N move from C_G;
* :func:`contour_chain` — the contour-guided chain with generated, true or no contours.

``python -m facelib mechanism focus|focus-departures|orn|orn-departures|rogue|contour --profile cpu``
(``make mechanisms``); records in ``results/mechanisms/``, the runs' logs in
``results/mechanisms/logs/<profile>/``. Finished runs are loaded, not trained again; an interrupted
one resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import methods, runs, stats
from .checkpoints import snapshot_steps
from .data import synthetic
from .errors import FacelibError
from .evaluation import controls as control_arms
from .evaluation import mechanisms
from .methods.orn import MOPI_WEIGHTS
from .results import project_root
from .results import run_dir as chapter_run_dir
from .train import keep_log, load_snapshot, read_log, signature_on_set, train_on_set


def _folder(prof, name: str, folder: Path | None = None) -> Path:
    """Where an experiment's own run trains: ``folder/<name>``, by default
    ``runs/mechanisms/<profile>/<name>``."""
    return Path(folder) / name if folder else project_root() / "runs" / "mechanisms" / prof.name / name


def step_kept(run_dir: Path, step: int) -> bool:
    """Whether the run in ``run_dir`` kept a snapshot of ``step``."""
    return step in snapshot_steps(run_dir)


def _chosen(table: dict, arms, key, kind: str) -> list:
    """The labels of ``table`` whose ``key(label, value)`` name is among ``arms`` (all when ``arms`` is
    empty), in the table's order; an unknown name is refused, naming the known ones."""
    names = {key(label, value): label for label, value in table.items()}
    unknown = [a for a in arms or () if a not in names]
    if unknown:
        raise FacelibError(f"unknown {kind} arm(s) {unknown}; choose from {list(names)}")
    return [label for name, label in names.items() if not arms or name in arms]


def _train(method, root, prof, run_dir: Path, logs: Path | None, log_name: str, progress: bool, **config):
    """Train ``method`` in ``run_dir`` (or load it there, finished) and copy its log to ``logs``."""
    res = train_on_set(method, root, run_dir, prof, progress=progress, **config)
    if logs is not None:
        keep_log(run_dir, logs, log_name)
    return res


def _write(out: Path | None, record: dict) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def focus_departures(profile: str, out: Path | None = None, logs: Path | None = None, progress: bool = False) -> dict:
    """FOCUS's departures side by side on the real reconstruction
    (:data:`facelib.evaluation.mechanisms.FOCUS_DEPARTURES`): the preserve weight η₄ of the authors'
    code (0.25; chapter 8's run, trained in its folder so that the chapter loads it) against the
    paper's 2.5, and the identity reader frozen (as every method starts from the stand-in) against
    trained; each from the profile's stand-in, scored on the validation split with the control arm
    :class:`~facelib.evaluation.mechanisms.SkinDetected`, the record written to ``out`` after each arm."""
    from . import profile as profiles
    from .methods import focus

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    rounds = tuple(focus.FOCUS.profile_options(prof)["schedule"].rounds().values())
    arms, seconds, evaluated, rec = {}, {}, {}, {}
    for label, (weight, frozen) in mechanisms.FOCUS_DEPARTURES.items():
        if not frozen and prof.reader is None:  # no reader to train: the arm would be the first again
            continue
        chapters = weight == focus.CODE_PRESERVE_WEIGHT and frozen
        name = "focus" if chapters else f"focus-preserve-{weight:g}" + ("" if frozen else "-reader-trained")
        folder = chapter_run_dir("08_focus", prof.name, "focus") if chapters else _folder(prof, name)
        options = {"segmentation_weights": {"preserve": weight}, **({} if frozen else {"reader_frozen": False})}
        arms[label], res = runs.trained_variant("focus", model, prof, root, folder, progress=progress,
                                                snapshots=rounds, **options)
        seconds[label] = round(res.training_seconds, 1)
        if len(arms) == 1:  # the control: the same R, its S replaced by the skin detector
            arms[mechanisms.FOCUS_SKIN_ARM] = mechanisms.SkinDetected(arms[label])
        if logs is not None:
            keep_log(folder, logs, name)
        rec = {"profile": prof.name, "experiment": "FOCUS's departures: the preserve weight η₄, the reader frozen",
               "training_seconds": seconds,
               **mechanisms.arms_on_validation(arms, root, reference=next(iter(arms)), progress=progress,
                                               evaluated=evaluated)}
        _write(out, rec)
    return rec


def contour_departures(profile: str, out: Path | None = None, logs: Path | None = None, progress: bool = False) -> dict:
    """The contour method's departure side by side (:data:`facelib.evaluation.mechanisms.CONTOUR_DEPARTURES`):
    the regression stage alone — the paper's ``L_3D``, its steps, from chapter 5's R-Net, on the
    inpainted images of chapter 9's finished chain (stages 1-3 copied, ``Regressor.start_from``) —
    with the identity reader frozen as R-Net's against trained, scored on the validation split
    through the chain (:func:`~facelib.evaluation.mechanisms.arms_on_validation`), the record written
    to ``out`` after each arm."""
    from . import profile as profiles
    from .methods import contour

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    rnet, _ = runs.trained_in_chapter("rnet", model, prof, root, progress)
    chain_dir = chapter_run_dir("09_contour", prof.name, "contour")
    chain = runs.finished("contour", model, prof, chain_dir)  # stages 1-3 as chapter 9 trained them
    schedule = chain.schedule
    steps = prof.train_steps - (schedule.mask + schedule.edges + schedule.inpaint)
    arms, seconds, evaluated, rec = {}, {}, {}, {}
    for label, frozen in mechanisms.CONTOUR_DEPARTURES.items():
        if not frozen and prof.reader is None:  # no reader to train: the arm would be the first again
            continue
        name = "contour-regression-reader-" + ("frozen" if frozen else "trained")
        arm = methods.build("contour", model, prof, rnet=rnet, schedule=contour.ContourSchedule(0, 0, 0),
                            reader_frozen=frozen)
        arm.start_from(chain, nets=contour.CHAIN_NETS)
        res = _train(arm, root, prof, _folder(prof, name), logs, name, progress, steps=steps)
        arms[label], seconds[label] = arm, round(res.training_seconds, 1)
        rec = {"profile": prof.name, "chain": str(chain.run_signature),
               "experiment": "the contour method's regression stage: its identity reader frozen as R-Net's, or trained",
               "steps": steps, "training_seconds": seconds,
               **mechanisms.arms_on_validation(arms, root, reference=next(iter(arms)), progress=progress,
                                               evaluated=evaluated)}
        _write(out, rec)
    return rec


def focus_oracle(profile: str = "cpu", segment_steps: int | None = None, every: int | None = None,
                 folder: Path | None = None, out: Path | None = None, logs: Path | None = None,
                 progress: bool = False) -> dict:
    """FOCUS's S trained against an oracle R, η₄ side by side (issue 35; the reasoning is
    :mod:`facelib.evaluation.mechanisms`'s).

    Each arm of :data:`~facelib.evaluation.mechanisms.FOCUS_PRESERVE` is one
    :class:`~facelib.methods.focus.FOCUS` run with ``oracle=True``: chapter 8's S initialisation on
    the preliminary masks (its ``init_segmentation`` steps at the profile), then ``segment_steps``
    steps of S's own loss (default four times chapter 8's S steps in its EM cycles), keeping a
    snapshot every ``every`` of them (default: chapter 8's S steps), each scored on the whole
    validation split by :func:`~facelib.evaluation.mechanisms.oracle_segmentation` beside the skin
    detector (scored once). The arms train in ``folder`` (default
    ``runs/mechanisms/<profile>/focus-oracle``); the record is written to ``out`` after each arm,
    each run's log copied to ``logs``."""
    from . import profile as profiles
    from .methods.focus import EMSchedule

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    chapter = EMSchedule.for_steps(prof.train_steps)
    chapter_s = chapter.em_segmentation_steps(prof.train_steps)
    every = int(every or chapter_s)
    segment_steps = int(segment_steps or 4 * chapter_s)
    if every < 1 or segment_steps < every:
        raise FacelibError(f"need 1 <= every <= segment_steps, got every={every}, segment_steps={segment_steps}")
    init = chapter.init_segmentation
    steps = init + segment_steps
    kept = tuple(range(init, steps, every))  # the last step is the finished run
    folder = _folder(prof, "focus-oracle", folder)
    skin = mechanisms.oracle_segmentation(None, root)
    views = mechanisms.FOCUS_VIEWS
    record = {"profile": prof.name, "split": "val", "faces": len(skin["faces"]),
              "identities": len(set(skin["identities"])), "recall_bar": mechanisms.FOCUS_RECALL,
              "schedule": {"init_segmentation": init, "segment_steps": segment_steps, "every": every,
                           "chapter_segment_steps": chapter_s},
              "skin_detector": {v: stats.mean_interval(skin["skin"][v]["f1"], groups=skin["identities"]).as_dict()
                                for v in views},
              "arms": {}}

    def build(weight):
        return methods.build("focus", model, prof, schedule=EMSchedule.segmentation_only(init), oracle=True,
                             segmentation_weights={"preserve": weight})

    finals = {}
    for label, weight in mechanisms.FOCUS_PRESERVE.items():
        name = f"preserve-{weight:g}"
        trained = build(weight)
        res = _train(trained, root, prof, folder / name, logs, f"focus-oracle-{name}", progress, steps=steps,
                     snapshots=kept, val_every=0)  # S is scored on the whole split at each snapshot instead
        curve = []
        for step in (*kept, steps):
            net = load_snapshot(build(weight), folder / name, step, res.signature) if step < steps else trained
            scores = {**mechanisms.oracle_segmentation(net, root, skin=False), "skin": skin["skin"]}
            curve.append({"step": step, "segment_steps": step - init, "seconds": res.seconds_at(step),
                          **mechanisms.focus_summary(scores)})
            if step == steps:
                finals[label] = scores
        record["arms"][label] = {"preserve_weight": weight, "run": name,
                                 "training_seconds": round(res.training_seconds, 1), "curve": curve}
        _write(out, record)
    (a, b), g = list(finals.values()), skin["identities"]
    record["paper_minus_code"] = {
        view: {k: stats.paired_difference(b["S"][view][k], a["S"][view][k], groups=g).as_dict()
               for k in mechanisms.SEGMENTATION_SCORES} for view in views}
    record["machine_note"] = "one process, the profile's threads; wall times are this machine's"
    _write(out, record)
    return record


#: SOPI's arms: label → (run name, options, whether it trains the whole curve or only the chapter's
#: steps); ``stand_in``: started from the profile's stand-in with its reader frozen, as R-Net is,
#: instead of from the backbone's own weights as chapter 6 starts it — a choice of chapter 6's
#: start, decided at the chapter's steps (DESIGN-NOTES 42)
ORN_ARMS = {
    "teacher's labels, from the backbone (chapter 6)": ("sopi", {}, True),
    "true coefficients as labels, from the backbone": ("sopi-truth", {"labels": "truth", "teacher": None}, True),
    "teacher's labels, from the stand-in": ("sopi-stand-in", {"stand_in": True}, False),
}


def orn_curve(profile: str = "cpu", steps: int | None = None, every: int | None = None, arms=None,
              folder: Path | None = None, out: Path | None = None, logs: Path | None = None,
              progress: bool = False) -> dict:
    """ORN's mechanism (issue 35): SOPI trained ``steps`` steps (default four times the profile's
    ``train_steps``), a snapshot every ``every`` (default ``train_steps``: the first is SOPI retrained
    as chapter 6 trains it, in this experiment's folder), each scored on the validation split under ORN's conditions
    (:func:`facelib.evaluation.mechanisms.orn_summary`: the occluded/unoccluded landmark change and
    the verdict of "within 20 %"), for each of ``arms`` (run names; default all of :data:`ORN_ARMS`) — the
    chapter's SOPI, SOPI taught by the true coefficients (if distillation from occluded faces works,
    a perfect teacher's student must come closest to "within 20 %"), SOPI started from the stand-in —
    beside the teacher, chapter 5's R-Net; the last trains only the chapter's steps (it decides
    chapter 6's start there). Each arm's last snapshot is paired with the first arm's at the same
    step, on the same faces (unoccluded and occluded landmark error). The arms train in ``folder`` (default
    ``runs/mechanisms/<profile>``); the record is written to ``out`` after each arm."""
    from . import profile as profiles
    from .evaluation.tables import change_against

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    every = int(every or prof.train_steps)
    steps = int(steps or 4 * prof.train_steps)
    if every < 1 or steps < every:
        raise FacelibError(f"need 1 <= every <= steps, got every={every}, steps={steps}")
    chosen = _chosen(ORN_ARMS, arms, lambda label, v: v[0], "ORN")
    kept = tuple(range(every, steps, every))  # the last step is the finished run
    teacher, _ = runs.trained_in_chapter("rnet", model, prof, root, progress)
    teacher_conditions = mechanisms.orn_conditions(teacher.predict, root, model)
    record = {"profile": prof.name, "split": "val", "faces": teacher_conditions["images"],
              "schedule": {"steps": steps, "every": every, "chapter_steps": prof.train_steps},
              "teacher": {"run": teacher.run_signature, **mechanisms.orn_summary(teacher_conditions)},
              "arms": {}}
    scored_at = {}  # label → step → ORN's conditions of that snapshot
    stand_in = None
    reference = next(iter(ORN_ARMS))  # chapter 6's SOPI: every other arm is paired with it
    builders = {}
    for label in [reference, *chosen] if reference not in chosen else chosen:
        name, options, whole = ORN_ARMS[label]
        options = dict(options)
        from_stand_in = options.pop("stand_in", False)
        options.setdefault("teacher", teacher)
        if from_stand_in:
            options = methods.stand_in_options(prof, options)
            stand_in = stand_in or runs.trained_in_chapter(runs.STAND_IN, model, prof, root, progress)[0]

        def build(options=options, start=stand_in if from_stand_in else None):
            method = methods.build("sopi", model, prof, **options)
            return method if start is None else method.start_from(start)

        builders[label] = build
        last = steps if whole else every
        kept_here = tuple(k for k in kept if k < last)
        run_dir = _folder(prof, name, folder)
        if label not in chosen:  # the reference, not asked for: paired below through its snapshots
            scored_at[label] = {}
            continue
        trained = build()
        res = _train(trained, root, prof, run_dir, logs, f"orn-{name}", progress, steps=last, snapshots=kept_here)
        curve = []
        scored_at[label] = {}
        for step in (*kept_here, last):
            net = load_snapshot(build(), run_dir, step, res.signature) if step < last else trained
            scored = scored_at[label][step] = mechanisms.orn_conditions(net.predict, root, model)
            curve.append({"step": step, "seconds": res.seconds_at(step), **mechanisms.orn_summary(scored)})
        record["arms"][label] = {"run": name, "options": {k: v for k, v in options.items() if k != "teacher"},
                                 "from_stand_in": from_stand_in,
                                 "training_seconds": round(res.training_seconds, 1), "curve": curve}
        ref = scored_at[reference]  # paired with chapter 6's SOPI at the same step
        if label != reference and last not in ref and last < steps:  # its snapshot of that step, if kept
            ref_dir = _folder(prof, ORN_ARMS[reference][0], folder)
            if step_kept(ref_dir, last):
                net = builders[reference]()
                load_snapshot(net, ref_dir, last, signature_on_set(net, root, prof, steps=steps))
                ref[last] = mechanisms.orn_conditions(net.predict, root, model)
        if label != reference and last in ref:
            both = {"a": {"conditions": scored_at[label][last]}, "b": {"conditions": ref[last]}}
            record["arms"][label]["against"] = {"arm": reference, "step": last, **{
                c: change_against(both, "a", "b", c, "landmark_me", "conditions").as_dict()
                for c in ("unoccluded", *mechanisms.ORN_CONDITIONS)}}
        _write(out, record)
    return record


#: the paper's arm, which the variants of :data:`ROGUE_ARMS` are also paired with (``against_paper``)
ROGUE_PAPER = "ROGUE (paper)"
#: ROGUE's arms, each from chapter 5's R-Net with its reader frozen, trained the chapter's steps:
#: label → (method, run name, options). The first is the control: the same extra steps of R-Net's own
#: training on clean faces, so that what ROGUE's pipelines add is not mistaken for more training (a
#: step of it sees three times as many clean faces as a ROGUE step, whose batch holds each face's
#: clean, occluded and noisy copies: ``ROGUE.batch_items``).
ROGUE_ARMS = {
    "R-Net continued on clean faces": ("rnet", "rnet-continued", {}),
    ROGUE_PAPER: ("rogue", "rogue", {}),
    "ROGUE without L_C (β_C = 0)": ("rogue", "rogue-no-consistency", {"robust": {"consistency": 0.0}}),
    "ROGUE with the prior and landmarks on C_O, C_N": ("rogue", "rogue-robust-guidance",
                                                      {"robust_guidance": ("regularizer", "landmark")}),
}
#: the label of chapter 5's R-Net itself, scored beside the arms (no training)
ROGUE_START = "chapter 5's R-Net (the start)"


def rogue_arms(profile: str = "cpu", arms=None, steps: int | None = None, folder: Path | None = None,
               out: Path | None = None, logs: Path | None = None, progress: bool = False) -> dict:
    """ROGUE's mechanism (issue 35): ROGUE's claim is that its robustification pipeline makes the
    coefficients of the occluded and noisy copies agree with the clean face's (C_O, C_N → C_G). Each
    arm of :data:`ROGUE_ARMS` (``arms``: run names; default all) starts from chapter 5's R-Net and
    trains ``steps`` (default the chapter's); each is scored on the validation split's clean, occluded and noisy
    views (:data:`facelib.evaluation.mechanisms.ROGUE_METRICS`: how far the prediction moves from
    the clean twin's — mesh, identity, albedo, rendered identity — beside accuracy) and paired with
    the control arm, R-Net continued on clean faces; the variants (every arm but the control and the
    paper's) are also paired with the paper's ROGUE (``against_paper``: "less with L_C than
    without" as a paired verdict). The arms train in ``folder`` (default
    ``runs/mechanisms/<profile>``); the record is written to ``out`` after each arm."""
    from . import profile as profiles

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    chosen = _chosen(ROGUE_ARMS, arms, lambda label, v: v[1], "ROGUE")
    rnet, _ = runs.trained_in_chapter("rnet", model, prof, root, progress)
    predictors, seconds, evaluated, rec = {ROGUE_START: rnet}, {}, {}, {}
    for label in chosen:
        method, name, options = ROGUE_ARMS[label]
        trained = runs.variant(method, model, prof, root, progress, start=rnet, **dict(options))  # reader frozen alike
        run_dir = _folder(prof, name, folder)
        res = _train(trained, root, prof, run_dir, logs, f"rogue-{name}", progress, steps=steps)
        seconds[label] = round(res.training_seconds, 1)
        predictors[label] = trained
        reference = next(iter(ROGUE_ARMS)) if next(iter(ROGUE_ARMS)) in predictors else ROGUE_START
        rec = {"profile": prof.name, "experiment": "ROGUE's mechanism: C_O and C_N against C_G",
               "training_seconds": seconds,
               **mechanisms.arms_on_validation(predictors, root, reference=reference, views=mechanisms.ROGUE_VIEWS,
                                               metrics=mechanisms.ROGUE_METRICS, progress=progress,
                                               evaluated=evaluated)}
        others = [k for k in predictors if k in ROGUE_ARMS and k not in (reference, ROGUE_PAPER)]
        if ROGUE_PAPER in predictors and others:  # each variant also paired with the paper's ROGUE itself
            paired = mechanisms.arms_on_validation({k: predictors[k] for k in (ROGUE_PAPER, *others)}, root,
                                                   reference=ROGUE_PAPER, views=mechanisms.ROGUE_VIEWS,
                                                   metrics=mechanisms.ROGUE_METRICS, evaluated=evaluated)
            rec["against_paper"] = {k: paired["arms"][k] for k in others}
        _write(out, rec)
    return rec


#: MOPI's arms (chapter 6's departure: L_perc pulls about 1/30 as hard as L_label under Eq. 9's
#: weights): label → run name; the second arm's L_perc weight is Eq. 9's times the gradient ratio
#: measured in the first arm's log, so that both terms pull alike
MOPI_ARMS = {"Eq. 9's weights (chapter 6)": "mopi", "L_perc's weight × the measured gradient ratio": "mopi-balanced"}


def gradient_ratio(log: list[dict]) -> float:
    """The mean of ``grad_label / grad_perceptual`` over a MOPI run's log entries that have both
    (:meth:`facelib.methods.orn.MOPI.gradient_norms`: the weighted terms' pull on the heads)."""
    pairs = [e["losses"] for e in log if "losses" in e and e["losses"].get("grad_perceptual")
             and "grad_label" in e["losses"]]
    if not pairs:
        raise FacelibError("the MOPI log has no gradient norms of both terms (grad_label, grad_perceptual)")
    return sum(p["grad_label"] / p["grad_perceptual"] for p in pairs) / len(pairs)


def mopi_balance(profile: str = "cpu", steps: int | None = None, folder: Path | None = None,
                 out: Path | None = None, logs: Path | None = None, progress: bool = False) -> dict:
    """ORN's composite loss, Eq. (9), side by side with its terms balanced (issue 35): MOPI as chapter
    6 trains it (from chapter 6's SOPI; at the chapter's steps in chapter 6's folder, so that the
    chapter loads it) and MOPI
    with L_perc's weight multiplied by the ratio of the two terms' gradient norms measured in that
    run (rounded to two significant figures), each trained ``steps`` (default the chapter's), scored
    on the validation split under ORN's conditions beside SOPI and the teacher R-Net; the random
    patterns' landmark error and histogram dissimilarity paired against the first arm, SOPI and R-Net
    (Tables 5-7). The record is written to ``out`` after each arm."""
    from . import profile as profiles
    from .evaluation.tables import change_against

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    teacher, _ = runs.trained_in_chapter("rnet", model, prof, root, progress)
    sopi, _ = runs.trained_in_chapter("sopi", model, prof, root, progress)
    scored = {"R-Net (the teacher)": mechanisms.orn_conditions(teacher.predict, root, model),
              "SOPI (chapter 6)": mechanisms.orn_conditions(sopi.predict, root, model)}
    record = {"profile": prof.name, "split": "val", "experiment": "MOPI's Eq. 9: the terms' weights", "arms": {}}

    def arm(label: str, name: str, options: dict):
        chapters = name == "mopi" and steps is None  # chapter 6's own run: trained where the chapter loads it
        run_dir = (chapter_run_dir("06_orn", prof.name, name) if chapters else
                   _folder(prof, name, folder))
        method = methods.build("mopi", model, prof, losses_used=("perceptual", "label"), sopi=sopi, **options)
        res = _train(method, root, prof, run_dir, logs, f"orn-{name}", progress, steps=steps)
        scored[label] = mechanisms.orn_conditions(method.predict, root, model)
        wrapped = {k: {"conditions": v} for k, v in scored.items()}
        record["arms"][label] = {
            "run": name, "weights": dict(method.weights), "training_seconds": round(res.training_seconds, 1),
            **mechanisms.orn_summary(scored[label]),
            "against": {other: {metric: change_against(wrapped, label, other, "random", metric, "conditions").as_dict()
                                for metric in ("landmark_me", "histogram_dissimilarity")}
                        for other in scored if other != label}}
        _write(out, record)
        return run_dir

    (first, first_name), (second, second_name) = MOPI_ARMS.items()
    record["baselines"] = {k: mechanisms.orn_summary(v) for k, v in scored.items()}
    record["gradient_ratio"] = gradient_ratio(read_log(arm(first, first_name, {})))
    factor = float(f"{record['gradient_ratio']:.2g}")
    arm(second, second_name, {"weights": {"perceptual": factor * MOPI_WEIGHTS["perceptual"]}})
    return record


#: the contour-guided chain's arms (issue 35): label → ``contour_source``; the paper's first, the
#: reference every other row is paired with
CONTOUR_ARMS = {"generated contours (paper)": "generated", "the clean twin's contours (oracle)": "true",
                "no contours": "none"}


def contour_chain(profile: str = "cpu", arms=None, folder: Path | None = None, out: Path | None = None,
                  logs: Path | None = None, progress: bool = False) -> dict:
    """The contour-guided method's mechanism (issue 35): the paper's idea is that the face's contours,
    completed inside the occluder, guide the inpainting to a face the regressor reads as if it were
    clean. Each arm of :data:`CONTOUR_ARMS` (``arms``: ``contour_source`` values; default all) trains
    chapter 9's chain at the profile's schedule from chapter 5's R-Net — the contour stage (only where
    its contours are used) and the inpainting stage; not the mask stage (the experiment gives every
    arm the true mask) nor the regression stage (not the mechanism) — with the paper's
    generated contours, the clean twin's own contours (a perfect contour generator) or none; each is
    scored on the validation split with the true occluded-face mask
    (:func:`facelib.evaluation.mechanisms.contour_chain_scores`: PSNR and SSIM inside the mask, chapter
    5's R-Net on the filled image) beside the mean and blur fills and R-Net on the occluded and clean
    images. If contours guide the fill, the oracle's rows lie above the unguided ones, and the paper's
    between. The arms train in ``folder`` (default ``runs/mechanisms/<profile>``); the record is
    written to ``out`` after each arm."""
    from . import fill
    from . import profile as profiles
    from .methods.contour import Contour, ContourSchedule

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    chosen = _chosen(CONTOUR_ARMS, arms, lambda label, source: source, "contour")
    chapter = Contour.profile_options(prof)["schedule"]
    rnet, _ = runs.trained_in_chapter("rnet", model, prof, root, progress)
    scores, seconds, steps, record = {}, {}, {}, {}
    for label in chosen:
        source = CONTOUR_ARMS[label]
        name = f"contour-{source}-contours"
        run_dir = _folder(prof, name, folder)
        # the true mask everywhere here: no mask stage; the contour stage only where its contours are used
        schedule = ContourSchedule(0, chapter.edges if source == "generated" else 0, chapter.inpaint)
        steps[label] = schedule.edges + schedule.inpaint  # the regression stage is not the mechanism
        chain = methods.build("contour", model, prof, rnet=rnet, contour_source=source, schedule=schedule)
        seconds[label] = round(_train(chain, root, prof, run_dir, logs, name, progress,
                                      steps=steps[label]).training_seconds, 1)
        first = not scores
        new = mechanisms.contour_chain_scores({label: chain}, {"mean fill": fill.mean_fill, "blur fill": fill.blur_fill}
                                              if first else {}, rnet, root, ends=first)
        scores = new if first else {**scores, "scores": {**scores["scores"], **new["scores"]}}
        reference = next(iter(scores["scores"]))
        record = {"profile": prof.name, "split": "val", "experiment": "the contour-guided chain's guiding contours",
                  "steps": steps, "faces": len(scores["faces"]), "identities": len(set(scores["identities"])),
                  "training_seconds": seconds, "reference": reference,
                  "rows": mechanisms.contour_summary(scores, reference)}
        _write(out, record)
    return record


def controls_base(profile: str = "cpu", progress: bool = False) -> control_arms.Base:
    """The controls' base as the book trains its methods (issue 32 on the new base): the profile
    itself, every arm built by :func:`facelib.runs.variant` (from the stand-in, its reader frozen,
    the arm's options on top). An arm whose untrained method has the signature of its chapter's
    finished run (the seed-0 R-Net is chapter 5's R-Net) is loaded from that run's folder; any other
    trains in the controls' own folder, so a chapter's run is never overwritten."""
    from . import profile as profiles
    from .train import CHECKPOINT, load_checkpoint

    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)

    def build(method, options):
        return runs.variant(method, model, prof, root, progress, **options)

    def folder(built, options, run):
        chapter_run = chapter_run_dir(methods.chapter_of(built.name), prof.name, built.name)
        if not (chapter_run / CHECKPOINT).is_file():
            return None
        ckpt = load_checkpoint(chapter_run / CHECKPOINT)
        same = ckpt["finished"] and ckpt["signature"] == signature_on_set(built, root, prof,
                                                                          seed=int(options.get("seed", 0)))
        return chapter_run if same else None

    return control_arms.Base(f"the stand-in ({runs.STAND_IN}, reader frozen)", prof, root, model, build, folder)


def controls(what: str, profile: str = "cpu", method: str = "rnet", seeds=(0, 1), before_stand_in: bool = False,
             out: Path | None = None, progress: bool = False) -> dict:
    """The negative (``what="seeds"``) or the positive (``"visibility"``) control of
    :mod:`facelib.evaluation.controls`, trained on the book's base (:func:`controls_base`) or, with
    ``before_stand_in``, on the base they were first measured on; the record is written to ``out``."""
    from .results import code_version

    if what not in ("seeds", "visibility"):
        raise FacelibError(f"unknown control {what!r}: choose seeds or visibility")
    base = (control_arms.before_stand_in(profile, progress) if before_stand_in else controls_base(profile, progress))
    if what == "seeds":
        record = control_arms.seed_control(method, profile, tuple(seeds), progress=progress, base=base)
    else:
        record = control_arms.visibility_control(profile, progress=progress, base=base)
    flag = " --before-stand-in" if before_stand_in else ""
    record = {**record, "commit": code_version(),
              "command": f"python -m facelib controls {what} --profile {profile}"
                         + (f" --method {method} --seeds {seeds[0]} {seeds[1]}" if what == "seeds" else "") + flag}
    _write(out, record)
    return record
