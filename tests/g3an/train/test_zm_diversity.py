"""``train.zm_diversity``: the mode-seeking term on z_m. Half the batch repeats the other half's z_a
and class with fresh z_m, and G's loss gains λ / zm_spread, zm_spread being how much those pairs'
motion differs per unit of z_m difference."""

import torch

from g3an.config import LoaderConfig, ModelConfig
from g3an.models.build import build_models
from g3an.train.step import Nets, gan_step, make_optimizers, zm_spread
from tests.helpers import record_latents


def test_zm_spread_compares_the_motion_of_each_pair_per_unit_of_z_m():
    fake = torch.zeros(4, 3, 4, 2, 2)  # (B, 3, T, H, W)
    fake[0, :, :2] = 1.0  # clip 0 changes half-way; clip 2, its pair, does not
    fake[1] += torch.arange(4.0).view(1, 4, 1, 1)  # clip 1: a ramp; clip 3, its pair, the same ramp + a colour
    fake[3] = fake[1] + 0.7  # a static difference: no motion difference
    z_m = torch.zeros(4, 10, 2)
    z_m[2] += 2.0  # pair (0, 2): mean |Δz_m| 2
    z_m[3] += 1.0  # pair (1, 3): 1
    expected = (0.5 / 2.0 + 0.0 / 1.0) / 2  # clip 0 minus its temporal mean is ±0.5 everywhere
    torch.testing.assert_close(zm_spread(fake, z_m, 2), torch.tensor(expected))


def _nets(weight: float) -> Nets:
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(attention="none", size=32, width=0.0625), LoaderConfig(), n_classes=3)
    return Nets(record_latents(g), d_v, d_i, *make_optimizers(g, d_v, d_i), tz, n_classes=3, zm_diversity=weight)


def test_pairs_share_z_a_and_class_and_the_term_moves_g():
    real, labels = torch.rand(4, 3, 16, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 0])
    plain, seeking = _nets(0.0), _nets(1.0)
    out_plain = gan_step(plain, real, labels, torch.Generator().manual_seed(1))
    out = gan_step(seeking, real, labels, torch.Generator().manual_seed(1))
    z_a, z_m, lab = seeking.g.seen[0]
    assert torch.equal(z_a[:2], z_a[2:]) and torch.equal(lab[:2], lab[2:]) and not torch.equal(z_m[:2], z_m[2:])
    z_a0 = plain.g.seen[0][0]
    assert not torch.equal(z_a0[:2], z_a0[2:])  # off: the batch is drawn as before
    assert "zm_spread" not in out_plain and out["zm_spread"] > 0
    moved = [(a - b).abs().max() for a, b in zip(plain.g.parameters(), seeking.g.parameters())]
    assert max(moved) > 0  # the term's gradient reached G
