"""Two real processes under torchrun (gloo on CPU): parameters stay identical, ranks read disjoint
shards, and an uneven shard count (5 shards, 2 ranks) still finishes."""

import json
import subprocess
import sys
from pathlib import Path

import torch

from tests.helpers import make_index_shards


def test_two_rank_ddp_run(tmp_path):
    shards = tmp_path / "shards"
    make_index_shards(shards / "train", videos=15, frames=40, size=32, per_shard=3)  # 5 shards
    out = tmp_path / "run"
    driver = Path(__file__).with_name("ddp_driver.py")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(driver), str(shards), str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["step"] == r1["step"] == 6 and r0["clips"] == 6 * 4 * 2
    assert r0["seen"] and r1["seen"] and not set(r0["seen"]) & set(r1["seen"])
    s0, s1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for net in ("g", "d_v", "d_i", "ema"):
        assert s0[net]
        for k in s0[net]:
            assert torch.equal(s0[net][k], s1[net][k]), f"{net}.{k} differs between ranks"
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt"))[-1] == "step-0000006.pt"  # rank 0 wrote
