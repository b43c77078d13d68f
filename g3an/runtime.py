"""Process-wide runtime settings that must be made before torch is imported (no torch import here).

OpenMP threads that finish early spin for a while before they sleep (GNU OpenMP's default). On a
shared 2-core box that spinning takes the cores a competing job, or our own loader workers, need:
training beside one 1-core busy process kept 40 % of its solo throughput. With the passive policy
idle threads sleep at once: 62-68 % kept, for ~9 % less speed alone (AMD EPYC, 2 cores, demo
width, clips/s alone → beside the job: default 27.1 → 10.8, passive 24.8 → 15.4; docs/what-we-tried.md).
A user's own ``OMP_WAIT_POLICY`` wins (``ACTIVE`` for the last bit of solo speed).
"""

from __future__ import annotations

import os


def prefer_passive_openmp() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the user set a policy (theirs wins). Call before torch is
    imported: OpenMP reads it once, at load."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
