"""Two real processes under torchrun (gloo on CPU): parameters stay identical, ranks read disjoint
shards, and an uneven shard count (5 shards, 2 ranks) still finishes; R1's double backward runs
through the DDP wrappers too, D_P (``train.pair_d``) with its same-subject batches, and D_V's class
head (``train.class_head``)."""

import pytest

from tests.helpers import assert_ranks_identical, make_index_shards, python_c, run_ddp_driver


@pytest.mark.parametrize("extra", [["train__r1_gamma=0"], [], ["train__pair_d=1"], ["train__class_head=1"],
                                   ["train__za_info=1"]],
                         ids=["paper", "default-r1", "pair-d", "class-head", "za-info"])
def test_two_rank_ddp_run(tmp_path, extra):
    shards = tmp_path / "shards"
    make_index_shards(shards / "train", videos=15, frames=40, size=32, per_shard=3, subjects=5)  # 5 shards
    out = tmp_path / "run"
    (r0, r1), states = run_ddp_driver(shards, out, *extra)
    assert r0["step"] == r1["step"] == 6 and r0["clips"] == 6 * 4 * 2
    assert r0["seen"] and r1["seen"] and not set(r0["seen"]) & set(r1["seen"])
    assert_ranks_identical(states, ("g", "d_v", "d_i", "ema") + (("d_p",) if extra[-1:] == ["train__pair_d=1"] else ()))
    assert sorted(p.name for p in (out / "checkpoints").glob("*.pt"))[-1] == "step-0000006.pt"  # rank 0 wrote


def test_cpu_threads_follow_affinity_local_ranks_and_the_users_omp_setting():
    import os

    from g3an.train.distributed import cpu_threads

    cores = len(os.sched_getaffinity(0))
    assert cpu_threads({}) == cores
    assert cpu_threads({"LOCAL_WORLD_SIZE": str(cores * 2)}) == 1  # never below one
    assert cpu_threads({"OMP_NUM_THREADS": "3", "LOCAL_WORLD_SIZE": "2"}) == 3  # the user's choice wins
    # a process pinned to one core (taskset, a cgroup cpuset) gets one thread, whatever the machine has
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from g3an.train.distributed import cpu_threads; print(cpu_threads({}))")
    assert python_c(code).strip() == "1"
