"""Markdown tables of the metrics the chapters write (``results/<chapter>/<profile>/metrics.json``)
and the small numeric helpers the chapters' prose needs — one place, so no chapter hand-builds a
table or re-derives a relative change.
"""

from __future__ import annotations

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
    "shape_s2m_mm": ("shape s2m (mm)", "{:.2f}", True),
    "seg_acc": ("seg. ACC", "{:.3f}", False),
    "seg_ppv": ("seg. PPV", "{:.3f}", False),
    "seg_tpr": ("seg. TPR", "{:.3f}", False),
    "seg_f1": ("seg. F1", "{:.3f}", False),
}


def metrics_table(metrics: dict, methods: list[str], view: str, columns: list[str],
                  std: bool = False, kind: str | None = None, labels: dict[str, str] | None = None,
                  section: str = "views") -> str:
    """A Markdown table of ``metrics[method]["views"][view]`` (as :func:`facelib.evaluation.runner.evaluate`
    writes them): one row per method, one column per metric, the best value of each column bold.

    Args:
        metrics: the ``metrics`` dict of a ``metrics.json``.
        methods: row order (keys of ``metrics``); ``labels`` may rename them.
        view: ``clean`` | ``occluded`` | ``noisy``.
        columns: metric keys (see :data:`METRIC_LABELS`); missing ones print as "–".
        std: append ``± std``.
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
            cells.append(f"**{text}**" if len(methods) > 1 and mean == best.get(col) else text)
        lines.append(f"| {(labels or {}).get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def degradation_table(metrics: dict, methods: list[str], columns: list[str], views=("occluded", "noisy"),
                      base: str = "clean", labels: dict[str, str] | None = None) -> str:
    """A Markdown table of how much worse each method gets on ``views`` than on ``base``: one row
    per (method, view), each cell ``value (+x %)`` relative to the same method's ``base`` value."""
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
                change = "" if view == base or not b["mean"] else f" ({100 * (v['mean'] / b['mean'] - 1):+.0f} %)"
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


def mean_of(metrics: dict, method: str, view: str, metric: str, section: str = "views") -> float:
    """``metrics[method][section][view][metric]["mean"]`` with an error naming what is missing."""
    try:
        return float(metrics[method][section][view][metric]["mean"])
    except KeyError as err:
        raise KeyError(f"no {metric!r} for method {method!r}, {section} {view!r} (missing key {err})") from None


def relative_change(value: float, base: float) -> float:
    """``value`` relative to ``base`` in per cent: ``100 (value / base − 1)`` (+ = larger)."""
    return 100.0 * (value / base - 1.0)


def change_between(metrics: dict, method: str, view: str, base: str, metric: str, section: str = "views") -> float:
    """:func:`relative_change` of one method's ``metric`` on ``view`` against the same method's
    ``base`` view (e.g. occluded against clean), in per cent."""
    return relative_change(mean_of(metrics, method, view, metric, section), mean_of(metrics, method, base, metric, section))


def change_against(metrics: dict, method: str, other: str, view: str, metric: str, section: str = "views") -> float:
    """:func:`relative_change` of ``method``'s ``metric`` against ``other``'s on the same view."""
    return relative_change(mean_of(metrics, method, view, metric, section), mean_of(metrics, other, view, metric, section))
