import pytest
import torch

from g3an.models.discriminators import ImageDiscriminator, VideoDiscriminator


@pytest.mark.parametrize("mode", ["3d", "2p1d"])
@pytest.mark.parametrize("frames, size", [(16, 64), (16, 32), (8, 32)])
def test_video_d_one_logit_per_clip(mode, frames, size):
    d = VideoDiscriminator(frames, size, width=1 / 16, mode=mode)
    assert d(torch.randn(3, 3, frames, size, size)).shape == (3,)


def test_video_d_rejects_wrong_clip_shape():
    d = VideoDiscriminator(16, 32, width=1 / 16)
    with pytest.raises(AssertionError, match="expected shape"):
        d(torch.randn(1, 3, 8, 32, 32))


def test_image_d_and_projection_conditioning():
    d = ImageDiscriminator(32, width=1 / 16, n_classes=5)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = d(x, torch.tensor([0, 0])), d(x, torch.tensor([4, 4]))
    assert a.shape == (2,) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditional"):
        d(x)


def test_spectral_norm_and_grads_reach_every_parameter():
    d = VideoDiscriminator(16, 32, width=1 / 16, mode="2p1d", n_classes=3)
    assert any("parametrizations.weight" in n for n, _ in d.named_parameters())
    d(torch.randn(2, 3, 16, 32, 32), torch.tensor([1, 2])).sum().backward()
    assert all(p.grad is not None for p in d.parameters())
