"""The training loop's accelerate wiring: two CPU processes (DDP over gloo) train as one process
does at the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from facelib import train as T

from .toys import DDP_CONFIG, Plain, Points

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_two_processes_over_gloo_train_as_one_at_the_same_global_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
           str(WORKER), str(tmp_path / "ddp")]
    (tmp_path / "ddp").mkdir()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads((tmp_path / "ddp" / "group.json").read_text()) == {"world": 2, "backend": "gloo"}
    sharded = torch.load(tmp_path / "ddp" / "weights.pt")
    seen = [json.loads((tmp_path / "ddp" / f"seen{r}.json").read_text()) for r in (0, 1)]
    steps, batch = DDP_CONFIG.steps, DDP_CONFIG.batch_size
    assert [len(s) for s in seen] == [steps * batch // 2] * 2  # each process half of every batch

    method = Plain()
    start = {k: v.clone() for k, v in method.nets["encoder"].state_dict().items()}
    T.train(method, Points(64), tmp_path / "one" / "run", DDP_CONFIG, progress=False)
    single = method.nets["encoder"].state_dict()
    for step in range(steps):  # the two halves of each step are the single process's batch
        half = batch // 2
        halves = seen[0][step * half:(step + 1) * half] + seen[1][step * half:(step + 1) * half]
        assert sorted(halves) == sorted(method.seen[step * batch:(step + 1) * batch])
    assert set(sharded) == set(single)
    for k in single:
        assert not torch.allclose(single[k], start[k]), f"{k} did not train"
        torch.testing.assert_close(sharded[k], single[k], rtol=1e-5, atol=1e-6)
