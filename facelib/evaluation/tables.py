"""Markdown tables of the metrics the chapters write (``results/<chapter>/<profile>/metrics.json``)
and the small numeric helpers the chapters' prose needs — one place, so no chapter hand-builds a
table or re-derives a relative change.

Every interval here resamples identities where the stored row names each face's identity
(``"identities"``, written by the evaluation since issue 32): the test faces come several to a
person (:mod:`facelib.stats`). A row without them is resampled face by face, as before.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..stats import Interval, mean_interval, paired_change, paired_difference

#: how a metric is labelled and printed in tables: key → (label, format, lower is better)
METRIC_LABELS = {
    "landmark_me": ("landmark ME (px@224)", "{:.2f}", True),
    "landmark_mse_x": ("landmark MSE x", "{:.1f}", True),
    "landmark_mse_y": ("landmark MSE y", "{:.1f}", True),
    "landmark_me_normalised": ("landmark ME / size", "{:.4f}", True),
    "histogram_dissimilarity": ("histogram χ²", "{:.3f}", True),
    "visible_rmse": ("visible RMSE (0-255)", "{:.1f}", True),
    "perceptual_dlib": ("perceptual (dlib)", "{:.3f}", True),
    "perceptual_facenet": ("perceptual (FaceNet)", "{:.3f}", True),
    "perceptual_arcface": ("perceptual (ArcFace)", "{:.3f}", True),
    "shape_v2v_mm": ("shape v2v (mm)", "{:.2f}", True),
    "identity_v2v_mm": ("identity-only v2v (mm)", "{:.2f}", True),
    "shape_s2m_mm": ("shape s2m (mm)", "{:.2f}", True),
    "seg_acc": ("seg. ACC", "{:.3f}", False),
    "seg_ppv": ("seg. PPV", "{:.3f}", False),
    "seg_tpr": ("seg. TPR", "{:.3f}", False),
    "seg_f1": ("seg. F1", "{:.3f}", False),
    # how far the prediction moves from the clean twin's (runner.invariance): read beside accuracy
    "invariance_v2v_mm": ("moves from clean: vertices (mm)", "{:.2f}", True),
    "invariance_landmark_px": ("moves from clean: landmarks (px@224)", "{:.2f}", True),
    "invariance_perceptual_dlib": ("moves from clean: identity (dlib)", "{:.3f}", True),
    "invariance_identity_mm": ("moves from clean: identity's mesh (mm)", "{:.2f}", True),
    "invariance_albedo": ("moves from clean: albedo (RGB)", "{:.4f}", True),
}


def spec_of(metric: str) -> str:
    """The format spec ``metric`` prints with (``".2f"``), from :data:`METRIC_LABELS`."""
    return METRIC_LABELS.get(metric, ("", "{:.3g}", True))[1][2:-1]


def metrics_table(metrics: dict, methods: list[str], view: str, columns: list[str],
                  std: bool = False, kind: str | None = None, labels: dict[str, str] | None = None,
                  section: str = "views", interval: bool = True) -> str:
    """A Markdown table of ``metrics[method]["views"][view]`` (as :func:`facelib.evaluation.runner.evaluate`
    writes them): one row per method, one column per metric, each cell the mean over test faces and
    its 95 % bootstrap interval; the best mean of each column bold (bold says "best estimate", not
    "significantly best": compare pairs with :func:`change_against`).

    Args:
        metrics: the ``metrics`` dict of a ``metrics.json``.
        methods: row order (keys of ``metrics``); ``labels`` may rename them.
        view: ``clean`` | ``occluded`` | ``noisy``.
        columns: metric keys (see :data:`METRIC_LABELS`); missing ones print as "–".
        std: append ``± std``.
        interval: append the 95 % bootstrap interval of the mean over faces, ``[low, high]`` (where
            the file holds per-face values).
        kind: report the mean over one occluder / noise kind (``by_kind``) instead of the view.
        section: the key under each method that holds the views (``"conditions"`` for
            :func:`facelib.evaluation.runner.occlusion_conditions` results).
    """
    def value(method, col):
        row = metrics[method][section].get(view, {})
        if kind is not None:
            v = row.get("by_kind", {}).get(kind, {}).get(col)
            return (v, None) if v is not None else (None, None)
        s = row.get(col)
        return (s["mean"], s.get("std")) if s else (None, None)

    def ci(method, col, fmt):
        if not interval or kind is not None or col not in metrics[method][section].get(view, {}).get("per_face", {}):
            return ""
        iv = interval_of(metrics, method, view, col, section)
        return f" [{fmt.format(iv.low)}, {fmt.format(iv.high)}]"

    best = {}
    for col in columns:
        vals = [value(m, col)[0] for m in methods]
        vals = [v for v in vals if v is not None]
        if vals:
            lower = METRIC_LABELS.get(col, ("", "", True))[2]
            best[col] = min(vals) if lower else max(vals)
    head = [METRIC_LABELS.get(c, (c,))[0] for c in columns]
    lines = ["| method | " + " | ".join(head) + " |", "|---|" + "---:|" * len(columns)]
    for m in methods:
        cells = []
        for col in columns:
            mean, sd = value(m, col)
            if mean is None:
                cells.append("–")
                continue
            fmt = METRIC_LABELS.get(col, ("", "{:.3g}", True))[1]
            text = fmt.format(mean) + (f" ± {fmt.format(sd)}" if std and sd is not None else "")
            cells.append((f"**{text}**" if len(methods) > 1 and mean == best.get(col) else text) + ci(m, col, fmt))
        lines.append(f"| {(labels or {}).get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def degradation_table(metrics: dict, methods: list[str], columns: list[str], views=("occluded", "noisy"),
                      base: str = "clean", labels: dict[str, str] | None = None) -> str:
    """A Markdown table of how much worse each method gets on ``views`` than on ``base``: one row
    per (method, view), each cell ``value (+x % [low, high])`` relative to the same method's
    ``base`` value on the same faces, with the paired 95 % bootstrap interval of the change."""
    head = [METRIC_LABELS.get(c, (c,))[0] for c in columns]
    lines = ["| method | input | " + " | ".join(head) + " |", "|---|---|" + "---:|" * len(columns)]
    for m in methods:
        rows = metrics[m]["views"]
        for view in (base, *views):
            cells = []
            for col in columns:
                v, b = rows.get(view, {}).get(col), rows.get(base, {}).get(col)
                if v is None or b is None:
                    cells.append("–")
                    continue
                fmt = METRIC_LABELS.get(col, ("", "{:.3g}", True))[1]
                change = ""
                if view != base and b["mean"]:
                    try:
                        iv = change_between(metrics, m, view, base, col)
                        change = f" ({iv.estimate:+.0f} % [{iv.low:+.0f}, {iv.high:+.0f}])"
                    except KeyError:  # means only (an older file): the change without its interval
                        change = f" ({relative_change(v['mean'], b['mean']):+.0f} %)"
                cells.append(fmt.format(v["mean"]) + change)
            lines.append(f"| {(labels or {}).get(m, m)} | {view} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A Markdown table: ``header`` cells, then ``rows`` (each cell printed with ``str``). ``align``
    has one character per column, ``l`` or ``r`` (default: the first column left, the others
    right)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or any(len(r) != len(header) for r in rows):
        raise ValueError(f"a table of {len(header)} columns got alignment {align!r} and rows of lengths "
                         f"{sorted({len(r) for r in rows})}")
    rule = "|" + "".join("---|" if a == "l" else "---:|" for a in align)
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def interval_grid(metrics: dict, methods: list[str], columns: list[tuple[str, str, str]], spec: str = ".2f",
                  labels: dict[str, str] | None = None) -> str:
    """A Markdown table with one row per method and one column per ``(header, view, metric)``: each
    cell the mean over the faces with its 95 % bootstrap interval, "–" where the method lacks it
    (e.g. a segmentation score of a method that predicts no mask) or has no face in the view."""
    rows = []
    for method in methods:
        cells = []
        for _, view, metric in columns:
            try:
                values = per_face(metrics, method, view, metric)
            except KeyError:
                values = {}
            cells.append(mean_interval(list(values.values()), groups=groups_of(values, identities(
                metrics, method, view))).format(spec) if values else "–")
        rows.append([(labels or {}).get(method, method), *cells])
    return markdown_table(["method", *[h for h, _, _ in columns]], rows)


def mean_of(metrics: dict, method: str, view: str, metric: str, section: str = "views") -> float:
    """``metrics[method][section][view][metric]["mean"]`` with an error naming what is missing."""
    try:
        return float(metrics[method][section][view][metric]["mean"])
    except KeyError as err:
        raise KeyError(f"no {metric!r} for method {method!r}, {section} {view!r} (missing key {err})") from None


def relative_change(value: float, base: float) -> float:
    """``value`` relative to ``base`` in per cent: ``100 (value / base − 1)`` (+ = larger)."""
    return 100.0 * (value / base - 1.0)


def per_face(metrics: dict, method: str, view: str, metric: str, section: str = "views") -> dict[int, float]:
    """``{face index: value}`` of one method's ``metric`` on ``view`` (what the runner stores under
    ``per_face``), with an error naming what is missing."""
    row = metrics[method][section].get(view, {})
    if "per_face" not in row or metric not in row["per_face"]:
        raise KeyError(f"no per-face {metric!r} for method {method!r}, {section} {view!r}; re-run its evaluation "
                       "with this facelib (older metrics files hold means only)")
    return {int(i): (float("nan") if v is None else float(v)) for i, v in zip(row["faces"], row["per_face"][metric],
                                                                              strict=True)}


def identities(metrics: dict, method: str, view: str, section: str = "views") -> dict[int, int]:
    """``{face index: identity}`` of the faces of one stored row; empty for a row written before
    the evaluation stored identities."""
    row = metrics[method][section].get(view, {})
    if "identities" not in row:
        return {}
    return {int(f): int(i) for f, i in zip(row["faces"], row["identities"], strict=True)}


def groups_of(faces, who: dict[int, int]) -> list[int] | None:
    """The identity of each of ``faces`` (face indices) — the clusters :mod:`facelib.stats`
    resamples — or ``None`` (faces one by one) where any is unknown."""
    faces = list(faces)
    return [who[f] for f in faces] if faces and all(f in who for f in faces) else None


def pair_faces(x: dict[int, float], y: dict[int, float], what: str,
               who: dict[int, int] | None = None) -> tuple[np.ndarray, ...]:
    """The values of the faces both ``{face index: value}`` sides have, in the same order; with
    ``who`` (``{face index: identity}``, see :func:`identities`) also their identities (``None``
    where any is unknown), to pass as ``groups``."""
    common = sorted(set(x) & set(y))
    if not common:
        raise KeyError(f"{what}: the two sides share no face")
    a, b = np.array([x[i] for i in common]), np.array([y[i] for i in common])
    return (a, b) if who is None else (a, b, groups_of(common, who))


def interval_of(metrics: dict, method: str, view: str, metric: str, section: str = "views") -> Interval:
    """The mean of ``metric`` over the faces with its 95 % bootstrap interval (identities resampled)."""
    values = per_face(metrics, method, view, metric, section)
    return mean_interval(list(values.values()), groups=groups_of(values, identities(metrics, method, view, section)))


def _paired(metrics: dict, first: tuple[str, str], second: tuple[str, str], metric: str, section: str,
            what: str) -> tuple[np.ndarray, np.ndarray, list[int] | None]:
    """Two ``(method, view)`` rows' values of ``metric`` on the faces they share, and those faces'
    identities; a row indexed by identity is paired with every face of each identity
    (:func:`by_identity`)."""
    x, who = per_face(metrics, *first, metric, section), identities(metrics, *first, section)
    y, base_who = per_face(metrics, *second, metric, section), identities(metrics, *second, section)
    x, y, who = by_identity(x, y, who, base_who, what)
    return pair_faces(x, y, what, who)


def indexed_by_identity(values: dict[int, float], who: dict[int, int]) -> bool:
    """Whether a row's face indices are its identities (one face each): the layout of a row scored
    once per real photo, against which the same photos under each occluder are compared."""
    return bool(who) and all(who.get(f) == f for f in values)


def by_identity(x: dict[int, float], y: dict[int, float], who: dict[int, int], base_who: dict[int, int],
                what: str = "the two rows") -> tuple[dict, dict, dict]:
    """``(x, y, who)`` ready to pair by face index: where one side is indexed by identity
    (:func:`indexed_by_identity`) and the other holds more faces (a real photo's unoccluded row
    against that photo under each occluder, whose face indices then name other faces), the first is
    re-keyed by the second's faces, each taking its identity's value, and ``who`` is the many-faced
    side's identities. Else unchanged. An identity the indexed side lacks is an error, never a
    pairing by index."""
    if len(x) > len(y) and who and indexed_by_identity(y, base_who):
        return x, _spread(y, x, who, what), who
    if len(y) > len(x) and base_who and indexed_by_identity(x, who):
        return _spread(x, y, base_who, what), y, base_who
    return x, y, who


def _spread(one: dict[int, float], many: dict[int, float], many_who: dict[int, int], what: str) -> dict:
    """``one``'s value (a row indexed by identity) for each face of ``many``, by that face's identity."""
    missing = sorted({many_who.get(f) for f in many} - set(one))
    if missing:
        raise KeyError(f"{what}: no face of identities {missing[:5]} on the side scored once per identity")
    return {f: one[many_who[f]] for f in many}


def change_between(metrics: dict, method: str, view: str, base: str, metric: str, section: str = "views") -> Interval:
    """One method's ``metric`` on ``view`` relative to its ``base`` view (e.g. occluded against clean)
    in per cent, with the paired bootstrap interval over the faces both views share."""
    a, b, groups = _paired(metrics, (method, view), (method, base), metric, section, f"{method} {view} vs {base}")
    return _made_by(paired_change(a, b, groups=groups), "change_between", (method, section, view),
                    (method, section, base), metric)


def change_against(metrics: dict, method: str, other: str, view: str, metric: str, section: str = "views") -> Interval:
    """``method``'s ``metric`` relative to ``other``'s on the same faces of ``view``, in per cent,
    with the paired bootstrap interval."""
    a, b, groups = _paired(metrics, (method, view), (other, view), metric, section, f"{method} vs {other} on {view}")
    return _made_by(paired_change(a, b, groups=groups), "change_against", (method, section, view),
                    (other, section, view), metric)


def difference_against(metrics: dict, method: str, other: str, view: str, metric: str,
                       section: str = "views") -> Interval:
    """``mean(method) − mean(other)`` of ``metric`` on the same faces of ``view`` (in the metric's
    unit), with the paired bootstrap interval."""
    a, b, groups = _paired(metrics, (method, view), (other, view), metric, section, f"{method} vs {other} on {view}")
    return _made_by(paired_difference(a, b, groups=groups), "difference_against", (method, section, view),
                    (other, section, view), metric)


def _made_by(interval: Interval, kind: str, a: tuple, b: tuple, metric: str) -> Interval:
    """``interval`` carrying the comparison that made it (:attr:`facelib.stats.Interval.recipe`):
    a claim stored from it keeps it, and chapter 10 puts the claim in chapter 4's room."""
    return replace(interval, recipe={"kind": kind, "a": list(a), "b": list(b), "metric": metric})
