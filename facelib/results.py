"""Where chapters write their metrics: ``results/<chapter>/<profile>/metrics.json`` (DESIGN 2).

The benchmark chapter and the prose (through ``myst_nb.glue``) read these files; nobody types a
number by hand.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch


def project_root(start: Path | None = None) -> Path:
    """The checkout root (the folder with ``_toc.yml``) above ``start`` (default: cwd), else cwd."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "facelib").is_dir():
            return folder
    return here


def results_dir(chapter: str, profile: str) -> Path:
    """``$FACELIB_RESULTS`` or ``<root>/results``, then ``<chapter>/<profile>/`` (created)."""
    base = Path(os.environ.get("FACELIB_RESULTS") or project_root() / "results")
    out = base / chapter / profile
    out.mkdir(parents=True, exist_ok=True)
    return out


def run_dir(chapter: str, profile: str, name: str) -> Path:
    """Where a training run keeps its checkpoint and log: ``$FACELIB_RUNS`` or ``<root>/runs``, then
    ``<chapter>/<profile>/<name>/`` (gitignored; a finished run there is reused, not retrained)."""
    base = Path(os.environ.get("FACELIB_RUNS") or project_root() / "runs")
    return base / chapter / profile / name


def write_metrics(chapter: str, profile, metrics: dict, config: dict | None = None) -> Path:
    """Write ``metrics.json`` with the metrics, the run's config and the machine; returns its path."""
    record = {
        "chapter": chapter,
        "profile": profile.name,
        "profile_config": profile.as_dict(),
        "config": config or {},
        "metrics": metrics,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "device": "cuda" if torch.cuda.is_available() else "cpu",
                    "threads": torch.get_num_threads()},
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = results_dir(chapter, profile.name) / "metrics.json"
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return path


def read_metrics(chapter: str, profile: str) -> dict:
    """The record written by :func:`write_metrics`."""
    return json.loads((results_dir(chapter, profile) / "metrics.json").read_text())


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
    """A Markdown table of ``metrics[method]["views"][view]`` (as :func:`facelib.evaluate.evaluate`
    writes them): one row per method, one column per metric, the best value of each column bold.

    Args:
        metrics: the ``metrics`` dict of a ``metrics.json``.
        methods: row order (keys of ``metrics``); ``labels`` may rename them.
        view: ``clean`` | ``occluded`` | ``noisy``.
        columns: metric keys (see :data:`METRIC_LABELS`); missing ones print as "–".
        std: append ``± std``.
        kind: report the mean over one occluder / noise kind (``by_kind``) instead of the view.
        section: the key under each method that holds the views (``"conditions"`` for
            :func:`facelib.evaluate.occlusion_conditions` results).
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


def add_to_metrics(chapter: str, profile, method: str, key: str, value) -> Path:
    """Store ``value`` as ``metrics[method][key]`` in the chapter's ``metrics.json`` (created when
    missing), keeping everything else — for numbers a chapter computes beside the evaluation runner."""
    path = results_dir(chapter, profile.name) / "metrics.json"
    existing = json.loads(path.read_text()) if path.is_file() else {}
    table = existing.get("metrics", {})
    table.setdefault(method, {})[key] = value
    return write_metrics(chapter, profile, table, existing.get("config", {}))
