import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from g3an.models import layers
from g3an.models.discriminators import VideoDiscriminator
from tests.helpers import python_c

# (input shape, kernel, stride, padding): D_V's first layer (the case it is for), the 2p1d video D's
# spatial-only stride, an input whose right pad no output reads is dropped, one whose last real frame
# no output reads is cropped (T) beside a pad wider than the stride (H), and an unpadded 2³ kernel
GEOMETRIES = [
    ((2, 3, 8, 16, 16), (4, 4, 4), (2, 2, 2), (1, 1, 1)),
    ((2, 3, 4, 16, 16), (1, 4, 4), (1, 2, 2), (0, 1, 1)),
    ((2, 3, 7, 15, 17), (4, 4, 4), (2, 2, 2), (1, 1, 1)),
    ((1, 6, 5, 9, 9), (2, 4, 2), (2, 2, 1), (0, 2, 1)),
    ((2, 4, 6, 8, 8), (2, 2, 2), (2, 2, 2), (0, 0, 0)),
]


@pytest.mark.parametrize("shape, kernel, stride, padding", GEOMETRIES)
def test_space_to_depth_conv_is_the_strided_conv_with_its_r1_gradients(shape, kernel, stride, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g)
    weight = torch.randn(5, shape[1], *kernel, generator=g)
    bias = torch.randn(5, generator=g)
    results = []
    for conv in (lambda x, w, b: F.conv3d(x, w, b, stride, padding),
                 lambda x, w, b: layers.space_to_depth_conv3d(x, w, b, stride, padding)):
        xi, wi, bi = (t.clone().requires_grad_(True) for t in (x, weight, bias))
        y = conv(xi, wi, bi)
        out = (F.leaky_relu(y, 0.2) * torch.arange(y.numel()).reshape(y.shape).sin()).sum()
        # R1 as the step takes it: ∂out/∂x with its graph, then the penalty's gradient to the weights
        (dx,) = torch.autograd.grad(out, xi, create_graph=True)
        (out + dx.pow(2).sum()).backward()
        results.append((y, dx, wi.grad, bi.grad))
    (y0, dx0, dw0, db0), (y1, dx1, dw1, db1) = results
    assert y1.shape == y0.shape and y1.is_contiguous()
    torch.testing.assert_close(y1, y0, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(dx1, dx0, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(dw1, dw0, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(db1, db0, atol=1e-3, rtol=1e-4)


def test_space_to_depth_refuses_a_kernel_the_stride_does_not_divide():
    with pytest.raises(ValueError, match="multiple of the stride"):
        layers.space_to_depth_conv3d(torch.zeros(1, 3, 8, 8, 8), torch.zeros(4, 3, 3, 3, 3), None, (2, 2, 2), (1, 1, 1))


def _spy(monkeypatch, on: bool) -> list:
    calls = []
    real = layers.space_to_depth_conv3d
    monkeypatch.setattr(layers, "space_to_depth_on_this_cpu", lambda: on)
    monkeypatch.setattr(layers, "space_to_depth_conv3d", lambda *a: calls.append(a[1].shape) or real(*a))
    return calls


@pytest.mark.parametrize("on", [True, False])
def test_video_d_first_layer_takes_space_to_depth_only_on_avx2_cpus(monkeypatch, on):
    calls = _spy(monkeypatch, on)
    torch.manual_seed(0)
    d = VideoDiscriminator(frames=8, size=32, width=1 / 8)
    clip = torch.randn(2, 3, 8, 32, 32)
    d(clip)
    # only the 3 → 8 channel first layer: the wider ones keep oneDNN's own kernels
    assert calls == ([torch.Size([8, 3, 4, 4, 4])] if on else [])


@pytest.mark.parametrize("make", [
    lambda: layers.Conv3d(3, 8, 4, 2, 1),
    lambda: layers.Conv3d(6, 4, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
])
def test_conv3d_on_the_space_to_depth_path_computes_the_plain_conv(monkeypatch, make):
    calls = _spy(monkeypatch, True)
    ours = make()
    plain = nn.Conv3d(ours.in_channels, ours.out_channels, ours.kernel_size, ours.stride, ours.padding)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(2, ours.in_channels, 8, 16, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours(x), plain(x), atol=1e-5, rtol=1e-5)
    assert len(calls) == 1


@pytest.mark.parametrize("make", [
    lambda: layers.Conv3d(8, 8, 4, 2, 1),  # wide enough for oneDNN's own kernels
    lambda: layers.Conv3d(3, 8, 3, 1, 1),  # not strided
    lambda: layers.Conv3d(3, 8, 3, 2, 1),  # 3 is no multiple of 2
    lambda: layers.Conv3d(3, 8, 4, 2, 1, dilation=2),
    lambda: layers.Conv3d(4, 8, 4, 2, 1, groups=2),
    lambda: layers.Conv3d(3, 8, 4, 2, 1, padding_mode="reflect"),
    lambda: layers.Conv3d(3, 8, 4, (1, 2, 2), padding="valid"),  # a string, as PyTorch keeps it
])
def test_conv3d_keeps_other_convs_off_the_space_to_depth_path(monkeypatch, make):
    calls = _spy(monkeypatch, True)
    conv = make()
    conv(torch.randn(1, conv.in_channels, 8, 16, 16))
    assert calls == []


@pytest.mark.parametrize("capability, expected", [
    pytest.param("avx2", "True", marks=pytest.mark.skipif(not torch.cpu._is_avx2_supported(),
                                                          reason="no AVX2 on this CPU")),
    ("default", "False")])
def test_space_to_depth_follows_the_cpu_kernels_pytorch_runs(capability, expected):
    # a new process: PyTorch reads ATEN_CPU_CAPABILITY once, when it loads its kernels
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    out = python_c("from g3an.models import layers; print(layers.space_to_depth_on_this_cpu())", env=env)
    assert out.strip() == expected


def test_video_d_traces_as_one_graph_for_torch_compile():
    # train.compile: the space-to-depth policy is a plain bool, not a call into PyTorch that returns a
    # string, which Dynamo cannot put in a graph (it broke D_V's graph at each of its convs)
    torch.manual_seed(0)
    d = VideoDiscriminator(frames=8, size=32, width=1 / 8)
    explained = torch._dynamo.explain(d)(torch.randn(2, 3, 8, 32, 32))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
