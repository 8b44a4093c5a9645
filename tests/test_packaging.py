"""Project conventions that are easy to break silently."""

import json
import re

import pytest
import tomllib
import yaml

from facelib import profile
from facelib.errors import FacelibError

from .conftest import ROOT


def _pins(requirements):
    return dict(re.match(r"^([A-Za-z0-9_.\-]+)==(.+)$", r).groups() for r in requirements if "==" in r)


def test_environment_yml_names_the_same_versions_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pins.update(_pins(extra))
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = _pins(pip_section)
    assert env_pins == pins
    no_deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["facelib"]["no-deps"]
    for spec in no_deps:  # installed separately with --no-deps; the conda file says how
        assert f"pip install --no-deps {spec}" in (ROOT / "environment.yml").read_text()


def test_facelib_never_imports_torchvision():
    offenders = [str(p) for p in (ROOT / "facelib").rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+torchvision", p.read_text(), re.M)]
    assert offenders == []


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_chapter_has_an_auto_profile_parameters_cell(nb):
    cells = json.loads(nb.read_text())["cells"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    assert 'PROFILE = "auto"' in "".join(params[0]["source"])


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_output_checks_are_cell_tags_not_comments_a_reader_sees(nb):
    """nbval compares a chapter's tagged cells with their stored outputs; the tag is metadata, so the
    reader (HTML, GitHub, Colab) sees no test marker."""
    cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    assert not [c for c in cells if "NBVAL_" in "".join(c["source"])], f"{nb.name}: a # NBVAL_ comment; use the cell tag"
    assert any("nbval-check-output" in c.get("metadata", {}).get("tags", []) for c in cells), \
        f"{nb.name}: no cell whose output nbval checks"


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {c["file"] for c in toc["chapters"]}
    for nb in (ROOT / "book").glob("*.ipynb"):
        assert f"book/{nb.stem}" in listed


def test_profile_resolution(monkeypatch):
    monkeypatch.setenv("FACELIB_PROFILE", "smoke")
    assert profile.resolve("auto").name == "smoke"
    monkeypatch.delenv("FACELIB_PROFILE")
    assert profile.resolve("auto").name in ("cpu", "gpu")
    assert profile.resolve("gpu").image_size == 224
    with pytest.raises(FacelibError, match="smoke, cpu, gpu, gpu-dry"):
        profile.resolve("laptop")


def test_the_dry_run_has_the_paper_sizes_and_a_handful_of_steps():
    from facelib.data import synthetic

    gpu, dry = profile.resolve("gpu"), profile.resolve("gpu-dry")
    assert (dry.backbone, dry.image_size, dry.render_size) == (gpu.backbone, gpu.image_size, gpu.render_size)
    assert dry.train_steps <= 20 and dry.test_faces <= 8 and dry.refine_steps <= 4
    assert synthetic.config_for(dry).image_size == 224
    assert synthetic.PROFILE_SIZES["gpu-dry"] == synthetic.PROFILE_SIZES["smoke"]


def test_results_are_written_where_the_chapters_read_them(tmp_path, monkeypatch):
    from facelib.results import read_metrics, write_metrics

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    path = write_metrics("99_test", profile.resolve("smoke"), {"x": 1.5}, {"seed": 0})
    assert path == tmp_path / "99_test" / "smoke" / "metrics.json"
    assert read_metrics("99_test", "smoke")["metrics"] == {"x": 1.5}


def test_resnet_architectures_and_zero_head():
    import torch

    from facelib.nets.resnet import resnet

    for arch, feat in (("resnet_tiny", 128), ("resnet18", 512), ("resnet50", 2048)):
        net = resnet(arch, 7)
        assert net.feature_dim == feat
        x = torch.rand(2, 3, 64, 64, requires_grad=True)
        y = net(x)
        assert y.shape == (2, 7) and torch.count_nonzero(y) == 0
        y.sum().backward()
        assert net.head.weight.grad.abs().sum() > 0  # the zero head still learns
    with pytest.raises(FacelibError, match="resnet18"):
        resnet("vgg", 3)


def test_bench_record_has_the_promised_fields():
    from facelib.bench import bench_render

    rec = bench_render("torch", 32, 2, repeats=1, device="cpu")
    assert rec["size"] == 32 and rec["batch"] == 2
    assert rec["ratio_render_to_resnet18"] == pytest.approx(rec["render_fwd_bwd_s"] / rec["resnet18_fwd_bwd_s"], rel=0.05)


@pytest.mark.slow
def test_renderer_costs_at_most_half_a_resnet18_at_112px():
    from facelib.bench import bench_render

    rec = bench_render("torch", 112, 16, repeats=5, device="cpu")
    assert rec["ratio_render_to_resnet18"] <= 0.5, rec


def test_colab_setup_fetches_the_chapters_assets_and_picks_the_cpu_profile(monkeypatch, capsys, tmp_path):
    """What a chapter's first cell runs after installing facelib in Colab (here: a plain kernel); the
    profile the reader chose survives a runtime restart (issue 36), which empties the environment."""
    import subprocess
    import sys

    from facelib import assets, colab

    monkeypatch.setenv("FACELIB_PROFILE_FILE", str(tmp_path / "profile"))

    assert colab.chapter_assets("01_morphable_model") == ("ict-facekit-light",)
    assert set(colab.chapter_assets("05_baselines")) == set(assets.REGISTRY)
    no_deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["facelib"]["no-deps"]
    assert colab.FACENET in no_deps  # the same pin `make` installs
    monkeypatch.delenv("FACELIB_PROFILE", raising=False)
    monkeypatch.setattr(colab, "install_facenet", lambda: "FaceNet: (not tried in this test)")
    assert colab.setup("02_differentiable_rendering") == "cpu"  # not gpu: 30,000 steps per run
    out = capsys.readouterr().out
    assert "asset ict-facekit-light" in out and "profile cpu" in out
    assert profile.resolve("auto").name == "cpu"
    monkeypatch.setenv("FACELIB_PROFILE", "smoke")
    assert colab.setup("02_differentiable_rendering", facenet=False) == "smoke"
    monkeypatch.delenv("FACELIB_PROFILE")  # the runtime restarts: a new kernel, facelib already installed
    fresh = subprocess.run([sys.executable, "-c", "from facelib import colab; print(*colab.chosen_profile(), sep='|')"],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.startswith("smoke|kept from before the restart")
    assert colab.setup("02_differentiable_rendering", facenet=False) == "smoke"
    assert "profile smoke (kept from before the restart" in capsys.readouterr().out


def test_colab_facenet_is_skipped_without_a_working_torchvision(monkeypatch):
    import importlib.util

    from facelib import colab

    if importlib.util.find_spec("torchvision"):
        pytest.skip("torchvision is installed here")
    real = importlib.util.find_spec
    monkeypatch.setattr(colab.importlib.util, "find_spec", lambda n, *a: None if n == "facenet_pytorch" else real(n, *a))
    assert colab.install_facenet().startswith("FaceNet: skipped (torchvision does not import here")


def test_a_missing_earlier_chapter_names_the_notebook_to_run(tmp_path, monkeypatch):
    from facelib import results

    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    with pytest.raises(FacelibError, match=r"run book/05_baselines.ipynb first"):
        results.earlier_chapter("05_baselines", "cpu")
    results.add_to_metrics("05_baselines", profile.resolve("cpu"), "R-Net", "x", 1)
    assert results.earlier_chapter("05_baselines", "cpu") == {"R-Net": {"x": 1}}


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_a_chapter_opens_with_the_install_bootstrap_its_parameters_and_one_call(nb):
    """Colab cell 1 installs what the chapter needs: chapters after 2 need dlib (the [data] extra), and a
    runtime that already has plain facelib (another chapter opened first) must still get it. Then the
    papermill parameters, then one call that sets up the rest (:func:`facelib.chapter.start`): at most
    ten code lines in all."""
    code = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    install, parameters, setup = ("".join(c["source"]) for c in code[:3])
    assert "FACELIB_INSTALL_SOURCE" in install and "check=True" in install
    if nb.stem in ("01_morphable_model", "02_differentiable_rendering"):
        assert '"facelib @ "' in install and '("facelib",)' in install
    else:
        assert '"facelib[data] @ "' in install and '("facelib", "dlib")' in install
    assert "parameters" in code[1]["metadata"]["tags"] and parameters.startswith("PROFILE = ")
    assert f'chapter.start("{nb.stem}", PROFILE' in setup
    assert sum(1 for c in (install, parameters, setup) for line in c.splitlines() if line.strip()) <= 10


def test_readme_time_table_is_the_one_the_committed_runs_give():
    from facelib.results import timings_markdown

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- timings:cpu -->\n")[1].split("\n<!-- /timings:cpu -->")[0]
    assert block == timings_markdown("cpu", ROOT / "results"), "regenerate it: python -m facelib timings --profile cpu"


def test_the_colab_time_hint_agrees_with_readmes_time_table():
    """The hint Colab prints (facelib.colab) says what README's generated table measured."""
    import re

    from facelib.colab import CPU_MINUTES_HINT

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- timings:cpu -->\n")[1].split("\n<!-- /timings:cpu -->")[0]

    def minutes(text):
        value, unit = text.split()
        return float(value) / (60 if unit == "s" else 1)

    run, trainings = {}, []
    for line in block.splitlines()[2:-1]:  # the last row sums the book
        chapter, chapter_run, trained, _off_the_path = [c.strip() for c in line.strip("|").split("|")]
        run[int(chapter[:2])] = minutes(chapter_run)
        trainings += [minutes(t.split(" ", 1)[1]) for t in trained.split(", ") if t != "—"]
    hint = re.fullmatch(r"chapters 1-3: under a minute; chapter 4: (\d+) min; chapters 5-9: (\d+)-(\d+) min each with "
                        r"their trainings finished, plus (\d+)-(\d+) min per training; chapter 10: (\d+) min once every "
                        r"method is trained", CPU_MINUTES_HINT)
    assert hint, CPU_MINUTES_HINT
    four, low, high, t_low, t_high, ten = map(int, hint.groups())
    assert max(run[c] for c in (1, 2, 3)) < 1 and round(run[4]) == four and round(run[10]) == ten
    assert (round(min(run[c] for c in range(5, 10))), round(max(run[c] for c in range(5, 10)))) == (low, high)
    assert (round(min(trainings)), round(max(trainings))) == (t_low, t_high)


def test_readme_results_table_is_the_one_the_committed_results_give():
    from facelib.evaluation.protocols.benchmark import readme_table

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- benchmark:cpu -->\n")[1].split("\n<!-- /benchmark:cpu -->")[0]
    assert block == readme_table("cpu"), "regenerate it: python -m facelib benchmark-table --profile cpu"


def test_timings_read_the_run_record_and_the_training_logs(tmp_path):
    from facelib.results import book_seconds, timings, timings_markdown

    folder = tmp_path / "07_x" / "cpu"
    (folder / "logs").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"run": {"total_seconds": 600.0, "seconds": {"training": 160.0}},
                                                     "metrics": {}}))  # trained a in the run: 150 s, loaded 10 s
    (folder / "logs" / "a.jsonl").write_text('{"step": 10, "time": 12.5, "losses": {}}\n'
                                             '{"step": 20, "time": 150.0, "losses": {}}\n{"step": 20, "val": {}}\n')
    (folder / "logs" / "a_lever.jsonl").write_text('{"step": 20, "time": 300.0, "losses": {}}\n')
    (folder / "ablations.json").write_text(json.dumps({"rows": {  # a_lever's row trained it; the other refines a
        "A, lever": {"training": {"log": "a_lever", "seconds": 300.0}}, "A + refinement": {"training": {"run": "abc"}}}}))
    (tmp_path / "08_y" / "cpu" / "logs").mkdir(parents=True)
    (tmp_path / "08_y" / "cpu" / "logs" / "b.jsonl").write_text('{"step": 1, "time": 240.0}\n')
    (tmp_path / "09_z" / "cpu").mkdir(parents=True)
    (tmp_path / "09_z" / "cpu" / "metrics.json").write_text(json.dumps({"run": {"total_seconds": 31.6}}))
    assert timings("cpu", tmp_path) == [
        {"chapter": "07_x", "chapter_seconds": 600.0, "training_section": 160.0, "trainings": {"a": 150.0},
         "ablations": {"a_lever": 300.0}},
        {"chapter": "08_y", "chapter_seconds": None, "training_section": 0.0, "trainings": {"b": 240.0}, "ablations": {}},
        {"chapter": "09_z", "chapter_seconds": 31.6, "training_section": 0.0, "trainings": {}, "ablations": {}}]
    # the book: chapter runs without their training sections (440 + 31.6 s), the reference trainings
    # once each (150 + 240 s), the lever off the path not at all
    assert book_seconds("cpu", tmp_path) == {"chapters": 471.6, "trainings": 390.0, "total": 861.6, "not_run": ["08_y"]}
    assert timings_markdown("cpu", tmp_path).splitlines()[2:] == [
        "| 07_x | 10 min | a 2 min | a_lever 5 min |", "| 08_y | not run yet | b 4 min | — |", "| 09_z | 32 s | — | — |",
        "| **the book (`make book` from nothing)** | 8 min (training sections left out) | 6 min | total 0.2 h; "
        "not run yet: 08_y |"]


def test_committed_paths_are_relative_to_the_checkout(tmp_path, monkeypatch):
    from facelib.results import portable_path

    monkeypatch.chdir(ROOT)
    assert portable_path(ROOT / "data" / "synthetic" / "cpu") == "data/synthetic/cpu"
    assert portable_path(tmp_path) == str(tmp_path.resolve())


@pytest.mark.parametrize("nb", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_stored_outputs_show_no_path_of_the_machine_they_ran_on(nb):
    text = nb.read_text()
    for marker in ("PosixPath(", "/work/", "/home/", "/root/", "/tmp/"):
        assert marker not in text, f"{nb.name} stores a machine path ({marker!r}): re-run the cell that prints it"


def test_the_books_html_loads_each_script_once():
    """sphinx-thebe adds its configuration script once per reading of the environment; a second
    ``const THEBE_JS_URL`` stops the page's scripts (issue 36). The book's extension keeps the first."""
    import importlib.util

    from sphinx.builders.html._assets import _JavaScript

    spec = importlib.util.spec_from_file_location("offline_assets", ROOT / "book" / "_ext" / "offline_assets.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    config = _JavaScript(None, body='const THEBE_JS_URL = "x"')
    scripts = [_JavaScript("a.js"), config, _JavaScript("a.js", **{"async": "async"}), _JavaScript(None, body='const THEBE_JS_URL = "x"'),
               "b.js", "b.js"]
    context = {"script_files": scripts}
    ext._dedupe_scripts(None, "p", "page.html", context, None)
    assert context["script_files"] == [scripts[0], config, scripts[2], "b.js"]


def test_the_book_estimate_counts_each_chapter_and_each_training_and_names_a_missing_method(tmp_path, monkeypatch):
    """`python -m facelib.bench estimate`: each chapter's banner time plus each committed training's
    steps times its method's bench step time in the asked precision; a training whose method the
    record has not timed gets the command that times it."""
    import json

    from facelib.bench import estimate_book
    from facelib.errors import FacelibError

    folder = tmp_path / "05_baselines" / "cpu"
    (folder / "logs").mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"run": {"total_seconds": 100.0}}))
    for run, steps in (("rnet", 1500), ("pretrain", 1000)):
        (folder / "logs" / f"{run}.jsonl").write_text(
            "".join(json.dumps({"step": s, "time": 0.5 * s, "losses": {}}) + "\n" for s in (steps // 2, steps)))
    monkeypatch.setenv("FACELIB_RESULTS", str(tmp_path))
    rnet = {"method": "rnet", "precision": {"no": "no", "bf16": "bf16"}, "step_s": 0.6, "step_s_bf16": 0.4,
            "phases": {"train": {"steps": 1500}}}
    with pytest.raises(FacelibError, match="bench train --methods pretrain --profile cpu"):
        estimate_book("cpu", [rnet], "bf16")
    pretrain = {**rnet, "method": "pretrain", "step_s": 0.3, "step_s_bf16": 0.2}
    out = estimate_book("cpu", [rnet, pretrain], "bf16")
    assert out["trainings"] == {"pretrain": 200, "rnet": 600} and out["total"] == 100 + 800
    assert estimate_book("cpu", [rnet, pretrain], "no")["trainings"] == {"pretrain": 300, "rnet": 900}


def test_a_bench_record_gives_each_precision_its_step_time_and_the_first_for_one_it_did_not_time(tmp_path):
    """``bench.step_time``: ``step_s`` is the first precision timed, ``step_s_<p>`` the others, per
    phase for a scheduled method; ``bench.read_records`` reads the JSON lines back."""
    import json

    from facelib import bench

    bf16_first = {"method": "rnet", "precision": {"bf16": "bf16", "no": "no"}, "step_s": 0.4, "step_s_no": 0.6,
                  "phases": {"a": {"steps": 5, "step_s": 1.0, "step_s_no": 2.0}}}
    no_first = {**bf16_first, "precision": {"no": "no", "bf16": "bf16"}, "step_s": 0.6, "step_s_bf16": 0.4}
    assert bench.step_time(bf16_first, "bf16") == 0.4 and bench.step_time(bf16_first, "no") == 0.6
    assert bench.step_time(no_first, "bf16") == 0.4 and bench.step_time(no_first, "no") == 0.6
    assert bench.step_time(no_first, "fp16") == 0.6  # not timed: the reference
    assert bench.step_time(bf16_first, "no", "a") == 2.0 and bench.step_time(bf16_first, "bf16", "a") == 1.0
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(bf16_first) + "\n\n" + json.dumps(no_first) + "\n")
    assert bench.read_records(path) == [bf16_first, no_first]
