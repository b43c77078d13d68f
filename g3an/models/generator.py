"""The G³AN generator: five G³ modules, F-SA after G³_3, a 1×3×3 conv to RGB and tanh.

Presets (``G3Spec.preset``):
- ``"paper"`` — appendix Table 1 exactly at width 1: G_V leaves the modules with
  1024@4×4×2 → 512@8×8×4 → 256@16×16×8 → 128@32×32×16 → 64@64×64×16, then 3@64×64×16.
  G³_0's temporal kernel is 2, so T_z latent steps give **8·(T_z + 1)** frames (16 for T_z = 1).
  G³_4 keeps T with a temporal kernel 3 (stride 1, pad 1).
- ``"reference"`` — the public code: 1024, 1024, 512, 256, 128 channels, temporal sizes
  4, 8, 16, 16, 16; G³_0's temporal kernel 4 gives **4·(T_z + 3)** frames (16 for T_z = 1).
  G³_3 and G³_4 keep T with a temporal kernel 1 (stride 1, pad 0) in G_M and G_V, as the code does.
``width`` scales every channel count (1/8 for CPU demos). ``size`` 32 keeps G³_4 spatially
stride 1; 128 appends a sixth module (G³_5) that doubles space again at half the width and
keeps T like G³_4.

Inputs: z_a (B, 128), z_m (B, 10, T_z), optional labels (B,) int64. With ``n_classes`` > 0 the
one-hot label is concatenated to the motion input at every latent step (and to the appearance
input when ``cond_appearance``). Output: (B, 3, T, H, W) in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from g3an.latent import Z_APPEARANCE, Z_MOTION
from g3an.models.attention import FactorisedSelfAttention
from g3an.models.g3 import DOUBLE, KEEP, KEEP1, PLUS1, PLUS3, START4, G3Module, Up, VideoMode
from g3an.models.layers import assert_shape, channels, conv3d, on_cpu_channels_last


# per preset: (G_V channels after each module at width 1, temporal geometry of each module)
_PRESETS: dict[str, tuple[tuple[int, ...], tuple[Up, ...]]] = {
    "paper": ((1024, 512, 256, 128, 64), (PLUS1, DOUBLE, DOUBLE, DOUBLE, KEEP)),
    "reference": ((1024, 1024, 512, 256, 128), (PLUS3, DOUBLE, DOUBLE, KEEP1, KEEP1)),
}


@dataclass(frozen=True)
class G3Spec:
    preset: Literal["paper", "reference"] = "paper"
    width: float = 1.0
    size: int = 64
    video_mode: VideoMode = "1p2d"
    attention: Literal["fused", "literal", "none"] = "fused"
    attention_after: int = 3
    attention_init: Literal["dcgan", "pytorch"] = "pytorch"  # f/g/h of F-SA (the paper gives none)
    spectral_norm: bool = False  # in G: the reference code's choice, not the paper's
    n_classes: int = 0
    cond_appearance: bool = False

    def frames(self, latent_length: int) -> int:
        """Video length for a motion code with ``latent_length`` steps."""
        t = latent_length
        for up in _PRESETS[self.preset][1]:
            t = up.out(t)
        return t

    def latent_length(self, frames: int) -> int:
        """The T_z that yields ``frames``; a ValueError names the lengths this preset can make."""
        for tz in range(1, 64):
            if self.frames(tz) == frames:
                return tz
        options = ", ".join(str(self.frames(tz)) for tz in range(1, 6))
        raise ValueError(f"preset {self.preset!r} cannot make {frames}-frame videos; it makes {options}, …")


class Generator(nn.Module):
    def __init__(self, spec: G3Spec):
        super().__init__()
        if spec.size not in (32, 64, 128):
            raise ValueError(f"size {spec.size} not supported; expected 32, 64 or 128")
        self.spec = spec
        outs, temporals = _PRESETS[spec.preset]
        spatials = [START4, DOUBLE, DOUBLE, DOUBLE, DOUBLE if spec.size >= 64 else KEEP]
        widths = [channels(c // 2, spec.width) for c in outs]  # conv width = half of G_V's fused channels
        temporals = list(temporals)
        if spec.size == 128:
            widths.append(max(1, widths[-1] // 2))
            spatials.append(DOUBLE)
            temporals.append(temporals[-1])  # G³_5 keeps T like G³_4
        k = spec.n_classes
        in_a = Z_APPEARANCE + (k if spec.cond_appearance else 0)
        in_m = Z_MOTION + k
        self.blocks = nn.ModuleList()
        in_v = in_a + in_m  # G_V starts from [z_a repeated over T ; z_m]
        for i, (w, s, t) in enumerate(zip(widths, spatials, temporals)):
            block = G3Module(in_v, in_a if i == 0 else widths[i - 1], in_m if i == 0 else widths[i - 1], w, s, t,
                             spec.video_mode, spec.spectral_norm)
            self.blocks.append(block)
            in_v = block.out_channels
        self.attention = None
        if spec.attention != "none":
            self.attention = FactorisedSelfAttention(self.blocks[spec.attention_after].out_channels, spec.attention,
                                                     spec.attention_init)
        self.to_rgb = conv3d(in_v, 3, (1, 3, 3), padding=(0, 1, 1), sn=spec.spectral_norm)

    def forward(self, z_a: torch.Tensor, z_m: torch.Tensor, labels: Optional[torch.Tensor] = None,
                return_features: bool = False):
        spec = self.spec
        b, tz = z_a.shape[0], z_m.shape[-1]
        assert_shape(z_a, (b, Z_APPEARANCE))
        assert_shape(z_m, (b, Z_MOTION, tz))
        if spec.n_classes:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels (B,) with values in "
                                 f"[0, {spec.n_classes})")
            onehot = F.one_hot(labels, spec.n_classes).to(z_a.dtype)  # (B, K)
            z_m = torch.cat([z_m, onehot[:, :, None].expand(-1, -1, tz)], dim=1)  # (B, 10+K, T_z)
            if spec.cond_appearance:
                z_a = torch.cat([z_a, onehot], dim=1)  # (B, 128+K)
        a = z_a[:, :, None, None, None]  # (B, A, 1, 1, 1)
        m = z_m[:, :, :, None, None]  # (B, M, T_z, 1, 1)
        v = torch.cat([a.expand(-1, -1, tz, -1, -1), m], dim=1)  # (B, A+M, T_z, 1, 1)
        features = []
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            attend = self.attention is not None and i == spec.attention_after
            if i == last and not attend:  # the RGB conv reads the streams apart (_rgb_from_streams)
                vm, a, m = block.streams(v, a, m)
                rgb = _rgb_from_streams(self.to_rgb, vm, a)
                if return_features:
                    features.append(block.concat(vm, a))
                break
            v, a, m = block(v, a, m)  # v: (B, 2w_i, T_i, H_i, W_i)
            if attend:
                v = self.attention(v)
            features.append(v)
        else:
            rgb = self.to_rgb(v)
        video = torch.tanh(rgb)  # (B, 3, T, H, W)
        return (video, features) if return_features else video


def _rgb_from_streams(conv: nn.Conv3d, vm: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``conv(concat(vm, a))`` without the concatenated map: the conv is linear in its input channels,
    and its 1×k×k kernel maps the appearance half, constant over T, to an output constant over T, so
    that half runs once per clip on (B, C_a, 1, H, W) and is broadcast. At width 1/8 and 64×64×16
    this last stage (add, concatenation, RGB conv, tanh; forward + backward) took 266 → 90 ms
    (AMD EPYC; docs/what-we-tried.md). vm (B, C_v, T, H, W), a (B, C_a, 1, H, W) → (B, 3, T, H, W)."""
    assert conv.kernel_size[0] == 1 and conv.stride[0] == 1 and conv.padding[0] == 0, conv
    w, c = conv.weight, vm.shape[1]  # (3, C_v + C_a, 1, k, k), spectral norm applied when G has it
    y = on_cpu_channels_last(lambda x: F.conv3d(x, w[:, :c], conv.bias, conv.stride, conv.padding, conv.dilation), vm)
    return y + F.conv3d(a, w[:, c:], None, conv.stride, conv.padding, conv.dilation)  # (B, 3, 1, H, W) over T
