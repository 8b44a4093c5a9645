"""Issue 35's experiments that train (facelib.experiments) and their scores
(facelib.evaluation.mechanisms): ORN's curve and ROGUE's arms walked end to end at the smoke profile,
and the summaries checked on known values."""

from __future__ import annotations

import json
import re

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
    assert set(rec["teacher"]) == {"run", "unoccluded_me", *M.ORN_CONDITIONS}
    for label, arm in rec["arms"].items():
        name, _, whole = E.ORN_ARMS[label]
        assert [e["step"] for e in arm["curve"]] == ([2, 4] if whole else [2])  # a choice at the chapter's steps
        assert (tmp_path / "logs" / f"orn-{name}.jsonl").is_file()
        if label != next(iter(E.ORN_ARMS)):  # paired with chapter 6's SOPI at the arm's own last step
            assert arm["against"]["arm"] == next(iter(E.ORN_ARMS))
            assert arm["against"]["step"] == arm["curve"][-1]["step"]
    truth = rec["arms"]["true coefficients as labels, from the backbone"]
    assert truth["options"] == {"labels": "truth"} and not truth["from_stand_in"]
    assert rec["arms"]["teacher's labels, from the stand-in"]["from_stand_in"]
    assert json.loads((tmp_path / "orn.json").read_text()) == rec
    assert M.orn_markdown(rec).count("\n") == 2 + 1 + sum(len(a["curve"]) for a in rec["arms"].values())
    # a finished arm is loaded, not trained again (its checkpoint untouched): the same scores; asked for
    # alone, an arm is still paired with chapter 6's SOPI, through that run's snapshot of its step
    ckpt = tmp_path / "runs" / "sopi-stand-in" / "checkpoint.pt"
    stamp = ckpt.stat().st_mtime_ns
    again = E.orn_curve("smoke", steps=4, every=2, arms=["sopi-stand-in"], folder=tmp_path / "runs")
    label = "teacher's labels, from the stand-in"
    assert ckpt.stat().st_mtime_ns == stamp and again["arms"][label]["curve"] == rec["arms"][label]["curve"]
    assert again["arms"][label]["against"] == rec["arms"][label]["against"]
    with pytest.raises(FacelibError, match="unknown ORN arm"):
        E.orn_curve("smoke", arms=["sopi-oracle"], folder=tmp_path / "runs")


def test_rogue_arms_are_paired_with_r_net_continued_on_the_invariance_metrics(tmp_path, ict):
    """``python -m facelib mechanism rogue`` at smoke, two arms: R-Net continued on clean faces is the
    reference; every arm and chapter 5's R-Net are scored on the three views, on ROGUE's metrics."""
    from facelib import experiments as E
    from facelib import methods, profile

    rec = E.rogue_arms("smoke", arms=["rnet-continued", "rogue", "rogue-no-consistency"], steps=3,
                       folder=tmp_path / "runs", out=tmp_path / "rogue.json", logs=tmp_path / "logs")
    smoke = profile.resolve("smoke")
    for method, _, options in E.ROGUE_ARMS.values():  # every arm's options build as the experiment builds them
        assert methods.build(method, ict, smoke, **methods.stand_in_options(smoke, options)).name == method
    control = next(iter(E.ROGUE_ARMS))
    variant = "ROGUE without L_C (β_C = 0)"
    assert list(rec["arms"]) == [E.ROGUE_START, control, E.ROGUE_PAPER, variant]
    assert list(rec["against_paper"]) == [variant]  # the variant also paired with the paper's arm
    for view in M.ROGUE_VIEWS[1:]:
        cells = rec["arms"][control][view]
        assert set(cells) == set(M.ROGUE_METRICS)
        assert all(c["minus_reference"]["estimate"] == 0 for c in cells.values())  # the reference itself
        rogue = rec["arms"]["ROGUE (paper)"][view]
        assert rogue["invariance_albedo"]["mean"]["estimate"] > 0  # C_O's colour moves from C_G's
        assert rogue["invariance_identity_mm"]["minus_reference"]["estimate"] == pytest.approx(
            rogue["invariance_identity_mm"]["mean"]["estimate"] - cells["invariance_identity_mm"]["mean"]["estimate"])
        for metric, cell in rec["against_paper"][variant][view].items():
            assert cell["mean"] == rec["arms"][variant][view][metric]["mean"]
            assert cell["minus_reference"]["estimate"] == pytest.approx(
                cell["mean"]["estimate"] - rogue[metric]["mean"]["estimate"])
    assert (tmp_path / "logs" / "rogue-rogue.jsonl").is_file() and set(rec["training_seconds"]) == {
        control, E.ROGUE_PAPER, variant}
    assert json.loads((tmp_path / "rogue.json").read_text()) == rec
    with pytest.raises(FacelibError, match="unknown ROGUE arm"):
        E.rogue_arms("smoke", arms=["rogue-cold"], folder=tmp_path / "runs")


def test_mopi_balance_weights_l_perc_by_the_gradient_ratio_its_first_arm_measured(tmp_path, monkeypatch):
    """``python -m facelib mechanism orn-departures`` at smoke: the first arm is MOPI as chapter 6 builds
    it, the second multiplies L_perc's weight by the first's measured gradient ratio (two significant
    figures); each arm is paired with the other, SOPI and R-Net on the random patterns."""
    from facelib import experiments as E
    from facelib.methods.orn import MOPI_WEIGHTS

    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "chapters"))  # every chapter's runs away from the checkout's
    chapter = tmp_path / "chapters" / "06_orn" / "smoke" / "mopi"
    rec = E.mopi_balance("smoke", steps=3, folder=tmp_path / "runs", out=tmp_path / "mopi.json", logs=tmp_path / "logs")
    (first, a), (second, b) = rec["arms"].items()
    # at other steps than the chapter's, the first arm is not chapter 6's run: it trains beside the other
    assert (tmp_path / "runs" / "mopi" / "log.jsonl").is_file() and (tmp_path / "runs" / "mopi-balanced").is_dir()
    assert not chapter.exists()
    assert a["weights"] == MOPI_WEIGHTS
    assert rec["gradient_ratio"] == pytest.approx(E.gradient_ratio(
        [json.loads(x) for x in (tmp_path / "logs" / "orn-mopi.jsonl").read_text().splitlines()]))
    assert b["weights"]["perceptual"] == pytest.approx(float(f"{rec['gradient_ratio']:.2g}") * MOPI_WEIGHTS["perceptual"])
    assert b["weights"]["label"] == MOPI_WEIGHTS["label"]
    assert set(b["against"]) == {"R-Net (the teacher)", "SOPI (chapter 6)", first}
    with pytest.raises(FacelibError, match="no gradient norms"):
        E.gradient_ratio([{"step": 1, "losses": {"label": 1.0}}])


def test_gradient_ratio_is_the_mean_of_the_logged_ratios():
    from facelib import experiments as E

    log = [{"step": 10, "losses": {"grad_label": 30.0, "grad_perceptual": 1.0}},
           {"step": 20, "losses": {"grad_label": 10.0, "grad_perceptual": 1.0}},
           {"step": 20, "val": {"landmark_me_clean": 5.0}}, {"step": 25, "losses": {"label": 1.0}}]
    assert E.gradient_ratio(log) == pytest.approx(20.0)


def test_the_mechanism_command_refuses_options_an_experiment_does_not_take():
    from facelib import cli

    for argv, words in ((["mechanism", "focus-departures", "--every", "3"], "does not take --every"),
                        (["mechanism", "rogue", "--steps", "3"], "does not take --steps (it takes --arm)"),
                        (["mechanism", "orn-departures", "--arm", "mopi"], "(it takes none of them)"),
                        (["mechanism", "focus", "--arm", "x"], "it takes --segment-steps, --every")):
        with pytest.raises(FacelibError, match=words.replace("(", r"\(").replace(")", r"\)")):
            cli.main(argv + ["--profile", "smoke", "--quiet"])


def test_the_contour_chain_scores_each_source_of_contours_beside_the_fills(tmp_path):
    """``python -m facelib mechanism contour`` at smoke, the paper's and the oracle's arms: the chain's
    three stages trained (no regression stage), scored inside the true mask beside the mean and blur
    fills, R-Net on the occluded and clean images at the two ends; the paper's arm is the reference."""
    from facelib import experiments as E
    from facelib.evaluation import mechanisms as M

    rec = E.contour_chain("smoke", arms=["generated", "true"], folder=tmp_path / "runs", out=tmp_path / "c.json",
                          logs=tmp_path / "logs")
    paper, oracle = list(E.CONTOUR_ARMS)[:2]
    assert rec["reference"] == paper and rec["split"] == "val" and rec["faces"] > 0
    assert set(rec["rows"]) == {paper, oracle, "mean fill", "blur fill", "R-Net on the occluded input",
                                "R-Net on the clean twin"}
    assert set(rec["rows"][oracle]) == set(M.CONTOUR_SCORES) and "minus_reference" in rec["rows"][oracle]["psnr"]
    assert "minus_reference" not in rec["rows"][paper]["psnr"]
    assert "below_occluded_input" in rec["rows"]["mean fill"]["rnet_landmark_me"]
    assert set(rec["rows"]["R-Net on the clean twin"]) == {"rnet_landmark_me"}
    assert (tmp_path / "logs" / "contour-true-contours.jsonl").is_file()
    from facelib.train import read_log

    # the true mask everywhere: no mask stage; the oracle needs no contour stage either
    for label, source in ((paper, "generated"), (oracle, "true")):
        logged = [e for e in read_log(tmp_path / "runs" / f"contour-{source}-contours") if "losses" in e]
        assert max(e["step"] for e in logged) == rec["steps"][label]
        stages = {e["losses"]["stage"] for e in logged}
        assert stages == ({1.0, 2.0} if source == "generated" else {2.0})
    table = M.contour_markdown(rec)
    assert "| no contours |" not in table and f"| {oracle} |" in table
    # a difference to the reference in the cell's own precision: PSNR to 0.01 dB, SSIM to 0.001
    assert re.search(r"\| [\d.]+ \[[\d.]+, [\d.]+\] \([+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\], better: ", table)
    assert re.search(r"\([+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\], better: ", table)
    with pytest.raises(FacelibError, match="unknown contour arm"):
        E.contour_chain("smoke", arms=["drawn"], folder=tmp_path / "runs")


def _committed(name: str) -> dict:
    from facelib.results import project_root

    return json.loads((project_root() / "results" / "mechanisms" / f"{name}-cpu.json").read_text())


def test_the_committed_orn_record_has_every_arm_and_agrees_with_itself():
    """``results/mechanisms/orn-cpu.json``: the three arms, each scored every 1,500 steps (the stand-in
    arm only at the chapter's), each later arm paired with chapter 6's at its own last step, and every
    "within 20 %" verdict the one its interval gives."""
    from facelib import experiments as E
    from facelib.evaluation.protocols.orn import TOLERANCE

    rec = _committed("orn")
    assert rec["faces"] == 400 and list(rec["arms"]) == list(E.ORN_ARMS)
    chapter = rec["schedule"]["chapter_steps"]
    for label, arm in rec["arms"].items():
        whole = E.ORN_ARMS[label][2]
        steps = [e["step"] for e in arm["curve"]]
        assert steps == (list(range(chapter, rec["schedule"]["steps"] + 1, rec["schedule"]["every"])) if whole
                         else [chapter])
        for e in [*arm["curve"], rec["teacher"]]:
            for c in M.ORN_CONDITIONS:
                assert e[c]["within"] == stats.verdict(stats.Interval(**e[c]["change"]), TOLERANCE, "below")
        if label != next(iter(E.ORN_ARMS)):
            assert arm["against"]["arm"] == next(iter(E.ORN_ARMS)) and arm["against"]["step"] == steps[-1]
            assert set(arm["against"]) == {"arm", "step", "unoccluded", *M.ORN_CONDITIONS}


def test_the_committed_orn_departures_record_weights_l_perc_by_its_own_measured_ratio():
    """``results/mechanisms/orn-departures-cpu.json``: MOPI with Eq. 9's weights, then with L_perc's
    weight times the gradient ratio measured in that arm's committed log (two significant figures);
    each arm paired with the baselines and the arms before it, every "within 20 %" verdict the one
    its interval gives."""
    from facelib import experiments as E
    from facelib.evaluation.protocols.orn import TOLERANCE
    from facelib.methods.orn import MOPI_WEIGHTS
    from facelib.results import project_root

    rec = _committed("orn-departures")
    (first, a), (second, b) = rec["arms"].items()
    assert [first, second] == list(E.MOPI_ARMS) and a["weights"] == MOPI_WEIGHTS
    log = project_root() / "results" / "mechanisms" / "logs" / "cpu" / "orn-mopi.jsonl"
    ratio = E.gradient_ratio([json.loads(x) for x in log.read_text().splitlines()])
    assert rec["gradient_ratio"] == pytest.approx(ratio)
    assert b["weights"] == {"perceptual": pytest.approx(float(f"{ratio:.2g}") * MOPI_WEIGHTS["perceptual"]),
                            "label": MOPI_WEIGHTS["label"]}
    assert set(a["against"]) == set(rec["baselines"]) and set(b["against"]) == {*rec["baselines"], first}
    for arm in (a, b, *rec["baselines"].values()):
        for c in M.ORN_CONDITIONS:
            assert arm[c]["within"] == stats.verdict(stats.Interval(**arm[c]["change"]), TOLERANCE, "below")


def test_the_committed_contour_record_pairs_each_row_with_the_paper_s_arm():
    """``results/mechanisms/contour-cpu.json``: each row's difference is its mean less the reference's
    (paired over the same faces) and its verdict the one its interval gives."""
    rec = _committed("contour")
    rows, ref = rec["rows"], rec["reference"]
    assert (rec["faces"], rec["identities"]) == (400, 50) and ref in rows
    for row in rows.values():
        for score, cell in row.items():
            if "minus_reference" not in cell:
                continue
            d = cell["minus_reference"]
            assert d["estimate"] == pytest.approx(cell["mean"]["estimate"] - rows[ref][score]["mean"]["estimate"])
            assert cell["better"] == stats.verdict(stats.Interval(**d), 0.0,
                                                   "below" if score == "rnet_landmark_me" else "above")


def test_the_committed_rogue_record_has_every_arm_paired_with_the_control():
    """``results/mechanisms/rogue-cpu.json``: chapter 5's R-Net and the four arms on the three views,
    each metric's difference the arm's mean less the control's (the variants' also less the paper's
    ROGUE's), its verdict the one its interval gives."""
    from facelib import experiments as E

    rec = _committed("rogue")
    control = next(iter(E.ROGUE_ARMS))
    assert list(rec["arms"]) == [E.ROGUE_START, *E.ROGUE_ARMS] and (rec["faces"], rec["identities"]) == (400, 50)
    assert set(rec["training_seconds"]) == set(E.ROGUE_ARMS)
    for views in rec["arms"].values():
        assert set(views) == set(M.ROGUE_VIEWS)
        for view, cells in views.items():
            for metric, cell in cells.items():
                d = cell["minus_reference"]
                assert d["estimate"] == pytest.approx(cell["mean"]["estimate"]
                                                      - rec["arms"][control][view][metric]["mean"]["estimate"])
                assert cell["better"] == stats.verdict(stats.Interval(**d), 0.0, "above" if metric in
                                                       M.HIGHER_IS_BETTER else "below")
    variants = [k for k in E.ROGUE_ARMS if k not in (control, E.ROGUE_PAPER)]
    assert list(rec["against_paper"]) == variants  # and each variant paired with the paper's ROGUE
    for label in variants:
        for view, cells in rec["against_paper"][label].items():
            for metric, cell in cells.items():
                assert cell["mean"] == rec["arms"][label][view][metric]["mean"]
                assert cell["minus_reference"]["estimate"] == pytest.approx(
                    cell["mean"]["estimate"] - rec["arms"][E.ROGUE_PAPER][view][metric]["mean"]["estimate"])
                assert cell["better"] == stats.verdict(stats.Interval(**cell["minus_reference"]), 0.0, "above"
                                                       if metric in M.HIGHER_IS_BETTER else "below")


def test_the_committed_contour_departure_record_shows_the_trained_reader_collapse():
    """``results/mechanisms/contour-departures-cpu.json`` (DESIGN-NOTES 46): both arms of
    :data:`mechanisms.CONTOUR_DEPARTURES`, the first the reference; each difference its mean less the
    reference's, and the trained reader's regression stage worse on every occluded error the
    default was chosen on, each interval excluding zero."""
    rec = _committed("contour-departures")
    arms = rec["arms"]
    assert list(arms) == list(M.CONTOUR_DEPARTURES) and (rec["faces"], rec["identities"]) == (400, 50)
    frozen, trained = (arms[label]["occluded"] for label in M.CONTOUR_DEPARTURES)
    for metric in ("landmark_me", "shape_v2v_mm", "identity_v2v_mm", "perceptual_dlib"):
        d = stats.Interval(**trained[metric]["minus_reference"])
        assert d.estimate == pytest.approx(trained[metric]["mean"]["estimate"] - frozen[metric]["mean"]["estimate"])
        assert d.low > 0 and trained[metric]["better"] == stats.FAILS, metric


def test_every_chapter_section_reads_its_committed_record_and_states_each_must_show_with_a_verdict():
    from facelib.evaluation import mechanisms

    for name in mechanisms.EXPERIMENTS:
        text = mechanisms.section(name, "cpu")
        assert text.startswith("**What must show**"), name
        lines = [line for line in text.splitlines() if line.startswith("- ")]
        assert lines and all(any(f"**{v}**" in line for v in ("holds", "does not hold", "undecided")) or
                             " from step " in line for line in lines), name
    rogue = mechanisms.section("rogue", "cpu")  # the record's first must-show: ROGUE moves less than the control
    assert ("ROGUE (paper) − R-Net continued on clean faces, moves from clean: vertices (mm), occluded faces, below 0: "
            "**holds** (-0.092 [-0.141, -0.042])") in rogue
    assert "*Not run at the smoke profile*" in mechanisms.section("focus", "smoke")
    with pytest.raises(FacelibError, match="unknown mechanism experiment"):
        mechanisms.section("mofa", "cpu")
