"""Same command, same numbers (issue 31): deterministic kernels in every training and fitting step on
a CPU, the profile's thread count, and real trainings that give the same weights beside a busy process
and after an interrupt."""

import pytest
import torch
from toys import Points, Toy

from facelib import bench, reproduce
from facelib import train as T
from facelib.errors import FacelibError


def test_deterministic_turns_torch_s_deterministic_kernels_on_for_the_cpu_and_restores_the_setting(monkeypatch):
    assert not torch.are_deterministic_algorithms_enabled()
    with reproduce.deterministic("cpu"):
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
    with reproduce.deterministic("cuda"):  # CUDA keeps its own kernels (pytorch3d's have no deterministic twin)
        assert not torch.are_deterministic_algorithms_enabled()
    monkeypatch.setenv("FACELIB_DETERMINISTIC", "0")  # the control of `bench same`
    with reproduce.deterministic("cpu"):
        assert not torch.are_deterministic_algorithms_enabled()
    assert reproduce.environment()["deterministic"] is False


class Recording(Toy):
    """Records whether each training step ran with deterministic kernels."""

    def train_step(self, batch, step):
        self.seen = [*getattr(self, "seen", []), torch.are_deterministic_algorithms_enabled()]
        return super().train_step(batch, step)


def test_every_training_step_and_every_fit_step_runs_deterministic_kernels(tmp_path, ict):
    method = Recording()
    T.train(method, Points(), tmp_path, T.TrainConfig(steps=5, batch_size=4), progress=False)
    assert method.seen == [True] * 5 and not torch.are_deterministic_algorithms_enabled()

    from facelib.fitting import fit
    from facelib.render import Renderer

    renderer = Renderer(ict, 32)
    seen = []
    init = ict.layout.zeros(1)
    fit(renderer, torch.rand(1, 3, 32, 32), torch.rand(1, 68, 2) * 32, init, steps=2,
        callback=lambda *_: seen.append(torch.are_deterministic_algorithms_enabled()))
    assert seen == [True, True] and not torch.are_deterministic_algorithms_enabled()


def test_the_thread_count_is_the_profile_s_unless_the_reader_sets_it(monkeypatch):
    from facelib import profile

    assert profile.resolve("cpu").threads == 2 and profile.resolve("smoke").threads == 2
    monkeypatch.delenv("FACELIB_THREADS", raising=False)
    assert reproduce.threads_for(2) == 2 and reproduce.threads_for(None) is None
    monkeypatch.setenv("FACELIB_THREADS", "8")
    assert reproduce.threads_for(2) == 8
    monkeypatch.setenv("FACELIB_THREADS", "many")
    with pytest.raises(FacelibError, match="FACELIB_THREADS='many'.*positive whole number"):
        reproduce.threads_for(2)
    env = reproduce.environment("bf16")
    assert {"threads", "torch", "numpy", "python", "device", "deterministic", "precision"} <= set(env)
    assert env["precision"] == "bf16" and env["threads"] == torch.get_num_threads()


@pytest.mark.parametrize("method", ["rnet", "rogue"])  # one network; two networks (encoder and discriminator)
def test_a_real_training_gives_the_same_weights_beside_a_busy_process_and_after_an_interrupt(method, tmp_path):
    """The reader's command in fresh processes: quiet, beside a process that keeps a core busy, and
    beside it stopped by SIGTERM half-way and resumed; every tensor of the checkpoints compared."""
    record = bench.bench_same(method, "smoke", 24, tmp_path, loaded=1, busy=1, progress=lambda line: None)
    runs = record["runs"]
    assert [r["run"] for r in runs] == ["quiet", "loaded 1", "loaded, SIGTERM and resume"]
    assert runs[2]["stopped_after"] < 24  # it was interrupted, then resumed
    for r in runs[1:]:
        assert r["tensors"] > 50 and r["differ"] == 0, r


def test_the_control_in_one_thread_gives_other_weights(tmp_path):
    """What the test above would catch: ROGUE's smoke training, the same command in one thread
    instead of two, parts from the quiet run (156 of 212 tensors, measured). Stop 38's control —
    the same command without deterministic kernels beside a busy process — no longer differs since
    the renderer's gradients are ordered sums (DESIGN-NOTES 30)."""
    record = bench.bench_same("rogue", "smoke", 24, tmp_path, loaded=1, busy=1, interrupt=False,
                              threads=1, progress=lambda line: None)
    assert record["runs"][1]["differ"] > 0, record


def _python(code: str, **env) -> str:
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={k: v for k, v in {**os.environ, **env}.items() if v is not None})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() + done.stderr


def test_importing_facelib_turns_mkl_s_reproducibility_on_and_a_late_import_warns():
    """MKL reads MKL_CBWR at its first call: facelib sets it on import (DESIGN-NOTES 37); imported
    after torch has multiplied matrices, the deterministic block says MKL runs without it."""
    first = "import torch, facelib\nfrom facelib import reproduce\nprint(reproduce.mkl_reproducible())"
    assert _python(first, MKL_CBWR=None) == "AUTO"
    assert _python(first, MKL_CBWR="COMPATIBLE") == "COMPATIBLE"  # the reader's own setting stays
    late = ("import torch\ntorch.mm(torch.rand(8, 8), torch.rand(8, 8))\nimport facelib\n"
            "from facelib import reproduce\nprint(reproduce.mkl_reproducible())\n"
            "with reproduce.deterministic('cpu'):\n    pass")
    out = _python(late, MKL_CBWR=None)
    assert out.startswith("OFF") and "MKL_CBWR=AUTO" in out


def test_one_face_s_identity_gradient_is_the_same_call_after_call():
    """What broke ROGUE's same-weights test (stop 43): dlib's network's float32 gradient at its input
    for one face, on two threads, took 4 to 5 distinct values in 60 identical calls under MKL's
    default branch, and one under MKL_CBWR=AUTO (measured; DESIGN-NOTES 37)."""
    import hashlib

    from facelib.methods.regressor import frozen_embedder

    assert reproduce.mkl_reproducible() == "AUTO"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    emb = frozen_embedder("dlib")
    g = torch.Generator().manual_seed(0)
    chips = torch.rand(1, 3, emb.size, emb.size, generator=g)
    weights = torch.randn(1, 128, generator=g)
    seen = set()
    with reproduce.deterministic("cpu"):
        for _ in range(30):
            x = chips.clone().requires_grad_(True)
            (emb(emb.normalise(x)) * weights).sum().backward()
            seen.add(hashlib.sha1(x.grad.numpy().tobytes()).hexdigest())
    torch.set_num_threads(threads)
    assert len(seen) == 1
