"""F-SA against a per-position loop written straight from the appendix equations (1)–(4)."""

import pytest
import torch

from g3an.models import attention
from g3an.models.attention import AxisSelfAttention, FactorisedSelfAttention
from tests.helpers import load_benchmark

# the fused path takes softmax(QKᵀ)V for short sequences and SDPA's flash kernel for long ones;
# "fused-flash" forces the second on these tiny fixtures
IMPLS = ["fused", "fused-flash", "literal"]


def _impl(name, monkeypatch):
    if name == "fused-flash":
        monkeypatch.setattr(attention, "MATH_MAX_LENGTH", 0)
    return name.removesuffix("-flash")


def _conv1(conv, x_vec):
    """A 1×1×1 conv applied to one feature vector (C,) → (C_out,)."""
    return conv.weight[:, :, 0, 0, 0] @ x_vec + conv.bias


def tsa_loop(m: AxisSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """y_{s,j} = γ Σ_i softmax_i(f(x_{s,i})ᵀ g(x_{s,j})) h(x_{s,i}) + x_{s,j}, for every position s."""
    b_, c, t, h, w = x.shape
    y = torch.empty_like(x)
    for b in range(b_):
        for yy in range(h):
            for xx in range(w):
                xs = [x[b, :, i, yy, xx] for i in range(t)]
                for j in range(t):
                    scores = torch.stack([_conv1(m.f, xs[i]) @ _conv1(m.g, xs[j]) for i in range(t)])
                    a = torch.softmax(scores, 0)
                    y[b, :, j, yy, xx] = m.gamma * sum(a[i] * _conv1(m.h, xs[i]) for i in range(t)) + xs[j]
    return y


def ssa_loop(m: AxisSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """The same over the N = H·W positions of each frame."""
    b_, c, t, h, w = x.shape
    y = torch.empty_like(x)
    pos = [(yy, xx) for yy in range(h) for xx in range(w)]
    for b in range(b_):
        for tt in range(t):
            xs = [x[b, :, tt, p[0], p[1]] for p in pos]
            fs = torch.stack([_conv1(m.f, v) for v in xs])
            hs = torch.stack([_conv1(m.h, v) for v in xs])
            for j, p in enumerate(pos):
                a = torch.softmax(fs @ _conv1(m.g, xs[j]), 0)  # over i
                y[b, :, tt, p[0], p[1]] = m.gamma * (a[:, None] * hs).sum(0) + xs[j]
    return y


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


@pytest.mark.parametrize("impl", IMPLS)
def test_temporal_attention_matches_equations(impl, monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 3, 2)  # non-square H≠W, T≠H: a scrambled axis cannot pass
    m = _randomise(AxisSelfAttention(16, "time", _impl(impl, monkeypatch)))
    assert m.gamma.item() != 0
    with torch.no_grad():
        torch.testing.assert_close(m(x), tsa_loop(m, x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("impl", IMPLS)
def test_spatial_attention_matches_equations(impl, monkeypatch):
    torch.manual_seed(1)
    x = torch.randn(2, 16, 3, 4, 5)
    m = _randomise(AxisSelfAttention(16, "space", _impl(impl, monkeypatch)), seed=1)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ssa_loop(m, x), atol=1e-5, rtol=1e-4)


def test_fsa_is_tsa_then_ssa_and_impls_agree():
    torch.manual_seed(2)
    x = torch.randn(1, 16, 4, 3, 3)
    fused = _randomise(FactorisedSelfAttention(16, "fused"), seed=3)
    literal = FactorisedSelfAttention(16, "literal")
    literal.load_state_dict(fused.state_dict())
    with torch.no_grad():
        expected = ssa_loop(fused.spatial, tsa_loop(fused.temporal, x))
        torch.testing.assert_close(fused(x), expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(literal(x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("impl", ["fused", "fused-flash"])
def test_fused_gradients_equal_the_literal_ones(impl, monkeypatch):
    """The fast path's copies, views and split must route every gradient as the equations do."""
    torch.manual_seed(4)
    x = torch.randn(2, 16, 4, 3, 5)
    fused = _randomise(FactorisedSelfAttention(16, _impl(impl, monkeypatch)), seed=5)
    literal = FactorisedSelfAttention(16, "literal")
    literal.load_state_dict(fused.state_dict())
    grads = []
    for m in (fused, literal):
        xx = x.clone().requires_grad_(True)
        (m(xx) * torch.linspace(-1, 1, x.numel()).view(x.shape)).sum().backward()
        grads.append([xx.grad] + [p.grad for p in m.parameters()])
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_gamma_starts_at_zero_so_fsa_starts_as_identity():
    m = FactorisedSelfAttention(8)
    assert m.temporal.gamma.item() == 0 and m.spatial.gamma.item() == 0
    x = torch.randn(1, 8, 2, 3, 3)
    assert torch.equal(m(x), x)


@pytest.mark.parametrize("axis", ["time", "space"])
def test_f_g_h_get_the_dcgan_init(axis):
    # at C = 128 PyTorch's default 1×1×1 conv init has std 1/√(3·128) ≈ 0.051, far outside the band
    torch.manual_seed(0)
    m = AxisSelfAttention(128, axis, init="dcgan")
    for conv in (m.f, m.g, m.h):
        assert 0.015 < conv.weight.std().item() < 0.025
        assert abs(conv.weight.mean().item()) < 0.005
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
    assert m.gamma.item() == 0


def test_the_init_is_a_choice_that_reaches_the_generator():
    torch.manual_seed(0)
    m = AxisSelfAttention(128, "space", init="pytorch")
    assert all(0.04 < c.weight.std().item() < 0.06 for c in (m.f, m.g, m.h))  # 1/√(3·128) ≈ 0.051
    from g3an.config import config_from_dict
    from g3an.models.build import build_models

    for init, band in (("dcgan", (0.015, 0.025)), ("pytorch", (0.04, 0.2))):
        g, *_ = build_models(config_from_dict({"model": {"attention_init": init, "width": 0.5}}).model,
                             config_from_dict({}).loader)
        std = g.attention.spatial.h.weight.std().item()
        assert band[0] < std < band[1], (init, std)
    with pytest.raises(ValueError, match="unknown attention init"):
        AxisSelfAttention(8, "time", init="xavier")
    with pytest.raises(ValueError, match="unknown attention impl"):  # at build time, not at the first step
        AxisSelfAttention(8, "time", impl="flash")


def test_the_benchmarks_analytic_attention_flops_equal_the_literal_matmuls_counted():
    """bench_model adds F-SA's FLOPs analytically (the fused CPU kernel is invisible to the FLOP
    counter); on the literal path, whose matmuls the counter sees, the two must agree exactly."""
    from torch.utils.flop_counter import FlopCounterMode

    from g3an.config import LoaderConfig, ModelConfig
    from g3an.models.attention import AxisSelfAttention
    from g3an.models.build import build_models
    from g3an.train.step import Nets, gan_step, make_optimizers

    bench = load_benchmark("bench_model")
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(attention="literal", size=32, width=0.0625), LoaderConfig())
    nets = Nets(g, d_v, d_i, *make_optimizers(g, d_v, d_i), tz)
    shapes = []
    for m in g.modules():
        if isinstance(m, AxisSelfAttention):
            m.register_forward_hook(lambda mod, a, o: shapes.append((mod.axis, tuple(a[0].shape), mod.f.out_channels)))
    with FlopCounterMode(display=False) as fc:
        gan_step(nets, torch.rand(2, 3, 16, 32, 32) * 2 - 1, None, torch.Generator().manual_seed(0))
    counted = sum(n for k, per in fc.get_flop_counts().items() if k.endswith("attention")
                  for op, n in per.items() if "bmm" in str(op))
    assert [a for a, _, _ in shapes] == ["time", "space"] and counted > 0
    assert bench.attention_flops(shapes) == counted
