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
