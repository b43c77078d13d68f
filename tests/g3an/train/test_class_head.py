"""``train.class_head``: AC-GAN's auxiliary classifier on D_V (Odena et al., 2017). D_V's class head
learns the real clips' classes; G is trained to make each fake read as the class it was asked for."""

import copy
import logging

import pytest
import torch
import torch.nn.functional as F

from g3an.config import LoaderConfig, ModelConfig
from g3an.models.build import build_models
from g3an.models.discriminators import VideoDiscriminator
from g3an.train.loop import fit
from g3an.train.step import Nets, gan_step, make_optimizers
from tests.helpers import (assert_same_checkpoints, latest_checkpoint, record_latents, straight_and_resumed,
                           tiny_config)

MODEL = ModelConfig(attention="none", size=32, width=0.0625)


def test_the_class_head_reads_the_pass_that_gives_the_logit():
    torch.manual_seed(0)
    d = VideoDiscriminator(16, 32, 0.0625, n_classes=3, motion_code=4, class_head=True)
    d.eval()  # spectral norm's power iteration off: every pass reads alike
    video, labels = torch.rand(2, 3, 16, 32, 32), torch.tensor([0, 2])  # (B, 3, T, H, W)
    logit, code, classes = d(video, labels, with_motion_code=True, with_class=True)
    assert logit.shape == (2,) and code.shape == (2, 4) and classes.shape == (2, 3)
    torch.testing.assert_close(logit, d(video, labels))
    torch.testing.assert_close(d(video, labels, with_class=True)[1], classes)
    with pytest.raises(ValueError, match="no class head"):
        VideoDiscriminator(16, 32, 0.0625, n_classes=3)(video, labels, with_class=True)
    with pytest.raises(ValueError, match="needs classes"):
        VideoDiscriminator(16, 32, 0.0625, class_head=True)


def _nets(weight: float, lr_d: float = 2e-4) -> Nets:
    torch.manual_seed(0)  # the head is built either way, so both nets start from the same weights
    g, d_v, d_i, tz = build_models(MODEL, LoaderConfig(), n_classes=3, class_head=True)
    d_v.eval()  # spectral norm's power iteration off, so D_V reads a clip alike in the step and in the test
    return Nets(record_latents(g), d_v, d_i, *make_optimizers(g, d_v, d_i, lr_d=lr_d), tz, n_classes=3,
                r1_gamma=1.0, class_head=weight)


def test_d_v_learns_the_real_classes_and_g_the_requested_ones():
    real, labels = torch.rand(4, 3, 16, 32, 32) * 2 - 1, torch.tensor([0, 2, 1, 1])  # (B, 3, T, H, W)
    # D frozen (lr 0), so the two runs differ only in G's class term
    plain, ac = _nets(0.0, lr_d=0.0), _nets(2.0, lr_d=0.0)
    g_before, d_v = copy.deepcopy(ac.g.g), ac.d_v  # train mode, as in the step
    out_plain = gan_step(plain, real, labels, torch.Generator().manual_seed(1))
    out = gan_step(ac, real, labels, torch.Generator().manual_seed(1))
    assert "class_d" not in out_plain and "class_g" not in out_plain

    # D's term: the class head on the real clips against their labels
    torch.testing.assert_close(out["class_d"], F.cross_entropy(d_v(real, labels, with_class=True)[1], labels))
    # G's term: the class head on G's fakes against the classes G was asked for (not the real ones)
    z_a, z_m, fake_labels = ac.g.seen[0]
    assert not torch.equal(fake_labels, labels)
    class_g = F.cross_entropy(d_v(g_before(z_a, z_m, fake_labels), fake_labels, with_class=True)[1], fake_labels)
    torch.testing.assert_close(out["class_g"], class_g)
    # ... and G's gradient carries exactly weight × its gradient on top of the adversarial one
    expected = torch.autograd.grad(class_g, list(g_before.parameters()))
    for p_ac, p_plain, grad in zip(ac.g.g.parameters(), plain.g.g.parameters(), expected):
        torch.testing.assert_close(p_ac.grad - p_plain.grad, 2.0 * grad, atol=1e-6, rtol=1e-4)


def test_the_class_head_learns_from_real_clips_only():
    real, labels = torch.rand(4, 3, 16, 32, 32) * 2 - 1, torch.tensor([0, 2, 1, 1])
    ac = _nets(1.0)
    head = copy.deepcopy(ac.d_v.classify)
    gan_step(ac, real, labels, torch.Generator().manual_seed(1))
    assert not torch.equal(head.weight, ac.d_v.classify.weight)  # D's step trained it
    with pytest.raises(ValueError, match="conditional"):
        gan_step(_nets(1.0), real, None, torch.Generator().manual_seed(1))


def test_an_unconditional_run_trains_without_the_class_head_and_says_so(training_shards, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="g3an"):
        res = fit(tiny_config(train__class_head=1, train__conditional="'no'", train__steps=3), training_shards,
                  tmp_path / "run")
    assert "the class head is off (train.class_head = 1 applies to conditional runs only)" in caplog.text
    assert res.step == 3 and "class_d" not in res.metrics
    ckpt = latest_checkpoint(tmp_path / "run")
    assert not any(k.startswith("classify.") for k in ckpt["d_v"]) and ckpt["config"]["train"]["class_head"] == 0
    assert "class_head: 0.0" in (tmp_path / "run" / "config.yaml").read_text()  # the run as it trained


def test_a_run_with_the_class_head_checkpoints_it_and_resumes_exactly(training_shards, tmp_path):
    res, straight, resumed = straight_and_resumed(training_shards, tmp_path, train__class_head=1)
    assert res.step == 5 and "class_d" in res.metrics and "class_g" in res.metrics
    assert any(k.startswith("classify.") for k in straight["d_v"])
    assert_same_checkpoints(straight, resumed)
