"""The chapters' rows off the reference path (facelib.ablations): made once, committed, read back only
when they come from the training the chapter would make now."""

import json

import pytest

from facelib import ablations
from facelib.errors import FacelibError


def test_an_arm_trains_or_refines_and_names_known_sections():
    with pytest.raises(FacelibError, match="either a method to train or the run it refines"):
        ablations.Arm("x")
    with pytest.raises(FacelibError, match="either a method to train or the run it refines"):
        ablations.Arm("x", "rnet", refines="rnet")
    with pytest.raises(FacelibError, match="only a method that starts from the stand-in"):
        ablations.Arm("x", "pretrain", start="rnet")
    with pytest.raises(FacelibError, match="only a method that starts from the stand-in"):
        ablations.Arm("x", refines="rnet", start="rnet")
    with pytest.raises(FacelibError, match="unknown sections"):
        ablations.Arm("x", "rnet", sections=("views", "colour"))
    with pytest.raises(FacelibError, match="declared twice"):
        ablations.declare("99_test", ablations.Arm("x", "rnet"), ablations.Arm("x", "mofa"))
    assert "99_test" not in ablations.DECLARED
    for chapter, arms in ablations.DECLARED.items():  # every declared arm's method or refined run is registered
        from facelib import methods
        for arm in arms:
            assert methods.chapter_of(arm.method or arm.refines)
            assert chapter in {"05_baselines", "06_orn", "07_rogue", "08_focus", "09_contour"}


def test_rows_are_made_committed_and_read_back_only_from_the_same_training(tmp_path, monkeypatch):
    """At smoke, in a scratch chapter: an arm trained with its own options and a refinement row of
    chapter 5's R-Net are made, written with their logs, then read back without training; an arm
    whose declaration changes makes its committed row stale, refused with the command unless asked
    to make it now."""
    from facelib import profile
    from facelib.data import synthetic

    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path / "results"))
    smoke = profile.resolve("smoke")
    root, model = synthetic.prepared(smoke, False)
    arms = (ablations.Arm("rnet_lr", "rnet", {"lr": 2e-4}, views=("clean",)),
            ablations.Arm("R-Net + refinement", refines="rnet", sections=("views", "shape_breakdown"), views=("clean",)),
            ablations.Arm("rnet_continued", "rnet", start="rnet", views=("clean",)))
    monkeypatch.setitem(ablations.DECLARED, "99_test", arms)
    made = ablations.rows("99_test", smoke, root, model)  # smoke makes missing rows now
    path = tmp_path / "results" / "99_test" / "smoke" / ablations.FILE
    committed = json.loads(path.read_text())
    assert committed["rows"] == made and list(made) == ["rnet_lr", "R-Net + refinement", "rnet_continued"]
    warm = made["rnet_continued"]["training"]["hyperparameters"]["warm_start"]  # from chapter 5's R-Net, not the stand-in
    assert warm["method"] == "rnet" and warm["run_signature"] == made["R-Net + refinement"]["training"]["run"]
    assert set(made["rnet_lr"]["views"]) == {"clean"} and made["rnet_lr"]["views"]["clean"]["landmark_me"]["mean"] > 0
    assert made["rnet_lr"]["training"]["hyperparameters"]["arguments"]["encoder"]["lr"] == 2e-4
    assert made["R-Net + refinement"]["training"]["refinement"]["steps"] == smoke.refine_steps
    assert made["R-Net + refinement"]["key"].startswith(
        made["R-Net + refinement"]["training"]["run"] + " measures views shape_breakdown views=clean refined ")
    breakdown = made["R-Net + refinement"]["shape_breakdown"]  # the chapter's shape table, for the refined row
    assert breakdown["images"] == min(smoke.test_faces or 10**9, len(made["R-Net + refinement"]["views"]["clean"]["faces"]))
    assert breakdown["both"] > 0 and -1 <= breakdown["identity_cosine"] <= 1
    # a refinement row refines the run trained with its options (chapter 8's FOCUS with the code's preserve weight)
    refined_lr = ablations.expected_key(ablations.Arm("x", refines="rnet", options={"lr": 2e-4}), smoke, root, model)
    assert refined_lr.startswith(made["rnet_lr"]["training"]["signature"] + " measures views views=")
    logged = ablations.committed_run("99_test", smoke, "rnet_lr")  # read from the committed log, nothing trained
    assert logged.losses()[-1]["step"] == smoke.train_steps and logged.status == "loaded (finished earlier)"
    assert logged.training_seconds == pytest.approx(made["rnet_lr"]["training"]["seconds"], abs=0.06)
    with pytest.raises(FacelibError, match="no committed log of run 'R-Net"):
        ablations.committed_run("99_test", smoke, "R-Net + refinement")

    from facelib import results
    results.add_to_metrics("99_test", smoke, "R-Net + refinement", "config", "an earlier run's")
    results.add_to_metrics("99_test", smoke, "R-Net", "views", "the chapter's own row")
    ablations.store("99_test", smoke, made)  # beside the chapter's rows; each ablation row replaced whole
    stored = results.read_metrics("99_test", "smoke")["metrics"]
    assert {k: stored[k] for k in made} == made and stored["R-Net"]["views"] == "the chapter's own row"

    stamp = path.stat().st_mtime_ns
    assert ablations.rows("99_test", smoke, root, model, make=False) == made and path.stat().st_mtime_ns == stamp
    changed = (ablations.Arm("rnet_lr", "rnet", {"lr": 3e-4}, views=("clean",)), *arms[1:])
    monkeypatch.setitem(ablations.DECLARED, "99_test", changed)
    with pytest.raises(FacelibError, match=r"row 'rnet_lr' is not this arm's.*"
                                           r"python -m facelib ablations --chapter 99_test --profile smoke"):
        ablations.rows("99_test", smoke, root, model, make=False)
    monkeypatch.setitem(ablations.DECLARED, "99_test", (ablations.Arm("rnet_lr", "rnet", {"lr": 2e-4}), *arms[1:]))
    with pytest.raises(FacelibError, match=r"row 'rnet_lr' is not this arm's"):  # the same training, more views
        ablations.rows("99_test", smoke, root, model, make=False)
    monkeypatch.setitem(ablations.DECLARED, "99_test", arms[1:])  # an arm no longer declared is not read
    assert list(ablations.rows("99_test", smoke, root, model, make=False)) == ["R-Net + refinement", "rnet_continued"]
    monkeypatch.setitem(ablations.DECLARED, "99_test", arms)
    assert ablations.run("99_test", smoke, root, model)["rows"] == made  # made rows are kept, not evaluated again
    monkeypatch.setitem(ablations.DECLARED, "99_test", (*arms, ablations.Arm("mofa", "mofa", views=("clean",))))
    with pytest.raises(FacelibError, match="row 'mofa' is missing"):
        ablations.rows("99_test", smoke, root, model, make=False)
