"""Process-wide runtime settings that must be made before torch is imported (no torch import here).

OpenMP threads that finish early spin for a while before they sleep (GNU OpenMP's default). On a
shared 2-core box that spinning takes the cores a competing job, or our own loader workers, need:
training beside one 1-core busy process kept 40 % of its solo throughput. With the passive policy
idle threads sleep at once: 62-68 % kept, for ~9 % less speed alone (AMD EPYC, 2 cores, demo
width, clips/s alone → beside the job: default 27.1 → 10.8, passive 24.8 → 15.4; docs/what-we-tried.md).
A user's own ``OMP_WAIT_POLICY`` wins (``ACTIVE`` for the last bit of solo speed).

Every CPU tensor of 32 MB or more is a fresh ``mmap`` under glibc, and touching its 4 KB pages costs
more than the work done on it: a 67 MB clone took 35 ms, a copy into a buffer already mapped 5.7 ms.
With ``THP_MEM_ALLOC_ENABLE=1`` PyTorch's CPU allocator asks for 2 MB pages (``madvise``): the
paper-width GAN step went from 12.3 to 8.6 s at the same peak memory (AMD EPYC, 2 cores; at the demo
width, whose tensors are small, within the noise). Disabling glibc's mmap instead (``mallopt``) was
as fast but raised peak memory by 30 %. A user's own ``THP_MEM_ALLOC_ENABLE`` wins.
"""

from __future__ import annotations

import os


def prefer_passive_openmp() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy (theirs wins). Call before torch is
    imported: OpenMP reads it once, at load."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def prefer_huge_pages() -> None:
    """``THP_MEM_ALLOC_ENABLE=1`` unless the user set it. Call before torch is imported: PyTorch
    reads it once, at its first allocation. Harmless where the kernel has no transparent huge pages."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


def usable_cores() -> int:
    """The cores this process may run on: ``os.sched_getaffinity`` (a ``taskset`` or cgroup cpuset
    is respected), or the machine's count where the platform has no affinity call."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_process_defaults() -> None:
    """Both of the above: what ``g3an-cli`` and the benchmarks call first."""
    prefer_passive_openmp()
    prefer_huge_pages()
