"""Adding a method: one declaration (:func:`facelib.methods.register`), the same call the book's
methods use, and the command line's run folders, the training loop, the evaluation runner and the
benchmark's rows and tables all know it."""

from __future__ import annotations

import pytest
import torch
from toys import tiny_synthetic_set

from facelib import benchmark, methods, profile, results, train
from facelib.errors import FacelibError
from facelib.evaluation import runner
from facelib.evaluation.protocols import benchmark as protocol
from facelib.methods.base import Prediction, Predictor

TOY = methods.Declaration("landmark_toy", "toys:LandmarkRegressor", "99_toy", (methods.Row("landmark toy"),))


@pytest.fixture
def registered():
    methods.register(TOY)
    try:
        yield TOY
    finally:
        methods.unregister(TOY.name)


def test_a_registered_method_trains_evaluates_and_joins_the_benchmark(registered, ict, tmp_path_factory, tmp_path,
                                                                       monkeypatch):
    from facelib import cli

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))
    root = tiny_synthetic_set(tmp_path_factory, ict, "registry", seed=5)
    prof = profile.override(profile.resolve("smoke"), batch_size=4, train_steps=3, test_faces=6)
    # what the registry now says about it
    assert "landmark_toy" in methods.names() and methods.chapter_of("landmark_toy") == "99_toy"
    assert cli.run_folder("landmark_toy", prof, None, {}) == results.run_dir("99_toy", prof.name, "landmark_toy")
    assert protocol.row_of("landmark toy") == protocol.Row("landmark toy", "99_toy", "landmark toy")
    assert [r.label for r in protocol.benchmark_rows()][-1] == "landmark toy"
    # training: built by name, trained by the one loop into its chapter's run folder
    method = methods.build("landmark_toy", ict, prof)
    result = train.train_on_set(method, root, results.run_dir("99_toy", prof.name, "landmark_toy"), prof,
                                progress=False)
    assert result.steps == 3 and isinstance(method, Predictor)
    # the benchmark loads the finished run through the declaration and evaluates the declared row
    trained = benchmark.trained_methods(ict, prof, ["landmark toy"])
    predictor = benchmark.predictor("landmark toy", trained, ict, prof, root)
    images = torch.rand(2, 3, 64, 64)
    assert isinstance(predictor.predict(images), Prediction)
    assert torch.equal(predictor.predict(images).coefficients, method.predict(images).coefficients)
    runner.evaluate(predictor, root, method="landmark toy", chapter="99_toy", profile=prof, limit=prof.test_faces,
                    views=("clean", "occluded"), embedders=(), progress=False)
    metrics, sources = protocol.assemble(prof.name, rows=(protocol.row_of("landmark toy"),), own={})
    assert sources == {"landmark toy": {"clean": "99_toy", "occluded": "99_toy"}}
    table = protocol.grid(metrics, "landmark_me", conditions=("clean", "occluded"))
    assert "landmark toy" in table and table.count("\n") >= 2


def test_registration_refuses_a_taken_name_or_label(registered):
    with pytest.raises(FacelibError, match="already registered"):
        methods.register(TOY)
    with pytest.raises(FacelibError, match="already taken"):
        methods.register(methods.Declaration("other", "toys:LandmarkRegressor", "99_toy", (methods.Row("R-Net"),)))
    with pytest.raises(FacelibError, match="unknown method 'nope'"):
        methods.method_class("nope")


def test_the_books_declarations_give_the_benchmark_its_rows_in_table_order():
    assert [r.label for r in protocol.benchmark_rows()] == [
        "mean face", "MoFA", "R-Net", "SOPI", "MOPI", "ROGUE", "FOCUS", "FOCUS-MP", "contour-guided"]
    assert {d.name: d.chapter for d in methods.declarations()} == {
        "pretrain": "05_baselines", "mofa": "05_baselines", "rnet": "05_baselines", "sopi": "06_orn", "mopi": "06_orn", "rogue": "07_rogue",
        "focus": "08_focus", "focus_backbone": "08_focus", "contour": "09_contour"}
