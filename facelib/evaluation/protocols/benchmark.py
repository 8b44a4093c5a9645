"""The one benchmark (chapter 10): every method of the book on the same test faces, every test
condition, every metric — read from the chapters' committed metrics, completed where a chapter did
not evaluate a view (:mod:`facelib.benchmark` evaluates those and stores them as chapter 10's own).

Conditions are the benchmark's three views and, within them, groups of faces: the occluded view cut
by occluder **family** (:data:`OCCLUDER_FAMILIES`; a single kind has 15-33 faces of the 400, too few
for a useful interval) and the noisy view cut by noise **type**. Every comparison is paired over the
faces both rows share, with the 95 % bootstrap interval of :mod:`facelib.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ... import methods, results, stats
from ...data.folder import FaceFolder
from ...errors import FacelibError
from .. import tables
from . import regrouped

CHAPTER = "10_benchmark"
VIEWS = ("clean", "occluded", "noisy")


@dataclass(frozen=True)
class Row:
    """One row of the benchmark: its label, and where its metrics come from — the chapter that
    trains the method and the row's name in that chapter's ``metrics.json``."""

    label: str
    chapter: str
    source_row: str


#: the floor every method must clear (chapter 5 evaluates it); not a trained method
FLOOR = Row("mean face", "05_baselines", "mean face")


def benchmark_rows() -> tuple[Row, ...]:
    """Every row of the benchmark in table order: the floor, then each registered method's rows
    (:func:`facelib.methods.register`), each read from its method's chapter under its label."""
    return (FLOOR, *(Row(row.label, declared.chapter, row.label) for declared, row in methods.rows()))


def row_of(label: str) -> Row:
    """The benchmark row labelled ``label``."""
    for row in benchmark_rows():
        if row.label == label:
            return row
    raise FacelibError(f"no benchmark row {label!r}; rows: {[r.label for r in benchmark_rows()]}")

REFERENCE = "R-Net"  # every method builds on it; each verdict compares against it

#: occluder family -> the benchmark's occluder kinds (chapter 3)
OCCLUDER_FAMILIES = {
    "ORN patches": ("dsofi", "dhofi", "shofi"),
    "random shapes": ("stars", "crowns"),
    "worn, 2D": ("turban", "surgical_mask", "eye_mask", "hat", "bangs", "spectacles"),
    "on the surface, hands, food": ("beard", "mustache", "hand", "food", "sunglasses", "surgical_mask_3d",
                                    "eye_mask_3d"),
}
NOISE_TYPES = ("gaussian", "poisson", "salt_pepper", "speckle", "blur", "jpeg")

#: metric -> (label, format); lower is better for each
METRICS = {
    "landmark_me": ("landmark ME (px)", ".2f"),
    "shape_v2v_mm": ("shape v2v (mm)", ".2f"),
    "perceptual_dlib": ("perceptual error", ".3f"),
    "visible_rmse": ("visible-face RMSE (0-255)", ".2f"),
}


def condition_groups(root: str | Path, split: str = "test") -> dict[str, tuple[str, list[int]]]:
    """``{condition: (view, [face index])}``: each view whole, each occluder family within the
    occluded view and each noise type within the noisy view."""
    ann = FaceFolder(root, split, views=("clean",)).annotations
    occluder, noise = [str(k) for k in ann["occluder"]], [str(k) for k in ann["noise"]]
    everyone = list(range(len(occluder)))
    groups = {view: (view, everyone) for view in VIEWS}
    unknown = set(occluder) - {k for kinds in OCCLUDER_FAMILIES.values() for k in kinds}
    if unknown:
        raise FacelibError(f"occluder kinds {sorted(unknown)} belong to no family of the benchmark "
                           "(evaluation.protocols.benchmark.OCCLUDER_FAMILIES)")
    for family, kinds in OCCLUDER_FAMILIES.items():
        groups[f"occluded: {family}"] = ("occluded", [i for i in everyone if occluder[i] in kinds])
    for kind in NOISE_TYPES:
        groups[f"noisy: {kind}"] = ("noisy", [i for i in everyone if noise[i] == kind])
    return groups


def assemble(profile: str, rows=None, own: dict | None = None) -> tuple[dict, dict]:
    """The benchmark's metrics ``{label: {"views": {view: ...}}}`` from each row's chapter, the views
    a chapter lacks taken from ``own`` (chapter 10's own evaluations; default: its committed
    ``metrics.json`` when present), and ``sources`` ``{label: {view: chapter}}``. A chapter whose
    results are missing raises the error naming the notebook to run. ``rows``: default
    :func:`benchmark_rows`."""
    rows = benchmark_rows() if rows is None else rows
    if own is None:  # what chapter 10's run wrote (an earlier run's file once the chapter has reopened: none)
        own = results.existing_record(CHAPTER, profile).get("metrics", {})
    metrics, sources = {}, {}
    for row in rows:
        chapter_rows = results.earlier_chapter(row.chapter, profile)
        if row.source_row not in chapter_rows:
            raise FacelibError(f"chapter {row.chapter}'s results ({profile}) have no row {row.source_row!r}: "
                               f"re-run book/{row.chapter}.ipynb")
        views = {v: d for v, d in chapter_rows[row.source_row].get("views", {}).items() if v in VIEWS}
        sources[row.label] = dict.fromkeys(views, row.chapter)
        for view, data in own.get(row.label, {}).get("views", {}).items():
            if view not in views:
                views[view], sources[row.label][view] = data, CHAPTER
        metrics[row.label] = {"views": views}
    return metrics, sources


def missing_views(metrics: dict, views=VIEWS) -> dict[str, tuple[str, ...]]:
    """``{label: views}`` that no chapter evaluated (chapter 10 evaluates them)."""
    out = {}
    for label, row in metrics.items():
        lacking = tuple(v for v in views if v not in row["views"])
        if lacking:
            out[label] = lacking
    return out


def same_faces(metrics: dict) -> dict[str, int]:
    """Faces per view, after checking that every row was evaluated on the same faces of it (the
    paired intervals need it)."""
    counts = {}
    for view in VIEWS:
        lists = {label: tuple(row["views"][view]["faces"]) for label, row in metrics.items() if view in row["views"]}
        if len(set(lists.values())) > 1:
            sizes = {label: len(f) for label, f in lists.items()}
            raise FacelibError(f"the rows were evaluated on different faces of the {view} view ({sizes}): "
                               "re-run the chapters with the same profile")
        counts[view] = len(next(iter(lists.values()))) if lists else 0
    return counts


def grid(metrics: dict, metric: str, conditions=VIEWS, labels=None) -> str:
    """Markdown: one row per method, one column per condition, each cell the mean with its 95 %
    interval."""
    methods = [m for m in (labels or metrics) if m in metrics]
    return tables.interval_grid(metrics, methods, [(c, c, metric) for c in conditions], METRICS[metric][1])


def verdicts(metrics: dict, metric: str, conditions=VIEWS, reference: str = REFERENCE) -> dict:
    """``{method: {condition: Claim}}``: "method's ``metric`` below the reference's on ``condition``",
    decided on the paired relative change (per cent) over the faces both share. A pair that lacks the
    metric (e.g. no mask to score) is left out."""
    out = {}
    label = METRICS[metric][0]
    for method in metrics:
        if method == reference:
            continue
        row = {}
        for condition in conditions:
            try:
                change = tables.change_against(metrics, method, reference, condition, metric)
            except (KeyError, FacelibError):
                continue
            row[condition] = stats.decide(f"{method}'s {label} below {reference}'s on {condition} faces",
                                          change, 0.0, "below", " %")
        if row:
            out[method] = row
    return out


MARK = {stats.HOLDS: "lower", stats.FAILS: "higher", stats.UNDECIDED: "undecided"}


def verdict_grid(claims: dict, conditions=VIEWS, reference: str = REFERENCE) -> str:
    """Markdown of :func:`verdicts`: each cell the change against the reference in per cent, its
    interval and the verdict ("lower" when the claim holds, "higher" when the whole interval is above)."""
    rows = []
    for method, row in claims.items():
        cells = []
        for c in conditions:
            claim = row.get(c)
            if claim is None:
                cells.append("–")
                continue
            iv = claim.interval
            cells.append(f"{iv.estimate:+.1f} % [{iv.low:+.1f}, {iv.high:+.1f}] {MARK[claim.verdict]}")
        rows.append([method, *cells])
    return tables.markdown_table([f"against {reference}", *conditions], rows)


def ranking(metrics: dict, metric: str, condition: str) -> list[str]:
    """The methods that have ``metric`` on ``condition``, best (lowest mean) first."""
    means = {m: row[condition].estimate for m, row in intervals(metrics, metric, [condition]).items()}
    return sorted(means, key=means.get)


def intervals(metrics: dict, metric: str, conditions) -> dict[str, dict[str, stats.Interval]]:
    """``{method: {condition: mean interval}}`` of ``metric`` (a method lacking it, or a condition
    with no face, is left out)."""
    out = {}
    for method in metrics:
        row = {}
        for c in conditions:
            try:
                row[c] = tables.interval_of(metrics, method, c, metric)
            except (KeyError, FacelibError):  # no such metric, or no face in the group
                continue
        if row:
            out[method] = row
    return out


def by_condition(metrics: dict, root: str | Path, metric_names=tuple(METRICS)) -> dict:
    """``metrics`` re-cut into :func:`condition_groups` (the per-condition plots read it)."""
    return regrouped(metrics, list(metrics), condition_groups(root), metric_names)


README_COLUMNS = (("landmark ME, clean", "clean", "landmark_me"), ("landmark ME, occluded", "occluded", "landmark_me"),
                  ("landmark ME, noisy", "noisy", "landmark_me"), ("shape v2v mm, occluded", "occluded", "shape_v2v_mm"),
                  ("perceptual, occluded", "occluded", "perceptual_dlib"), ("perceptual, noisy", "noisy", "perceptual_dlib"))


def readme_table(profile: str, rows=None) -> str:
    """README's results table, from the committed metrics of the chapters and of chapter 10 (or a
    line saying which chapters to run when some are missing). ``rows``: default :func:`benchmark_rows`."""
    rows = benchmark_rows() if rows is None else rows
    absent = [c for c in dict.fromkeys(r.chapter for r in rows)
              if not (results.results_dir(c, profile) / "metrics.json").is_file()]
    if absent:
        return (f"_Not complete for the {profile} profile yet: run "
                + ", ".join(f"book/{c}.ipynb" for c in absent) + f", then book/{CHAPTER}.ipynb._")
    try:
        metrics, _ = assemble(profile, rows)
    except FacelibError as err:
        return f"_Not complete for the {profile} profile yet: {err}_"
    lacking = missing_views(metrics)
    if lacking:
        return (f"_Not complete for the {profile} profile yet: views {lacking} are evaluated by "
                f"book/{CHAPTER}.ipynb; run it._")
    rows, people = [], set()
    for method in metrics:
        cells = []
        for _, view, metric in README_COLUMNS:
            try:
                iv = tables.interval_of(metrics, method, view, metric)
            except KeyError:
                cells.append("–")
                continue
            cells.append(iv.format(METRICS[metric][1]))
            people.add(iv.clusters)
        rows.append([method, *cells])
    faces = same_faces(metrics)["occluded"]
    over = (f"{faces} synthetic test faces of {people.pop()} identities (identities resampled)"
            if len(people) == 1 and 0 not in people else f"{faces} synthetic test faces")
    return (tables.markdown_table(["method", *[h for h, _, _ in README_COLUMNS]], rows)
            + f"\n\nMean and 95 % bootstrap interval over {over}, {profile} profile "
              f"(chapter {CHAPTER[:2]}); lower is better.")


PAPER_CHAPTERS = ("05_baselines", "06_orn", "07_rogue", "08_focus", "09_contour")
