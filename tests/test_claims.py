"""The table from claim to control and the testability it computes (issue 32)."""

from __future__ import annotations

import pytest

from facelib import results
from facelib.evaluation import claims
from facelib.evaluation.protocols.benchmark import PAPER_CHAPTERS

ON_OCCLUDED = claims.ClaimOn("perceptual_dlib", ("occluded",))


def all_pass(claim):
    return {(c, claim.metric, v): True for c in claims.CONTROLS for v in (*claim.views, "occluded")}


def test_a_claim_is_testable_only_when_every_control_it_depends_on_passed():
    assert claims.controls_of(ON_OCCLUDED) == ("room", "seeds", "visibility")
    assert claims.controls_of(claims.ClaimOn("perceptual_dlib", ("noisy",))) == ("room", "seeds")
    assert claims.controls_of(claims.ClaimOn("psnr", ("occluded",))) == ()
    passed = all_pass(ON_OCCLUDED)
    assert claims.testability(ON_OCCLUDED, passed)[0] == claims.TESTABLE
    failed = {**passed, ("visibility", "perceptual_dlib", "occluded"): False}
    assert claims.testability(ON_OCCLUDED, failed) == (claims.NOT_TESTABLE, "fails: visibility (occluded)")
    missing = {k: v for k, v in passed.items() if k[0] != "room"}
    assert claims.testability(ON_OCCLUDED, missing) == (claims.NOT_CONTROLLED, "not run: room (occluded)")
    assert claims.testability(claims.ClaimOn("psnr", ("occluded",)), passed)[0] == claims.NOT_CONTROLLED


def test_a_relative_claim_beyond_what_two_seeds_reached_passes_the_failed_negative_control():
    band = {**all_pass(ON_OCCLUDED), ("seeds", "perceptual_dlib", "occluded"): claims.SeedBand(7.5)}
    assert not claims.SeedBand(7.5) and float(claims.SeedBand(7.5)) == 7.5
    beyond = claims.testability(ON_OCCLUDED, band, {"low": -20.0, "high": -9.0}, " %")
    assert beyond[0] == claims.TESTABLE and "±7.5 %" in beyond[1]
    inside = claims.testability(ON_OCCLUDED, band, {"low": -9.0, "high": -5.0}, " %")
    assert inside == (claims.NOT_TESTABLE, "fails: seeds (occluded)")
    absolute = claims.testability(ON_OCCLUDED, band, {"low": -20.0, "high": -9.0}, "")  # mm: no band in %
    assert absolute[0] == claims.NOT_TESTABLE


@pytest.mark.parametrize("profile", ["cpu", "smoke"])
def test_every_stored_claim_names_its_metric_and_views(profile):
    """A chapter that stores a new claim must declare what it compares in STORED_CLAIMS, or chapter
    10 cannot say whether it was testable."""
    found = 0
    for chapter in PAPER_CHAPTERS:
        try:
            stored = results.read_metrics(chapter, profile)["metrics"]
        except FileNotFoundError:
            continue
        for row in stored.values():
            for key in (row.get("claims") or {}) if isinstance(row, dict) else ():
                found += 1
                assert (chapter, key) in claims.STORED_CLAIMS, f"{chapter}: claim {key!r} is not in STORED_CLAIMS"
    assert found or profile == "smoke"
    rows, counts = claims.claims_table(profile, PAPER_CHAPTERS)
    assert sum(counts.values()) == len(rows) and all(len(r) == len(claims.COLUMNS) for r in rows)
    assert not any("not declared" in r[6] for r in rows)
    assert sum(claims.outcomes(rows, claims.PAPER).values()) + sum(claims.outcomes(rows, claims.BOOK).values()) == len(rows)


def test_share_of_room_is_the_first_rows_gain_over_the_second_in_chapter_4s_room(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    stored = {"A": {"views": {"occluded": {"perceptual_dlib": {"mean": 0.30}, "seg_f1": {"mean": 0.8}}}},
              "B": {"views": {"occluded": {"perceptual_dlib": {"mean": 0.35}, "seg_f1": {"mean": 0.7}}}}}
    (tmp_path / "07_rogue" / "cpu").mkdir(parents=True)
    (tmp_path / "07_rogue" / "cpu" / "metrics.json").write_text(json.dumps({"metrics": stored}))
    rooms = {("perceptual_dlib", "occluded"): 0.2, ("seg_f1", "occluded"): 0.5}

    def recipe(metric, kind="change_against"):
        return {"kind": kind, "chapter": "07_rogue", "metric": metric, "a": ["A", "views", "occluded"],
                "b": ["B", "views", "occluded"]}

    assert claims.share_of_room(recipe("perceptual_dlib"), "cpu", rooms, {}) == pytest.approx(0.25)  # lower is better
    assert claims.share_of_room(recipe("seg_f1"), "cpu", rooms, {}) == pytest.approx(0.2)  # higher is better
    assert claims.share_of_room(recipe("perceptual_dlib", "mean"), "cpu", rooms, {}) is None
    assert claims.share_of_room(recipe("landmark_me"), "cpu", rooms, {}) is None  # no room measured
    # a baseline's row lives in chapter 5's results, not in the claim's chapter
    (tmp_path / "05_baselines" / "cpu").mkdir(parents=True)
    (tmp_path / "05_baselines" / "cpu" / "metrics.json").write_text(json.dumps({"metrics": {"R-Net": stored["B"]}}))
    against_rnet = {**recipe("perceptual_dlib"), "b": ["R-Net", "views", "occluded"]}
    assert claims.share_of_room(against_rnet, "cpu", rooms, {}) == pytest.approx(0.25)


def test_the_positive_control_passes_on_the_metrics_where_the_oracle_beats_its_twin():
    from facelib import stats
    from facelib.evaluation import controls

    must = {controls.TWIN: {"landmark_me": stats.HOLDS, "shape_v2v_mm": stats.UNDECIDED, "perceptual_dlib": stats.HOLDS},
            "R-Net": dict.fromkeys(controls.VISIBILITY_MUST, stats.HOLDS)}
    verdict = controls.visibility_passes(must)
    assert verdict == {"passes": False, "passes_against_plain": True, "passing_metrics": ["landmark_me", "perceptual_dlib"]}
    must[controls.TWIN]["shape_v2v_mm"] = stats.HOLDS
    assert controls.visibility_passes(must)["passes"]


def test_a_claim_stored_by_a_later_run_keeps_its_own_interval_not_one_traced_from_an_earlier_run(tmp_path, monkeypatch):
    """results/verdicts/<profile>.jsonl traced a chapter's glued verdicts from one run; once the
    chapter stores the same claim from a new run, the table shows the new run's interval and
    verdict, and a record traced from that same run still replaces it."""
    import json

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    interval = {"estimate": -5.0, "low": -8.0, "high": -2.0, "n": 200, "level": 0.95}
    claim = {"claim": "below", "interval": interval, "text": "ROGUE: perceptual error below R-Net's on noisy faces",
             "threshold": 0.0, "unit": " %", "verdict": "holds"}
    (tmp_path / "07_rogue" / "cpu").mkdir(parents=True)
    (tmp_path / "07_rogue" / "cpu" / "metrics.json").write_text(json.dumps(
        {"metrics": {"ROGUE": {"claims": {"rogue_below_rnet_noisy": claim}}}}))

    def traced(estimate):
        (tmp_path / "verdicts").mkdir(exist_ok=True)
        (tmp_path / "verdicts" / "cpu.jsonl").write_text(json.dumps({
            "chapter": "07_rogue", "claim": "ch7_rogue_below_rnet_noisy",
            "stored": {"estimate": estimate, "ci": "[-4, +2] %", "verdict": "undecided"},
            "recipe": {"kind": "change_against", "a": ["ROGUE", "views", "noisy"], "b": ["R-Net", "views", "noisy"],
                       "metric": "perceptual_dlib"},
            "identities": {"estimate": estimate, "low": -4.0, "high": 2.0, "n": 200, "level": 0.95, "clusters": 25},
            "verdict": "undecided"}) + "\n")
        rows, _ = claims.claims_table("cpu", ("07_rogue",))
        assert len(rows) == 1
        return rows[0][5]

    assert traced(-1.0) == "holds"  # traced from an earlier run: the stored claim stands
    assert traced(-5.0) == "undecided"  # traced from this run: its identity-resampled verdict


def test_whose_tells_the_books_comparisons_from_the_papers_and_outcomes_counts_each_kind():
    assert claims.whose("ch7_rogue_below_rnet_noisy") == claims.PAPER
    assert claims.whose("ch7_mofa_above_rnet_occluded") == claims.PAPER
    assert claims.whose("ch6_sopi_within_dhofi") == claims.PAPER
    for key in ("ch5_rnet_vs_mean_v2v", "ch5_refine_me_clean", "ch7_lever_below_rnet_noisy", "ch6_sopiref_vs_rnetref_v2v",
                "ch9_psnr_above_mean_fill"):
        assert claims.whose(key) == claims.BOOK, key
    ok = f"{claims.TESTABLE} (room, seeds)"
    rows = [["07", "a", "paper", "", "", "holds", ok], ["07", "b", "paper", "", "", "does not hold", ok],
            ["07", "c", "paper", "", "", "holds", f"{claims.NOT_TESTABLE} (fails: seeds (noisy))"],
            ["07", "d", "paper", "", "", "undecided", f"{claims.NOT_CONTROLLED} (no control covers psnr)"],
            ["07", "e", "book", "", "", "holds", ok]]
    assert claims.outcomes(rows) == {"holds": 1, "does not hold": 1, "undecided": 0, claims.NOT_TESTABLE: 1,
                                     claims.NOT_CONTROLLED: 1}
    assert claims.outcomes(rows, claims.BOOK)["holds"] == 1
    rows.append(["07", "f", "paper", "", "", "undecided", f"{claims.NOT_TESTABLE} (fails: seeds (noisy), visibility (occluded))"])
    assert claims.failed_controls(rows) == {"seeds (noisy)": 2, "visibility (occluded)": 1}


def test_a_claim_made_by_a_tables_function_carries_its_comparison_into_the_share_of_room(tmp_path, monkeypatch):
    """No traced verdicts needed: the interval a tables function returns names the two rows and the
    metric, the stored claim keeps them, and chapter 10's table gives the claim's share of the room."""
    import json

    from facelib import stats
    from facelib.evaluation import tables

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    row = lambda v: {"faces": list(range(10)), "identities": [f // 2 for f in range(10)],  # noqa: E731
                     "perceptual_dlib": {"mean": v}, "per_face": {"perceptual_dlib": [v] * 10}}
    metrics = {"ROGUE": {"views": {"noisy": row(0.30)}}, "R-Net": {"views": {"noisy": row(0.35)}}}
    iv = tables.change_against(metrics, "ROGUE", "R-Net", "noisy", "perceptual_dlib")
    assert iv.recipe == {"kind": "change_against", "a": ["ROGUE", "views", "noisy"], "b": ["R-Net", "views", "noisy"],
                         "metric": "perceptual_dlib"}
    claim = stats.decide("ROGUE: perceptual error below R-Net's on noisy faces", iv, unit=" %")
    stored = json.loads(json.dumps(claim.as_dict()))  # the way metrics.json keeps it
    assert stored["interval"]["recipe"] == iv.recipe and "recipe" not in stats.mean_interval([1.0, 2.0]).as_dict()
    metrics["ROGUE"]["claims"] = {"rogue_below_rnet_noisy": stored}
    monkeypatch.setattr(claims, "control_results", lambda profile: {})
    monkeypatch.setattr(claims.controls, "controls_rows", lambda m: [
        {"metric": "perceptual_dlib", "view": "noisy", "room": stats.Interval(0.2, 0.1, 0.3, 10)}])
    monkeypatch.setattr(claims.results, "read_metrics", lambda chapter, profile: (
        {"metrics": metrics} if chapter == "07_rogue" else {"metrics": {}}))
    rows, _ = claims.claims_table("cpu", ("07_rogue",))
    assert rows[0][4] == "+25 %"  # (0.35 − 0.30) / 0.2
