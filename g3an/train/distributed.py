"""torchrun integration: one process per device; gloo on CPU, NCCL on GPU. Nothing home-made:
torchrun sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR and we call ``init_process_group``."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from g3an.errors import UserError
from g3an.runtime import usable_cores


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UserError("train.device = 'cuda' but no CUDA device is visible; set train.device=cpu or auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init(requested_device: str = "auto", timeout_s: float = 600) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(requested_device, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))
    return Dist(rank, world, local_rank, device)


def cpu_threads(env=None) -> int:
    """Intra-op threads for this process: the cores it may run on (``os.sched_getaffinity``: a
    ``taskset`` or cgroup cpuset is respected) shared among torchrun's local ranks, unless the user
    set ``OMP_NUM_THREADS``, which wins. Torch's own default counts the machine's cores instead, and
    more busy threads than usable cores stall each other."""
    env = os.environ if env is None else env
    if env.get("OMP_NUM_THREADS", "").strip().isdigit() and int(env["OMP_NUM_THREADS"]) > 0:
        return int(env["OMP_NUM_THREADS"])
    cores = usable_cores()
    local = int(env.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cores // max(1, local))


def any_flag(flags: list[bool], d: Dist) -> list[bool]:
    """Element-wise OR of boolean flags across ranks (every rank must call it at the same step)."""
    if d.world == 1:
        return flags
    t = torch.tensor([float(f) for f in flags], device=d.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def shutdown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def gather_rng(state: dict, d: Dist) -> list:
    """Every rank's RNG state, so each rank resumes its own stream. Tensors travel as plain lists
    (``all_gather_object`` cannot pickle tensor storages in every torch build)."""
    def plain(x):
        if isinstance(x, torch.Tensor):
            return {"__tensor__": x.tolist(), "dtype": str(x.dtype).replace("torch.", "")}
        if isinstance(x, (list, tuple)):
            return type(x)(plain(v) for v in x)
        return {k: plain(v) for k, v in x.items()} if isinstance(x, dict) else x

    def tensors(x):
        if isinstance(x, dict) and "__tensor__" in x:
            return torch.tensor(x["__tensor__"], dtype=getattr(torch, x["dtype"]))
        if isinstance(x, (list, tuple)):
            return type(x)(tensors(v) for v in x)
        return {k: tensors(v) for k, v in x.items()} if isinstance(x, dict) else x

    states: list = [None] * d.world
    dist.all_gather_object(states, plain(state))
    return [tensors(s) for s in states]
