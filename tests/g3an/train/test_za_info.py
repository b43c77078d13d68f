"""``train.za_info``: InfoGAN's regression of the appearance code. D_I's Q head reads z_a back from
one fake frame (trained in D's step), and G is trained to make it readable (in G's step, Q fixed)."""

import copy

import pytest
import torch

from g3an.latent import Z_APPEARANCE
from g3an.models.discriminators import ImageDiscriminator
from g3an.sampling import pick_frames, sample_latents
from g3an.train.step import Nets, code_error, gan_step
from tests.helpers import assert_same_checkpoints, assert_update_is_plain_plus, sgd_batch, sgd_nets, straight_and_resumed


def test_the_q_head_reads_the_same_pass_as_the_logit():
    torch.manual_seed(0)
    d = ImageDiscriminator(32, 0.0625, n_classes=3, mbstd=2, appearance_code=Z_APPEARANCE).eval()
    x, labels = torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([0, 2, 1, 1])  # (B, 3, H, W)
    logits, read = d(x, labels, with_appearance_code=True)
    torch.testing.assert_close(logits, d(x, labels))
    assert read.shape == (4, Z_APPEARANCE)
    with pytest.raises(ValueError, match="no appearance-code head"):
        ImageDiscriminator(32, 0.0625)(x, with_appearance_code=True)


WEIGHT = 3.0
REAL, LABELS = sgd_batch()  # (B, 3, T, H, W), (B,)


def _nets(weight: float, lr_d: float = 1.0) -> Nets:
    """G, D_V and D_I draw the same initial weights with and without the head: it is built last."""
    return sgd_nets({"appearance_code": weight > 0}, lr_d, za_info=weight)


def _replay(nets: Nets, g0: torch.nn.Module):
    """The step's draws (latents, then D_I's real and fake frame picks) and its fakes from G as it was."""
    gen = torch.Generator().manual_seed(1)
    z_a, z_m, fake_labels = sample_latents(4, nets.latent_length, 3, gen, dtype=torch.float64)
    idx_real, idx_fake = torch.randint(16, (4,), generator=gen), torch.randint(16, (4,), generator=gen)
    fake = g0(z_a, z_m, fake_labels)  # (B, 3, T, H, W), G's graph kept
    return z_a, fake_labels, pick_frames(REAL, idx_real), pick_frames(fake, idx_fake)


def test_d_i_and_its_q_head_move_by_the_gradient_of_reading_z_a_back_from_fake_frames():
    plain, info = _nets(0.0), _nets(WEIGHT)
    assert plain.d_i.q is None and info.d_i.q is not None
    g0, d0 = copy.deepcopy(info.g), copy.deepcopy(info.d_i)
    out_plain = gan_step(plain, REAL, LABELS, torch.Generator().manual_seed(1))
    out = gan_step(info, REAL, LABELS, torch.Generator().manual_seed(1))
    assert "za_info_d" not in out_plain and "za_info_g" not in out_plain

    z_a, _, real_frame, fake_frame = _replay(info, g0)
    d0(real_frame, LABELS)  # the step's first pass of D_I (spectral norm's power iteration advances on each)
    read = d0.q(d0.head.phi(d0.features(fake_frame.detach())))  # (B, 128)
    torch.testing.assert_close(out["za_info_d"], code_error(read, z_a))
    assert out["za_info_d"] > 0.1 and out["za_info_g"] > 0.1
    grads = torch.autograd.grad(WEIGHT * code_error(read, z_a), list(d0.parameters()), allow_unused=True,
                                materialize_grads=True)
    assert_update_is_plain_plus(d0, info.d_i, plain.d_i, grads)  # −λ∇ of the read-back error on top; Q by that alone
    assert info.d_i.q.weight.sub(d0.q.weight).abs().max() > 0
    for a, b in zip(plain.d_v.parameters(), info.d_v.parameters()):  # D_V's update is untouched
        torch.testing.assert_close(a, b)


def test_g_moves_by_the_gradient_of_making_z_a_readable_through_the_fixed_d_i_and_q():
    plain, info = _nets(0.0, lr_d=0.0), _nets(WEIGHT, lr_d=0.0)  # Ds held still: G's step sees the same D_I
    g0, d0 = copy.deepcopy(info.g), copy.deepcopy(info.d_i)
    gan_step(plain, REAL, LABELS, torch.Generator().manual_seed(1))
    out = gan_step(info, REAL, LABELS, torch.Generator().manual_seed(1))

    z_a, fake_labels, real_frame, fake_frame = _replay(info, g0)
    d0(real_frame, LABELS), d0(fake_frame.detach(), fake_labels)  # D's step's two passes of D_I
    read = d0.q(d0.head.phi(d0.features(fake_frame)))  # G's step: the same frames through the fixed D_I and Q
    torch.testing.assert_close(out["za_info_g"], code_error(read, z_a))
    grads = torch.autograd.grad(WEIGHT * code_error(read, z_a), list(g0.parameters()), allow_unused=True,
                                materialize_grads=True)
    assert_update_is_plain_plus(g0, info.g, plain.g, grads)  # the term's step alone on top of the plain one
    assert max(e.abs().max() for e in grads) > 0


def test_a_run_with_the_appearance_head_checkpoints_it_and_resumes_exactly(training_shards, tmp_path):
    res, straight, resumed = straight_and_resumed(training_shards, tmp_path, train__za_info=1)
    assert res.step == 5 and "za_info_d" in res.metrics and "za_info_g" in res.metrics
    assert straight["d_i"]["q.weight"].shape[0] == Z_APPEARANCE
    assert_same_checkpoints(straight, resumed)
