"""Figure helpers (facelib.viz): the notebook renderer choice and the refinement figure."""

import sys
import types

import plotly.io as pio

from facelib import chapter, viz


def test_plotly_renderer_is_colabs_in_colab_and_the_books_elsewhere(monkeypatch):
    before = pio.renderers.default
    try:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
        chapter.setup_notebook()
        assert pio.renderers.default == "book_html"
        import plotly.graph_objects as go

        long_title = "a title far wider than the book's column, which plotly would cut at the figure's edge"
        fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]), layout=dict(title=long_title))
        bundle = pio.renderers._build_mime_bundle(fig.to_dict())
        html = bundle["text/html"]
        assert "Plotly.newPlot" in html and "application/vnd.plotly.v1+json" in bundle
        assert "<br>" in bundle["application/vnd.plotly.v1+json"]["layout"]["title"]["text"]  # fitted
        assert "cdn" not in html.lower() and "mathjax" not in html.lower()  # nothing fetched from a network
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        chapter.setup_notebook()
        assert pio.renderers.default == "colab"
    finally:
        pio.renderers.default = before


def test_refinement_figure_draws_one_line_per_anchor_and_panel():
    point = {"shape_v2v_mm": {"mean": 3.0}, "identity_cosine": {"mean": 0.2}, "landmark_me": {"mean": 5.0}}
    curve = {"mean_face": point, "curves": {"network": {"0": point, "50": point}, "truth": {"0": point, "50": point}}}
    fig = viz.refinement_figure(curve)
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(lines) == 2 * 3  # two anchors, three panels
    assert [int(x) for x in lines[0].x] == [0, 50]
    assert lines[0].name == viz.ANCHOR_NAMES["network"] and sum(t.showlegend for t in lines) == 2
    # every panel's reference line is labelled: an annotation without text shows plotly's "new text"
    labels = [a.text for a in fig.layout.annotations if a.text not in {t for _, t in viz.REFINEMENT_PANELS}]
    assert labels == ["mean face"] * 3



def test_levers_figure_plots_each_trained_arm_by_step_and_by_wall_time():
    """The committed cpu record: every arm with a curve gets a line in both panels, the wall-time axis
    is steps × that arm's seconds per step, the chosen arm is drawn thicker, the ridge read-out has no line."""
    import json
    from pathlib import Path

    record = json.loads((Path(__file__).parents[1] / "results/identity/levers-cpu.json").read_text())
    fig = viz.levers_figure(record)
    trained = [label for label, arm in record["arms"].items() if arm.get("curve")]
    assert len(trained) < len(record["arms"])  # the read-out is left out
    by_step, by_time = fig.data[0::2], fig.data[1::2]
    assert [t.name for t in by_step] == trained == [t.name for t in by_time]
    for label, step_line, time_line in zip(trained, by_step, by_time, strict=True):
        curve = record["arms"][label]["curve"]
        assert list(step_line.x) == [e["step"] for e in curve]
        assert list(step_line.y) == list(time_line.y) == [e["identity_v2v_mm_clean"] for e in curve]
        assert list(time_line.x) == [e["step"] * record["arms"][label]["seconds_per_step"] for e in curve]
    widths = {t.name: t.line.width for t in by_step}
    assert widths[record["chosen"]] > max(w for name, w in widths.items() if name != record["chosen"])
    floor = record["mean_face"]["identity_v2v_mm"]["mean"]["estimate"]
    assert [s.y0 for s in fig.layout.shapes] == [floor, floor]
    assert [a.text for a in fig.layout.annotations].count("mean face") == 2
    landmarks = viz.levers_figure(record, "landmark_me", "landmark ME (px)")
    assert list(landmarks.data[0].y) == [e["landmark_me_clean"] for e in record["arms"][trained[0]]["curve"]]

def test_run_banner_records_sections_and_warns_in_smoke(tmp_path, monkeypatch):
    import json
    import time

    from facelib import profile, results

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    smoke = profile.resolve("smoke")
    banner = chapter.RunBanner("x", smoke, show=False)
    assert "wiring check, not results" in banner.text() and "Wall time per section: written" in banner.text()
    time.sleep(0.05)
    banner.section("training")
    banner.section("evaluation")
    results.add_to_metrics("x", smoke, "m", "v", 1)  # written before finish: kept
    banner.finish()
    record = banner.record
    assert list(record["seconds"]) == ["setup", "training", "evaluation"] and record["seconds"]["setup"] >= 0.0
    assert record["profile"] == "smoke" and record["commit"]
    results.add_to_metrics("x", smoke, "m", "w", 2)  # written after: the run record survives
    stored = json.loads((tmp_path / "x" / "smoke" / "metrics.json").read_text())
    assert stored["run"] == record and stored["metrics"]["m"] == {"v": 1, "w": 2}
    assert "Wall time" in banner.text() and "training 0.0" in banner.text()
    cpu = chapter.RunBanner("x", profile.resolve("cpu"), show=False).text()
    assert "wiring check" not in cpu and "not the papers' scale" in cpu  # issue 36: the reference run says its scale


def test_a_chapter_run_starts_its_metrics_afresh(tmp_path, monkeypatch):
    """What an earlier run of the chapter wrote (a row it no longer writes) is gone once the chapter's
    run writes its first result, and not before (a reader who opens a chapter keeps the committed
    file); another chapter's and another profile's files are untouched."""
    import json

    from facelib import profile, results

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    smoke = profile.resolve("smoke")
    for name, prof in (("01_morphable_model", smoke), ("01_morphable_model", profile.resolve("cpu")), ("x", smoke)):
        results.add_to_metrics(name, prof, "an earlier row", "v", 1)
    chapter.start("01_morphable_model", "smoke", data=False)
    own = tmp_path / "01_morphable_model" / "smoke" / "metrics.json"
    assert json.loads(own.read_text())["metrics"] == {"an earlier row": {"v": 1}}  # opening removes nothing
    results.add_to_metrics("01_morphable_model", smoke, "this run's row", "v", 2)  # the first write replaces
    results.add_to_metrics("01_morphable_model", smoke, "this run's row", "w", 3)  # later writes merge
    assert json.loads(own.read_text())["metrics"] == {"this run's row": {"v": 2, "w": 3}}
    for name, prof in (("01_morphable_model", "cpu"), ("x", "smoke")):
        assert json.loads((tmp_path / name / prof / "metrics.json").read_text())["metrics"] == {"an earlier row": {"v": 1}}


def test_a_chapter_run_keeps_the_logs_of_its_trainings(tmp_path, monkeypatch):
    """The logs committed beside a chapter's results are those of the trainings its run made or
    loaded in its own run folders, plus the ablation rows' (named by ablations.json); a log of a
    training it no longer makes goes, another chapter's training (the stand-in R-Net it loads) is not
    copied into it."""
    import json

    from facelib import profile, results, train

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))
    cpu = profile.resolve("cpu")
    used = []
    for chapter_, name, seconds in (("07_rogue", "rogue", 720.0), ("05_baselines", "rnet", 580.0)):
        folder = results.run_dir(chapter_, "cpu", name)
        folder.mkdir(parents=True)
        (folder / train.LOG).write_text(json.dumps({"step": 10, "time": seconds, "losses": {}}) + "\n")
        used.append(folder.resolve())
    monkeypatch.setattr(train, "RUNS_USED", used)
    logs = results.results_dir("07_rogue", "cpu") / "logs"
    logs.mkdir()
    for stale in ("rogue_old_arm", "rogue_beta_c_1"):
        (logs / f"{stale}.jsonl").write_text(json.dumps({"step": 1, "time": 1.0}) + "\n")
    (logs.parent / "ablations.json").write_text(json.dumps({"rows": {"ROGUE, beta_C = 1": {
        "training": {"log": "rogue_beta_c_1"}}}}))
    assert chapter.keep_training_logs("07_rogue", cpu) == ["rogue"]
    assert sorted(p.stem for p in logs.glob("*.jsonl")) == ["rogue", "rogue_beta_c_1"]
    assert [row["trainings"] for row in results.timings("cpu")] == [{"rogue": 720.0}]
    assert chapter.keep_training_logs("10_benchmark", cpu) == []  # trained nothing: nothing touched


def test_glue_works_without_myst_nb(monkeypatch):
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as in Colab without the book's tools
    chapter.glue("answer", 42, display=False)
    assert chapter.GLUED["answer"] == 42
