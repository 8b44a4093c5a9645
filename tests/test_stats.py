"""Paired bootstrap intervals and computed verdicts (facelib.stats), and the per-face values the
evaluation stores so that tables and sentences can carry them."""

from __future__ import annotations

import numpy as np
import pytest

from facelib import stats
from facelib.errors import FacelibError
from facelib.evaluation import tables


def test_pairing_decides_a_small_shift_that_between_face_spread_hides():
    rng = np.random.default_rng(0)
    faces = rng.normal(10.0, 3.0, 200)                # large differences between faces
    a, b = faces + 0.1 + rng.normal(0, 0.05, 200), faces  # a is worse by 0.1 on every face
    paired = stats.paired_difference(a, b)
    assert paired.estimate == pytest.approx(np.mean(a) - np.mean(b))
    assert 0.0 < paired.low < 0.1 < paired.high < 0.2 and paired.n == 200
    # the unpaired intervals of the two means overlap widely: they could not decide it
    ia, ib = stats.mean_interval(a), stats.mean_interval(b)
    assert ia.low < ib.high
    assert stats.verdict(paired, 0.0, "above") == stats.HOLDS


def test_relative_change_interval_and_its_verdicts():
    b = np.linspace(1.0, 3.0, 100)
    a = 1.3 * b  # +30 % on every face: no sampling uncertainty in the ratio
    iv = stats.paired_change(a, b)
    assert iv.estimate == pytest.approx(30.0) and iv.low == pytest.approx(30.0) and iv.high == pytest.approx(30.0)
    assert stats.decide("within 20 %", iv, 20.0, "below").verdict == stats.FAILS
    assert stats.decide("beyond 20 %", iv, 20.0, "above").verdict == stats.HOLDS
    straddling = stats.Interval(1.0, -0.5, 2.5, 10)
    assert stats.verdict(straddling, 0.0, "below") == stats.UNDECIDED
    assert stats.verdict(stats.Interval(-2.0, -3.0, -1.0, 10), 0.0) == stats.HOLDS
    # one face gives a zero-width interval; too few faces decide nothing
    one = stats.paired_change([1.0], [2.0])
    assert one.low == one.high == -50.0 and stats.verdict(one, 0.0, "below") == stats.UNDECIDED
    assert stats.verdict(stats.Interval(-2.0, -3.0, -1.0, stats.MIN_FACES - 1), 0.0) == stats.UNDECIDED
    assert stats.verdict(stats.Interval(-2.0, -3.0, -1.0, stats.MIN_FACES), 0.0) == stats.HOLDS
    claim = stats.decide("SOPI within 20 %", iv, 20.0)
    assert claim.sentence().startswith("SOPI within 20 %: does not hold (+30.0 [+30.0, +30.0], 95 % interval over 100")


def test_bootstrap_is_seeded_drops_unpaired_nans_and_refuses_mismatched_faces():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 50), rng.normal(0, 1, 50)
    assert stats.paired_difference(a, b) == stats.paired_difference(a, b)
    a[3] = np.nan
    assert stats.paired_difference(a, b).n == 49
    with pytest.raises(FacelibError, match="same faces"):
        stats.paired_difference(a[:10], b)
    with pytest.raises(FacelibError, match="below' or 'above"):
        stats.verdict(stats.Interval(0, 0, 0, 1), 0, "less")


def test_mean_interval_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    hits = 0
    for k in range(200):
        x = rng.normal(5.0, 2.0, 60)
        iv = stats.mean_interval(x, resamples=2000, seed=k)
        hits += iv.low < 5.0 < iv.high
    assert 0.88 <= hits / 200 <= 0.99


def _metrics(values_a, values_b, faces):
    row = lambda v: {"landmark_me": {"mean": float(np.mean(v)), "std": 0.0, "median": 0.0, "n": len(v)},  # noqa: E731
                     "faces": faces, "per_face": {"landmark_me": list(v)}}
    return {"a": {"views": {"clean": row(values_a), "occluded": row([2 * x for x in values_a])}},
            "b": {"views": {"clean": row(values_b)}}}


def test_tables_compare_methods_on_the_faces_they_share():
    M = _metrics([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0], [10, 11, 12, 13])
    iv = tables.change_against(M, "a", "b", "clean", "landmark_me")
    assert iv.estimate == pytest.approx(-50.0) and iv.high == pytest.approx(-50.0)
    assert tables.change_between(M, "a", "occluded", "clean", "landmark_me").estimate == pytest.approx(100.0)
    assert tables.difference_against(M, "a", "b", "clean", "landmark_me").estimate == pytest.approx(-2.5)
    M["b"]["views"]["clean"]["faces"] = [12, 13, 14, 15]  # only faces 12 and 13 are shared
    assert tables.change_against(M, "a", "b", "clean", "landmark_me").n == 2
    cell = tables.metrics_table(M, ["a", "b"], "clean", ["landmark_me"]).splitlines()[2]
    assert cell.startswith("| a | **2.50** [") and cell.endswith("] |")
    del M["a"]["views"]["clean"]["per_face"]
    with pytest.raises(KeyError, match="re-run its evaluation"):
        tables.change_against(M, "a", "b", "clean", "landmark_me")


def test_interval_grid_prints_each_cell_with_its_interval_and_a_dash_where_missing():
    from facelib.evaluation import tables

    M = {"A": {"views": {"clean": {"faces": [0, 1, 2, 3, 4], "per_face": {"x": [1.0] * 5}}}},
         "B": {"views": {"clean": {"faces": [0, 1], "per_face": {"y": [2.0, 2.0]}}}}}
    text = tables.interval_grid(M, ["A", "B"], [("x on clean", "clean", "x"), ("y", "clean", "y")], labels={"A": "a"})
    assert text.splitlines()[0] == "| method | x on clean | y |"
    assert "| a | 1.00 [1.00, 1.00] | – |" in text and "| B | – | 2.00 [2.00, 2.00] |" in text
