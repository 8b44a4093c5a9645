"""The shared training loop: batch order, checkpoints, interruption and bit-identical resume,
objectives and their optimisers, clear errors."""

from __future__ import annotations

import signal

import pytest
import torch
from torch import nn
from toys import CONFIG, Points, Toy

from facelib import train as T
from facelib.errors import FacelibError
from facelib.methods.base import Method


def _weights(method):
    return {k: v.clone() for k, v in method.nets["encoder"].state_dict().items()}


def test_batch_order_is_a_permutation_per_epoch_and_pure():
    batches = [T.batch_indices(20, 6, seed=1, step=s) for s in range(3)]  # 3 batches per epoch
    assert sorted(i for b in batches for i in b) == sorted(set(i for b in batches for i in b))
    assert len({i for b in batches for i in b}) == 18
    assert T.batch_indices(20, 6, 1, 4) == T.batch_indices(20, 6, 1, 4)
    assert T.batch_indices(20, 6, 1, 0) != T.batch_indices(20, 6, 1, 3)  # next epoch reshuffles
    assert T.batch_indices(20, 6, 2, 0) != T.batch_indices(20, 6, 1, 0)
    with pytest.raises(FacelibError, match="fewer than one batch"):
        T.batch_indices(5, 6, 0, 0)


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    data, val = Points(), Points(16, seed=9)
    handler = signal.getsignal(signal.SIGINT)  # Python's own, or SIG_IGN in a job started in the background
    straight = Toy()
    full = T.train(straight, data, tmp_path / "a", CONFIG, val_set=val, progress=False)
    assert full.steps == 30 and not full.resumed

    cut = Toy(interrupt_at=17)
    with pytest.raises(T.TrainingInterrupted, match="stopped at step 17/30.*again to resume"):
        T.train(cut, data, tmp_path / "b", CONFIG, val_set=val, progress=False)
    saved = T.load_checkpoint(tmp_path / "b" / T.CHECKPOINT)
    assert saved["step"] == 17 and not saved["finished"]
    assert signal.getsignal(signal.SIGINT) is handler  # the handler before training, restored

    again = Toy()  # a fresh process would start from scratch objects, too
    resumed = T.train(again, data, tmp_path / "b", CONFIG, val_set=val, progress=False)
    assert resumed.resumed and resumed.started_at == 17 and resumed.steps == 13
    a, b = _weights(straight), _weights(again)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    # the log (losses, the random 'noise' term, validation) is the same line for line, times aside
    strip = [[{k: v for k, v in e.items() if k != "time"} for e in r.log] for r in (full, resumed)]
    assert strip[0] == strip[1]
    assert [e["step"] for e in full.log if "val" in e] == [10, 20, 30]


def test_finished_run_is_loaded_not_retrained_and_other_runs_are_refused(tmp_path):
    data = Points()
    first = Toy()
    T.train(first, data, tmp_path, CONFIG, progress=False)
    second = Toy()
    res = T.train(second, data, tmp_path, CONFIG, progress=False)
    assert res.steps == 0 and second.calls == 0
    assert all(torch.equal(x, y) for x, y in zip(_weights(first).values(), _weights(second).values(), strict=True))
    with pytest.raises(FacelibError, match="(?s)belongs to another run.*resume=False"):
        T.train(Toy(lr=5e-3), data, tmp_path, CONFIG, progress=False)
    more = T.TrainConfig(**{**CONFIG.as_dict(), "steps": 40})
    with pytest.raises(FacelibError, match="another run"):
        T.train(Toy(), data, tmp_path, more, progress=False)
    T.train(Toy(lr=5e-3), data, tmp_path, CONFIG, progress=False, resume=False)  # explicit restart works


def test_training_reduces_the_loss_and_logs_it(tmp_path):
    res = T.train(Toy(), Points(), tmp_path, T.TrainConfig(steps=60, batch_size=16, log_every=10), progress=False)
    totals = [e["losses"]["total"] for e in res.log if "losses" in e]
    assert len(totals) == 6 and totals[-1] < 0.3 * totals[0]
    assert [e["of"] for e in res.log if "losses" in e] == [60] * 6  # `make book` reports step of steps
    assert (tmp_path / T.LOG).is_file() and T.read_log(tmp_path) == res.log


class TwoPlayers(Method):
    """A generator and a critic, stepped by separate objectives in the declared order."""

    name = "two"
    objectives = {"g": ("gen",), "d": ("critic",)}

    def __init__(self):
        super().__init__()
        self.nets = {"gen": nn.Linear(4, 3), "critic": nn.Linear(3, 1)}
        self.optimizers = {k: torch.optim.SGD(m.parameters(), lr=0.1) for k, m in self.nets.items()}

    def train_step(self, batch, step):
        fake = self.nets["gen"](batch["x"])
        g = -self.nets["critic"](fake).mean()
        d = self.nets["critic"](fake.detach()).mean() - self.nets["critic"](batch["y"]).mean()
        return {"g": g, "d": d}


def test_each_objective_steps_only_its_optimisers(tmp_path):
    m = TwoPlayers()
    before = {k: [p.clone() for p in net.parameters()] for k, net in m.nets.items()}
    steps_taken = {k: 0 for k in m.optimizers}
    for k, opt in m.optimizers.items():
        opt.register_step_post_hook(lambda o, a, kw, k=k: steps_taken.__setitem__(k, steps_taken[k] + 1))
    T.train(m, Points(), tmp_path, T.TrainConfig(steps=3, batch_size=8), progress=False)
    assert steps_taken == {"gen": 3, "critic": 3}
    for k, net in m.nets.items():
        assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), before[k], strict=True))


def test_an_objective_computes_only_its_own_parameters_gradients():
    """The generator's loss runs through the critic; its backward fills the generator's gradients
    and leaves the critic's alone (they would be zeroed before the critic's own step anyway)."""
    m = TwoPlayers()
    critic_grads = []
    m.optimizers["gen"].register_step_post_hook(
        lambda o, a, kw: critic_grads.append([p.grad for p in m.nets["critic"].parameters()]))
    batch = {k: v[:8] for k, v in {"x": Points().x, "y": Points().y}.items()}
    T.optimisation_step(m, batch, 0)
    assert critic_grads == [[None, None]]
    assert all(p.grad is not None for net in m.nets.values() for p in net.parameters())


def test_non_finite_loss_and_missing_objective_are_clear(tmp_path):
    class Bad(Toy):
        def train_step(self, batch, step):
            return {"total": torch.tensor(float("nan"), requires_grad=True)}

    with pytest.raises(FacelibError, match="'total' is nan at step 1"):
        T.train(Bad(), Points(), tmp_path / "nan", T.TrainConfig(steps=2, batch_size=8), progress=False)

    class Wrong(Toy):
        def train_step(self, batch, step):
            return {"loss": torch.zeros((), requires_grad=True)}

    with pytest.raises(FacelibError, match="none of its objectives"):
        T.train(Wrong(), Points(), tmp_path / "w", T.TrainConfig(steps=2, batch_size=8), progress=False)


def test_seconds_by_stage_from_the_log(tmp_path):
    res = T.TrainResult(tmp_path, 0, 0, 0.0, log=[
        {"step": 1, "time": 2.0, "losses": {"stage": 0.0}}, {"step": 2, "time": 5.0, "losses": {"stage": 0.0}},
        {"step": 2, "val": {"x": 1.0}}, {"step": 3, "time": 6.0, "losses": {"stage": 1.0}}])
    assert res.seconds_by("stage", ("a", "b", "c")) == {"a": 5.0, "b": 1.0, "c": 0.0}


def test_snapshots_hold_the_weights_of_a_shorter_run_and_leave_the_signature_alone(tmp_path):
    from dataclasses import replace

    data = Points()
    snap_cfg = replace(CONFIG, snapshots=(10, 20))
    assert T.run_signature(Toy(), snap_cfg, {}) == T.run_signature(Toy(), CONFIG, {})
    cut = Toy(interrupt_at=17)  # a snapshot before the interruption stays, the next one comes after resuming
    with pytest.raises(T.TrainingInterrupted):
        T.train(cut, data, tmp_path / "long", snap_cfg, progress=False)
    T.train(Toy(), data, tmp_path / "long", snap_cfg, progress=False)
    assert sorted(p.name for p in (tmp_path / "long").glob("snapshot-*.pt")) == ["snapshot-000010.pt", "snapshot-000020.pt"]
    short = Toy()
    T.train(short, data, tmp_path / "short", replace(CONFIG, steps=20), progress=False)  # the same run, cut at 20
    at_20 = T.load_snapshot(Toy(), tmp_path / "long", 20)
    a, b = _weights(short), _weights(at_20)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert at_20.run_signature.endswith("@20")
    with pytest.raises(FacelibError, match=r"no snapshot of step 15 .*\[10, 20\]"):
        T.load_snapshot(Toy(), tmp_path / "long", 15)
