"""Resolve MKL's vector-math kernels once, on one thread, before any op runs them on several.

On CPU, ATen hands contiguous float32/float64 unary ops (``tanh``, ``exp``, ``log``, ``sqrt``, ``sin``,
…) to MKL's VML, each intra-op thread calling it on its own chunk of the tensor. The oneMKL bundled with
the torch wheels (2024.2) picks each VML function's kernel lazily, on that function's first call. When
that first call runs on two threads at once, one of them can run a low-accuracy kernel for its whole
chunk, though high accuracy was asked for. Later calls are right. This is upstream
pytorch/pytorch#188792 (open; oneMKL ≥ 2025.0 no longer shows it).

Here it hit the first ``tanh`` of G's output in a process: the 4 × 3 × 16 × 32 × 32 clip of the test
runs, split between 2 threads. In 1 of 100 to 4 of 12 fresh processes (the rate moved with whatever
the process did first), one half came out off by about 400 ulp (5e-5 relative). That half is bitwise
MKL's AVX2 "enhanced performance" tanh (``MKL_ENABLE_INSTRUCTIONS=AVX2`` with ``vmsTanh(..., VML_EP)``),
while the other half and every later call match ``VML_HA`` (Intel Xeon model 207, torch 2.13 CPU).
Training then rounded another way from step 1, so a run was not bitwise reproducible, and the
killed-and-resumed test failed 2 runs in 8.

Calling each function once on a one-element tensor runs on the calling thread alone (VML's
``parallel_for`` grain is 2048). So the kernel is resolved, without a race, before any real tensor
reaches it. Results of later calls are unchanged (bitwise)."""

from __future__ import annotations

# The ops ATen routes to MKL VML (aten/src/ATen/cpu/vml.h, IMPLEMENT_VML_MKL), in both precisions it
# builds them for. An op that a torch build runs without MKL is simply called once more.
VML_OPS = ("acos", "asin", "atan", "cos", "erf", "erfc", "erfinv", "exp", "log", "log10", "log2", "sin",
           "sqrt", "tan", "tanh", "trunc")

_resolved = False


def resolve_kernels() -> None:
    """Call each of ``VML_OPS`` once on one float32 and one float64 element. Idempotent; the first
    call takes ~25 ms (MKL picking its kernels), later ones nothing. Call it before the first sizable
    tensor meets any of these ops."""
    global _resolved
    if _resolved:
        return
    import torch

    for dtype in (torch.float32, torch.float64):
        x = torch.full((1,), 0.5, dtype=dtype)  # inside every op's domain (acos, erfinv, log, …)
        for name in VML_OPS:
            getattr(torch, name)(x)
    _resolved = True


def resolved() -> bool:
    """Whether ``resolve_kernels`` has run in this process."""
    return _resolved
