"""The machine a benchmark ran on, in one line: every figure is printed beside it.

"AMD EPYC" alone names hosts that run our step 2.5× apart (a Zen 1 with AVX2 only and a Zen 4 with
AVX-512 both report it), so the line adds the CPU family and model, the vector extensions that pick
oneDNN's kernels, the cores this process may use (``g3an.runtime.usable_cores``, which
``g3an.train.distributed.cpu_threads`` shares among torchrun's ranks) and the torch build with its thread count:

    CPU: AMD EPYC (family 23, model 1; avx2 fma) — 2 usable of 2 cores, torch 2.13.0+cpu (AVX2 kernels), 2 intra-op threads

The kernels PyTorch runs are named beside the flags: ``ATEN_CPU_CAPABILITY=avx2`` (with
``ONEDNN_MAX_CPU_ISA=AVX2`` for oneDNN) makes an AVX-512 host run the AVX2 kernels a Zen 1 runs.

Reads ``/proc/cpuinfo`` (Linux); elsewhere it falls back to ``platform.processor()``. Imports no torch
unless asked for its version, so a benchmark can print it before choosing its threads.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from g3an.runtime import usable_cores

# the extensions that decide which kernels oneDNN and PyTorch's CPU code run, in that order
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile")


def cpu_fields(cpuinfo: str) -> dict:
    """The first processor's fields of a ``/proc/cpuinfo`` text: {"model name": ..., "cpu family": ...}."""
    fields: dict = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def describe_cpu(fields: dict) -> str:
    """``AMD EPYC (family 23, model 1; avx2 fma)`` from :func:`cpu_fields`' dict."""
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    flags = set(fields.get("flags", "").split())
    isa = " ".join(f for f in ISA_FLAGS if f in flags) or "no AVX2"
    if "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']}; {isa})"
    return name


def machine_line(with_torch: bool = True) -> str:
    try:
        fields = cpu_fields(Path("/proc/cpuinfo").read_text())
    except OSError:
        fields = {}
    line = f"CPU: {describe_cpu(fields)} — {usable_cores()} usable of {os.cpu_count()} cores"
    if with_torch:
        import torch

        line += (f", torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels), "
                 f"{torch.get_num_threads()} intra-op threads")
    return line
