"""The host line every benchmark prints beside its figures (benchmarks/machine.py)."""

import os

from tests.helpers import load_benchmark


def _machine():
    return load_benchmark("machine")


# two processors of an AVX2-only AMD host (a Zen 1), as /proc/cpuinfo lists them
ZEN1 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx fma avx2 bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: not the first processor
flags\t\t: avx2 avx512f
"""


def test_the_first_processor_is_named_with_family_model_and_isa():
    m = _machine()
    fields = m.cpu_fields(ZEN1)
    assert fields["model name"] == "AMD EPYC" and fields["cpu family"] == "23"
    assert m.describe_cpu(fields) == "AMD EPYC (family 23, model 1; avx2 fma)"


def test_avx512_hosts_list_their_extensions_in_a_fixed_order():
    m = _machine()
    fields = {"model name": "Intel(R) Xeon(R) Processor", "cpu family": "6", "model": "167",
              "flags": "amx_tile avx512_bf16 avx512f fma avx2 sse2"}
    assert m.describe_cpu(fields) == "Intel(R) Xeon(R) Processor (family 6, model 167; avx2 fma avx512f avx512_bf16 amx_tile)"
    assert m.describe_cpu({"model name": "Some ARM core", "flags": "neon"}) == "Some ARM core"


def test_the_line_counts_the_cores_this_process_may_use():
    line = _machine().machine_line(with_torch=False)
    assert line.startswith("CPU: ") and "torch" not in line
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"— {usable} usable of {os.cpu_count()} cores" in line
