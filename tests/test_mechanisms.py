"""Issue 35's experiments that train (facelib.experiments) and their scores
(facelib.evaluation.mechanisms): ORN's curve and ROGUE's arms walked end to end at the smoke profile,
and the summaries checked on known values."""

from __future__ import annotations

import json

import pytest

from facelib import stats
from facelib.errors import FacelibError
from facelib.evaluation import mechanisms as M


def _conditions(values: dict[str, list[float]], identities: list[int]) -> dict:
    """A :func:`mechanisms.orn_conditions`-shaped record with the given per-face landmark errors."""
    faces = list(range(len(identities)))
    return {c: {"faces": faces, "identities": identities, "per_face": {"landmark_me": v}} for c, v in values.items()}


def test_orn_summary_reads_the_change_against_the_unoccluded_error_and_the_tolerance():
    ids = [i // 2 for i in range(40)]  # 20 identities, two faces each
    base = [10.0 + 0.1 * (i % 7) for i in range(40)]
    rec = M.orn_summary(_conditions({"unoccluded": base, "dhofi": [1.1 * x for x in base],
                                     "shofi": [1.5 * x for x in base], "random": [1.2 * x for x in base]}, ids))
    assert rec["unoccluded_me"]["estimate"] == pytest.approx(sum(base) / 40)
    assert rec["dhofi"]["change"]["estimate"] == pytest.approx(10.0)
    assert rec["dhofi"]["within"] == stats.HOLDS  # +10 %, every face: within 20 %
    assert rec["shofi"]["change"]["estimate"] == pytest.approx(50.0) and rec["shofi"]["within"] == stats.FAILS
    assert rec["random"]["within"] != stats.HOLDS  # +20 % exactly is not within
    assert set(rec) == {"unoccluded_me", *M.ORN_CONDITIONS}


def test_the_orn_curve_scores_every_snapshot_of_every_arm_beside_the_teacher(tmp_path):
    """``python -m facelib mechanism orn`` at smoke: each arm scored at each ``every`` steps on the
    validation split, paired with the first arm at the end; the runs' logs copied; arms by run name."""
    from facelib import experiments as E

    rec = E.orn_curve("smoke", steps=4, every=2, folder=tmp_path / "runs", out=tmp_path / "orn.json",
                      logs=tmp_path / "logs")
    assert list(rec["arms"]) == list(E.ORN_ARMS) and rec["split"] == "val"
    assert rec["teacher"]["dhofi"]["within"] in {stats.HOLDS, stats.FAILS, stats.UNDECIDED}
    for label, arm in rec["arms"].items():
        name = E.ORN_ARMS[label][0]
        assert [e["step"] for e in arm["curve"]] == [2, 4]
        assert (tmp_path / "logs" / f"orn-{name}.jsonl").is_file()
        assert ("against_first" in arm) == (label != next(iter(E.ORN_ARMS)))
    truth = rec["arms"]["true coefficients as labels, from the backbone"]
    assert truth["options"] == {"labels": "truth"} and not truth["from_stand_in"]
    assert rec["arms"]["teacher's labels, from the stand-in"]["from_stand_in"]
    assert json.loads((tmp_path / "orn.json").read_text()) == rec
    assert M.orn_markdown(rec).count("\n") == 2 + 1 + 2 * len(E.ORN_ARMS)
    # a finished arm is loaded, not trained again: the same scores
    again = E.orn_curve("smoke", steps=4, every=2, arms=["sopi-truth"], folder=tmp_path / "runs")
    assert again["arms"]["true coefficients as labels, from the backbone"]["curve"] == truth["curve"]
    with pytest.raises(FacelibError, match="unknown ORN arm"):
        E.orn_curve("smoke", arms=["sopi-oracle"], folder=tmp_path / "runs")


def test_rogue_arms_are_paired_with_r_net_continued_on_the_invariance_metrics(tmp_path):
    """``python -m facelib mechanism rogue`` at smoke, two arms: R-Net continued on clean faces is the
    reference; every arm and chapter 5's R-Net are scored on the three views, on ROGUE's metrics."""
    from facelib import experiments as E

    rec = E.rogue_arms("smoke", arms=["rnet-continued", "rogue"], steps=3, folder=tmp_path / "runs",
                       out=tmp_path / "rogue.json", logs=tmp_path / "logs")
    control = next(iter(E.ROGUE_ARMS))
    assert list(rec["arms"]) == [E.ROGUE_START, control, "ROGUE (paper)"]
    for view in M.ROGUE_VIEWS[1:]:
        cells = rec["arms"][control][view]
        assert set(cells) == set(M.ROGUE_METRICS)
        assert all(c["minus_reference"]["estimate"] == 0 for c in cells.values())  # the reference itself
        assert rec["arms"]["ROGUE (paper)"][view]["invariance_albedo"]["mean"]["estimate"] >= 0
    assert (tmp_path / "logs" / "rogue-rogue.jsonl").is_file() and set(rec["training_seconds"]) == {
        control, "ROGUE (paper)"}
    assert json.loads((tmp_path / "rogue.json").read_text()) == rec
    with pytest.raises(FacelibError, match="unknown ROGUE arm"):
        E.rogue_arms("smoke", arms=["rogue-cold"], folder=tmp_path / "runs")
