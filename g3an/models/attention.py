"""Factorised spatio-temporal self-attention (F-SA): T-SA then S-SA, appendix eqs. (1)–(4).

For a sequence x_1..x_L (the T frames at one spatial position for T-SA, the N = H·W positions of
one frame for S-SA):

    t_ij = f(x_i)ᵀ g(x_j),    a_ji = softmax_i(t_ij),    y_j = γ Σ_i a_ji h(x_i) + x_j

f, g: 1×1×1 convs to C/8 channels; h: 1×1×1 conv keeping C; γ a scalar initialised at 0. There is
no 1/√d scaling. In attention terms the query of position j is g(x_j), the keys are f(x_i).
Their initialisation (``init``; the paper does not give one) is ``"dcgan"`` — weights N(0, 0.02),
biases 0, as every other layer and as the public code — or ``"pytorch"`` — PyTorch's default
(Kaiming-uniform, std 1/√(3·C)), which the CPU demo trains better with (docs/what-we-tried.md).

Two implementations, selected by ``impl``:
- ``"fused"`` (the fast path, the same equations): f, g and h run as one GEMM on a channels-last
  view of x, whose output splits into q, k, v without copies; for S-SA the H·W sequence of each
  frame is then a free view. Sequences up to ``MATH_MAX_LENGTH`` long (T-SA's 16 frames, S-SA at
  ≤ 8×8) take softmax(QKᵀ)V directly — its L×L weights are small and the flash kernel's blocking
  only costs there. Longer ones take ``F.scaled_dot_product_attention``, which never materialises
  L×L. On CPU that runs its slow math kernel when q/k's width differs from v's, so q and k are
  zero-padded to v's width (every dot product is unchanged); the fused kernels also need 4-D
  (batch, heads, L, E) inputs — with 3-D ones SDPA silently takes the math path — so a single head
  axis is added. docs/what-we-tried.md records the variants measured and why the others lost.
- ``"literal"``: 1×1×1 convs, then softmax(QKᵀ)V as written.
Unlike the public reference code (whose reshape after attention mixes T, C and space), the output
is put back exactly where it came from; tests compare both with a per-position loop.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from g3an.models.layers import Conv3d, conv3d

Impl = Literal["fused", "literal"]
Init = Literal["dcgan", "pytorch"]
Axis = Literal["time", "space"]

# Sequences up to this long take softmax(QKᵀ)V, longer ones SDPA's flash kernel. Measured on CPU
# (AMD EPYC, torch 2.13): math ~2x faster at L = 16 (T-SA), the two tie at L = 256 (S-SA at 16x16).
MATH_MAX_LENGTH = 64

_TO_SEQ = {"time": "b c t h w -> (b h w) t c", "space": "b c t h w -> (b t) (h w) c"}
_FROM_SEQ = {"time": "(b h w) t c -> b c t h w", "space": "(b t) (h w) c -> b c t h w"}


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, impl: Impl) -> torch.Tensor:
    """Unscaled dot-product attention. q, k: (…, L, d); v: (…, L, C) → (…, L, C)."""
    if impl == "literal":
        weights = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # (…, L_query, L_key)
        return weights @ v
    if impl == "fused":
        pad = v.shape[-1] - q.shape[-1]
        if pad > 0:  # zero columns add nothing to q·k but let SDPA pick its fused kernel
            q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
        out = F.scaled_dot_product_attention(q[..., None, :, :], k[..., None, :, :], v[..., None, :, :],
                                             scale=1.0)  # (…, 1, L, C)
        return out[..., 0, :, :]
    raise ValueError(f"unknown attention impl {impl!r}; expected 'fused' or 'literal'")


class AxisSelfAttention(nn.Module):
    """Self-attention along one axis of a (B, C, T, H, W) map: T-SA (``"time"``) or S-SA (``"space"``)."""

    def __init__(self, channels: int, axis: Axis, impl: Impl = "fused", init: Init = "pytorch"):
        super().__init__()
        if axis not in _TO_SEQ:
            raise ValueError(f"unknown axis {axis!r}; expected 'time' or 'space'")
        if init not in ("dcgan", "pytorch"):
            raise ValueError(f"unknown attention init {init!r}; expected 'dcgan' or 'pytorch'")
        if impl not in ("fused", "literal"):
            raise ValueError(f"unknown attention impl {impl!r}; expected 'fused' or 'literal'")
        inner = max(1, channels // 8)
        self.axis, self.impl = axis, impl
        conv = (lambda cin, cout: conv3d(cin, cout, (1, 1, 1), sn=False)) if init == "dcgan" else \
            (lambda cin, cout: Conv3d(cin, cout, 1))
        self.f = conv(channels, inner)  # keys
        self.g = conv(channels, inner)  # queries
        self.h = conv(channels, channels)  # values
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impl == "literal":
            return self._literal(x)
        b, c, t, h, w = x.shape  # (B, C, T, H, W)
        d = self.f.out_channels
        weight = torch.cat([self.g.weight, self.f.weight, self.h.weight]).flatten(1)  # (2d+C, C)
        bias = torch.cat([self.g.bias, self.f.bias, self.h.bias])
        qkv = F.linear(x.permute(0, 2, 3, 4, 1), weight, bias)  # (B, T, H, W, 2d+C)
        if self.axis == "time":
            qkv = qkv.reshape(b, t, h * w, 2 * d + c).transpose(1, 2)  # (B, H·W, T, 2d+C) view
        else:
            qkv = qkv.reshape(b * t, h * w, 2 * d + c)  # (B·T, H·W, 2d+C) view
        q, k, v = qkv.split([d, d, c], dim=-1)
        out = attend(q, k, v, "literal" if q.shape[-2] <= MATH_MAX_LENGTH else "fused")
        if self.axis == "time":
            out = out.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)  # (B, C, T, H, W) view
        else:
            out = out.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)
        return self.gamma * out.contiguous() + x  # contiguous: a residual over mixed layouts is ~5x slower

    def _literal(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t, h, w = x.shape  # (B, C, T, H, W)
        to_seq, from_seq = _TO_SEQ[self.axis], _FROM_SEQ[self.axis]
        q = rearrange(self.g(x), to_seq)  # (B·H·W, T, C/8) for time, (B·T, H·W, C/8) for space
        k = rearrange(self.f(x), to_seq)
        v = rearrange(self.h(x), to_seq)  # (…, C)
        out = attend(q, k, v, "literal")
        out = rearrange(out, from_seq, b=b, t=t, h=h, w=w)  # (B, C, T, H, W)
        return self.gamma * out + x


class FactorisedSelfAttention(nn.Module):
    """F-SA: T-SA, then S-SA on T-SA's output."""

    def __init__(self, channels: int, impl: Impl = "fused", init: Init = "pytorch"):
        super().__init__()
        self.temporal = AxisSelfAttention(channels, "time", impl, init)
        self.spatial = AxisSelfAttention(channels, "space", impl, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W) → same
        return self.spatial(self.temporal(x))
