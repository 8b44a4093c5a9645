"""Run by ``test_ddp.py`` under ``torch.distributed.run`` (two CPU processes): train the plain toy
with the book's training loop, which shards each batch over the processes through accelerate, and
let process 0 save the weights and what the process group was."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from toys import DDP_CONFIG, Plain, Points

from facelib import train as T

out = Path(sys.argv[1])
method = Plain()
T.train(method, Points(64), out / "run", DDP_CONFIG, progress=False)
rank = dist.get_rank() if dist.is_initialized() else 0
(out / f"seen{rank}.json").write_text(json.dumps(method.seen))
if dist.is_initialized() and rank == 0:
    torch.save(method.nets["encoder"].state_dict(), out / "weights.pt")
    (out / "group.json").write_text(json.dumps({"world": dist.get_world_size(), "backend": dist.get_backend()}))
