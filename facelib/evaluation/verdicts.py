"""Every verdict the stored chapters print, recomputed with identities resampled (issue 32).

A stored chapter glues each claim for its prose as three values (:func:`facelib.chapter.glue_claims`):
the estimate (full precision), ``"[low, high]"`` and the verdict. They were computed by
:mod:`facelib.evaluation.tables` from the per-face values in ``results/<chapter>/<profile>/metrics.json``,
resampling faces one by one. This module finds, for each glued claim, the comparison that produced
it — the tables function, methods, views and metric whose estimate equals the glued one and whose
face-by-face interval prints as the glued one — and recomputes it resampling identities
(:mod:`facelib.stats`). A claim whose comparison is not found is reported as such, never guessed.

``python -m facelib.evaluation.verdicts --profile cpu`` prints one JSON line per claim and a summary.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import results, stats
from . import tables

GLUE_MIME = "application/papermill.record/text/plain"
#: a verdict threshold other than zero that a chapter uses (ORN's "within 20 %")
THRESHOLDS = (0.0, 20.0)


@dataclass(frozen=True)
class Recipe:
    """One comparison of :mod:`facelib.evaluation.tables`: ``kind`` is ``change_between``,
    ``change_against``, ``difference_against`` or ``mean`` (one row's mean, ``b`` unused); ``a`` and
    ``b`` are ``(method, section, view)`` (``view`` empty for a row stored directly under a method's
    key, e.g. ``albedo_bleeding``)."""

    kind: str
    a: tuple[str, str, str]
    b: tuple[str, str, str]
    metric: str


def glued_claims(notebook: Path) -> dict[str, dict]:
    """``{claim prefix: {"estimate", "ci", "verdict"}}`` of a stored notebook's glued claims."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name and GLUE_MIME in out.get("data", {}):
                values[name] = out["data"][GLUE_MIME]
    claims = {}
    for name, text in values.items():
        if name.endswith("_verdict") and name[:-8] in values and f"{name[:-8]}_ci" in values:
            base = name[:-8]
            try:
                estimate = float(values[base])
            except ValueError:
                continue
            claims[base] = {"estimate": estimate, "ci": values[f"{base}_ci"].strip("'\""), "verdict": text.strip("'\"")}
    return claims


def _rows(metrics: dict) -> dict[tuple[str, str, str], dict]:
    """Every stored per-face row: ``(method, section, view) → row``."""
    def is_row(x):
        return (isinstance(x, dict) and isinstance(x.get("faces"), list) and isinstance(x.get("per_face"), dict)
                and all(isinstance(v, list) and len(v) == len(x["faces"]) for v in x["per_face"].values()))

    out = {}
    for method, record in metrics.items():
        if not isinstance(record, dict):
            continue
        for section, views in record.items():
            if is_row(views):
                out[(method, section, "")] = views
            elif isinstance(views, dict):
                for view, row in views.items():
                    if is_row(row):
                        out[(method, section, view)] = row
    return out


def _face_values(row: dict, metric: str) -> dict[int, float]:
    return {int(f): (math.nan if v is None else float(v)) for f, v in zip(row["faces"], row["per_face"][metric],
                                                                          strict=True)}


def _who(row: dict) -> dict[int, int]:
    return dict(zip(row["faces"], row["identities"], strict=True)) if "identities" in row else {}


def _paired(rows, recipe: Recipe):
    x = _face_values(rows[recipe.a], recipe.metric)
    who = _who(rows[recipe.a])
    y = x
    if recipe.kind != "mean":
        x, y, who = tables.by_identity(x, _face_values(rows[recipe.b], recipe.metric), who, _who(rows[recipe.b]))
    common = sorted(set(x) & set(y))
    a, b = np.array([x[f] for f in common]), np.array([y[f] for f in common])
    keep = np.isfinite(a) & np.isfinite(b)
    groups = np.array([who[f] for f in common]) if who else None
    return a, b, keep, groups


def _estimate(kind: str, a: np.ndarray, b: np.ndarray) -> float:
    if not len(a):
        return math.nan
    if kind == "mean":
        return float(a.mean())
    if kind == "difference_against":
        return float(a.mean() - b.mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(100.0 * (a.mean() / b.mean() - 1.0))


def _interval(kind: str, a, b, groups=None) -> stats.Interval:
    if kind == "mean":
        return stats.mean_interval(a, groups=groups)
    f = stats.paired_difference if kind == "difference_against" else stats.paired_change
    return f(a, b, groups=groups)


def candidates(metrics: dict) -> list[Recipe]:
    """Every comparison the tables functions can make of ``metrics``' per-face rows."""
    rows = _rows(metrics)
    out = []
    for (m, sec, v), row in rows.items():
        for metric in row["per_face"]:
            out.append(Recipe("mean", (m, sec, v), (m, sec, v), metric))
            for (m2, sec2, v2), row2 in rows.items():
                if metric not in row2["per_face"] or (m2, sec2, v2) == (m, sec, v) or sec2 != sec:
                    continue
                if m2 == m:
                    out.append(Recipe("change_between", (m, sec, v), (m2, sec2, v2), metric))
                elif v2 == v:
                    out += [Recipe(k, (m, sec, v), (m2, sec2, v2), metric) for k in ("change_against",
                                                                                     "difference_against")]
    return out


def _decimals(ci: str) -> int | None:
    found = re.findall(r"[-+]?\d+(?:\.(\d+))?", ci)
    return len(found[0]) if found else None


def _printed(iv: stats.Interval, ci: str) -> bool:
    """Does ``iv`` print as the glued ``"[low, high]"`` (the digits the chapter used)?"""
    numbers = [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?", ci)[:2]]
    d = _decimals(ci)
    if len(numbers) < 2 or d is None:
        return False
    return all(abs(round(x, d) - y) < 0.5 * 10 ** -d + 1e-12 for x, y in zip((iv.low, iv.high), numbers, strict=True))


def _direction(name: str, verdict: str, iv: stats.Interval, stored: dict) -> tuple[float, str] | None:
    """The threshold and side the glued verdict was decided on: as the chapter stored the claim in
    its ``metrics.json`` (``stored``: claim key → claim), else the one the decided verdict fits, else
    (undecided) the side the claim's name states with threshold 0 (``None`` if it states none)."""
    for key, claim in stored.items():
        if name.endswith(f"_{key}"):
            return float(claim["threshold"]), claim["claim"]
    if verdict != stats.UNDECIDED:
        for threshold in THRESHOLDS:
            for side in ("below", "above"):
                if stats.verdict(iv, threshold, side) == verdict:
                    return threshold, side
        return None
    words = set(name.split("_"))
    sides = {"below"} & words or {"lowers"} & words, {"above", "raises"} & words
    if bool(sides[0]) != bool(sides[1]):
        return 0.0, "below" if sides[0] else "above"
    return None


def _as_the_chapter_cut_it(chapter: str, metrics: dict, profile: str) -> dict:
    """The rows a chapter compares that it computes from the stored ones: FOCUS's "overall" view
    (chapter 8), ROGUE's test-set stand-ins (chapter 7, from the set's occluder kinds)."""
    with_views = [m for m, r in metrics.items() if isinstance(r, dict) and "views" in r]
    if chapter == "08_focus":
        from .protocols.focus import with_overall

        return with_overall(metrics, with_views)
    if chapter == "07_rogue":
        from ..data import synthetic
        from .protocols import rogue

        cut = rogue.grouped(metrics, with_views, rogue.group_faces(synthetic.default_root(profile)))
        return {**metrics, **{m: {**metrics[m], "views": {**metrics[m]["views"], **cut[m]["views"]}} for m in cut}}
    return metrics


def recompute(profile: str, book: Path | None = None) -> list[dict]:
    """Each glued claim of the stored chapters: its recipe (when found), the face-by-face interval
    and verdict as stored, and the identity-resampled interval and verdict."""
    book = book or results.project_root() / "book"
    chapter_rows = {}
    for path in sorted(results.results_base().glob(f"*/{profile}/metrics.json")):
        chapter_rows[path.parent.parent.name] = json.loads(path.read_text())["metrics"]
    union: dict = {}
    for metrics in chapter_rows.values():
        for method, record in metrics.items():
            union.setdefault(method, record)
    out = []
    for notebook in sorted(book.glob("*.ipynb")):
        chapter = notebook.stem
        glued = glued_claims(notebook)
        if not glued:
            continue
        metrics = {**union, **chapter_rows.get(chapter, {})}
        metrics = _as_the_chapter_cut_it(chapter, metrics, profile)
        rows = _rows(metrics)
        recipes = candidates(metrics)
        stored = {k: c for r in chapter_rows.get(chapter, {}).values() if isinstance(r, dict)
                  for k, c in (r.get("claims") or {}).items()}
        estimates = {}
        for r in recipes:
            a, b, keep, _ = _paired(rows, r)
            estimates[r] = _estimate(r.kind, a[keep], b[keep])
        for name, claim in glued.items():
            record = {"chapter": chapter, "claim": name, "stored": {"estimate": claim["estimate"], "ci": claim["ci"],
                                                                   "verdict": claim["verdict"]}}
            found = None
            for r, e in estimates.items():
                if math.isfinite(e) and abs(e - claim["estimate"]) <= 1e-9 * max(1.0, abs(e)):
                    a, b, keep, groups = _paired(rows, r)
                    faces = _interval(r.kind, a, b)
                    ids = _interval(r.kind, a, b, groups) if groups is not None else None
                    # a run before issue 32 printed faces' interval; one since, identities'
                    matched = next((iv for iv in (faces, ids) if iv is not None and _printed(iv, claim["ci"])), None)
                    if matched is not None:
                        found = (r, faces, ids, matched)
                        break
            if found is None:
                record["recipe"] = None
                out.append(record)
                continue
            r, faces, ids, matched = found
            record["recipe"] = {"kind": r.kind, "a": list(r.a), "b": list(r.b), "metric": r.metric}
            record["faces"] = faces.as_dict()
            side = _direction(name, claim["verdict"], matched, stored)
            if ids is not None:
                record["identities"] = ids.as_dict()
                if side is not None:
                    record["threshold"], record["side"] = side
                    record["verdict"] = stats.verdict(ids, *side)
                elif claim["verdict"] == stats.UNDECIDED and ids.low <= 0.0 <= ids.high:
                    record["verdict"] = stats.UNDECIDED  # either side: the interval still holds zero
                record["width_ratio"] = (ids.high - ids.low) / (faces.high - faces.low) if faces.high > faces.low else None
            out.append(record)
    return out


def summary(records: list[dict]) -> dict:
    found = [r for r in records if r.get("recipe")]
    with_ids = [r for r in found if "identities" in r]
    changed = [r for r in with_ids if r.get("verdict") not in (None, r["stored"]["verdict"])]
    unknown = [f"{r['chapter']} {r['claim']}" for r in with_ids if r.get("verdict") is None]
    ratios = [r["width_ratio"] for r in with_ids if r.get("width_ratio")]
    return {"glued": len(records), "recipe_found": len(found), "recomputed": len(with_ids),
            "verdict_changed": len(changed),
            "changes": [f"{r['chapter']} {r['claim']}: {r['stored']['verdict']} → {r['verdict']}" for r in changed],
            "side_unknown": unknown,
            "width_ratio_median": float(np.median(ratios)) if ratios else None,
            "not_found": [f"{r['chapter']} {r['claim']}" for r in records if not r.get("recipe")]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the stored chapters' verdicts, recomputed resampling identities")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--out", help="also write the JSON lines here")
    args = p.parse_args(argv)
    records = recompute(args.profile)
    lines = [json.dumps(r) for r in records]
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    for line in lines:
        print(line)
    print(json.dumps(summary(records)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
