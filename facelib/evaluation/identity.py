"""Identity from the network (issue 34): the pretrained stand-in's levers, side by side.

The papers' networks start from pretrained weights; the cpu profile has none, and a network trained
from random weights with R-Net's terms alone sits at the mean face in shape (DESIGN-NOTES 15, 32).
:func:`identity_levers` measures the candidate stand-ins on the same data: each trained at a stated
step budget with its wall time, its learning curve of identity-only v2v on validation faces, and its
score on the whole validation split (identities resampled) against the mean face — no choice is made
on test faces. Arms (:data:`LEVER_ARMS`):

1. supervised pretraining on the synthetic set's exact coefficients (:class:`~facelib.methods.pretrain.Pretrain`),
   from random weights (a ResNet-18, as every encoder of the book so far) and from the
   face-recognition network's pretrained weights (:class:`~facelib.nets.resnet.FaceEncoder`), and
   the same with its identity read by the face-recognition network on the chip at its own predicted
   landmarks (:class:`~facelib.nets.identity.IdentityReading`: levers 1 and 2 combined);
2. identity read from the face-recognition network, as MICA reads FLAME identity from ArcFace:
   a ridge read-out of the frozen descriptor, and the trunk fine-tuned
   (:mod:`facelib.methods.readout`), on the chosen encoder's landmarks;
3. only the leading identity components;
4. a smaller input with more steps in the same time;

then R-Net's own self-supervised training started from the chosen encoder (:data:`RNET_ARM`), the
same with the identity reader's weights frozen (:data:`RNET_FROZEN`, when the chosen encoder has a
reader) and from random weights (:data:`COLD_RNET`): what the book's methods will start from, and
whether their own terms keep what it learned.

``python -m facelib.evaluation.identity --profile cpu --out results/identity/levers-cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import results, stats
from ..camera import REFERENCE_SIZE
from ..data.folder import FaceFolder
from ..errors import FacelibError
from ..metrics import landmark_errors, shape_scores
from .runner import split_batches

#: every lever's step budget, as a share of the profile's ``train_steps`` (cpu: 1,000 steps)
LEVER_STEPS = 2 / 3
#: encoder arms: label → (constructor options, profile overrides, steps per :data:`LEVER_STEPS`);
#: each is a :class:`~facelib.methods.pretrain.Pretrain` run, in this order
ENCODER_ARMS = {
    "face-recognition encoder + chip identity reader, supervised": ({"reader": "dlib"}, {"backbone": "dlib_face"}, 1.0),
    "face-recognition encoder, supervised": ({}, {"backbone": "dlib_face"}, 1.0),
    "face-recognition encoder, supervised, leading 20 identity components":
        ({"identity_components": 20}, {"backbone": "dlib_face"}, 1.0),
    "ResNet-18 from random weights, supervised": ({}, {}, 1.0),
    "ResNet-18 from random weights, supervised, 64 px input, 1.5× the steps": ({}, {"image_size": 64}, 1.5),
}
#: the predictor arms, on the chosen encoder arm's landmarks and other coefficients
READOUT = "dlib descriptor read-out (frozen, ridge)"
TRUNK = "dlib trunk fine-tuned on aligned chips"
RNET_ARM = "R-Net from the chosen stand-in"
COLD_RNET = "R-Net from random weights"
RNET_FROZEN = "R-Net from the chosen stand-in, its identity reader frozen"
RNET_TRUNK = "R-Net from the chosen stand-in, identity from the fine-tuned trunk"
MEAN_FACE, TRUTH = "mean face", "true coefficients"
TEST_SCORES = ("shape_v2v_mm", "identity_v2v_mm", "landmark_me")
#: the ridge penalties the read-out chooses from (on the validation split)
RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0)
SCORES = ("identity_v2v_mm", "shape_v2v_mm", "landmark_me")


def run_name(label: str) -> str:
    """The run folder's name of an arm's label."""
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-").replace("--", "-")


def reader_of(arm: str) -> dict:
    """The build option that gives a method the identity reader of encoder arm ``arm`` (none: ``{}``)."""
    return {k: v for k, v in ENCODER_ARMS[arm][0].items() if k == "reader"}


def scores_on(predict, root, model, split: str = "val", limit: int | None = None) -> dict:
    """``{"faces", "identities", "per_face": {score: [value]}}`` of ``predict`` (images → coefficients
    ``(B, P)``) on the clean faces of ``split``: identity-only and full v2v (mm) and landmark ME (px at 224)."""
    from ..render import Renderer

    _, loader = split_batches(root, split, limit, ("clean",))
    renderer = None
    out = {"faces": [], "identities": [], "per_face": {k: [] for k in SCORES}}
    for b in loader:
        with torch.no_grad():
            coeffs = predict(b["clean"]).float().cpu()
        s = shape_scores(model, coeffs, b["coefficients"])
        renderer = renderer or Renderer(model, b["clean"].shape[-1])
        lm = renderer.landmarks(coeffs)
        me = landmark_errors(lm.double(), b["landmarks68"].double(), normaliser=b["clean"].shape[-1] / REFERENCE_SIZE)["me"]
        for k, v in (("identity_v2v_mm", s["identity_v2v_mm"]), ("shape_v2v_mm", s["shape_v2v_mm"]), ("landmark_me", me)):
            out["per_face"][k] += [float(x) for x in v]
        out["faces"] += [int(i) for i in b["index"]]
        out["identities"] += [int(i) for i in b["identity"]]
    return out


def against(rec: dict, reference: dict) -> dict:
    """Each score's mean with its interval and its relative change against ``reference`` (the same
    faces), per cent, identities resampled, with the verdict of "below"."""
    out = {}
    for k in SCORES:
        a, b, g = rec["per_face"][k], reference["per_face"][k], rec["identities"]
        change = stats.paired_change(a, b, groups=g)
        out[k] = {"mean": stats.mean_interval(a, groups=g).as_dict(), "change_pct": change.as_dict(),
                  "verdict": stats.verdict(change, 0.0, "below")}
    return out


def curve(run_dir: Path) -> list[dict]:
    """The validation entries of a run's log: ``[{"step", <validation means>}]``."""
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [{"step": r["step"], **r["val"]} for r in rows if "val" in r]


def identity_levers(profile: str = "cpu", folder: Path | None = None, progress: bool = False,
                    rnet_steps: float = 1.0, out: Path | None = None, cold: bool = True) -> dict:
    """Train (or load) every arm of :data:`ENCODER_ARMS`, choose the stand-in — **the encoder arm
    with the lowest identity-only v2v on the validation split** (the rule, fixed before any arm ran)
    —, fit the read-out and fine-tune the trunk on its landmarks, train R-Net from it and from random
    weights (unless not ``cold``), score each on the clean validation faces against the mean face,
    and evaluate the stand-in and the R-Nets on the test faces (:func:`on_test`). Returns the record
    (JSON-able), also written to ``out`` after each arm."""
    from .. import methods
    from .. import profile as profiles
    from ..data import synthetic
    from ..methods.readout import IdentityReadout, IdentityTrunk
    from ..methods.regressor import frozen_embedder
    from ..results import project_root
    from ..train import train_on_set

    prof = profiles.before_stand_in(profile)  # each arm states its own backbone and reader on top
    root, model = synthetic.prepared(prof, progress)
    folder = Path(folder) if folder else project_root() / "runs" / "identity" / prof.name
    mean = scores_on(lambda x: model.layout.zeros(len(x)), root, model)
    record = {"profile": prof.name, "split": "val", "faces": len(mean["faces"]),
              "identities": len(set(mean["identities"])), "rule": "the encoder arm with the lowest identity-only v2v "
              "on the validation split", "mean_face": against(mean, mean), "arms": {}}

    def save():
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n")

    def train_arm(label, method, steps, prof_arm, options, predict=None):
        res = train_on_set(method, root, folder / run_name(label), prof_arm, steps=steps, progress=progress,
                           val_batches=8)
        rec = scores_on(predict or (lambda x: method.predict(x).coefficients), root, model)
        record["arms"][label] = {"steps": res.started_at + res.steps, "training_seconds": round(res.training_seconds, 1),
                                 "seconds_per_step": round(res.training_seconds / max(res.started_at + res.steps, 1), 3),
                                 "image_size": prof_arm.image_size, "backbone": prof_arm.backbone, "options": options,
                                 "scores": against(rec, mean), "curve": curve(folder / run_name(label))}
        save()
        return rec

    encoders = {}
    for label, (options, overrides, factor) in ENCODER_ARMS.items():
        prof_arm = profiles.override(prof, **overrides)
        encoders[label] = methods.build("pretrain", model, prof_arm, **options)
        train_arm(label, encoders[label], int(round(prof.train_steps * LEVER_STEPS * factor)), prof_arm, options)
    chosen = min(ENCODER_ARMS, key=lambda k: record["arms"][k]["scores"]["identity_v2v_mm"]["mean"]["estimate"])
    record["chosen"] = chosen
    base = encoders[chosen]

    # lever 2: identity read from the face-recognition network, on the chosen arm's landmarks
    emb = frozen_embedder("dlib")
    started = time.perf_counter()
    feats, ids = [], []
    for b in torch.utils.data.DataLoader(FaceFolder(root, "train", views=("clean",)), batch_size=64):
        with torch.no_grad():
            feats.append(emb.embed(b["clean"], b["landmarks68"]).float())
        ids.append(model.layout.split(b["coefficients"])["id"])
    feats, ids = torch.cat(feats), torch.cat(ids)
    fit_seconds = time.perf_counter() - started
    by_penalty = {}
    for lam in RIDGE_PENALTIES:
        readout = IdentityReadout.fit(base, emb, feats, ids, lam)
        by_penalty[lam] = scores_on(lambda x, r=readout: r.predict(x).coefficients, root, model)
    best = min(by_penalty, key=lambda lam: sum(by_penalty[lam]["per_face"]["identity_v2v_mm"]))
    record["arms"][READOUT] = {"penalty": best, "training_faces": len(feats), "training_seconds": round(fit_seconds, 1),
                               "identity_v2v_mm_by_penalty": {str(lam): round(float(np.mean(r["per_face"]["identity_v2v_mm"])), 4)
                                                              for lam, r in by_penalty.items()},
                               "chip_landmarks": "training: the true ones; validation: the chosen arm's predicted",
                               "scores": against(by_penalty[best], mean)}
    save()
    trunk = IdentityTrunk(model)
    train_arm(TRUNK, trunk, int(round(prof.train_steps * LEVER_STEPS)), prof, {"embedder": "dlib"},
              predict=lambda x: trunk.readout(base).predict(x).coefficients)

    # R-Net's own training from the chosen stand-in, and from random weights beside it
    steps = int(round(prof.train_steps * rnet_steps))
    prof_base = profiles.override(prof, **ENCODER_ARMS[chosen][1])
    rnet = methods.build("rnet", model, prof_base, **reader_of(chosen)).start_from(base)
    train_arm(RNET_ARM, rnet, steps, prof_base, {"start_from": chosen})
    rows = {chosen: base.predict, RNET_ARM: rnet.predict, RNET_TRUNK: trunk.readout(rnet).predict}
    if reader_of(chosen):  # the same, with nothing but the landmarks that place the chip left to move identity
        frozen = methods.build("rnet", model, prof_base, **reader_of(chosen), reader_frozen=True).start_from(base)
        train_arm(RNET_FROZEN, frozen, steps, prof_base, {"start_from": chosen, "reader_frozen": True})
        rows[RNET_FROZEN] = frozen.predict
    if cold:
        rows[COLD_RNET] = methods.build("rnet", model, prof)
        train_arm(COLD_RNET, rows[COLD_RNET], steps, prof, {})
        rows[COLD_RNET] = rows[COLD_RNET].predict
    record["test"] = on_test(prof, root, model, rows, progress)
    record["machine_note"] = "one process, the profile's threads; wall times are this machine's"
    save()
    return record


def on_test(prof, root, model, trained: dict, progress: bool = False) -> dict:
    """``trained`` (label → predict) — the chosen stand-in, R-Net from it and from random weights, and
    R-Net with the fine-tuned trunk's identity — on the profile's test faces, every view, as the book evaluates
    them (:func:`~.runner.evaluate`): each row's change against the mean face on v2v, identity-only
    v2v and landmark ME, identities resampled; the perceptual error of the true coefficients (the
    oracle) and of each row, and each row's clean → occluded change of it — the room an identity
    claim has. Decided on nothing: the arms were chosen on the validation split."""
    from . import tables
    from .runner import evaluate, ground_truth_predictor, mean_face_predictor

    rows = {MEAN_FACE: mean_face_predictor(model), TRUTH: ground_truth_predictor(root),
            **trained}
    metrics = {label: {"views": evaluate(p, root, method=label, chapter="identity", profile=prof, limit=prof.test_faces,
                                         write=False, progress=progress)["views"]} for label, p in rows.items()}
    out = {"faces": prof.test_faces, "rows": {}}
    for label in rows:
        entry = {}
        for view in ("clean", "occluded", "noisy"):
            cell = {}
            for metric in (*TEST_SCORES, "perceptual_dlib"):
                try:
                    cell[metric] = tables.interval_of(metrics, label, view, metric).as_dict()
                    if label not in (MEAN_FACE, TRUTH) and metric in TEST_SCORES:
                        change = tables.change_against(metrics, label, MEAN_FACE, view, metric)
                        cell[f"{metric}_vs_mean_face_pct"] = {**change.as_dict(), "verdict": stats.verdict(change, 0.0, "below")}
                except KeyError:
                    continue
            entry[view] = cell
        try:
            change = tables.change_between(metrics, label, "occluded", "clean", "perceptual_dlib")
            entry["perceptual_clean_to_occluded_pct"] = change.as_dict()
        except KeyError:
            pass
        out["rows"][label] = entry
    return out


#: the stand-in's step budgets measured side by side (issue 34's step-budget lever), as snapshots of
#: one run of the largest: its learning rate is constant and its batches a function of the step, so
#: the snapshot after ``B`` steps is the ``B``-step stand-in
STAND_IN_BUDGETS = (1000, 3000, 6000)
#: the most the stand-in's own training may add to the whole book's time (issue 34)
STAND_IN_CAP = 0.20
#: the bench record with every method's step time on the stand-in's encoder (DESIGN-NOTES 39)
STAND_IN_BENCH = "results/bench/train-cpu-stand-in.jsonl"


def _cell(score: dict) -> str:
    """A table cell: the mean (mm or px) and its change against the mean face, per cent [95 %]."""
    m, c = score["mean"]["estimate"], score["change_pct"]
    return f"{m:.3f} ({c['estimate']:+.1f} % {stats.bracket(c['low'], c['high'])})"


def _same_networks(a, b) -> bool:
    """Whether two methods hold the same networks with bit-identical weights."""
    if a.nets.keys() != b.nets.keys():
        return False
    for name in a.nets:
        sa, sb = a.nets[name].state_dict(), b.nets[name].state_dict()
        if sa.keys() != sb.keys() or not all(torch.equal(sa[k], sb[k]) for k in sa):
            return False
    return True


def rnet_from(stand_in, model, prof):
    """R-Net started from ``stand_in`` as every chapter starts it
    (:func:`facelib.runs.build_with_prerequisites`: the profile's identity reader frozen)."""
    from .. import methods

    return methods.build("rnet", model, prof, **methods.stand_in_options(prof, {})).start_from(stand_in)


def choose_budget(budgets: dict, cap: float = STAND_IN_CAP) -> int:
    """The rule of :func:`stand_in_budget`: of ``budgets`` (steps → entry with ``book_share`` and R-Net's
    validation ``scores``), the one whose R-Net has the lowest identity-only v2v among those whose
    stand-in costs at most ``cap`` of the book."""
    allowed = [k for k, e in budgets.items() if e["book_share"] <= cap]
    if not allowed:
        raise FacelibError(f"every budget's stand-in costs more than {cap:.0%} of the book "
                           f"({ {k: e['book_share'] for k, e in budgets.items()} }): measure smaller budgets")
    return int(min(allowed, key=lambda k: budgets[k]["rnet"]["scores"]["identity_v2v_mm"]["mean"]["estimate"]))


def stand_in_budget(book_seconds: float, profile: str = "cpu", budgets: tuple[int, ...] = STAND_IN_BUDGETS,
                    folder: Path | None = None, progress: bool = False, out: Path | None = None,
                    stand_in_step_seconds: float | None = None) -> dict:
    """The stand-in's step budget, side by side: one stand-in run of ``max(budgets)`` steps on the
    profile as the book trains it (its encoder and identity reader), keeping a snapshot after each
    smaller budget; each snapshot scored on the whole validation split, and R-Net trained from each
    as every chapter starts it (its identity reader frozen, the profile's ``train_steps``) and scored
    the same way, against the mean face, identities resampled. A budget whose snapshot equals the
    chapter's stand-in bit for bit reuses chapter 5's finished R-Net (the same training; DESIGN-NOTES
    39 shows it reproduces to every digit).

    **The rule** (written before any R-Net was trained from a snapshot, after the stand-in's own
    3,000-step curve had been seen; DESIGN-NOTES 39-40): the budget whose R-Net has the lowest identity-only v2v
    on the validation split, among those whose stand-in costs at most :data:`STAND_IN_CAP` of the
    whole book's estimated time ``book_seconds`` (``python -m facelib stand-in-budget`` takes it from
    ``python -m facelib.bench estimate`` on :data:`STAND_IN_BENCH`), a budget's share being its steps ×
    ``stand_in_step_seconds`` (the bench's step time; default: the run's own measured time per step).
    R-Net starts from each snapshot as :func:`facelib.runs.build_with_prerequisites` starts it (the
    reader frozen). Returns the record (JSON-able), also written to ``out`` after each arm."""
    from .. import methods
    from .. import profile as profiles
    from ..data import synthetic
    from ..results import project_root
    from ..train import (
        CHECKPOINT,
        load_checkpoint,
        load_finished,
        load_snapshot,
        read_log,
        signature_on_set,
        train_on_set,
    )

    budgets = tuple(sorted({int(b) for b in budgets}))
    if not budgets or budgets[0] < 1:
        raise FacelibError(f"budgets must be positive step counts, got {budgets}")
    prof = profiles.resolve(profile)
    root, model = synthetic.prepared(prof, progress)
    folder = Path(folder) if folder else project_root() / "runs" / "identity" / prof.name / "stand-in-budget"
    mean = scores_on(lambda x: model.layout.zeros(len(x)), root, model)
    book, step_s = float(book_seconds), stand_in_step_seconds
    record = {"profile": prof.name, "split": "val", "faces": len(mean["faces"]), "identities": len(set(mean["identities"])),
              "rule": "the budget whose R-Net (reader frozen) has the lowest identity-only v2v on the validation "
                      f"split, its stand-in at most {STAND_IN_CAP:.0%} of the book's estimated time",
              "book_seconds": round(book, 1), "stand_in_step_seconds": step_s, "rnet_steps": prof.train_steps,
              "book_share": "steps x the stand-in's bench step time (else its measured time per step) / the book's",
              "mean_face": against(mean, mean), "budgets": {}}

    def save():
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n")

    stand_in = (lambda: methods.build("pretrain", model, prof))  # as chapter 5 builds it: no prerequisites
    longest = stand_in()
    long_dir = folder / f"stand-in-{budgets[-1]}-steps"
    res = train_on_set(longest, root, long_dir, prof, steps=budgets[-1], progress=progress, snapshots=budgets[:-1])
    log = read_log(long_dir)
    record["stand_in_run"] = {"steps": budgets[-1], "training_seconds": round(res.training_seconds, 1),
                              "curve": curve(long_dir)}
    chapter_dir = results.run_dir("05_baselines", prof.name, "pretrain")
    chapter_rnet = results.run_dir("05_baselines", prof.name, "rnet")
    chapter_stand_in = None  # chapter 5's stand-in, when its R-Net is the training an arm would run
    if (chapter_dir / CHECKPOINT).is_file() and (chapter_rnet / CHECKPOINT).is_file():
        chapter_stand_in = stand_in()
        load_finished(chapter_stand_in, chapter_dir, "python -m facelib train --method pretrain --profile " + prof.name)
        if load_checkpoint(chapter_rnet / CHECKPOINT)["signature"] != signature_on_set(
                rnet_from(chapter_stand_in, model, prof), root, prof):
            chapter_stand_in = None
    for b in budgets:
        snap = longest if b == budgets[-1] else load_snapshot(stand_in(), long_dir, b, res.signature)
        timed = [e["time"] for e in log if "time" in e and e["step"] <= b]  # else: the run's mean time per step
        seconds = timed[-1] if timed else res.training_seconds * b / budgets[-1]
        entry = {"steps": b, "training_seconds": round(seconds, 1),
                 "book_share": round(b * (step_s or seconds / b) / book, 4),
                 "stand_in": {"scores": against(scores_on(lambda x, m=snap: m.predict(x).coefficients, root, model), mean)}}
        rnet = rnet_from(snap, model, prof)
        if chapter_stand_in is not None and _same_networks(snap, chapter_stand_in):  # the same training, started from the same weights: chapter 5's run is this arm
            load_finished(rnet, chapter_rnet, "python -m facelib train --method rnet --profile " + prof.name)
            entry["rnet"] = {"run": "chapter 5's R-Net (its stand-in equals this snapshot bit for bit)", "training_seconds": None}
        else:
            r = train_on_set(rnet, root, folder / f"rnet-from-{b}-steps", prof, progress=progress)
            entry["rnet"] = {"run": f"rnet-from-{b}-steps", "training_seconds": round(r.training_seconds, 1)}
        entry["rnet"]["scores"] = against(scores_on(lambda x, m=rnet: m.predict(x).coefficients, root, model), mean)
        record["budgets"][str(b)] = entry
        save()
    record["chosen"] = choose_budget(record["budgets"])
    record["machine_note"] = "one process, the profile's threads; wall times are this machine's"
    save()
    return record


def budget_markdown(record: dict) -> str:
    """The stand-in's budgets side by side (a :func:`stand_in_budget` record) as a Markdown table:
    steps, the stand-in's wall time and share of the book, and identity-only v2v and v2v on the
    validation faces of the stand-in and of R-Net from it, each with its change against the mean face."""
    from . import tables

    mf = {k: f"{v['mean']['estimate']:.3f}" for k, v in record["mean_face"].items()}
    rows = [["mean face", "", "", mf["identity_v2v_mm"], mf["shape_v2v_mm"], mf["identity_v2v_mm"], mf["shape_v2v_mm"],
             mf["landmark_me"]]]
    for b, e in record["budgets"].items():
        stand_in, rnet = e["stand_in"]["scores"], e["rnet"]["scores"]
        rows.append([b + (" **(chosen)**" if int(b) == record.get("chosen") else ""), f"{e['training_seconds']:.0f} s",
                     f"{100 * e['book_share']:.1f} %", _cell(stand_in["identity_v2v_mm"]), _cell(stand_in["shape_v2v_mm"]),
                     _cell(rnet["identity_v2v_mm"]), _cell(rnet["shape_v2v_mm"]), _cell(rnet["landmark_me"])])
    return tables.markdown_table(["stand-in steps", "its wall time", "share of the book",
                                  "stand-in: identity-only v2v, mm", "stand-in: v2v, mm", "R-Net: identity-only v2v, mm",
                                  "R-Net: v2v, mm", "R-Net: landmark ME, px"], rows, "lrrrrrrr")


def budget_glue(record: dict) -> dict:
    """The numbers chapter 5 states about the stand-in's budget, from a :func:`stand_in_budget`
    record: the budgets, the chosen one and its share of the book, and the validation identity-only
    v2v of the stand-in and of R-Net from it at the smallest and the chosen budget (mm; change against
    the mean face in per cent with its interval and verdict)."""
    smallest = min(record["budgets"], key=int)
    out = {"budgets": ", ".join(f"{int(b):,}" for b in record["budgets"]), "chosen": record["chosen"],
           "chosen_share": 100 * record["budgets"][str(record["chosen"])]["book_share"],
           "cap": 100 * STAND_IN_CAP, "smallest": int(smallest)}
    for tag, b in (("smallest", smallest), ("chosen", str(record["chosen"]))):
        for who in ("stand_in", "rnet"):
            score = record["budgets"][b][who]["scores"]["identity_v2v_mm"]
            c = score["change_pct"]
            out[f"{tag}_{who}_idv2v"] = score["mean"]["estimate"]
            out[f"{tag}_{who}_idv2v_change"] = c["estimate"]
            out[f"{tag}_{who}_idv2v_ci"] = stats.bracket(c["low"], c["high"])
    return out


def budget_curves(record: dict) -> dict:
    """A :func:`stand_in_budget` record's learning curve in the shape :func:`facelib.viz.levers_figure`
    draws: one arm, the stand-in's run to its largest budget, with its seconds per step."""
    run = record["stand_in_run"]
    label = f"stand-in, one run to {run['steps']:,} steps"
    return {"mean_face": record["mean_face"], "chosen": label,
            "arms": {label: {"curve": run["curve"], "seconds_per_step": run["training_seconds"] / run["steps"]}}}


def committed_budget(profile: str = "cpu") -> dict:
    """The stand-in's budget record, ``results/identity/stand-in-budget-<profile>.json`` (measured
    once, at the cpu profile)."""
    path = results.results_base() / "identity" / f"stand-in-budget-{profile}.json"
    if not path.is_file():
        raise FacelibError(f"the stand-in's budget record {path} is missing: measure it with `python -m facelib "
                           f"stand-in-budget --profile {profile} --out {path}` (about an hour at cpu)")
    return json.loads(path.read_text())


def levers_markdown(record: dict) -> str:
    """The levers side by side (a :func:`identity_levers` record) as a Markdown table: steps, wall
    time, and each score on the validation faces with its change against the mean face [95 %]."""
    from . import tables

    rows = [["mean face", "", "", *(f"{record['mean_face'][k]['mean']['estimate']:.3f}" for k in SCORES)]]
    for label, arm in record["arms"].items():
        rows.append([label + (" **(chosen)**" if label == record.get("chosen") else ""), str(arm.get("steps", "")),
                     f"{arm['training_seconds']:.0f} s", *(_cell(arm["scores"][k]) for k in SCORES)])
    return tables.markdown_table(["arm", "steps", "wall time", "identity-only v2v, mm", "v2v, mm", "landmark ME, px"],
                                 rows, "lrrrrr")


def committed_levers(profile: str = "cpu") -> dict:
    """The levers' record the stand-in was chosen from, ``results/identity/levers-<profile>.json``
    (measured once, at the cpu profile; the gpu profiles take the same kind of stand-in — encoder and
    chip reader, supervised — on their own ResNet-50, the smoke profile a tiny one without a reader)."""
    path = results.results_base() / "identity" / f"levers-{profile}.json"
    if not path.is_file():
        raise FacelibError(f"the identity levers' record {path} is missing: measure it with `python -m "
                           f"facelib.evaluation.identity --profile {profile} --out {path}` (its trainings take about an hour at cpu)")
    return json.loads(path.read_text())


def levers_glue(record: dict) -> dict:
    """The numbers chapter 5 states about the stand-in's choice, from a :func:`identity_levers`
    record: the chosen arm, its steps and wall time, and the validation identity-only v2v change
    against the mean face (per cent, [95 %], identities resampled) of the chosen arm and of R-Net
    started from it with its identity reader fine-tuned (``rnet_trained``) or frozen (``rnet_frozen``)."""
    chosen = record["arms"][record["chosen"]]
    out = {"chosen": record["chosen"], "chosen_steps": chosen["steps"], "chosen_seconds": chosen["training_seconds"],
           "val_faces": record["faces"], "val_identities": record["identities"],
           "mean_idv2v": record["mean_face"]["identity_v2v_mm"]["mean"]["estimate"]}
    for tag, label in (("chosen", record["chosen"]), ("rnet_trained", RNET_ARM), ("rnet_frozen", RNET_FROZEN)):
        score = record["arms"][label]["scores"]["identity_v2v_mm"]
        c = score["change_pct"]
        out[f"{tag}_idv2v"] = score["mean"]["estimate"]
        out[f"{tag}_idv2v_change"] = c["estimate"]
        out[f"{tag}_idv2v_ci"] = stats.bracket(c["low"], c["high"])
        out[f"{tag}_idv2v_verdict"] = score["verdict"]
    out["truth_perc_clean"] = record["test"]["rows"][TRUTH]["clean"]["perceptual_dlib"]["estimate"]
    return out


def load_arms(record: dict, profile: str = "cpu", folder: Path | None = None) -> dict:
    """The finished runs of a :func:`identity_levers` record that are networks — the chosen encoder
    arm, R-Net from it and from random weights — loaded for prediction: ``{label: method}``."""
    from .. import methods
    from .. import profile as profiles
    from ..morphable import MorphableModel
    from ..results import project_root
    from ..train import load_finished

    prof = profiles.before_stand_in(profile)  # each arm states its own backbone and reader on top
    folder = Path(folder) if folder else project_root() / "runs" / "identity" / prof.name
    model = MorphableModel.from_ict()
    chosen = record["chosen"]
    options, overrides, _ = ENCODER_ARMS[chosen]
    prof_base = profiles.override(prof, **overrides)
    command = "python -m facelib.evaluation.identity --profile " + prof.name
    out = {}
    for label, name, p, opts in ((chosen, "pretrain", prof_base, options), (RNET_ARM, "rnet", prof_base, reader_of(chosen)),
                                 (RNET_FROZEN, "rnet", prof_base, {**reader_of(chosen), "reader_frozen": True}),
                                 (COLD_RNET, "rnet", prof, {})):
        if label not in record["arms"]:
            continue
        m = methods.build(name, model, p, **opts)
        load_finished(m, folder / run_name(label), command)
        out[label] = m
    return out


def real_photos(record: dict, profile: str = "cpu", folder: Path | None = None) -> dict:
    """The loaded networks of :func:`load_arms` on the real annotated photos
    (:func:`facelib.evaluation.real_faces.evaluate_real_faces`: 300-W NME against ground-truth
    landmarks, each network alone and refined, beside dlib and the mean face)."""
    from .. import profile as profiles
    from .real_faces import evaluate_real_faces

    prof = profiles.resolve(profile)
    arms = load_arms(record, profile, folder)
    model = next(iter(arms.values())).model
    return evaluate_real_faces(model, prof.image_size, arms, fit_steps=prof.fit_steps, refine_steps=prof.refine_steps)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="issue 34: the pretrained stand-in's levers side by side")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--folder", type=Path, default=None, help="run folders (default runs/identity/<profile>)")
    p.add_argument("--out", type=Path, required=True, help="the JSON record to write")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--no-cold", action="store_true", help="leave out R-Net from random weights (13 min at cpu)")
    p.add_argument("--real-photos", action="store_true",
                   help="also score the networks of the record on the real annotated photos (its 'real_photos')")
    args = p.parse_args(argv)
    rec = identity_levers(args.profile, args.folder, args.progress, out=args.out, cold=not args.no_cold)
    if args.real_photos:
        rec["real_photos"] = real_photos(rec, args.profile, args.folder)
        args.out.write_text(json.dumps(rec, indent=1) + "\n")
    print(json.dumps({k: {s: v["scores"][s]["change_pct"] for s in SCORES} for k, v in rec["arms"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
