"""Every claim of the book, the controls it depends on, and whether it was testable (issue 32).

A verdict of "does not hold" means something only if the same test would have said "holds" for a
method that has the property. Each claim compares two rows on one metric in one or more views; the
controls that must pass before such a comparison can tell anything are:

* ``room`` — chapter 4's references: the true coefficients (ceiling) and the mean face (floor)
  differ on the metric in the view, with an interval that excludes zero
  (:func:`facelib.evaluation.controls.controls_rows`). A metric that cannot tell the truth from the
  mean face cannot tell two methods apart;
* ``seeds`` — the negative control: R-Net trained with two seeds is undecided on the metric in the
  view (:func:`facelib.evaluation.controls.seed_control`). Where two seeds of one method "differ",
  a verdict between two methods may be training noise;
* ``visibility`` — the positive control, for claims on occluded faces in the metrics the papers
  judge robustness by (landmark ME, v2v, perceptual error): R-Net given the true visible face beats,
  on that metric, its twin trained on the same occluded faces without it
  (:func:`facelib.evaluation.controls.visibility_control`). If a method with perfect occluder
  knowledge does not come out better, no robustness mechanism can.

A claim is **testable** when every control it depends on passed; **not testable here** when one
failed (named); **not controlled** when a control it depends on was not run at this profile, or when
its metric is none of the six the controls cover. :data:`STORED_CLAIMS` maps every claim the
chapters store to its metric and views — the table from claim to control, in code; the glued
verdicts traced by :mod:`.verdicts` carry theirs in their recipe.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from .. import results, stats
from . import controls, tables

#: what each control shows, in words for the book
CONTROLS = {
    "room": "the true coefficients and the mean face differ (chapter 4)",
    "seeds": "two seeds of R-Net are undecided (the negative control)",
    "visibility": "R-Net given the true visible face beats its twin (the positive control)",
}


@dataclasses.dataclass(frozen=True)
class ClaimOn:
    """What a claim compares: its ``metric`` (a key of :data:`facelib.evaluation.tables.METRIC_LABELS`
    or another the chapter computes) in its ``views`` (``clean`` | ``occluded`` | ``noisy``; a claim on
    an occluder family or noise type is on that view)."""

    metric: str
    views: tuple[str, ...]


def _on(metric: str, *views: str) -> ClaimOn:
    return ClaimOn(metric, views)


_CH5_METRICS = {"me": "landmark_me", "v2v": "shape_v2v_mm", "s2m": "shape_s2m_mm", "perc": "perceptual_dlib",
                "idv2v": "identity_v2v_mm"}

#: every claim the chapters store in their ``metrics.json`` (a row's ``"claims"``), by
#: ``(chapter, key)``: the metric and views it compares. Chapter 5's keys are built from its
#: comparisons (``<row>_loss_<metric>_<view>``: a view against clean; ``<row>_vs_mean_<metric>``;
#: ``refine_<metric>_<view>``); chapter 6's claims are on ORN's occlusion patterns (occluded faces)
#: against the unoccluded error.
STORED_CLAIMS = {
    **{("05_baselines", f"{who}_loss_{short}_{view}"): _on(metric, view, "clean")
       for who in ("rnet", "mofa") for short, metric in _CH5_METRICS.items() for view in ("occluded", "noisy")},
    **{("05_baselines", f"{who}_vs_mean_{short}"): _on(metric, "clean")
       for who in ("rnet", "rnetid", "rnetref", "mofaref") for short, metric in _CH5_METRICS.items()},
    **{("05_baselines", f"refine_{short}_{view}"): _on(metric, view)
       for short, metric in _CH5_METRICS.items() for view in ("clean", "occluded", "noisy")},
    **{("06_orn", key): _on("landmark_me", "occluded")
       for key in ("both_below_label", "both_below_perceptual", "label_below_perceptual", "mopi_below_sopi")},
    **{("06_orn", key): _on("landmark_me", "occluded", "clean")
       for key in ("central", "rnet_beyond_dhofi", "rnet_beyond_shofi", "sopi_within_dhofi", "sopi_within_shofi")},
    **{("06_orn", key): _on("landmark_me", "occluded") for key in ("sopi_below_rnet_natural", "mopi_below_rnet_random")},
    **{("06_orn", key): _on("histogram_dissimilarity", "occluded")
       for key in ("sopi_hist_below_rnet_dsofi", "sopi_hist_below_rnet_dhofi", "sopi_hist_below_rnet_natural",
                   "mopi_hist_below_rnet_random")},
    ("07_rogue", "beta_c_1_above_rogue_noisy"): _on("perceptual_dlib", "noisy"),
    ("07_rogue", "beta_c_1_above_rogue_occluded"): _on("perceptual_dlib", "occluded"),
    ("07_rogue", "lever_above_rnet_clean"): _on("perceptual_dlib", "clean"),
    ("07_rogue", "lever_below_rnet_noisy"): _on("perceptual_dlib", "noisy"),
    ("07_rogue", "lever_below_rnet_occluded"): _on("perceptual_dlib", "occluded"),
    **{("07_rogue", f"{key}_{view}"): _on("perceptual_dlib", view)
       for key in ("mofa_above_rnet", "rogue_below_mofa") for view in ("occluded", "noisy")},
    ("07_rogue", "no_consistency_above_rogue_noisy"): _on("perceptual_dlib", "noisy"),
    ("07_rogue", "no_consistency_above_rogue_occluded"): _on("perceptual_dlib", "occluded"),
    ("07_rogue", "no_resistive_above_rogue_noisy"): _on("perceptual_dlib", "noisy"),
    ("07_rogue", "no_resistive_above_rogue_occluded"): _on("perceptual_dlib", "occluded"),
    ("07_rogue", "rogue_above_rnet_clean"): _on("perceptual_dlib", "clean"),
    ("07_rogue", "rogue_below_rnet_noise"): _on("perceptual_dlib", "noisy"),
    ("07_rogue", "rogue_below_rnet_noisy"): _on("perceptual_dlib", "noisy"),
    ("07_rogue", "rogue_below_rnet_occluded"): _on("perceptual_dlib", "occluded"),
    ("07_rogue", "rogue_below_rnet_reachocc"): _on("perceptual_dlib", "occluded"),
    ("07_rogue", "rogue_below_rnet_synchocc"): _on("perceptual_dlib", "occluded"),
    ("08_focus", "f1_above_skin"): _on("seg_f1", "occluded"),
    ("08_focus", "mp_lowers_shape"): _on("shape_v2v_mm", "clean"),
    ("08_focus", "rmse_above_mofa"): _on("visible_rmse", "clean", "occluded"),  # Table 1's "overall": their mean
    ("09_contour", "lever_me_below_rnet"): _on("landmark_me", "occluded"),
    ("09_contour", "lever_perc_below_rnet"): _on("perceptual_dlib", "occluded"),
    ("09_contour", "me_below_rnet"): _on("landmark_me", "occluded"),
    ("09_contour", "perc_below_rnet"): _on("perceptual_dlib", "occluded"),
    ("09_contour", "psnr_above_mean_fill"): _on("psnr", "occluded"),
    ("09_contour", "rnet_inpainted_me_below_rnet"): _on("landmark_me", "occluded"),
}

class SeedBand(float):
    """A failed negative control, kept with its band: the largest relative change (per cent, either
    sign) that two seeds of one method reached within their interval. A relative claim whose whole
    interval lies beyond the band is decided beyond training noise as far as one seed pair can say;
    any other claim on that metric and view is not testable here. Falsy like a failed control."""

    def __bool__(self) -> bool:
        return False


#: the marks of a comparison the book adds to the papers' (a lever, the refinement, a row against the
#: mean face or the mean fill): every other stored or quoted claim restates a paper's own comparison
BOOK_MARKS = ("_vs_mean_", "refine_", "lever_", "ref_vs_", "mean_fill")
PAPER, BOOK = "paper", "book"


def whose(key: str) -> str:
    """:data:`BOOK` for a claim the book adds (its glued ``key`` carries one of :data:`BOOK_MARKS`:
    ``ch5_refine_v2v_clean``, ``ch7_lever_below_rnet_noisy``), else :data:`PAPER`."""
    return BOOK if any(mark in key for mark in BOOK_MARKS) else PAPER


TESTABLE = "testable: its controls pass"
NOT_TESTABLE = "not testable here"
NOT_CONTROLLED = "not controlled"


def controls_of(claim: ClaimOn) -> tuple[str, ...]:
    """The controls ``claim`` depends on (see the module's docstring); none for a metric outside the
    six the controls cover."""
    if claim.metric not in controls.METRICS:
        return ()
    needs = ["room", "seeds"]
    if "occluded" in claim.views and claim.metric in controls.VISIBILITY_MUST:
        needs.append("visibility")
    return tuple(needs)


def control_results(profile: str) -> dict[tuple[str, str, str], bool]:
    """``{(control, metric, view): passed}`` from the stored records of ``profile``: chapter 4's
    ``metrics.json`` (``room``), ``results/controls/seeds-<profile>-rnet.json`` (``seeds``) and
    ``results/controls/visibility-<profile>.json`` (``visibility``: the oracle holds against both
    other arms). A control that was not run is absent."""
    out = {}
    try:
        ch4 = results.read_metrics("04_measuring_faces", profile)["metrics"]
        for row in controls.controls_rows(ch4):
            out[("room", row["metric"], row["view"])] = row["separates"]
    except (FileNotFoundError, KeyError):
        pass
    folder = results.results_base() / "controls"
    seeds = folder / f"seeds-{profile}-rnet.json"
    if seeds.is_file():
        for r in json.loads(seeds.read_text())["comparisons"]:
            ci = r["change_pct"]
            out[("seeds", r["metric"], r["view"])] = (r["verdict"] == stats.UNDECIDED
                                                       or SeedBand(max(abs(ci["low"]), abs(ci["high"]))))
    visibility = folder / f"visibility-{profile}.json"
    if visibility.is_file():
        passing = controls.visibility_passes(json.loads(visibility.read_text())["must"])["passing_metrics"]
        for metric in controls.VISIBILITY_MUST:
            out[("visibility", metric, "occluded")] = metric in passing
    return out


def testability(claim: ClaimOn, passed: dict, interval: dict | None = None, unit: str = "") -> tuple[str, str]:
    """``(status, reason)`` of ``claim`` given :func:`control_results`: :data:`TESTABLE`,
    :data:`NOT_TESTABLE` (naming each failed control and view) or :data:`NOT_CONTROLLED`. A failed
    negative control is passed by a relative claim (``unit`` ``" %"``) whose ``interval``
    (``{"low", "high"}``) lies wholly beyond its :class:`SeedBand`."""
    needs = controls_of(claim)
    if not needs:
        return NOT_CONTROLLED, f"no control covers {claim.metric}"
    failed, missing, beyond = [], [], []
    for control in needs:
        for view in (claim.views if control != "visibility" else ("occluded",)):
            key = (control, claim.metric, view)
            result = passed.get(key)
            if key not in passed:
                missing.append(f"{control} ({view})")
            elif isinstance(result, SeedBand) and interval is not None and unit.strip() == "%" and (
                    interval["low"] > result or interval["high"] < -result):
                beyond.append(f"beyond the seeds' ±{float(result):.1f} % ({view})")
            elif not result:
                failed.append(f"{control} ({view})")
    if failed:
        return NOT_TESTABLE, "fails: " + ", ".join(failed)
    if missing:
        return NOT_CONTROLLED, "not run: " + ", ".join(missing)
    return TESTABLE, ", ".join([*needs, *beyond])


def _view_of(condition: str) -> str:
    """The view a stored condition belongs to (``"occluded: hands"`` → ``"occluded"``)."""
    return condition.split(":")[0].strip()


def traced_claims(profile: str, chapters=("05_baselines", "06_orn", "07_rogue", "08_focus", "09_contour")) -> list[dict]:
    """The glued verdicts of ``chapters`` that :mod:`.verdicts` traced to their comparison and
    recomputed with identities resampled (``results/verdicts/<profile>.jsonl``; empty when that
    file is absent): ``{"chapter", "key", "text", "interval", "unit", "verdict", "on"}``, ``key`` the
    glued name (``"ch7_rogue_below_rnet_noisy"``)."""
    path = results.results_base() / "verdicts" / f"{profile}.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        recipe = rec.get("recipe") or {}
        if rec.get("chapter") not in chapters or "a" not in recipe:
            continue
        a, b = recipe["a"], recipe.get("b") or recipe["a"]
        label = tables.METRIC_LABELS.get(recipe["metric"], (recipe["metric"],))[0]
        side = "below" if rec.get("side") == "below" else "above"
        unit = " %" if recipe.get("kind", "").startswith("change") else ""
        if recipe.get("kind") == "mean":  # one row's mean against a threshold
            text = f"{a[0]}: mean {label} ({a[1].replace('_', ' ')}) {side} {rec.get('threshold', 0):g}"
        else:
            versus = f"{a[0]} vs {b[0]}" if b[0] != a[0] else f"{a[0]}, {a[2]} vs {b[2]}"
            text = f"{versus}: {label} on {_view_of(a[2])} faces, {side}"
        out.append({"chapter": rec["chapter"], "key": rec["claim"], "recipe": recipe, "text": text,
                     "interval": rec["identities"], "unit": unit, "verdict": rec["verdict"],
                     "traced_estimate": rec["stored"]["estimate"],
                     "on": ClaimOn(recipe["metric"], tuple(dict.fromkeys((_view_of(a[2]), _view_of(b[2])))))})
    return out


def stored_claims(profile: str, chapters) -> list[dict]:
    """Every claim ``chapters`` stored in their ``metrics.json``, as :func:`traced_claims` gives
    them, with ``"on"`` from :data:`STORED_CLAIMS` (``None`` for a claim missing from it)."""
    out = []
    for chapter in chapters:
        try:
            stored = results.read_metrics(chapter, profile)["metrics"]
        except FileNotFoundError:
            continue
        for row in stored.values():
            for key, claim in ((row.get("claims") or {}).items() if isinstance(row, dict) else ()):
                out.append({"chapter": chapter, "key": f"ch{int(chapter[:2])}_{key}", "text": claim["text"],
                            "interval": claim["interval"], "recipe": claim["interval"].get("recipe"),
                            "unit": claim.get("unit", ""), "verdict": claim["verdict"],
                            "on": STORED_CLAIMS.get((chapter, key))})
    return out


#: the unit of an absolute difference in a metric (relative claims carry " %")
UNITS = {"shape_v2v_mm": " mm", "shape_s2m_mm": " mm", "landmark_me": " px", "visible_rmse": " (0-255)"}


def _printed(iv: dict, unit: str, on: ClaimOn | None) -> str:
    """``"+1.23 % [+0.45, +2.01]"``; an absolute difference with three decimals and its metric's unit
    (``"-0.017 mm [-0.032, -0.002]"``)."""
    if unit.strip():
        return f"{iv['estimate']:+.2f}{unit} [{iv['low']:+.2f}, {iv['high']:+.2f}]"
    unit = UNITS.get(on.metric, "") if on is not None else ""
    return f"{iv['estimate']:+.3f}{unit} [{iv['low']:+.3f}, {iv['high']:+.3f}]"


def share_of_room(recipe: dict | None, profile: str, rooms: dict, cache: dict) -> float | None:
    """How much better the claim's first row is than its second, as a fraction of chapter 4's room
    between the true coefficients and the mean face on the same metric and view (``rooms``:
    ``{(metric, view): room}``) — positive when the first row is better; ``None`` where the claim's
    comparison is not two stored means of one of the six metrics in a benchmark view. ``cache``
    keeps the chapters' metrics read so far."""
    if not recipe or "a" not in recipe or not recipe.get("kind", "").startswith(("change", "difference")):
        return None
    metric, (row_a, section, view_a), (row_b, _, view_b) = recipe["metric"], recipe["a"], recipe["b"]
    room_value = rooms.get((metric, view_a))
    if not room_value:
        return None
    def mean(row: str, view: str) -> float | None:
        # the claim's chapter, then chapter 5, where the baselines' and the mean face's rows live
        for chapter in dict.fromkeys((recipe.get("chapter"), "05_baselines")):
            try:
                if chapter not in cache:
                    cache[chapter] = results.read_metrics(chapter, profile)["metrics"]
                return tables.mean_of(cache[chapter], row, view, metric, section)
            except (KeyError, FileNotFoundError):
                continue
        return None

    a, b = mean(row_a, view_a), mean(row_b, view_b)
    if a is None or b is None:
        return None
    gain = (b - a) if controls.lower_is_better(metric) else (a - b)
    return gain / room_value


def _same_run(claim: dict, traced: dict | None) -> bool:
    """Whether ``traced`` (:func:`traced_claims`) recomputed ``claim`` from the run that stored it:
    the estimate it traced is the claim's own. A claim stored by a later run of its chapter keeps
    its own interval and verdict, never a record traced from an earlier run under the same name."""
    if traced is None:
        return False
    own = claim["interval"].get("estimate") if isinstance(claim["interval"], dict) else None
    return own is None or math.isclose(own, traced["traced_estimate"], rel_tol=1e-9, abs_tol=1e-12)


def claims_table(profile: str, chapters) -> tuple[list[list[str]], dict]:
    """Chapter 10's claims table: every claim ``chapters`` stored and, for a chapter whose stored run
    predates stored claims (chapters 5-6 of the committed cpu run), the verdicts its text quotes
    (:func:`traced_claims`); a claim :mod:`.verdicts` recomputed over identities shows that interval
    and verdict. One row ``[chapter, claim, whose, change [interval], share of room, verdict, testable]``
    (:func:`whose`, :func:`share_of_room`), and the count of rows per testability status."""
    passed = control_results(profile)
    try:
        rooms = {(r["metric"], r["view"]): r["room"].estimate
                 for r in controls.controls_rows(results.read_metrics("04_measuring_faces", profile)["metrics"])}
    except (FileNotFoundError, KeyError):
        rooms = {}
    cache = {}
    rows, counts = [], {TESTABLE: 0, NOT_TESTABLE: 0, NOT_CONTROLLED: 0}
    seen = set()
    stored = stored_claims(profile, chapters)
    traced = traced_claims(profile, tuple(chapters))
    recomputed = {t["key"]: t for t in traced}
    quoted_only = [t for t in traced if not any(s["chapter"] == t["chapter"] for s in stored)]
    for claim in quoted_only + stored:
        if _same_run(claim, recomputed.get(claim["key"])):  # a stored claim recomputed over identities
            claim = {**claim, **{k: recomputed[claim["key"]][k] for k in ("interval", "verdict", "recipe")}}
        recipe = claim.get("recipe")
        share = share_of_room({**recipe, "chapter": claim["chapter"]} if recipe else None, profile, rooms, cache)
        iv, unit = claim["interval"], claim["unit"]
        change = _printed(iv, unit, claim["on"])
        if (claim["chapter"], change, claim["verdict"]) in seen:  # one comparison glued under two names
            continue
        seen.add((claim["chapter"], change, claim["verdict"]))
        status, reason = (testability(claim["on"], passed, iv, unit) if claim["on"] is not None
                          else (NOT_CONTROLLED, "its metric is not declared in STORED_CLAIMS"))
        counts[status] += 1
        rows.append([claim["chapter"], claim["text"], whose(claim["key"]), change, "–" if share is None else f"{100 * share:+.0f} %",
                     claim["verdict"], f"{status} ({reason})"])
    return rows, counts


#: the columns of a :func:`claims_table` row
COLUMNS = ["chapter", "claim", "whose", "change [95 % interval]", "share of room", "verdict", "testable"]


def outcomes(rows, who: str = PAPER) -> dict[str, int]:
    """How :func:`claims_table`'s ``rows`` of ``who``'s claims came out: a testable claim by its
    verdict (``holds`` | ``does not hold`` | ``undecided``), any other by its status (``not testable
    here`` | ``not controlled``). Every key is present, zero or not."""
    out = dict.fromkeys((stats.HOLDS, stats.FAILS, stats.UNDECIDED, NOT_TESTABLE, NOT_CONTROLLED), 0)
    for row in rows:
        if row[2] != who:
            continue
        status = row[6].split(" (")[0]
        out[row[5] if status == TESTABLE else status] += 1
    return out


def failed_controls(rows, who: str = PAPER) -> dict[str, int]:
    """How often each control made one of ``who``'s claims in ``rows`` (:func:`claims_table`) not
    testable, most often first: ``{"seeds (noisy)": 3, "visibility (occluded)": 2}``."""
    counts: dict[str, int] = {}
    for row in rows:
        status, _, reason = row[6].partition(" (fails: ")
        if row[2] == who and status == NOT_TESTABLE:
            for control in reason.rstrip(")").split(", "):
                control = control if control.endswith(")") else control + ")"
                counts[control] = counts.get(control, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def write_table(profile: str, chapters, path: Path | None = None) -> Path:
    """The claims table as JSON (``results/controls/claims-<profile>.json``) for the README and notes:
    its rows, the count per testability status and :func:`outcomes` of the papers' and the book's claims."""
    rows, counts = claims_table(profile, chapters)
    path = path or results.results_base() / "controls" / f"claims-{profile}.json"
    path.write_text(json.dumps({"profile": profile, "columns": COLUMNS, "counts": counts,
                                "outcomes": {who: outcomes(rows, who) for who in (PAPER, BOOK)},
                                "rows": rows}, indent=1) + "\n")
    return path


def main(argv=None) -> int:
    import argparse

    from .protocols.benchmark import PAPER_CHAPTERS

    p = argparse.ArgumentParser(description="every claim of the book with the controls it depends on")
    p.add_argument("--profile", default="cpu")
    args = p.parse_args(argv)
    path = write_table(args.profile, PAPER_CHAPTERS)
    record = json.loads(path.read_text())
    print(tables.markdown_table(COLUMNS, record["rows"], "lllrrll"))
    print(f"\n{record['counts']}\npapers' claims: {record['outcomes'][PAPER]} -> {results.portable_path(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
