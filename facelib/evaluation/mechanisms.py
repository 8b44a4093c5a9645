"""Each paper's mechanism, shown acting where it must if it is built right (issue 35).

A verdict of "does not hold" on the benchmark can mean the paper's idea fails at this budget, or
that the book built it wrong, or that another part of the method (usually the reconstruction
network) has not converged. A mechanism experiment removes the other parts: it gives the paper's
mechanism the best possible partner and asks whether the mechanism then does what the paper says.

**FOCUS (chapter 8): S against an oracle R.** FOCUS's segmentation network S learns, with no
occlusion label, which pixels of the target its reconstruction R explains (Eqs. 1-4). The cpu run's
S rejected visible face (recall 0.65, F1 below the skin detector's; DESIGN-NOTES 22), which is
either S failing or R, after 1,500 steps at 112 px, not explaining the face well enough for S to
keep it. :func:`facelib.experiments.focus_oracle` trains S as chapter 8 does (the preliminary-mask
initialisation, then S's own loss) but against the render of the benchmark's true coefficients, a
perfect R, once with the authors' code's preserve weight η₄ = 0.25 and once with the paper's 2.5,
and scores S's masks on the validation split (occluded and clean views, identities resampled)
against the true visible face, beside Deep3D's skin detector on the same pixels. If S then keeps
recall ≥ 0.85 and beats the skin detector's F1, the cpu failure is R's convergence, not S.

``python -m facelib mechanism focus --profile cpu`` (``make mechanisms``); the record is
``results/mechanisms/focus-<profile>.json``, the runs' logs ``results/mechanisms/logs/<profile>/``.
"""

from __future__ import annotations

import torch

from .. import stats
from ..errors import FacelibError
from ..metrics import segmentation_scores
from .runner import split_batches

#: η₄ (L_presv's weight) side by side: the authors' code's (chapter 8's default) and the paper's
FOCUS_PRESERVE = {"code (0.25)": 0.25, "paper (2.5)": 2.5}
#: the control arm of :data:`FOCUS_DEPARTURES`: the first arm's R with the skin detector for S
FOCUS_SKIN_ARM = "η₄ 0.25 (code), reader frozen, S replaced by the skin detector"
#: FOCUS's departures on the real reconstruction: label → (η₄, its identity reader frozen)
FOCUS_DEPARTURES = {"η₄ 0.25 (code), reader frozen": (0.25, True), "η₄ 2.5 (paper), reader frozen": (2.5, True),
                    "η₄ 0.25 (code), reader trained": (0.25, False)}
#: the contour method's departure (issue 35): the regression stage's identity reader trained (the
#: paper's encoder has no separate reader; the stage trained it before the stand-in froze R-Net's)
#: or frozen as the R-Net it starts from keeps it — label → reader_frozen
CONTOUR_DEPARTURES = {"reader frozen (as R-Net's)": True, "reader trained": False}
#: the recall S must keep: that of chapter 8's cpu S when EM started (DESIGN-NOTES 22)
FOCUS_RECALL = 0.85
#: the views scored and the true segmentation of each: the visible face, the whole face
FOCUS_VIEWS = {"occluded": "visible_mask", "clean": "face_mask"}
SEGMENTATION_SCORES = ("f1", "tpr", "ppv")


@torch.no_grad()
def oracle_segmentation(focus, root, split: str = "val", limit: int | None = None, skin: bool = True) -> dict:
    """Per-face segmentation scores of an oracle ``focus`` (:class:`~facelib.methods.focus.FOCUS` with
    ``oracle=True``, or ``None`` for the skin detector alone) on ``split``'s occluded and clean views,
    inside the region the true coefficients render, against the true segmentation
    (:data:`FOCUS_VIEWS`); Deep3D's skin detector scored on the same pixels (``skin``; one call of
    it serves every snapshot). ``{"faces", "identities", "S": {view: {score: [value]}},
    "skin": {view: {score: [value]}}}`` (without ``"S"`` for ``focus=None``, without ``"skin"`` for
    ``skin=False``)."""
    from ..methods.rnet import RNet
    from ..morphable import MorphableModel
    from ..render import Renderer

    _, loader = split_batches(root, split, limit, tuple(FOCUS_VIEWS), masks=tuple(set(FOCUS_VIEWS.values())))
    def empty():
        return {v: {k: [] for k in SEGMENTATION_SCORES} for v in FOCUS_VIEWS}

    if focus is None and not skin:
        raise FacelibError("oracle_segmentation: nothing to score (no S and no skin detector)")
    out = {"faces": [], "identities": [], **({"S": empty()} if focus is not None else {}),
           **({"skin": empty()} if skin else {})}
    renderer = None
    for b in loader:
        coeffs, first = b["coefficients"], b[next(iter(FOCUS_VIEWS))]
        if renderer is None:  # on the CPU, where the batches are, whatever device S is on
            renderer = Renderer(focus.model if focus is not None else MorphableModel.from_ict(), first.shape[-1])
        # where the true face lies: the same for every view of a face
        region = renderer(coeffs, background=torch.zeros_like(first)).mask.float()
        for view, truth in FOCUS_VIEWS.items():
            images = b[view]
            masks = {"skin": RNet.segment(images)} if skin else {}
            if focus is not None:
                with focus.evaluating():
                    masks["S"] = focus.segment(images, coeffs)
            for who, mask in masks.items():
                for k, v in segmentation_scores(mask, b[truth], region).items():
                    if k in SEGMENTATION_SCORES:
                        out[who][view][k] += [float(x) for x in v]
        out["faces"] += [int(i) for i in b["index"]]
        out["identities"] += [int(i) for i in b["identity"]]
    return out


def focus_summary(scores: dict) -> dict:
    """Means with intervals (identities resampled) of an :func:`oracle_segmentation` record, per view:
    S's F1, recall and precision, the skin detector's F1, S − skin detector in F1 with the verdict of
    "above", and S's recall with the verdict of "above :data:`FOCUS_RECALL`"."""
    g, out = scores["identities"], {}
    for view in FOCUS_VIEWS:
        s, skin = scores["S"][view], scores["skin"][view]
        above = stats.paired_difference(s["f1"], skin["f1"], groups=g)
        recall = stats.mean_interval(s["tpr"], groups=g)
        out[view] = {**{k: stats.mean_interval(s[k], groups=g).as_dict() for k in SEGMENTATION_SCORES},
                     "skin_f1": stats.mean_interval(skin["f1"], groups=g).as_dict(),
                     "f1_minus_skin": above.as_dict(), "f1_above_skin": stats.verdict(above, 0.0, "above"),
                     "recall_kept": stats.verdict(recall, FOCUS_RECALL, "above")}
    return out


def focus_markdown(record: dict) -> str:
    """A :func:`facelib.experiments.focus_oracle` record as a Markdown table: per arm and scored snapshot, S's F1, recall
    and precision on occluded faces, S − skin detector in F1 with its verdict, and the clean view's
    recall with the verdict of keeping :data:`FOCUS_RECALL`."""
    skin = record["skin_detector"]
    head = (f"| η₄ | S's steps after its initialisation | occluded F1 | recall | precision | F1 − skin detector's "
            f"({skin['occluded']['estimate']:.3f}) | clean recall (≥ {record['recall_bar']:.2f}?) |\n"
            "|---|---:|---|---|---|---|---|\n")
    rows = []
    for label, arm in record["arms"].items():
        for e in arm["curve"]:
            o, c = e["occluded"], e["clean"]
            d = stats.Interval(**o["f1_minus_skin"])
            rows.append(f"| {label} | {e['segment_steps']:,d} | {stats.Interval(**o['f1']).format('.3f')} | "
                        f"{stats.Interval(**o['tpr']).format('.3f')} | {stats.Interval(**o['ppv']).format('.3f')} | "
                        f"{d.estimate:+.3f} {d.bracket('+.3f')}, {o['f1_above_skin']} | "
                        f"{stats.Interval(**c['tpr']).format('.3f')}, {c['recall_kept']} |")
    return head + "\n".join(rows) + "\n"


#: what a departure's arms are compared on, per view (the papers' metrics; lower is better unless
#: named in :data:`HIGHER_IS_BETTER`)
DEPARTURE_METRICS = ("seg_f1", "seg_tpr", "seg_ppv", "visible_rmse", "perceptual_dlib", "landmark_me",
                     "shape_v2v_mm", "identity_v2v_mm")
HIGHER_IS_BETTER = ("seg_f1", "seg_tpr", "seg_ppv")
#: ROGUE's mechanism (:func:`facelib.experiments.rogue_arms`): the views its pipelines see, and what
#: its arms are compared on — how far each prediction moves from its clean twin's (mesh, the identity's
#: mesh, albedo, the rendered identity: :func:`facelib.evaluation.runner.invariance`), beside accuracy
ROGUE_VIEWS = ("clean", "occluded", "noisy")
ROGUE_METRICS = ("invariance_v2v_mm", "invariance_identity_mm", "invariance_albedo", "invariance_perceptual_dlib",
                 "perceptual_dlib", "identity_v2v_mm", "shape_v2v_mm", "landmark_me")


class SkinDetected:
    """A predictor: ``method``'s coefficients with Deep3D's skin detector as the face/outlier mask
    (FOCUS's R with its S replaced by the detector: the control that compares S and the detector
    on the same render's pixels)."""

    def __init__(self, method):
        self.method, self.model = method, method.model

    def predict(self, images: torch.Tensor):
        """``(B, 3, H, W)`` images in [0, 1] → the method's ``(B, P)`` coefficients and the detector's
        ``(B, 1, H, W)`` mask (1 = face)."""
        from ..methods.base import Prediction, as_prediction
        from ..methods.rnet import RNet

        return Prediction(as_prediction(self.method.predict(images)).coefficients, mask=RNet.segment(images))


def arms_on_validation(arms: dict, root, reference: str, *, views=("clean", "occluded"), limit: int | None = None,
                       metrics=DEPARTURE_METRICS, progress: bool = False, evaluated: dict | None = None) -> dict:
    """A departure's arms side by side on the validation split, never the test faces: each of
    ``arms`` (label → a predictor :func:`facelib.evaluation.runner.evaluate` takes) scored on
    ``views``, each metric's mean with its interval and its paired difference against the arm
    ``reference`` (identities resampled) with the verdict of "better" (below, or above for
    :data:`HIGHER_IS_BETTER`). ``{"faces", "identities", "arms": {label: {view: {metric: {"mean",
    "minus_reference", "better"}}}}}``. ``evaluated`` (label → the runner's views) keeps each arm's
    evaluation between calls, so that arms added one by one are each evaluated once."""
    from .runner import evaluate

    if reference not in arms:
        raise FacelibError(f"the reference arm {reference!r} is not one of {sorted(arms)}")
    raw = {} if evaluated is None else evaluated
    for label, p in arms.items():
        if label not in raw:
            raw[label] = evaluate(p, root, method=label, chapter="mechanisms", split="val", views=views, limit=limit,
                                  embedders=("dlib",), write=False, progress=progress)["views"]
    first = raw[reference][views[0]]
    out = {"split": "val", "faces": len(first["faces"]), "identities": len(set(first["identities"])), "arms": {}}
    for label in arms:
        rec = raw[label]
        out["arms"][label] = {}
        for view in views:
            row, ref = rec[view], raw[reference][view]
            g = row["identities"]
            cells = {}
            for m in metrics:
                if m not in row.get("per_face", {}):
                    continue
                a, b = row["per_face"][m], ref["per_face"][m]
                d = stats.paired_difference(a, b, groups=g)
                cells[m] = {"mean": stats.mean_interval(a, groups=g).as_dict(), "minus_reference": d.as_dict(),
                            "better": stats.verdict(d, 0.0, "above" if m in HIGHER_IS_BETTER else "below")}
            out["arms"][label][view] = cells
    return out


def arms_markdown(record: dict, view: str = "occluded", metrics=DEPARTURE_METRICS) -> str:
    """An :func:`arms_on_validation` record's ``view`` as a Markdown table: per arm, each metric's mean
    and, beside the reference, the paired difference with its verdict of "better"."""
    arms = record["arms"]
    present = [m for m in metrics if any(m in a[view] for a in arms.values())]
    lines = ["| arm | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for label, rec in arms.items():
        cells = []
        for m in present:
            c = rec[view].get(m)
            if c is None:
                cells.append("")
                continue
            d = stats.Interval(**c["minus_reference"])
            same = d.estimate == 0 and d.low == 0 and d.high == 0
            cells.append(f"{c['mean']['estimate']:.3f}" + ("" if same else
                         f" ({d.estimate:+.3f} {d.bracket('+.3f')}, better: {c['better']})"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: ORN's conditions the curve follows: the central claim's two (Table 1) and the random patterns
#: MOPI is judged on (Tables 5-6)
ORN_CONDITIONS = ("dhofi", "shofi", "random")


def orn_conditions(predict, root, model, limit: int | None = None) -> dict:
    """ORN's occlusion conditions (:func:`facelib.evaluation.protocols.orn.conditions`) of ``predict``
    on the validation split, never the test faces: ``{condition: summary with per-face values}``."""
    from .protocols import orn

    return orn.conditions(predict, root, split="val", limit=limit, model=model)


def orn_summary(conditions: dict) -> dict:
    """One network's :func:`orn_conditions` as the curve records it: the unoccluded landmark error
    and, per :data:`ORN_CONDITIONS`, the occluded error, its change against the unoccluded error in
    per cent (faces paired, identities resampled) and the verdict of "within the tolerance"
    (:data:`facelib.evaluation.protocols.orn.TOLERANCE`, the chapter's reading of Table 1)."""
    from .protocols.orn import TOLERANCE
    from .tables import change_between

    wrapped = {"net": {"conditions": conditions}}
    mean = {c: stats.mean_interval(conditions[c]["per_face"]["landmark_me"],
                                   groups=conditions[c]["identities"]).as_dict()
            for c in ("unoccluded", *ORN_CONDITIONS)}
    out = {"unoccluded_me": mean["unoccluded"]}
    for c in ORN_CONDITIONS:
        change = change_between(wrapped, "net", c, "unoccluded", "landmark_me", "conditions")
        out[c] = {"me": mean[c], "change": change.as_dict(), "within": stats.verdict(change, TOLERANCE, "below")}
    return out


def orn_markdown(record: dict) -> str:
    """An ORN curve record (:func:`facelib.experiments.orn_curve`) as a Markdown table: per arm and
    scored step (and the teacher), the unoccluded landmark error and, per :data:`ORN_CONDITIONS`,
    the change against it with its interval and the verdict of "within the tolerance"."""
    conds = ORN_CONDITIONS
    head = ("| network | step | unoccluded ME (px) | " + " | ".join(f"{c.upper()} change (within?)" for c in conds)
            + " |\n|---|---:|---|" + "---|" * len(conds) + "\n")

    def row(label, step, e):
        cells = []
        for c in conds:
            d = stats.Interval(**e[c]["change"])
            cells.append(f"{d.estimate:+.1f} % {d.bracket('+.1f')}, {e[c]['within']}")
        return f"| {label} | {step} | {stats.Interval(**e['unoccluded_me']).format('.2f')} | " + " | ".join(cells) + " |"

    rows = [row("teacher (chapter 5's R-Net)", "", record["teacher"])]
    for label, arm in record["arms"].items():
        rows += [row(label, f"{e['step']:,d}" if isinstance(e["step"], int) else e["step"], e) for e in arm["curve"]]
    return head + "\n".join(rows) + "\n"


#: the contour-guided chain's scores (:func:`contour_chain_scores`): the fill inside the true
#: occluded-face mask against the clean twin, and chapter 5's R-Net on the filled image
CONTOUR_SCORES = ("psnr", "ssim", "rnet_landmark_me")


@torch.no_grad()
def contour_chain_scores(chains: dict, fills: dict, rnet, root, limit: int | None = None, ends: bool = True) -> dict:
    """The contour-guided chain's mechanism, per face of the validation split whose occluder covers
    part of the face, with the true occluded-face mask (the fill judged apart from the mask):
    for each of ``chains`` (label → a :class:`~facelib.methods.contour.Contour`, given the clean twin
    for an oracle's contours) and ``fills`` (label → ``fill(images, mask)``, e.g. :mod:`facelib.fill`'s),
    PSNR and SSIM inside the mask and ``rnet``'s landmark error (px at 224) on the filled image;
    ``rnet`` on the occluded input and on the clean twin as the two ends (``ends``; rows added to an
    earlier record can leave them out). ``{"faces", "identities", "scores": {label: {score: [value]}}}``;
    a split with no face whose occluder covers part of it is refused."""
    from .. import metrics as M
    from ..render import Renderer
    from .protocols.contour import occluded_face_batches
    from .runner import REFERENCE_SIZE

    out = {"faces": [], "identities": [], "scores": {}}
    renderer = None

    def add(label, score, values):
        out["scores"].setdefault(label, {}).setdefault(score, []).extend(float(x) for x in values)

    for b in occluded_face_batches(root, "val", limit):
        clean, occluded, mask, lm = b["clean"], b["occluded"], b["mask"], b["landmarks68"]
        size = clean.shape[-1]
        renderer = renderer or Renderer(rnet.model, size)

        def me(images, renderer=renderer, lm=lm, size=size):  # R-Net's landmark error on these images
            coeffs = rnet.predict(images).coefficients.float().cpu()
            return M.landmark_errors(renderer(coeffs, background=images).landmarks, lm.double(),
                                     normaliser=size / REFERENCE_SIZE)["me"]

        filled = {label: c.inpainted(occluded, mask, clean=clean)["image"].float().cpu() for label, c in chains.items()}
        filled.update({label: f(occluded, mask).float().cpu() for label, f in fills.items()})
        for label, image in filled.items():
            image = image.clamp(0, 1)
            add(label, "psnr", M.psnr(image, clean, mask))
            add(label, "ssim", M.ssim(image, clean, mask))
            add(label, "rnet_landmark_me", me(image))
        if ends:
            add("R-Net on the occluded input", "rnet_landmark_me", me(occluded))
            add("R-Net on the clean twin", "rnet_landmark_me", me(clean))
        out["faces"] += b["index"].tolist()
        out["identities"] += b["identity"].tolist()
    if not out["faces"]:
        raise FacelibError(f"no face of {root}'s validation split{f' (first {limit})' if limit else ''} has an occluder "
                           "on the face: nothing to fill")
    return out


def contour_summary(scores: dict, reference: str) -> dict:
    """Means with intervals (identities resampled) of a :func:`contour_chain_scores` record, and each
    row's paired difference against ``reference`` with the verdict of "better" (higher PSNR and
    SSIM, lower landmark error); every filled row's landmark error also against R-Net's on the
    occluded input."""
    g, rows, out = scores["identities"], scores["scores"], {}
    occluded = rows["R-Net on the occluded input"]["rnet_landmark_me"]
    for label, row in rows.items():
        cells = {}
        for score, values in row.items():
            cell = {"mean": stats.mean_interval(values, groups=g).as_dict()}
            if label != reference and score in rows[reference]:
                d = stats.paired_difference(values, rows[reference][score], groups=g)
                cell["minus_reference"] = d.as_dict()
                cell["better"] = stats.verdict(d, 0.0, "below" if score == "rnet_landmark_me" else "above")
            if score == "rnet_landmark_me" and not label.startswith("R-Net on"):
                d = stats.paired_difference(values, occluded, groups=g)
                cell["minus_occluded_input"] = d.as_dict()
                cell["below_occluded_input"] = stats.verdict(d, 0.0, "below")
            cells[score] = cell
        out[label] = cells
    return out


def contour_markdown(record: dict) -> str:
    """A contour chain record (:func:`facelib.experiments.contour_chain`) as a Markdown table: per row,
    PSNR, SSIM and R-Net's landmark error with, beside the reference, the paired difference and its
    verdict, and R-Net's change against the occluded input."""
    lines = ["| fill | PSNR (dB) | SSIM | R-Net's landmark ME (px) | ME − on the occluded input |", "|---|---|---|---|---|"]
    for label, cells in record["rows"].items():
        parts = []
        for score, spec in (("psnr", ".2f"), ("ssim", ".3f"), ("rnet_landmark_me", ".2f")):
            c = cells.get(score)
            if c is None:
                parts.append("")
                continue
            text = stats.Interval(**c["mean"]).format(spec)
            if "minus_reference" in c:
                d = stats.Interval(**c["minus_reference"])
                text += f" ({format(d.estimate, '+' + spec)} {d.bracket('+' + spec)}, better: {c['better']})"
            parts.append(text)
        c = cells.get("rnet_landmark_me", {})
        if "minus_occluded_input" in c:
            d = stats.Interval(**c["minus_occluded_input"])
            parts.append(f"{d.estimate:+.2f} {d.bracket('+.2f')}, below: {c['below_occluded_input']}")
        else:
            parts.append("")
        lines.append(f"| {label} | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


# ---- the chapters' sections: each experiment's record, its table and its must-show lines, computed ----

#: each experiment's command name → (chapter, what must show, in words fixed before the runs)
EXPERIMENTS = {
    "orn": ("06_orn", "SOPI taught by the true coefficients comes closer to \"within 20 %\" than SOPI taught by "
                      "R-Net, and the change falls with steps"),
    "orn-departures": ("06_orn", "with L_perc's weight raised to pull as hard as L_label, MOPI moves from SOPI"),
    "rogue": ("07_rogue", "ROGUE's C_O and C_N move less from C_G than R-Net continued for the same steps on "
                          "clean faces, and less with L_C than without"),
    "focus": ("08_focus", "against a perfect R, S keeps recall of at least 0.85 and beats the skin detector's F1"),
    "focus-departures": ("08_focus", "which preserve weight η₄ and which reader setting keep S's masks and R's fit"),
    "contour": ("09_contour", "the clean twin's contours fill the mask better than generated ones, generated better "
                              "than none, and R-Net reads the oracle's fill with a lower landmark error than the "
                              "occluded input"),
    "contour-departures": ("09_contour", "with its identity reader trained, the regression stage keeps identity "
                                         "and landmarks as with the reader frozen as R-Net's"),
}


def record_path(name: str, profile: str):
    """``results/mechanisms/<name>-<profile>.json``, where ``python -m facelib mechanism <name>`` writes."""
    from .. import results

    return results.results_base() / "mechanisms" / f"{name}-{profile}.json"


def load_record(name: str, profile: str) -> dict | None:
    """The committed record of experiment ``name`` (a key of :data:`EXPERIMENTS`) at ``profile``, or
    ``None`` where it was not run at that profile."""
    import json

    if name not in EXPERIMENTS:
        raise FacelibError(f"unknown mechanism experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    path = record_path(name, profile)
    return json.loads(path.read_text()) if path.is_file() else None


def _iv(d: dict) -> stats.Interval:
    return stats.Interval(**d)


def _line(claim: str, interval: stats.Interval | None, verdict: str, spec: str = "+.3f", unit: str = "") -> str:
    """One must-show line: the claim, its verdict in bold, the estimate and interval."""
    shown = "" if interval is None else f" ({format(interval.estimate, spec)}{unit} {interval.bracket(spec)})"
    return f"- {claim}: **{verdict}**{shown}"


def _reference(arms: dict, view: str) -> str:
    """The arm an :func:`arms_on_validation` record paired the others with: its differences are zero."""
    for label, rec in arms.items():
        cells = [c for c in rec.get(view, {}).values() if "minus_reference" in c]
        if cells and all(c["minus_reference"]["estimate"] == 0 for c in cells):
            return label
    raise FacelibError("the record has no reference arm (no arm with zero differences)")


def _orn_lines(rec: dict) -> list[str]:
    lines = []
    for label, arm in rec["arms"].items():
        first, last = arm["curve"][0], arm["curve"][-1]
        d = _iv(last["dhofi"]["change"])
        lines.append(_line(f"{label}, step {last['step']:,d}: within 20 % under DHOFI", d, last["dhofi"]["within"],
                           "+.1f", " %") + f"; unoccluded {_iv(last['unoccluded_me']).format('.2f')} px")
        if len(arm["curve"]) > 1:
            a, b = first["dhofi"]["change"]["estimate"], last["dhofi"]["change"]["estimate"]
            lines.append(f"- {label}: the DHOFI change {'falls' if b < a else 'rises'} from step "
                         f"{first['step']:,d} to {last['step']:,d} ({a:+.1f} % → {b:+.1f} %)")
    return lines


def _orn_departure_lines(rec: dict) -> list[str]:
    lines = []
    for label, arm in rec["arms"].items():
        for other, against in arm.get("against", {}).items():
            if other == label:
                continue
            d = _iv(against["landmark_me"])
            lines.append(_line(f"{label} below {other} in landmark ME under ORN's random patterns", d,
                               stats.verdict(d, 0.0, "below"), "+.1f", " %"))
    return lines


def _label(metric: str) -> str:
    from .tables import METRIC_LABELS

    return METRIC_LABELS.get(metric, (metric.upper(),))[0]


def _arm_lines(rec: dict, arm: str, view: str, metrics, reference: str, worse_is_more: bool = False) -> list[str]:
    """Lines of ``arm`` minus ``reference`` on ``metrics`` in ``view`` (a difference that is zero to
    the last digit, a metric both share, is left out), each with the verdict that ``arm`` is better
    (``worse_is_more``: that ``reference`` is, i.e. ``arm`` lower on a higher-is-better metric)."""
    out = []
    for m in metrics:
        cell = rec[arm].get(view, {}).get(m)
        if cell is None or "minus_reference" not in cell:
            continue
        d = _iv(cell["minus_reference"])
        if d.estimate == 0 and d.low == 0 and d.high == 0:
            continue
        side = "above" if (worse_is_more != (m in HIGHER_IS_BETTER)) else "below"
        out.append(_line(f"{arm} − {reference}, {_label(m)}, {view} faces, {side} 0", d, stats.verdict(d, 0.0, side)))
    return out


def _rogue_lines(rec: dict) -> list[str]:
    ref = _reference(rec["arms"], "occluded")
    inv = [m for m in ROGUE_METRICS if m.startswith("invariance_")]
    paper = next(label for label in rec["arms"] if "paper" in label)
    lines = [line for view in ROGUE_VIEWS[1:] for line in _arm_lines(rec["arms"], paper, view, inv, ref)]
    for label, versus in rec.get("against_paper", {}).items():
        if "without" in label:  # "less with L_C than without": the arm without L_C moves more (above 0)
            lines += [line for view in ROGUE_VIEWS[1:]
                      for line in _arm_lines({label: versus}, label, view, inv, paper, worse_is_more=True)]
    return lines


def _focus_lines(rec: dict) -> list[str]:
    lines = []
    for label, arm in rec["arms"].items():
        e = arm["curve"][-1]
        o, c = e["occluded"], e["clean"]
        lines.append(_line(f"η₄ {label}, {e['segment_steps']:,d} S steps: occluded F1 above the skin detector's",
                           _iv(o["f1_minus_skin"]), o["f1_above_skin"]))
        for view, cell in (("clean", c), ("occluded", o)):
            recall = _iv(cell["tpr"])
            lines.append(_line(f"η₄ {label}: {view} recall at least {rec['recall_bar']:.2f}", None,
                               stats.verdict(recall, rec["recall_bar"], "above")) + f" ({recall.format('.3f')})")
    return lines


#: what a departure's must-show lines read (the table beside them has every metric)
DEPARTURE_LINES = ("seg_f1", "seg_tpr", "visible_rmse", "landmark_me", "identity_v2v_mm")


def _departure_lines(rec: dict, metrics=DEPARTURE_LINES, view: str = "occluded") -> list[str]:
    ref = _reference(rec["arms"], view)
    return [line for label in rec["arms"] if label != ref for line in _arm_lines(rec["arms"], label, view, metrics, ref)]


def _contour_lines(rec: dict) -> list[str]:
    rows = rec["rows"]  # every row is paired with rec["reference"], the paper's generated contours
    oracle = next((label for label in rows if "oracle" in label), None)
    none = next((label for label in rows if label.startswith("no contours")), None)
    lines = []
    if oracle:
        for score in ("psnr", "ssim"):
            c = rows[oracle][score]
            lines.append(_line(f"the oracle's contours fill better than generated ones ({score})",
                               _iv(c["minus_reference"]), c["better"]))
        c = rows[oracle]["rnet_landmark_me"]
        lines.append(_line("R-Net reads the oracle's fill with a lower landmark error than the occluded input (px)",
                           _iv(c["minus_occluded_input"]), c["below_occluded_input"], "+.2f"))
    if none:
        for score in ("psnr", "ssim", "rnet_landmark_me"):
            c = rows[none][score]
            d = _iv(c["minus_reference"])  # none − generated: generated is better when this is worse
            side = "above" if score == "rnet_landmark_me" else "below"
            lines.append(_line(f"generated contours better than none ({score}: none − generated {side} 0)", d,
                               stats.verdict(d, 0.0, side)))
    return lines


def markdown(name: str, rec: dict) -> str:
    """The table(s) of experiment ``name``'s record ``rec`` as Markdown: what the chapter's section and
    ``python -m facelib mechanism`` print."""
    if name == "orn":
        return orn_markdown(rec)
    if name == "orn-departures":
        return orn_markdown({"teacher": rec["baselines"][next(iter(rec["baselines"]))],
                             "arms": {k: {"curve": [{"step": "", **v}]} for k, v in rec["arms"].items()}})
    if name == "rogue":
        return "\n".join(f"**{view}**\n\n" + arms_markdown(rec, view, ROGUE_METRICS) for view in ROGUE_VIEWS[1:])
    if name == "focus":
        return focus_markdown(rec)
    if name == "contour":
        return contour_markdown(rec)
    return arms_markdown(rec)  # the departures, scored with arms_on_validation


def section(name: str, profile: str) -> str:
    """A chapter's section on mechanism experiment ``name`` (:data:`EXPERIMENTS`) at ``profile``, as
    Markdown: what must show, each must-show line computed from the committed record (its verdict,
    estimate and 95 % interval, identities resampled), and the record's table; where the experiment
    was not run at ``profile``, the command that runs it."""
    rec = load_record(name, profile)
    must = EXPERIMENTS[name][1]
    command = f"`python -m facelib mechanism {name} --profile {profile}`"
    if rec is None:
        return (f"*Not run at the {profile} profile* ({command}, or `make mechanisms`, writes "
                f"`results/mechanisms/{name}-{profile}.json`). What must show: {must}.\n")
    lines = {"orn": _orn_lines, "orn-departures": _orn_departure_lines, "rogue": _rogue_lines, "focus": _focus_lines,
             "contour": _contour_lines}.get(name, _departure_lines)(rec)
    table = markdown(name, rec)
    seconds = rec.get("training_seconds")
    spent = (f" Training: {', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())}." if isinstance(seconds, dict)
             else "")
    faces = f"{rec['faces']} faces, " if "faces" in rec else ""
    head = (f"**What must show** (fixed before the runs): {must}. From {command}, "
            f"`results/mechanisms/{name}-{profile}.json`, {rec.get('split', 'val')} split "
            f"({faces}identities resampled; each line states its claim, then its verdict).{spent}\n\n")
    return head + "\n".join(lines) + "\n\n" + table
