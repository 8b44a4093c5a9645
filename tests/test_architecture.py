"""The package's shape: the layers contract covers every module, the training loop imports no
method, every registered method records every constructor argument in its run signature, and the
built wheel works without the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import tomllib

from facelib import methods, profile
from facelib import train as T
from facelib.errors import FacelibError
from facelib.methods.base import Method, describe
from facelib.methods.regressor import EncoderConfig

ROOT = Path(__file__).resolve().parents[1]


def _layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    return [{m.strip() for m in layer.replace("|", ":").split(":")} for layer in layers]


def test_every_facelib_module_is_in_a_layer_of_the_contract():
    listed = set().union(*_layers())
    top = {f"facelib.{p.stem if p.is_file() else p.name}" for p in (ROOT / "facelib").iterdir()
           if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").is_file())}
    assert top - listed == set(), "add these modules to a layer in pyproject's [tool.importlinter]"
    assert "facelib.methods" in _layers()[3] and "facelib.train" in _layers()[2]


def test_importing_the_training_loop_imports_no_method():
    code = "import sys, facelib.train; print(sorted(m for m in sys.modules if m.startswith('facelib.methods')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------- recorded hyper-parameters

TINY = EncoderConfig("resnet_tiny", 64)
#: per registered method: constructor argument → another valid value. The test fails when a method
#: gains an argument this table does not name, so a new argument cannot escape the check.
CHANGES = {
    "pretrain": {"identity_components": 20, "weights": {"landmark": 0.1}},
    "rnet": {"attention": "none", "embedder": None, "weights": {"landmark": 1e-2}, "view": "occluded"},
    "mofa": {"weights": {"landmark": 1e-2}, "sigma": 0.1, "truncate": 3.0, "view": "occluded"},
    "sopi": {"loss": "l1", "occluders": ("dhofi",), "p_clean": 0.25, "teacher": "other teacher",
             "labels": "truth"},
    "mopi": {"losses_used": ("label",), "variants": 3, "embedder": "facenet", "occluders": ("stars",),
             "init_from_sopi": False, "sopi": "other sopi", "weights": {"perceptual": 1.0}},
    "rogue": {"embedder": None, "guidance": {"landmark": 1e-2}, "robust": {"consistency": 0.5},
              "labels": {"guide": 0.9}, "discriminator_lr": 2e-4, "robust_guidance": ("regularizer",)},
    "focus": {"schedule": "short schedule", "embedder": "facenet", "segmentation_weights": {"preserve": 0.25},
              "reconstruction_weights": {"pixel": 1.0}, "xi": 0.1, "neighbour_radius": 0, "unet_width": 8,
              "segmentation_lr": 3e-4, "oracle": True},
    "focus_backbone": {"mask": "truth", "augment": "cutout", "view": "clean", "embedder": "facenet",
                       "reconstruction_weights": {"pixel": 1.0}},
    "contour": {"rnet": "other teacher", "schedule": "short contour schedule", "embedder": "facenet",
                "weights": {"pixel": 1.0}, "gan_width": 8, "gan_blocks": 1, "unet_width": 8, "gan_lr": 3e-4,
                "canny_sigma": 2.0, "contour_source": "true"},
}
COMMON = {"model": None, "encoder": EncoderConfig("resnet_tiny", 64, lr=3e-4)}
#: (method, argument) → arguments it needs beside it: compared with the same arguments without it
ALONGSIDE = {("focus", "oracle"): {"schedule": "segmentation-only schedule"},
             ("sopi", "labels"): {"teacher": "no teacher"}}


@pytest.fixture(scope="module")
def prerequisites(ict):
    from facelib.methods.orn import SOPI
    from facelib.methods.rnet import RNet

    teacher = RNet(ict, TINY, embedder=None)
    teacher.run_signature = "run-a"
    other_teacher = RNet(ict, TINY, embedder=None)
    other_teacher.run_signature = "run-b"
    sopi = SOPI(ict, TINY, teacher)
    sopi.run_signature = "run-c"
    other_sopi = SOPI(ict, TINY, teacher)
    other_sopi.run_signature = "run-d"
    from facelib.methods.contour import ContourSchedule
    from facelib.methods.focus import EMSchedule

    return {"teacher": teacher, "other teacher": other_teacher, "sopi": sopi, "other sopi": other_sopi,
            "rnet": teacher, "short schedule": EMSchedule(2, 1, 4, 1), "short contour schedule": ContourSchedule(1, 1, 1),
            "segmentation-only schedule": EMSchedule.segmentation_only(1), "no teacher": None}


def _signature(method: Method) -> str:
    return T.run_signature(method, T.TrainConfig(steps=1, batch_size=2), {"set": "x"})


@pytest.mark.parametrize("name", methods.names())
def test_every_constructor_argument_changes_the_run_signature(name, ict, prerequisites, monkeypatch):
    import inspect

    from facelib import recognition

    dlib = recognition.load("dlib", allow_download=False)
    monkeypatch.setattr(recognition, "load", lambda *a, **k: dlib)  # any embedder name builds here

    cls = methods.method_class(name)
    params = [p for p in list(inspect.signature(cls.__init__).parameters)[1:]]
    assert set(params) - {"model", "encoder"} == set(CHANGES[name]), f"update CHANGES[{name!r}]"
    base_args = {p.argument: prerequisites[p.argument] for p in cls.prerequisites}
    base = cls(ict, TINY, **base_args)
    assert not set(cls.later_arguments) & set(base.hyperparameters()["arguments"])  # at their default: left out
    reference = _signature(base)
    assert _signature(cls(ict, TINY, **base_args)) == reference  # deterministic
    for arg, value in {**CHANGES[name], **{"encoder": COMMON["encoder"]}}.items():
        value = prerequisites.get(value, value) if isinstance(value, str) else value
        beside = {k: prerequisites[v] for k, v in ALONGSIDE.get((name, arg), {}).items()}
        before = _signature(cls(ict, TINY, **{**base_args, **beside})) if beside else reference
        changed = {**base_args, **beside, arg: value} if arg != "encoder" else base_args
        method = cls(ict, COMMON["encoder"] if arg == "encoder" else TINY, **changed)
        assert _signature(method) != before, f"{name}: changing {arg} left the signature unchanged"


def test_describe_records_teachers_by_their_run_and_refuses_unknown_values(ict, prerequisites):
    assert describe(prerequisites["teacher"]) == {"method": "rnet", "run": "run-a"}
    assert describe((1, "a", {"b": 2.0})) == [1, "a", {"b": 2.0}]
    assert describe(TINY) == {"backbone": "resnet_tiny", "image_size": 64, "lr": 1e-4, "seed": 0}
    assert describe(ict)["layout"] == dict(ict.layout.sizes)
    with pytest.raises(FacelibError, match="cannot record hyper-parameter x of type object"):
        describe(object(), "x")
    untrained = methods.build("rnet", ict, profile.resolve("smoke"), embedder=None)
    assert describe(untrained)["untrained"]["arguments"]["embedder"] is None


# ------------------------------------------------------------------- the wheel, without the checkout

def test_the_built_wheel_carries_its_data_and_works_without_the_checkout(tmp_path):
    """``pip wheel``, then a fresh venv that sees only the wheel's facelib (its dependencies come
    from this environment's site-packages through a path file, not from the checkout)."""
    src, wheels = tmp_path / "src", tmp_path / "wheels"  # a copy: no build/ or egg-info of the checkout is reused
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for folder in ("facelib", "data_scripts"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / file, src / file)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(src)], check=True, capture_output=True)
    wheel = next(wheels.glob("facelib-*.whl"))
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch, numpy, ... (not the checkout)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = ("import json, facelib, facelib.skin as s; from facelib.morphable import MorphableModel;"
            "m = MorphableModel.from_ict(); p = s.parameters();"
            "print(json.dumps({'file': facelib.__file__, 'keys': sorted(p), 'total': m.layout.total}))")
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=clean_env)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(site)) and info["keys"] and info["total"] > 100
