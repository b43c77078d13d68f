"""``train.zm_info``: InfoGAN's regression of the motion code. D_V's Q head reads z_m back from the
fakes (trained in D's step), and G is trained to make it readable (in G's step, Q fixed)."""

import copy

import pytest
import torch

from g3an.models.discriminators import VideoDiscriminator
from g3an.sampling import sample_latents
from g3an.train.step import Nets, code_error, gan_step
from tests.helpers import assert_update_is_plain_plus, sgd_batch, sgd_nets


@pytest.mark.parametrize("mode", ["3d", "2p1d"])
def test_the_q_head_reads_the_same_pass_as_the_logit(mode):
    torch.manual_seed(0)
    d = VideoDiscriminator(8, 32, 0.0625, mode, n_classes=3, motion_code=10).eval()  # eval: spectral norm holds still
    x, labels = torch.rand(2, 3, 8, 32, 32) * 2 - 1, torch.tensor([0, 2])  # (B, 3, T, H, W)
    logits, read = d(x, labels, with_motion_code=True)
    torch.testing.assert_close(logits, d(x, labels))
    assert read.shape == (2, 10)
    with pytest.raises(ValueError, match="no motion-code head"):
        VideoDiscriminator(8, 32, 0.0625, mode)(x, with_motion_code=True)


def test_code_error_is_the_mean_squared_error_of_the_flattened_code():
    z_m = torch.zeros(2, 10, 2)  # (B, 10, T_z)
    z_m[0, 3, 1] = 2.0  # flattened: index 3 · 2 + 1 = 7
    read = torch.zeros(2, 20)
    read[0, 7] = 1.0
    torch.testing.assert_close(code_error(read, z_m), torch.tensor(1.0 / 40))


WEIGHT = 3.0


def _nets(weight: float, lr_d: float = 1.0) -> Nets:
    return sgd_nets({"motion_code": weight > 0}, lr_d, zm_info=weight)


def test_d_v_and_its_q_head_move_by_the_gradient_of_reading_z_m_back_from_the_fakes():
    real, labels = sgd_batch()  # (B, 3, T, H, W), (B,)
    plain, info = _nets(0.0), _nets(WEIGHT)
    assert plain.d_v.q is None and info.d_v.q is not None
    g0, d0 = copy.deepcopy(info.g), copy.deepcopy(info.d_v)
    out_plain = gan_step(plain, real, labels, torch.Generator().manual_seed(1))
    out = gan_step(info, real, labels, torch.Generator().manual_seed(1))
    assert "zm_info_d" not in out_plain and "zm_info_g" not in out_plain

    gen = torch.Generator().manual_seed(1)  # replay the step's draws and D_V's passes before its update
    z_a, z_m, fake_labels = sample_latents(4, info.latent_length, 3, gen, dtype=torch.float64)
    fake = g0(z_a, z_m, fake_labels).detach()
    d0(real, labels)  # the step's first pass (spectral norm's power iteration advances on each)
    read = d0.q(d0.head.phi(d0.features(fake)))  # (B, 10·T_z)
    torch.testing.assert_close(out["zm_info_d"], code_error(read, z_m))
    assert out["zm_info_d"] > 0.1 and out["zm_info_g"] > 0.1
    grads = torch.autograd.grad(WEIGHT * code_error(read, z_m), list(d0.parameters()), allow_unused=True,
                                materialize_grads=True)
    assert_update_is_plain_plus(d0, info.d_v, plain.d_v, grads)  # −λ∇ of the read-back error on top; Q by that alone
    assert info.d_v.q.weight.sub(d0.q.weight).abs().max() > 0


def test_g_moves_by_the_gradient_of_making_z_m_readable_through_the_fixed_d_v_and_q():
    real, labels = sgd_batch()
    plain, info = _nets(0.0, lr_d=0.0), _nets(WEIGHT, lr_d=0.0)  # Ds held still: G's step sees the same D_V
    info.d_v.load_state_dict(plain.d_v.state_dict(), strict=False)  # D_V's body and head, all but Q
    info.d_i.load_state_dict(plain.d_i.state_dict())  # (Q's initial draw shifted D_I's)
    g0, d0 = copy.deepcopy(info.g), copy.deepcopy(info.d_v)
    gan_step(plain, real, labels, torch.Generator().manual_seed(1))
    out = gan_step(info, real, labels, torch.Generator().manual_seed(1))

    gen = torch.Generator().manual_seed(1)
    z_a, z_m, fake_labels = sample_latents(4, info.latent_length, 3, gen, dtype=torch.float64)
    fake = g0(z_a, z_m, fake_labels)  # (B, 3, T, H, W), G's graph kept
    d0(real, labels), d0(fake.detach(), fake_labels)  # D's step's two passes of D_V
    read = d0.q(d0.head.phi(d0.features(fake)))  # G's step: the same fakes through the fixed D_V and Q
    torch.testing.assert_close(out["zm_info_g"], code_error(read, z_m))
    grads = torch.autograd.grad(WEIGHT * code_error(read, z_m), list(g0.parameters()), allow_unused=True,
                                materialize_grads=True)
    assert_update_is_plain_plus(g0, info.g, plain.g, grads)  # the term's step alone on top of the plain one
    assert max(e.abs().max() for e in grads) > 0
