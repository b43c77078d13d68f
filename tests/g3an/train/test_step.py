"""The GAN step's optional R1 penalty (``train.r1_gamma``, lazily every ``train.r1_every`` steps): the
logged value is ‖∇ₓD(x)‖² of each discriminator at the real batch, and the D update moves by exactly
γ·r1_every/2 · ∇_θ of it on R1 steps, and not at all on the others."""

import copy

import pytest
import torch

from g3an.config import LoaderConfig, ModelConfig
from g3an.models.build import build_models
from g3an.losses import d_loss
from g3an.sampling import pick_frames, sample_latents
from g3an.train.step import Nets, gan_step, make_optimizers

GAMMA = 10.0


def _nets(r1_gamma: float, r1_every: int = 1) -> Nets:
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(attention="none", size=32, width=0.0625), LoaderConfig())
    opt_g, _ = make_optimizers(g, d_v, d_i)
    opt_d = torch.optim.SGD(list(d_v.parameters()) + list(d_i.parameters()), lr=1.0)  # Δθ = −∇θ loss
    return Nets(g, d_v, d_i, opt_g, opt_d, tz, r1_gamma=r1_gamma, r1_every=r1_every)


def _r1(d, x, create_graph=False):  # E_b ‖∇ₓ D(x)_b‖², computed independently of gan_step
    x = x.clone().requires_grad_(True)  # d: a fresh copy (spectral norm's power iteration is state)
    (g,) = torch.autograd.grad(d(x).sum(), x, create_graph=create_graph)
    return g.pow(2).flatten(1).sum(1).mean()


@pytest.mark.parametrize("every, step", [(1, 1), (4, 8), (4, 7)], ids=["every-step", "lazy-on", "lazy-off"])
def test_r1_is_the_gradient_norm_at_real_inputs_and_moves_the_discriminator_by_its_gradient(every, step):
    real = torch.rand(2, 3, 16, 32, 32) * 2 - 1  # (B, 3, T, H, W)
    plain, penalised = _nets(0.0), _nets(GAMMA, every)
    d_v0, d_i0 = copy.deepcopy(penalised.d_v), copy.deepcopy(penalised.d_i)
    gen = torch.Generator().manual_seed(1)  # replay the step's draws up to D_I's real frame
    sample_latents(2, penalised.latent_length, 0, gen)
    real_frame = pick_frames(real, torch.randint(16, (2,), generator=gen))

    out_plain = gan_step(plain, real, None, torch.Generator().manual_seed(1), step=step)
    out = gan_step(penalised, real, None, torch.Generator().manual_seed(1), step=step)

    assert "r1_video" not in out_plain and "r1_image" not in out_plain
    if step % every:  # not an R1 step: the plain update, to the bit
        assert "r1_video" not in out and "r1_image" not in out
        for a, b in zip(list(plain.d_v.parameters()) + list(plain.d_i.parameters()),
                        list(penalised.d_v.parameters()) + list(penalised.d_i.parameters())):
            assert torch.equal(a, b)
        return
    torch.testing.assert_close(out["r1_video"], _r1(copy.deepcopy(d_v0), real), rtol=1e-4, atol=1e-10)
    torch.testing.assert_close(out["r1_image"], _r1(copy.deepcopy(d_i0), real_frame), rtol=1e-4, atol=1e-10)
    assert out["r1_video"] > 0 and out["r1_image"] > 0
    torch.testing.assert_close(out["loss_d_video"], out_plain["loss_d_video"])  # same D before the update
    for d0, a, b, x in ((d_v0, plain.d_v, penalised.d_v, real), (d_i0, plain.d_i, penalised.d_i, real_frame)):
        expected = torch.autograd.grad(GAMMA * every / 2 * _r1(d0, x, create_graph=True), list(d0.parameters()),
                                       allow_unused=True, materialize_grads=True)
        for e, pa, pb in zip(expected, a.parameters(), b.parameters()):
            torch.testing.assert_close(pa.detach() - pb.detach(), e, rtol=1e-3, atol=1e-6)


def test_with_minibatch_std_real_and_fake_clips_meet_d_in_separate_batches():
    """``model.d_mbstd``'s statistic is a batch's: the D step's losses are those of D on the real clips
    alone and on the fakes alone (one pass over both would mix their spreads)."""
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(attention="none", size=32, width=0.0625, d_mbstd=2, d_mbstd_video=True),
                                   LoaderConfig())
    opt_g, opt_d = make_optimizers(g, d_v, d_i)
    nets = Nets(g, d_v, d_i, opt_g, opt_d, tz)
    real = torch.rand(4, 3, 16, 32, 32) * 2 - 1  # (B, 3, T, H, W)
    g0, d_v0 = copy.deepcopy(g), copy.deepcopy(d_v)
    gen = torch.Generator().manual_seed(1)  # replay the step's draws
    z_a, z_m, _ = sample_latents(4, tz, 0, gen)
    with torch.no_grad():
        fake = g0(z_a, z_m, None)
        apart = d_loss(copy.deepcopy(d_v0)(real), copy.deepcopy(d_v0)(fake))
        joint = copy.deepcopy(d_v0)(torch.cat([real, fake]))
        mixed = d_loss(joint[:4], joint[4:])
    out = gan_step(nets, real, None, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out["loss_d_video"], apart)
    assert not torch.allclose(apart, mixed)  # the test can tell the two apart
