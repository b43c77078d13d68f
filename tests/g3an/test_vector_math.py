"""MKL's vector-math kernels are resolved on one thread before any network runs (g3an.vector_math)."""

import pytest

from tests.helpers import python_c

_RESOLVED = "import sys; {imports}; import g3an.vector_math as v; print(v.resolved(), 'torch' in sys.modules)"


def _fresh(code: str) -> list[str]:
    return python_c(code).split()


@pytest.mark.parametrize("package", ["g3an.models", "g3an.metrics.evaluator"])
def test_the_modules_that_run_networks_resolve_the_kernels_on_import(package):
    assert _fresh(_RESOLVED.format(imports="import g3an.config, g3an.metrics.summary, g3an.report")) == ["False", "False"]
    assert _fresh(_RESOLVED.format(imports=f"import {package}")) == ["True", "True"]


def test_resolving_is_idempotent_and_leaves_every_op_bitwise_unchanged():
    """The same ops on 4096 elements (above VML's parallel grain, so both threads of a 2-core box
    take part) give the same bits before and after a second resolve; the one-element calls run in
    each op's domain in both precisions (acos, erfinv and log of 0.5 are finite)."""
    import torch

    from g3an.vector_math import VML_OPS, resolve_kernels, resolved

    resolve_kernels()
    assert resolved()
    x = torch.linspace(0.01, 0.99, 4096)
    before = {name: getattr(torch, name)(x) for name in VML_OPS}
    resolve_kernels()
    for name, y in before.items():
        assert torch.equal(getattr(torch, name)(x), y), name
        for dtype in (torch.float32, torch.float64):
            assert torch.isfinite(getattr(torch, name)(torch.full((1,), 0.5, dtype=dtype))).all(), name


def test_a_fresh_process_first_generator_forward_equals_its_second():
    """The harm the resolve prevents: without it, G's first forward in a fresh process (its tanh on
    a clip split between two threads) came out ~400 ulp off on one thread's half in 1 of 100 to 4 of
    12 processes, and training rounded another way from step 1. Here it must equal the second forward
    bitwise, at a size where the tanh runs on every thread."""
    code = """
import torch
from g3an.models.build import build_models
from g3an.sampling import sample_latents
from tests.helpers import tiny_config
cfg = tiny_config()
torch.manual_seed(0)
g, _, _, tz = build_models(cfg.model, cfg.loader, 4)
g.eval()
z_a, z_m, labels = sample_latents(4, tz, 4, torch.Generator().manual_seed(5), torch.device('cpu'), torch.float32)
with torch.no_grad():
    first, second = g(z_a, z_m, labels), g(z_a, z_m, labels)
print(first.numel(), torch.equal(first, second))
"""
    numel, same = _fresh(code)
    assert int(numel) > 2 * 2048 and same == "True"  # above VML's grain: every thread takes a chunk
