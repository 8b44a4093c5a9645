"""Checkpoints that are safe to load, to share and to lose: no pickle execution, a previous
checkpoint to fall back on, fsynced saves, one trainer per run folder — and the faults that
motivate them: a kill between the renames of a save, a truncated or random latest file, a full disk."""

from __future__ import annotations

import errno
import os

import pytest
import torch
from toys import CONFIG, Points, Toy

from facelib import checkpoints
from facelib import train as T
from facelib.checkpoints import CheckpointError, RunLock
from facelib.errors import FacelibError

CALLED = []


def _executed():  # what a malicious pickle would run
    CALLED.append("executed")
    return "pwned"


class Foreign:
    def __reduce__(self):
        return (_executed, ())


def _weights(method):
    return {k: v.clone() for k, v in method.nets["encoder"].state_dict().items()}


def _same(a, b) -> bool:
    wa, wb = _weights(a), _weights(b)
    return all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The uninterrupted reference run every fault must reproduce exactly."""
    method = Toy()
    res = T.train(method, Points(), tmp_path_factory.mktemp("straight"), CONFIG, progress=False)
    return method, res


def _log(res):
    return [{k: v for k, v in e.items() if k != "time"} for e in res.log if "event" not in e]


def test_a_checkpoint_carrying_a_foreign_object_is_refused_without_running_it(tmp_path, straight):
    T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)
    ckpt = T.load_checkpoint(tmp_path / T.CHECKPOINT)  # our own format loads (numpy RNG state included)
    assert ckpt["finished"] and ckpt["rng"]["numpy"][0] == "MT19937"
    torch.save({**ckpt, "extra": Foreign()}, tmp_path / "shared.pt")
    with pytest.raises(CheckpointError, match=r"shared\.pt: not loadable .*refuses to execute pickled code"):
        T.load_checkpoint(tmp_path / "shared.pt")
    assert CALLED == []  # the pickled call never ran
    torch.save({"step": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a facelib checkpoint .missing signature"):
        T.load_checkpoint(tmp_path / "other.pt")


def _interrupted(run_dir, at=17):
    with pytest.raises(T.TrainingInterrupted):
        T.train(Toy(interrupt_at=at), Points(), run_dir, CONFIG, progress=False)
    # checkpoint_every=12: the previous checkpoint is step 12, the latest step 17
    assert T.load_checkpoint(run_dir / checkpoints.PREVIOUS)["step"] == 12
    assert T.load_checkpoint(run_dir / T.CHECKPOINT)["step"] == 17


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_a_damaged_latest_checkpoint_resumes_from_the_previous_one(tmp_path, straight, capsys, damage):
    _interrupted(tmp_path)
    latest = tmp_path / T.CHECKPOINT
    if damage == "truncated":
        latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    else:
        latest.write_bytes(os.urandom(1000))
    again = Toy()
    res = T.train(again, Points(), tmp_path, CONFIG, progress=False)
    note = capsys.readouterr().out
    assert "resuming toy from checkpoint.prev.pt (step 12) because" in note and "checkpoint.pt: not loadable" in note
    assert res.started_at == 12 and res.steps == 18
    assert _same(again, straight[0]) and _log(res) == _log(straight[1])  # as if nothing had happened
    assert any("event" in e and "checkpoint.prev.pt" in e["event"] for e in res.log)  # the log says so


def test_a_kill_between_the_renames_of_a_save_leaves_a_loadable_checkpoint(tmp_path, straight, monkeypatch):
    real = checkpoints._replace
    calls = []

    def dies(src, dst):  # the process is killed after the latest became the previous
        calls.append(dst.name)
        if dst.name == T.CHECKPOINT and calls.count(T.CHECKPOINT) == 2:
            raise SystemExit("killed")
        real(src, dst)

    monkeypatch.setattr(checkpoints, "_replace", dies)
    with pytest.raises(SystemExit):
        T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)
    monkeypatch.setattr(checkpoints, "_replace", real)
    assert not (tmp_path / T.CHECKPOINT).exists() and (tmp_path / checkpoints.PREVIOUS).is_file()
    again = Toy()
    res = T.train(again, Points(), tmp_path, CONFIG, progress=False)
    assert res.started_at == 12 and _same(again, straight[0]) and _log(res) == _log(straight[1])


def test_a_full_disk_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, straight, monkeypatch):
    real = torch.save
    saves = []

    def full(obj, f, *a, **k):
        saves.append(1)
        if len(saves) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError, match="No space left on device.*checkpoint.pt there is intact"):
        T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)
    monkeypatch.setattr(torch, "save", real)
    assert not list(tmp_path.glob("*.tmp")) and T.load_checkpoint(tmp_path / T.CHECKPOINT)["step"] == 12
    again = Toy()
    res = T.train(again, Points(), tmp_path, CONFIG, progress=False)
    assert res.started_at == 12 and _same(again, straight[0]) and _log(res) == _log(straight[1])


def test_no_usable_checkpoint_names_each_file_its_reason_and_the_choices(tmp_path):
    (tmp_path / T.CHECKPOINT).write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match=r"(?s)no usable checkpoint.*checkpoint\.pt: not loadable — damaged.*"
                                              r"choices:.*--restart"):
        T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)
    res = T.train(Toy(), Points(), tmp_path, CONFIG, progress=False, resume=False)  # starting over works
    assert res.steps == 30


def test_one_trainer_per_run_folder_and_a_stale_lock_is_taken_over(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(FacelibError, match=f"in use by process {os.getpid()} on .* since"):
            T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)
    # a lock file left by a killed trainer (no process holds the lock): taken over
    (tmp_path / checkpoints.LOCK).write_text("process 999999 on elsewhere since 2026-01-01T00:00:00")
    assert T.train(Toy(), Points(), tmp_path, CONFIG, progress=False).steps == 30


def test_a_finished_run_keeps_one_checkpoint_and_a_damaged_one_names_the_way_out(tmp_path, straight):
    assert sorted(p.name for p in straight[1].run_dir.glob("*.pt")) == [T.CHECKPOINT]  # no previous
    _interrupted(tmp_path)  # mid-run both are kept ...
    res = T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)
    assert res.started_at == 17 and not (tmp_path / checkpoints.PREVIOUS).exists()  # ... until it finishes
    (tmp_path / T.CHECKPOINT).write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match=r"(?s)no usable checkpoint.*damaged.*choices:.*--restart"):
        T.train(Toy(), Points(), tmp_path, CONFIG, progress=False)


def test_the_command_line_resumes_from_the_previous_checkpoint_after_a_kill_in_the_final_save(
        tmp_path, ict, capsys, monkeypatch):
    from facelib import cli
    from facelib.data import synthetic

    root = tmp_path / "set"
    synthetic.generate(root, synthetic.SyntheticConfig(identities=4, variants=2, image_size=64, seed=1),
                       progress=False, model=ict)
    run = tmp_path / "run"
    monkeypatch.setenv("FACELIB_RUNS", str(tmp_path / "runs"))  # MoFA's stand-in: trained before the kill is armed
    assert cli.main(["train", "--method", "pretrain", "--profile", "smoke", "--root", str(root), "--quiet"]) == 0
    args = ["train", "--method", "mofa", "--profile", "smoke", "--root", str(root), "--run-dir", str(run),
            "--steps", "4", "--quiet"]
    real = checkpoints._replace

    def dies(src, dst):  # a checkpoint every step; killed after step 4's save moved step 3 aside
        if dst.name == T.CHECKPOINT and T.load_checkpoint(src)["finished"]:
            raise SystemExit("killed")
        real(src, dst)

    monkeypatch.setattr(checkpoints, "_replace", dies)
    with pytest.raises(SystemExit):
        cli.main(args)
    monkeypatch.setattr(checkpoints, "_replace", real)
    assert not (run / T.CHECKPOINT).exists() and T.load_checkpoint(run / checkpoints.PREVIOUS)["step"] == 3
    capsys.readouterr()
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "1 steps from step 3" in out and not (run / checkpoints.PREVIOUS).exists()
