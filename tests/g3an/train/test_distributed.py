"""Two real processes under torchrun (gloo on CPU): parameters stay identical, ranks read disjoint
shards, and an uneven shard count (5 shards, 2 ranks) still finishes; R1's double backward runs
through the DDP wrappers too."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import make_index_shards


@pytest.mark.parametrize("extra", [["train__r1_gamma=0"], []], ids=["paper", "default-r1"])
def test_two_rank_ddp_run(tmp_path, extra):
    shards = tmp_path / "shards"
    make_index_shards(shards / "train", videos=15, frames=40, size=32, per_shard=3)  # 5 shards
    out = tmp_path / "run"
    driver = Path(__file__).with_name("ddp_driver.py")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(driver), str(shards), str(out), *extra], capture_output=True, text=True, timeout=300)
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


def test_cpu_threads_follow_affinity_local_ranks_and_the_users_omp_setting():
    import os
    import subprocess
    import sys

    from g3an.train.distributed import cpu_threads

    cores = len(os.sched_getaffinity(0))
    assert cpu_threads({}) == cores
    assert cpu_threads({"LOCAL_WORLD_SIZE": str(cores * 2)}) == 1  # never below one
    assert cpu_threads({"OMP_NUM_THREADS": "3", "LOCAL_WORLD_SIZE": "2"}) == 3  # the user's choice wins
    # a process pinned to one core (taskset, a cgroup cpuset) gets one thread, whatever the machine has
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from g3an.train.distributed import cpu_threads; print(cpu_threads({}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
