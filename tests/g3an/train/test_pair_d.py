"""``train.pair_d``: D_P, the same-subject pair discriminator. The loader brings the real batch as
pairs of clips of one subject (clips 2k, 2k + 1); the step pairs the fakes alike — clip 2k + 1
shares clip 2k's z_a, the fakes take the real batch's classes — and D_P sees a frame of each clip
of a pair, stacked on the channel axis."""

import copy

import torch

from g3an.config import LoaderConfig, ModelConfig
from g3an.losses import d_loss
from g3an.models.build import build_models, build_pair_discriminator
from g3an.models.discriminators import PairDiscriminator
from g3an.sampling import pick_frames, sample_latents
from g3an.train.step import Nets, gan_step, make_optimizers
from tests.helpers import assert_same_checkpoints, record_latents, straight_and_resumed

MODEL = ModelConfig(attention="none", size=32, width=0.0625)


def test_d_p_reads_both_frames_of_a_pair():
    torch.manual_seed(0)
    d = PairDiscriminator(32, 0.0625)
    a, b = (torch.rand(3, 3, 32, 32, requires_grad=True) for _ in range(2))  # (B, 3, H, W)
    out = d(a, b)
    assert out.shape == (3,)
    grad_a, grad_b = torch.autograd.grad(out.sum(), [a, b])
    assert grad_a.abs().sum() > 0 and grad_b.abs().sum() > 0


def _nets(weight: float) -> Nets:
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(MODEL, LoaderConfig(), n_classes=3)
    d_p = build_pair_discriminator(MODEL)
    return Nets(record_latents(g), d_v, d_i, *make_optimizers(g, d_v, d_i, d_p=d_p), tz, n_classes=3,
                r1_gamma=1.0, d_p=d_p, pair_d=weight)


def test_fakes_are_paired_like_the_reals_and_d_p_scores_the_pairs():
    real, labels = torch.rand(4, 3, 16, 32, 32) * 2 - 1, torch.tensor([0, 2, 1, 1])  # (B, 3, T, H, W)
    plain, paired = _nets(0.0), _nets(2.0)
    g_before, d_p_before = copy.deepcopy(paired.g.g), copy.deepcopy(paired.d_p)  # train mode, as in the step
    out_plain = gan_step(plain, real, labels, torch.Generator().manual_seed(1))
    out = gan_step(paired, real, labels, torch.Generator().manual_seed(1))

    z_a, z_m, fake_labels = paired.g.seen[0]
    assert torch.equal(z_a[0::2], z_a[1::2]) and not torch.equal(z_m[0::2], z_m[1::2])
    assert torch.equal(fake_labels, labels)  # the fakes take the real pairs' classes
    z_a0 = plain.g.seen[0][0]
    assert not torch.equal(z_a0[0::2], z_a0[1::2])  # off: the batch is drawn as before
    assert "loss_d_pair" not in out_plain and "r1_pair" not in out_plain

    # D's pair loss and R1, recomputed from the step's draws with G and D_P as they were before it
    gen = torch.Generator().manual_seed(1)
    sample_latents(4, paired.latent_length, 3, gen)
    idx_real, idx_fake = torch.randint(16, (4,), generator=gen), torch.randint(16, (4,), generator=gen)
    real_frames = pick_frames(real, idx_real).requires_grad_(True)  # (B, 3, H, W)
    fake_frames = pick_frames(g_before(z_a, z_m, fake_labels), idx_fake).detach()
    real_p = d_p_before(real_frames[0::2], real_frames[1::2])  # (B/2,): frames of clips 2k and 2k + 1
    fake_p = d_p_before(fake_frames[0::2], fake_frames[1::2])
    torch.testing.assert_close(out["loss_d_pair"], d_loss(real_p, fake_p, "bce"))
    (grad,) = torch.autograd.grad(real_p.sum(), [real_frames])
    torch.testing.assert_close(out["r1_pair"], grad.pow(2).view(2, -1).sum(1).mean())
    assert out["loss_g_pair"] > 0

    moved = [(a - b).abs().max() for a, b in zip(plain.g.parameters(), paired.g.parameters())]
    assert max(moved) > 0  # D_P's gradient reached G


def test_a_run_with_d_p_checkpoints_it_and_resumes_exactly(training_shards, tmp_path):
    res, straight, resumed = straight_and_resumed(training_shards, tmp_path, train__pair_d=1)
    assert res.step == 5 and "loss_d_pair" in res.metrics and "r1_pair" in res.metrics
    assert_same_checkpoints(straight, resumed, parts=("g", "d_v", "d_i", "d_p", "ema"))
