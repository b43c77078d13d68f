"""Conv helpers shared by G and D: DCGAN initialisation, then optional spectral norm.

The reference code's N(0, 0.02) init is written for Conv3d/BatchNorm3d only, so its generator's
ConvTranspose3d layers keep PyTorch's default. We initialise *every* conv, transposed conv and
linear layer with N(0, 0.02) (biases 0) and every BatchNorm with weight N(1, 0.02), bias 0 —
deliberately, in one place — before spectral norm wraps the weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Triple = tuple[int, int, int]


def dcgan_init_(module: nn.Module) -> nn.Module:
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose3d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
    return module


# From this many input channels up, a CPU conv stays contiguous: see ``on_cpu_channels_last``.
CHANNELS_LAST_BELOW = 128


def on_cpu_channels_last(conv: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``conv(x)``, on CPU run on a channels-last copy of x and handed back contiguous. oneDNN's
    kernels for the few-channel, high-resolution 3-D convs of the demo width are several times faster
    in channels-last (measured: G's 8 → 3 RGB conv at 64×64×16, forward + backward, 182 → 62 ms),
    while BatchNorm with 4–8 channels is 4× *slower* in that layout, so only the conv sees it.
    With ``CHANNELS_LAST_BELOW`` or more input channels the conv runs as it comes: there oneDNN
    reorders the large weight to channels-last at every call and gains little on the small maps
    (D_V's 256 → 512 conv at 8×8×2, forward + backward, 181 vs 136 ms; the paper-width GAN step
    4.85 → 4.37 s at batch 16; at the demo width only G's 128-channel input conv is affected, with
    bitwise the same result). The math is the same conv; on CUDA nothing changes. x (B, C, T, H, W)."""
    if x.device.type != "cpu" or x.shape[1] >= CHANNELS_LAST_BELOW:
        return conv(x)
    return conv(x.contiguous(memory_format=torch.channels_last_3d)).contiguous()


class _ChannelsLastOnCPU:
    """A 3-D (transposed) conv layer that runs through ``on_cpu_channels_last``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return on_cpu_channels_last(super().forward, x)


def space_to_depth_conv3d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          stride: Triple, padding: Triple) -> torch.Tensor:
    """``F.conv3d(x, weight, bias, stride, padding)`` for a kernel that is a multiple of the stride
    along every axis (k = m·s), as a stride-1 conv over a space-to-depth view: the zero-padded input
    is cut into s₀×s₁×s₂ blocks, each block's values become s₀·s₁·s₂·C channels of one position, and
    the kernel is cut alike into m₀×m₁×m₂ taps over those channels. The same products, summed in
    another order (~3e-6 apart on unit-scale inputs). The blocks go to oneDNN channels-last, the layout it runs
    few-channel convs fastest in. x (B, C, T, H, W) → (B, O, T', H', W'), contiguous."""
    b, c = x.shape[:2]
    o, k = weight.shape[0], weight.shape[2:]
    if any(kk % s for kk, s in zip(k, stride)):
        raise ValueError(f"space-to-depth needs each kernel size a multiple of the stride (kernel {tuple(k)}, "
                         f"stride {tuple(stride)})")
    out = [(n + 2 * p - kk) // s + 1 for n, p, kk, s in zip(x.shape[2:], padding, k, stride)]
    taps = [kk // s for kk, s in zip(k, stride)]
    grid = [o_ + m - 1 for o_, m in zip(out, taps)]  # blocks the output reads, per axis
    # pad, then keep exactly grid·stride positions per axis (a remainder no output reads is cut)
    extra = [g * s - n - p for g, s, n, p in zip(grid, stride, x.shape[2:], padding)]
    x = F.pad(x, (padding[2], extra[2], padding[1], extra[1], padding[0], extra[0]))  # negative pads crop
    (g0, g1, g2), (s0, s1, s2) = grid, stride
    blocks = (x.reshape(b, c, g0, s0, g1, s1, g2, s2).permute(0, 1, 3, 5, 7, 2, 4, 6)
              .reshape(b, c * s0 * s1 * s2, g0, g1, g2))  # (B, C·s³, g0, g1, g2)
    blocks = blocks.contiguous(memory_format=torch.channels_last_3d)  # two plain copies beat one 8-D gather
    w = (weight.reshape(o, c, taps[0], s0, taps[1], s1, taps[2], s2).permute(0, 1, 3, 5, 7, 2, 4, 6)
         .reshape(o, c * s0 * s1 * s2, *taps))  # (O, C·s³, m0, m1, m2), channels in the blocks' order
    return F.conv3d(blocks, w, bias).contiguous()


# Convs with fewer input channels than this take ``space_to_depth_conv3d`` on CPUs whose PyTorch
# kernels stop at AVX2 (no AVX-512): see ``Conv3d``.
SPACE_TO_DEPTH_BELOW = 8


# PyTorch picks its CPU kernels once, when it loads: read here once, so that ``Conv3d.forward`` reads a
# plain bool (``torch.compile`` folds it; the call that returns the level as a string breaks its graph)
_AVX2_KERNELS = torch.backends.cpu.get_cpu_capability() == "AVX2"


def space_to_depth_on_this_cpu() -> bool:
    """Whether this process's CPU kernels are AVX2 ones (x86 without AVX-512, or capped there with
    ``ATEN_CPU_CAPABILITY=avx2``): where ``Conv3d`` runs few-channel strided convs as space-to-depth.
    It reads PyTorch's kernel level, not oneDNN's: to run an AVX-512 host as the AVX2 kind, cap both
    (``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``), as the benchmarks' notes do."""
    return _AVX2_KERNELS


class Conv3d(_ChannelsLastOnCPU, nn.Conv3d):
    """On an AVX2 CPU (``space_to_depth_on_this_cpu``), a conv with fewer than
    ``SPACE_TO_DEPTH_BELOW`` input channels, strided, with each kernel size a multiple of its stride
    (D_V's first layer: 3 → 8 channels, 4³, stride 2, over 16×64×64 clips) runs as
    ``space_to_depth_conv3d``. There oneDNN computes the weight gradient of the 3-channel conv
    through a generic GEMM (17 ms a call, against 2.4 ms for its AVX-512 kernel), and the
    space-to-depth form — a stride-1 2³ conv over 24 channels — took the default GAN step 0.402 →
    0.359 s (0.89×; AVX2 kernels on an AMD Zen 5, ``benchmarks/bench_space_to_depth.py``). With
    AVX-512 kernels it gains nothing (1.00×) and would only round differently, so there the conv runs
    as before and the runs trained there stay bitwise what they were."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and space_to_depth_on_this_cpu() and self._space_to_depth_fits():
            return space_to_depth_conv3d(x, self.weight, self.bias, self.stride, self.padding)
        return super().forward(x)

    def _space_to_depth_fits(self) -> bool:
        return (self.in_channels < SPACE_TO_DEPTH_BELOW and any(s > 1 for s in self.stride) and self.groups == 1
                and self.dilation == (1, 1, 1) and self.padding_mode == "zeros" and isinstance(self.padding, tuple)
                and all(k % s == 0 for k, s in zip(self.kernel_size, self.stride)))


class ConvTranspose3d(_ChannelsLastOnCPU, nn.ConvTranspose3d):
    """On CPU, a purely temporal transposed conv (kernel k×1×1, nothing strided, padded or dilated
    in space: G_M and the temporal half of G_V) runs as the same 2-D transposed conv over a
    (B, C, T, H·W) view, with no copy. oneDNN's 3-D kernels are slow at these shapes: G³_5's 16 → 4
    channel, 3×1×1 conv at 16×32×32, forward + backward, 107 ms (channels-last 3-D) or 67 ms
    (contiguous) → 29 ms as 2-D, equal to float rounding (AMD EPYC; docs/what-we-tried.md)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not self._temporal_only():
            return super().forward(x)
        b, c, t, h, w = x.shape
        y = F.conv_transpose2d(x.reshape(b, c, t, h * w), self.weight[..., 0], self.bias,  # weight (Cin, Cout, k, 1)
                               (self.stride[0], 1), (self.padding[0], 0), (self.output_padding[0], 0),
                               self.groups, (self.dilation[0], 1))  # (B, Cout, T', H·W)
        return y.view(b, y.shape[1], y.shape[2], h, w)

    def _temporal_only(self) -> bool:
        return (self.kernel_size[1:] == (1, 1) and self.stride[1:] == (1, 1) and self.padding[1:] == (0, 0)
                and self.output_padding[1:] == (0, 0) and self.dilation[1:] == (1, 1) and self.padding_mode == "zeros")


def _wrap(module: nn.Module, sn: bool) -> nn.Module:
    dcgan_init_(module)
    return spectral_norm(module) if sn else module


def conv3d(cin: int, cout: int, kernel: Triple, stride: Triple = (1, 1, 1), padding: Triple = (0, 0, 0),
           sn: bool = True, bias: bool = True) -> nn.Module:
    return _wrap(Conv3d(cin, cout, kernel, stride, padding, bias=bias), sn)


def conv2d(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, sn: bool = True) -> nn.Module:
    return _wrap(nn.Conv2d(cin, cout, kernel, stride, padding), sn)


def linear(cin: int, cout: int, sn: bool = True) -> nn.Module:
    return _wrap(nn.Linear(cin, cout), sn)


def embedding(n: int, dim: int, sn: bool = True) -> nn.Module:
    return _wrap(nn.Embedding(n, dim), sn)


def up_block(cin: int, cout: int, kernel: Triple, stride: Triple, padding: Triple, sn: bool) -> nn.Sequential:
    """ConvTranspose3d → BatchNorm3d → ReLU, the generator's only building block.

    ConvTranspose1d/2d of the paper are ConvTranspose3d with spatial 1×1 or temporal 1 kernels.
    """
    conv = _wrap(ConvTranspose3d(cin, cout, kernel, stride, padding, bias=False), sn)
    return nn.Sequential(conv, dcgan_init_(nn.BatchNorm3d(cout)), nn.ReLU(inplace=True))


def channels(base: int, width: float) -> int:
    """Scale a paper channel count by the width multiplier (at least 1)."""
    return max(1, int(round(base * width)))


def assert_shape(x: torch.Tensor, shape: tuple) -> None:
    """Check ``x.shape`` against ``shape``; ``None`` entries match anything."""
    assert x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape)), \
        f"expected shape {shape}, got {tuple(x.shape)}"
