import pytest
import torch
from torch import nn

from g3an.models.discriminators import ImageDiscriminator, MinibatchStd, VideoDiscriminator


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


def _time_sizes(d: VideoDiscriminator, video: torch.Tensor) -> list[int]:
    """T after each temporal conv of the feature stack."""
    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.shape[2]))
             for m in d.features if isinstance(m, nn.Conv3d) and m.kernel_size[1:] == (1, 1)]
    with torch.no_grad():
        d(video)
    for h in hooks:
        h.remove()
    return sizes


def test_2p1d_is_the_reference_video_d():
    d = VideoDiscriminator(16, 64, width=1 / 16, mode="2p1d")
    convs = [m for m in d.features if isinstance(m, nn.Conv3d)]
    spatial, temporal = convs[0::2], convs[1::2]
    assert all((c.kernel_size, c.stride, c.padding) == ((1, 4, 4), (1, 2, 2), (0, 1, 1)) for c in spatial)
    assert all((c.kernel_size, c.stride, c.padding) == ((4, 1, 1), (1, 1, 1), (0, 0, 0)) for c in temporal)
    assert [c.out_channels for c in temporal] == [4, 8, 16, 32]  # 64, 128, 256, 512 × 1/16
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.features) == 8
    assert _time_sizes(d, torch.randn(1, 3, 16, 64, 64)) == [13, 10, 7, 4]
    # head: 1×4×4 over the final 4×4 map (same width), then 4×1×1 over the final 4 frames to one logit
    assert (d.head.spatial.kernel_size, d.head.spatial.in_channels, d.head.spatial.out_channels) == ((1, 4, 4), 32, 32)
    assert (d.head.temporal.kernel_size, d.head.temporal.out_channels) == ((4, 1, 1), 1)
    assert all("parametrizations.weight" in n for n, _ in d.named_parameters() if n.endswith("original"))
    assert d(torch.randn(3, 3, 16, 64, 64)).shape == (3,)


@pytest.mark.parametrize("frames, size, sizes", [(8, 32, [5, 2, 1]), (2, 64, [1, 1, 1, 1]), (1, 32, [1, 1, 1])])
def test_2p1d_short_clips_use_temporal_kernel_min_4_t(frames, size, sizes):
    d = VideoDiscriminator(frames, size, width=1 / 16, mode="2p1d")
    assert _time_sizes(d, torch.randn(2, 3, frames, size, size)) == sizes
    assert d.head.temporal.kernel_size == (sizes[-1], 1, 1)
    assert d(torch.randn(2, 3, frames, size, size)).shape == (2,)


@pytest.mark.parametrize("mode", ["3d", "2p1d"])
def test_video_d_rejects_an_empty_clip_length(mode):
    with pytest.raises(ValueError, match="clip length 0"):
        VideoDiscriminator(0, 32, width=1 / 16, mode=mode)


def test_2p1d_projection_conditioning_and_grads():
    d = VideoDiscriminator(16, 64, width=1 / 16, mode="2p1d", n_classes=6)
    assert d.head.embed.embedding_dim == 32 * 4  # φ: the 1×4×4 conv's (C, T=4) output, flattened
    x = torch.randn(2, 3, 16, 64, 64)
    with torch.no_grad():
        a, b = d(x, torch.tensor([0, 0])), d(x, torch.tensor([5, 5]))
    assert a.shape == (2,) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match="conditional"):
        d(x)
    d(x, torch.tensor([1, 4])).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())


def test_minibatch_std_channel_is_the_groups_feature_spread():
    torch.manual_seed(0)
    h = torch.randn(6, 3, 2, 4, 4)  # (B, C, T, H, W)
    out = MinibatchStd(4)(h)  # B = 6: groups of 3 (the largest divisor of 6 up to 4), sample n in group n mod 2
    assert out.shape == (6, 4, 2, 4, 4) and torch.equal(out[:, :3], h)
    for n in range(6):
        members = h[[m for m in range(6) if m % 2 == n % 2]]  # (3, C, T, H, W)
        expected = members.std(0, unbiased=False).mean()
        torch.testing.assert_close(out[n, 3], expected.expand(2, 4, 4))
    same = MinibatchStd(4)(h[:1].expand(4, -1, -1, -1, -1))  # four equal clips: no spread
    assert same[:, 3].max() < 1e-3


@pytest.mark.parametrize("make", [lambda: VideoDiscriminator(16, 32, width=1 / 16, mode="3d", n_classes=3, mbstd=4),
                                  lambda: VideoDiscriminator(16, 32, width=1 / 16, mode="2p1d", n_classes=3, mbstd=4),
                                  lambda: ImageDiscriminator(32, width=1 / 16, n_classes=3, mbstd=4)],
                         ids=["video-3d", "video-2p1d", "image"])
def test_mbstd_makes_a_logit_depend_on_its_group_only(make):
    d = make().eval()  # eval: spectral norm holds still between calls
    x = torch.randn(8, 3, 16, 32, 32) if isinstance(d, VideoDiscriminator) else torch.randn(8, 3, 32, 32)
    labels = torch.zeros(8, dtype=torch.long)
    with torch.no_grad():
        base = d(x, labels)
        other_group, same_group = x.clone(), x.clone()
        other_group[1] += 1.0  # sample 1 is in group 1 (of n mod 2); sample 0 in group 0
        same_group[2] += 1.0  # sample 2 shares sample 0's group
        assert d(other_group, labels)[0] == base[0]
        assert d(same_group, labels)[0] != base[0]


def test_mbstd_off_is_the_papers_discriminator():
    for a, b in ((VideoDiscriminator(16, 32, width=1 / 16), VideoDiscriminator(16, 32, width=1 / 16, mbstd=0)),
                 (ImageDiscriminator(32, width=1 / 16), ImageDiscriminator(32, width=1 / 16, mbstd=0))):
        assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
        assert not any(isinstance(m, MinibatchStd) for m in b.modules())


def test_d_mbstd_goes_to_the_image_d_and_to_the_video_d_on_request():
    from g3an.config import LoaderConfig, ModelConfig
    from g3an.models.build import build_models, build_pair_discriminator

    def has(d):
        return any(isinstance(m, MinibatchStd) for m in d.modules())

    small = dict(attention="none", size=32, width=0.0625)
    _, d_v, d_i, _ = build_models(ModelConfig(**small, d_mbstd=4), LoaderConfig())
    assert has(d_i) and not has(d_v)
    _, d_v, d_i, _ = build_models(ModelConfig(**small, d_mbstd=4, d_mbstd_video=True), LoaderConfig())
    assert has(d_i) and has(d_v)
    _, d_v, d_i, _ = build_models(ModelConfig(**small, d_mbstd=0), LoaderConfig())  # off: the paper
    assert not has(d_i) and not has(d_v)
    assert has(build_pair_discriminator(ModelConfig(**small, d_mbstd=4)))  # D_P (train.pair_d) as D_I
    assert not has(build_pair_discriminator(ModelConfig(**small, d_mbstd=0)))


def _first_conv_input(d: VideoDiscriminator, video: torch.Tensor) -> torch.Tensor:
    """What D_V's first conv reads from ``video``."""
    seen: list[torch.Tensor] = []
    first = next(m for m in d.features.modules() if isinstance(m, nn.Conv3d))
    handle = first.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        d(video)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("mode", ["3d", "2p1d"])
def test_frame_diff_gives_the_video_d_each_frames_change(mode):
    video = torch.randn(2, 3, 8, 32, 32)  # (B, C, T, H, W)
    seen = _first_conv_input(VideoDiscriminator(8, 32, width=1 / 16, mode=mode, frame_diff=True), video)
    assert seen.shape == (2, 6, 8, 32, 32)
    assert torch.equal(seen[:, :3], video)
    for t in range(7):  # the literal x_{t+1} − x_t, frame by frame
        assert torch.equal(seen[:, 3:, t], video[:, :, t + 1] - video[:, :, t])
    assert not seen[:, 3:, 7].any()  # nothing after the last frame
    assert _first_conv_input(VideoDiscriminator(8, 32, width=1 / 16, mode=mode), video).shape[1] == 3  # the paper


def test_d_frame_diff_reaches_the_video_d_only_when_asked():
    from g3an.config import LoaderConfig, ModelConfig
    from g3an.models.build import build_models

    small = dict(attention="none", size=32, width=0.0625)
    _, d_v, _, _ = build_models(ModelConfig(**small, d_frame_diff=True), LoaderConfig())
    assert d_v.frame_diff and _first_conv_input(d_v, torch.randn(1, 3, 16, 32, 32)).shape[1] == 6
    _, d_v, _, _ = build_models(ModelConfig(**small), LoaderConfig())
    assert not d_v.frame_diff
