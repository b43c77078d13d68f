import pytest
import torch
from torch import nn

from g3an.models import layers
from g3an.models.generator import G3Spec, Generator
from tests.helpers import tiny_spec


def _latents(b=2, tz=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 128, generator=g), torch.randn(b, 10, tz, generator=g)


def test_paper_preset_matches_table_1_at_full_width():
    g = Generator(G3Spec(preset="paper", width=1.0)).eval()
    z_a, z_m = _latents(1)
    with torch.no_grad():
        video, feats = g(z_a, z_m, return_features=True)
    # Table 1: channels @ (T, H, W) after G³_0 … G³_4
    assert [tuple(f.shape[1:]) for f in feats] == [
        (1024, 2, 4, 4), (512, 4, 8, 8), (256, 8, 16, 16), (128, 16, 32, 32), (64, 16, 64, 64)]
    assert video.shape == (1, 3, 16, 64, 64)
    assert g.attention is not None and g.blocks[3].out_channels == 128  # F-SA after G³_3


def test_reference_preset_widths_and_temporal_sizes():
    g = Generator(G3Spec(preset="reference", width=1 / 16)).eval()
    with torch.no_grad():
        _, feats = g(*_latents(1), return_features=True)
    assert [f.shape[1] for f in feats] == [64, 64, 32, 16, 8]  # 1024, 1024, 512, 256, 128 × 1/16
    assert [f.shape[2] for f in feats] == [4, 8, 16, 16, 16]


def _temporal_geometry(conv: nn.ConvTranspose3d) -> tuple[int, int, int]:
    return conv.kernel_size[0], conv.stride[0], conv.padding[0]


@pytest.mark.parametrize("mode", ["1p2d", "2p1d", "3d"])
def test_reference_preset_keeps_time_with_temporal_kernel_1(mode):
    # the public code: G³_3 and G³_4 (T 16 → 16) use temporal kernel 1, stride 1, pad 0 in G_M and G_V
    g = Generator(G3Spec(preset="reference", width=1 / 16, video_mode=mode, attention="none")).eval()
    for block in g.blocks[3:]:
        convs = [m for m in block.modules() if isinstance(m, nn.ConvTranspose3d)]
        assert len(convs) == (4 if mode != "3d" else 3)  # G_A, G_M and G_V's one or two convs
        assert all(_temporal_geometry(c) == (1, 1, 0) for c in convs)
    with torch.no_grad():
        _, feats = g(*_latents(1), return_features=True)
    assert [f.shape[2] for f in feats] == [4, 8, 16, 16, 16]
    assert feats[-1].shape[-2:] == (64, 64)


def test_reference_preset_128px_sixth_module_keeps_time_with_kernel_1():
    g = Generator(G3Spec(preset="reference", width=1 / 16, size=128, attention="none"))
    assert len(g.blocks) == 6
    assert _temporal_geometry(g.blocks[5].motion[0]) == (1, 1, 0)


@pytest.mark.parametrize("mode", ["1p2d", "2p1d"])
def test_paper_preset_temporal_geometry(mode):
    # G³_0 kernel 2 (T_z → T_z + 1), G³_1..3 double T, G³_4 keeps T with kernel 3, pad 1
    g = Generator(G3Spec(preset="paper", width=1 / 16, video_mode=mode, attention="none"))
    expected = [(2, 1, 0), (4, 2, 1), (4, 2, 1), (4, 2, 1), (3, 1, 1)]
    assert [_temporal_geometry(b.motion[0]) for b in g.blocks] == expected
    video_temporal = 0 if mode == "1p2d" else 1  # position of G_V's temporal conv
    assert [_temporal_geometry(b.video[video_temporal][0]) for b in g.blocks] == expected
    assert all(_temporal_geometry(b.appearance[0]) == (1, 1, 0) for b in g.blocks)


@pytest.mark.parametrize("preset", ["paper", "reference"])
@pytest.mark.parametrize("mode", ["1p2d", "2p1d", "3d"])
@pytest.mark.parametrize("attention", ["fused", "literal", "none"])
def test_every_mode_preset_and_attention(preset, mode, attention):
    g = Generator(tiny_spec(preset=preset, video_mode=mode, attention=attention))
    video = g(*_latents(2))
    assert video.shape == (2, 3, 16, 32, 32)
    assert video.min() >= -1 and video.max() <= 1


@pytest.mark.parametrize("preset, lengths", [("paper", {1: 16, 2: 24, 3: 32, 5: 48}),
                                             ("reference", {1: 16, 2: 20, 3: 24, 9: 48})])
def test_variable_length_follows_documented_mapping(preset, lengths):
    spec = tiny_spec(preset=preset, attention="none")
    g = Generator(spec).eval()
    for tz, frames in lengths.items():
        assert spec.frames(tz) == frames and spec.latent_length(frames) == tz
        with torch.no_grad():
            assert g(*_latents(1, tz)).shape == (1, 3, frames, 32, 32)
    with pytest.raises(ValueError, match="cannot make 17-frame videos"):
        spec.latent_length(17)


def test_sizes_64_and_128():
    for size in (64, 128):
        g = Generator(tiny_spec(size=size, attention="none")).eval()
        with torch.no_grad():
            assert g(*_latents(1)).shape == (1, 3, 16, size, size)


@pytest.mark.parametrize("cond_appearance", [False, True])
def test_conditional_generator(cond_appearance):
    g = Generator(tiny_spec(n_classes=4, cond_appearance=cond_appearance)).eval()
    z_a, z_m = _latents(2)
    with torch.no_grad():
        v0 = g(z_a, z_m, torch.tensor([0, 0]))
        v1 = g(z_a, z_m, torch.tensor([3, 3]))
    assert v0.shape == (2, 3, 16, 32, 32)
    assert not torch.allclose(v0, v1)  # the label changes the video
    with pytest.raises(ValueError, match="conditional: pass labels"):
        g(z_a, z_m)


def test_backward_reaches_every_parameter():
    g = Generator(tiny_spec(n_classes=3))
    with torch.no_grad():  # γ = 0 at init would zero f/g/h gradients; open the gate
        g.attention.temporal.gamma.fill_(0.5)
        g.attention.spatial.gamma.fill_(0.5)
    z_a, z_m = _latents(2)
    g(z_a, z_m, torch.tensor([0, 2])).square().mean().backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_determinism_and_state_dict_round_trip():
    torch.manual_seed(123)
    a = Generator(tiny_spec())
    torch.manual_seed(123)
    b = Generator(tiny_spec())
    z = _latents(2)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(*z), b(*z))
    torch.manual_seed(7)
    c = Generator(tiny_spec()).eval()
    c.load_state_dict(a.state_dict())
    with torch.no_grad():
        assert torch.equal(a(*z), c(*z))


def test_spectral_norm_in_g_is_the_reference_option_not_the_default():
    plain = Generator(tiny_spec())
    with_sn = Generator(tiny_spec(spectral_norm=True))
    assert not any("parametrizations" in n for n, _ in plain.named_parameters())
    assert any("parametrizations" in n for n, _ in with_sn.named_parameters())
    z = _latents(1)
    assert with_sn.eval()(*z).shape == plain.eval()(*z).shape


@pytest.mark.parametrize("make", [
    lambda: (layers.Conv3d(8, 3, (1, 3, 3), padding=(0, 1, 1)), nn.Conv3d(8, 3, (1, 3, 3), padding=(0, 1, 1))),
    lambda: (layers.ConvTranspose3d(4, 4, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
             nn.ConvTranspose3d(4, 4, (1, 4, 4), (1, 2, 2), (0, 1, 1))),
    # purely temporal: the 2-D path over a (B, C, T, H·W) view (G³'s KEEP, DOUBLE and PLUS3 geometries)
    lambda: (layers.ConvTranspose3d(6, 4, (3, 1, 1), 1, (1, 0, 0)), nn.ConvTranspose3d(6, 4, (3, 1, 1), 1, (1, 0, 0))),
    lambda: (layers.ConvTranspose3d(6, 4, (1, 1, 1), 1, 0, bias=False),  # the reference preset's kernel-1 KEEP
             nn.ConvTranspose3d(6, 4, (1, 1, 1), 1, 0, bias=False)),
    lambda: (layers.ConvTranspose3d(6, 4, (4, 1, 1), (2, 1, 1), (1, 0, 0), bias=False),
             nn.ConvTranspose3d(6, 4, (4, 1, 1), (2, 1, 1), (1, 0, 0), bias=False)),
    lambda: (layers.ConvTranspose3d(6, 4, (4, 1, 1), (1, 1, 1), (0, 0, 0), output_padding=0, dilation=(2, 1, 1)),
             nn.ConvTranspose3d(6, 4, (4, 1, 1), (1, 1, 1), (0, 0, 0), output_padding=0, dilation=(2, 1, 1))),
    # wide enough to stay contiguous (layers.CHANNELS_LAST_BELOW)
    lambda: (layers.Conv3d(128, 4, (4, 4, 4), 2, 1), nn.Conv3d(128, 4, (4, 4, 4), 2, 1)),
    lambda: (layers.ConvTranspose3d(128, 4, (1, 4, 4), (1, 2, 2), (0, 1, 1)),
             nn.ConvTranspose3d(128, 4, (1, 4, 4), (1, 2, 2), (0, 1, 1))),
])
def test_cpu_conv_paths_compute_the_plain_conv(make):
    ours, plain = make()
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(2, ours.in_channels, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    ys = [m(xi) for m, xi in zip((ours, plain), xs)]
    assert ys[0].is_contiguous()  # the layout change stays inside the conv
    torch.testing.assert_close(ys[0], ys[1], atol=1e-5, rtol=1e-5)
    for y in ys:
        (y * torch.arange(y.numel()).reshape(y.shape).sin()).sum().backward()
    torch.testing.assert_close(xs[0].grad, xs[1].grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.weight.grad, plain.weight.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("c_in", [layers.CHANNELS_LAST_BELOW - 1, layers.CHANNELS_LAST_BELOW])
def test_cpu_convs_take_channels_last_only_below_the_wide_inputs(c_in):
    seen = []

    def conv(x):
        seen.append(x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous())
        return x * 2

    x = torch.randn(1, c_in, 2, 3, 3)
    y = layers.on_cpu_channels_last(conv, x)
    assert seen == [c_in < layers.CHANNELS_LAST_BELOW]
    assert y.is_contiguous()
    torch.testing.assert_close(y, x * 2)


@pytest.mark.parametrize("attention_after", [2, 4])  # 4: F-SA after the last module, which then concatenates
@pytest.mark.parametrize("sn", [False, True])
def test_rgb_conv_reads_the_last_streams_as_their_concatenation(attention_after, sn):
    # the RGB conv takes the last module's streams apart (_rgb_from_streams); the video must still
    # be the RGB conv of their concatenation, in values and in the RGB conv's gradients
    torch.manual_seed(0)
    g = Generator(tiny_spec(attention_after=attention_after, spectral_norm=sn)).eval()
    video, feats = g(*_latents(2), return_features=True)
    expected = torch.tanh(g.to_rgb(feats[-1].detach()))
    torch.testing.assert_close(video, expected, atol=1e-5, rtol=1e-5)
    weights = torch.randn(video.shape, generator=torch.Generator().manual_seed(1))
    grads = []
    for out in (video, expected):
        g.zero_grad()
        (out * weights).sum().backward()
        grads.append([p.grad.clone() for p in g.to_rgb.parameters()])
    for ours, plain in zip(*grads):
        torch.testing.assert_close(ours, plain, atol=1e-4, rtol=1e-4)
