"""Paired bootstrap intervals and computed verdicts (facelib.stats), and the per-face values the
evaluation stores so that tables and sentences can carry them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def test_a_photos_unoccluded_row_pairs_with_each_occluded_copy_of_that_photo():
    """Chapter 6's real photos: one unoccluded row per photo (faces 0-2) against the photos under
    each of two occluders (faces 0-5, photo = face % 3). Face 3 is photo 0 again, not photo 3."""
    clean = {"faces": [0, 1, 2], "identities": [0, 1, 2], "per_face": {"x": [1.0, 2.0, 4.0]}}
    covered = {"faces": list(range(6)), "identities": [0, 1, 2, 0, 1, 2],
               "per_face": {"x": [1.5, 3.0, 6.0, 2.0, 4.0, 8.0]}}  # ×1.5 under one occluder, ×2 the other
    M = {"a": {"photos": {"unoccluded": clean, "natural": covered}}}
    iv = tables.change_between(M, "a", "natural", "unoccluded", "x", section="photos")
    assert iv.estimate == pytest.approx(75.0) and iv.n == 6 and iv.clusters == 3
    back = tables.change_between(M, "a", "unoccluded", "natural", "x", section="photos")  # the other way round
    assert back.estimate == pytest.approx(100 * (7 / 12.25 - 1)) and back.n == 6 and back.clusters == 3
    # faces 8-15 of a synthetic set are other faces of identity 1, not copies of face 1: by index
    synthetic = {"faces": [0, 8], "identities": [0, 1], "per_face": {"x": [1.0, 2.0]}}
    M["a"]["photos"]["subset"] = synthetic
    assert tables.change_between(M, "a", "natural", "subset", "x", section="photos").n == 1
    M["a"]["photos"]["unoccluded"] = {"faces": [0, 1], "identities": [0, 1], "per_face": {"x": [1.0, 2.0]}}
    with pytest.raises(KeyError, match=r"identities \[2\]"):  # photo 2's unoccluded row is missing
        tables.change_between(M, "a", "natural", "unoccluded", "x", section="photos")
    del M["a"]["photos"]["natural"]["identities"]  # no identities: faces 0-1 pair, by index
    assert tables.change_between(M, "a", "natural", "unoccluded", "x", section="photos").n == 2


def test_interval_grid_prints_each_cell_with_its_interval_and_a_dash_where_missing():
    from facelib.evaluation import tables

    M = {"A": {"views": {"clean": {"faces": [0, 1, 2, 3, 4], "per_face": {"x": [1.0] * 5}}}},
         "B": {"views": {"clean": {"faces": [0, 1], "per_face": {"y": [2.0, 2.0]}}}}}
    text = tables.interval_grid(M, ["A", "B"], [("x on clean", "clean", "x"), ("y", "clean", "y")], labels={"A": "a"})
    assert text.splitlines()[0] == "| method | x on clean | y |"
    assert "| a | 1.00 [1.00, 1.00] | – |" in text and "| B | – | 2.00 [2.00, 2.00] |" in text


def test_the_cluster_bootstrap_resamples_identities_and_covers_where_faces_one_by_one_do_not():
    """25 identities × 8 faces whose difference is mostly the person's: resampling faces treats 200
    draws as independent and misses the true difference far more often than 5 %; resampling
    identities covers it about 95 % of the time, with an interval about √8 wider."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(25), 8)
    covered = {"faces": 0, "identities": 0}
    widths = {"faces": [], "identities": []}
    trials = 200
    for t in range(trials):
        person = rng.normal(0.0, 1.0, 25)[groups]  # shared by a person's 8 faces
        b = rng.normal(10.0, 1.0, 200)
        a = b + 0.5 + person + rng.normal(0.0, 0.1, 200)  # true mean difference 0.5
        for name, g in (("faces", None), ("identities", groups)):
            iv = stats.paired_difference(a, b, groups=g, resamples=2000, seed=t)
            covered[name] += iv.low <= 0.5 <= iv.high
            widths[name].append(iv.high - iv.low)
    assert covered["identities"] / trials >= 0.88 and covered["faces"] / trials <= 0.6, covered
    assert 2.0 < np.median(widths["identities"]) / np.median(widths["faces"]) < 3.5
    iv = stats.paired_difference(a, b, groups=groups)
    assert iv.clusters == 25 and iv.n == 200 and iv.units == 25
    assert stats.decide("a above b", iv, 0.0, "above").sentence().endswith("interval over 200 faces of 25 identities)")


def test_cluster_intervals_need_identities_and_one_label_per_face():
    rng = np.random.default_rng(4)
    a, b = rng.normal(1.0, 0.1, 16), rng.normal(2.0, 0.1, 16)
    # a large effect, but all 16 faces from 4 people: too few identities to decide anything
    few = stats.paired_change(a, b, groups=np.repeat(np.arange(4), 4))
    assert few.high < 0 and few.clusters == 4 and stats.verdict(few) == stats.UNDECIDED
    assert stats.verdict(stats.paired_change(a, b)) == stats.HOLDS  # as 16 independent faces
    # one identity per face: the same bootstrap as faces one by one (up to resampling noise)
    own = stats.mean_interval(a, groups=np.arange(16))
    plain = stats.mean_interval(a)
    assert own.clusters == 16 and own.estimate == plain.estimate
    assert abs(own.low - plain.low) < 0.01 and abs(own.high - plain.high) < 0.01
    # NaN faces drop out with their labels
    a[0] = np.nan
    assert stats.paired_difference(a, b, groups=np.repeat(np.arange(4), 4)).n == 15
    with pytest.raises(FacelibError, match="15 identity labels for 16 values; give one per face"):
        stats.mean_interval(b, groups=np.arange(15))


def test_tables_resample_the_identities_a_row_stores_and_faces_where_it_stores_none():
    rng = np.random.default_rng(5)
    faces = list(range(40))
    person = np.repeat(rng.normal(0, 1, 5), 8)
    a, b = 10 + person + rng.normal(0, 0.1, 40), 10 + rng.normal(0, 0.1, 40)
    M = {m: {"views": {"clean": {"faces": faces, "per_face": {"x": list(v)}}}} for m, v in (("a", a), ("b", b))}
    plain = tables.difference_against(M, "a", "b", "clean", "x")
    assert plain.clusters == 0 and tables.interval_of(M, "a", "clean", "x").clusters == 0
    for m in M:
        M[m]["views"]["clean"]["identities"] = [f // 8 for f in faces]
    by_person = tables.difference_against(M, "a", "b", "clean", "x")
    assert by_person.clusters == 5 and by_person.estimate == plain.estimate
    assert by_person.high - by_person.low > 2 * (plain.high - plain.low)  # the person's offset is shared
    assert tables.interval_of(M, "a", "clean", "x").clusters == 5
    assert tables.change_between({"a": {"views": {**M["a"]["views"], "noisy": M["b"]["views"]["clean"]}}},
                                 "a", "noisy", "clean", "x").clusters == 5


def test_the_stored_verdicts_are_found_and_recomputed_resampling_identities(tmp_path, monkeypatch):
    """A chapter's glued claim is traced back to the comparison that made it (the estimate and the
    printed interval must both match) and recomputed over identities; a glued number no comparison
    makes is reported as not found."""
    import json

    from facelib import stats
    from facelib.chapter import glue_claims
    from facelib.evaluation import verdicts

    rng = np.random.default_rng(6)
    faces, person = list(range(40)), np.repeat(rng.normal(0, 1, 5), 8)
    a, b = 10 + 0.3 + person + rng.normal(0, 0.1, 40), 10 + rng.normal(0, 0.1, 40)
    rows = {m: {"views": {"occluded": {"faces": faces, "identities": [f // 8 for f in faces],
                                       "per_face": {"landmark_me": list(v)}}}} for m, v in (("A", a), ("B", b))}
    face_level = stats.paired_change(a, b)  # what the stored chapter computed: faces one by one
    claims = {"a_above_b": stats.decide("A above B", face_level, 0.0, "above", unit=" %"),
              "made_up": stats.decide("nothing", stats.Interval(1.234567, 1.0, 2.0, 40), 0.0, "above")}
    outputs = []
    import facelib.chapter as chapter_module
    monkeypatch.setattr(chapter_module, "glue", lambda name, value, display=False: outputs.append(
        {"output_type": "display_data", "metadata": {"scrapbook": {"name": name}},
         "data": {verdicts.GLUE_MIME: repr(value)}}))
    glue_claims("ch", claims, "+.2f", " %")
    book = tmp_path / "book"
    book.mkdir()
    (book / "05_x.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": outputs}]}))
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path / "results"))
    (tmp_path / "results" / "05_x" / "p").mkdir(parents=True)
    (tmp_path / "results" / "05_x" / "p" / "metrics.json").write_text(json.dumps({"metrics": rows}))
    records = {r["claim"]: r for r in verdicts.recompute("p", book)}
    found = records["ch_a_above_b"]
    assert found["recipe"] == {"kind": "change_against", "a": ["A", "views", "occluded"],
                               "b": ["B", "views", "occluded"], "metric": "landmark_me"}
    assert found["faces"]["low"] == face_level.low and found["stored"]["verdict"] == stats.HOLDS
    assert found["identities"]["clusters"] == 5 and found["verdict"] == stats.UNDECIDED  # 5 people: too wide
    assert records["ch_made_up"]["recipe"] is None
    summary = verdicts.summary(list(records.values()))
    assert summary["verdict_changed"] == 1 and summary["not_found"] == ["05_x ch_made_up"]


def test_the_seed_control_calls_noise_undecided_and_a_real_shift_a_difference():
    from facelib.evaluation.controls import seed_comparisons

    rng = np.random.default_rng(7)
    faces = list(range(80))
    who = [f // 8 for f in faces]
    base = 5 + np.repeat(rng.normal(0, 1, 10), 8)
    rows = {name: {"views": {"clean": {"faces": faces, "identities": who,
                                       "per_face": {"landmark_me": list(base + rng.normal(0, 0.3, 80)),
                                                    "shape_v2v_mm": list(base + rng.normal(0, 0.3, 80) + shift)}}}}
            for name, shift in (("seed 0", 0.0), ("seed 1", 1.0))}
    out = {(r["view"], r["metric"]): r for r in seed_comparisons(rows, "seed 1", "seed 0")}
    assert set(out) == {("clean", "landmark_me"), ("clean", "shape_v2v_mm")}  # absent metrics and views skipped
    assert out[("clean", "landmark_me")]["verdict"] == stats.UNDECIDED
    assert out[("clean", "shape_v2v_mm")]["verdict"] == "differs"
    assert out[("clean", "shape_v2v_mm")]["change_pct"]["clusters"] == 10


def test_a_seed_draws_other_initial_weights_and_needs_its_own_run_folder(ict):
    from facelib import methods
    from facelib import profile as profiles
    from facelib.cli import run_folder

    prof = profiles.resolve("smoke")
    first, again, other = (methods.build("rnet", ict, prof, **kw) for kw in ({}, {"seed": 0}, {"seed": 1}))
    w = [m.nets["encoder"].state_dict() for m in (first, again, other)]
    conv = next(k for k in w[0] if k.endswith("weight") and w[0][k].dim() == 4)
    assert torch.equal(w[0][conv], w[1][conv]) and not torch.equal(w[0][conv], w[2][conv])
    with pytest.raises(FacelibError, match="--set, --seed or --warm-start makes a variant of rnet"):
        run_folder("rnet", prof, None, {"seed": 1})


def test_the_seed_control_refuses_a_method_built_from_another_run_with_a_clear_message(tmp_path):
    from facelib import experiments

    with pytest.raises(FacelibError, match=r"sopi needs \['rnet'\]"):  # on the first base: no run layer to build it
        experiments.controls("seeds", "smoke", "sopi", before_stand_in=True, out=tmp_path / "seeds.json")
    with pytest.raises(FacelibError, match="unknown control 'sedes'"):
        experiments.controls("sedes", "smoke")
    assert not (tmp_path / "seeds.json").exists()


def test_the_controls_load_a_chapter_run_of_the_same_signature_and_never_train_into_it(tmp_path, monkeypatch):
    """On the book's base the seed-0 arm is chapter 5's R-Net when its finished run has the arm's
    signature; another seed, or a chapter run of another signature, trains in the controls' folder."""
    from facelib import experiments, results, train
    from facelib.checkpoints import CHECKPOINT

    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))
    base = experiments.controls_base("smoke")
    assert base.prof.name == "smoke" and "stand-in" in base.name
    seed0, seed1 = base.build("rnet", {"seed": 0}), base.build("rnet", {"seed": 1})
    assert base.folder(seed0, {"seed": 0}, "rnet-seed0") is None  # chapter 5 has not trained it here
    chapter_run = results.run_dir("05_baselines", "smoke", "rnet")
    chapter_run.mkdir(parents=True)
    signature = train.signature_on_set(seed0, base.root, base.prof, seed=0)
    for finished, sig, arm, options, expected in ((True, signature, seed0, {"seed": 0}, chapter_run),
                                                  (True, signature, seed1, {"seed": 1}, None),
                                                  (False, signature, seed0, {"seed": 0}, None),
                                                  (True, "another", seed0, {"seed": 0}, None)):
        torch.save({"finished": finished, "signature": sig, "step": 1, "state": {}, "rng": {}}, chapter_run / CHECKPOINT)
        assert base.folder(arm, options, "rnet-seed") == expected


def test_an_interval_is_quoted_as_prose_quotes_it():
    from facelib.stats import Interval, bracket

    iv = Interval(-18.41, -21.62, -15.33, 200, clusters=25)
    assert iv.bracket() == "[-21.6, -15.3]" and iv.bracket("+.0f", " %") == "[-22, -15] %"
    assert bracket(5.68, 9.72, ".2f") == "[5.68, 9.72]"
    assert iv.format(".1f", "%") == "-18.4 % [-21.6, -15.3]"
