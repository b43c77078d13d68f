"""``train.augment_translate``: every clip shifted by its own offset, the same in every frame, zero
where the shift uncovers, gradients flowing back to the un-shifted clip; off draws nothing."""

import torch

from g3an.config import LoaderConfig, ModelConfig
from g3an.models.build import build_models
from g3an.train.augment import translate
from g3an.train.step import Nets, gan_step, make_optimizers


def _dots(b: int = 6, t: int = 8, size: int = 32) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """(B, 3, T, H, W) zeros with one bright pixel per clip, at a different place in every frame."""
    video, where = torch.zeros(b, 3, t, size, size), []
    for i in range(b):
        for f in range(t):
            y, x = 10 + i, 8 + f
            video[i, :, f, y, x] = 1.0
        where.append((10 + i, 8))
    return video, where


def test_each_clip_moves_by_one_offset_in_every_frame_within_the_bound():
    video, where = _dots()
    out = translate(video, 0.125, torch.Generator().manual_seed(3))  # up to 4 px at 32
    assert out.shape == video.shape
    moves = set()
    for i, (y0, x0) in enumerate(where):
        offsets = set()
        for f in range(video.shape[2]):
            ys, xs = torch.nonzero(out[i, 0, f], as_tuple=True)
            assert len(ys) == 1  # the dot survives (it is well inside) and nothing else appears
            offsets.add((int(ys[0]) - y0, int(xs[0]) - x0 - f))
        assert len(offsets) == 1  # one shift for the whole clip: its motion is untouched
        (dy, dx), = offsets
        assert abs(dy) <= 4 and abs(dx) <= 4
        moves.add((dy, dx))
    assert len(moves) > 1  # clips move independently


def test_uncovered_border_is_zero_and_gradients_reach_the_input():
    video = torch.ones(4, 3, 2, 16, 16, requires_grad=True)
    out = translate(video, 0.25, torch.Generator().manual_seed(0))
    assert (out == 0).any() and set(out.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    # every input pixel that stayed in view gets gradient 1, the rest 0: as many as the ones shown
    assert video.grad.sum() == out.sum()


def test_off_returns_the_input_and_draws_nothing():
    video = torch.randn(2, 3, 4, 8, 8)
    gen = torch.Generator().manual_seed(5)
    assert translate(video, 0.0, gen) is video
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(5).get_state())


def test_a_gan_step_with_translation_and_r1_trains():
    torch.manual_seed(0)
    g, d_v, d_i, tz = build_models(ModelConfig(attention="none", size=32, width=0.0625), LoaderConfig())
    nets = Nets(g, d_v, d_i, *make_optimizers(g, d_v, d_i), tz, r1_gamma=1.0, augment_translate=0.125)
    before = [p.detach().clone() for p in g.parameters()]
    out = gan_step(nets, torch.rand(2, 3, 16, 32, 32) * 2 - 1, None, torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) for v in out.values()) and out["r1_video"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))  # G learnt through the shift
