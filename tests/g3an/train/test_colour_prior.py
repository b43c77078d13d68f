"""``train.colour_prior``: each frame's colour quantiles held to its clip's (losses.colour_quantile_drift),
added to G's loss. Where the pixels are does not count; what colours the frame holds does."""

import numpy as np
import torch

from g3an import losses
from g3an.config import TrainConfig, load_config
from g3an.losses import colour_quantile_drift
from tests.helpers import ROOT, assert_g_prior_replays


def _blob_clip(t: int = 8, size: int = 32) -> torch.Tensor:
    """One clip (1, 3, T, H, W): a 6×6 red square moving right across a grey ground, one pixel a frame."""
    clip = torch.full((1, 3, t, size, size), -0.5)
    for i in range(t):
        clip[0, :, i, 10:16, 4 + i:10 + i] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)
    return clip


def test_motion_and_a_shuffle_of_pixels_cost_nothing_a_colour_change_does():
    clip = _blob_clip()
    assert colour_quantile_drift(clip) == 0  # the object moves; each frame holds the same colours
    shuffled = clip.flatten(3)[..., torch.randperm(32 * 32)].view_as(clip)
    assert colour_quantile_drift(shuffled) == 0
    turned = clip.clone()
    turned[0, 1, 4:][turned[0, 0, 4:] > 0] = 1.0  # the square turns yellow half-way
    # the green channel's top quantiles (the square's 36 of 1024 pixels: ~2 of 64 ranks) go from -1 to 1 in
    # half the frames: |±1| there, so the mean over every channel, frame and rank is 2 / 64 / 3
    torch.testing.assert_close(colour_quantile_drift(turned), torch.tensor(2 / 64 / 3), rtol=0.5, atol=0)
    assert colour_quantile_drift(turned) > 0.005


def test_a_fade_costs_in_proportion_to_how_far_the_frames_stray():
    still = _blob_clip()[:, :, :1].expand(-1, -1, 4, -1, -1)  # (1, 3, 4, H, W): one frame, four times
    fade = still * torch.tensor([1.0, 1.0, 0.5, 0.5]).view(1, 1, 4, 1, 1)  # the last two frames at half contrast
    # every quantile of the last two frames halves: |q_t − mean_t q_t| = |q| / 4 in every frame
    expected = still[:, :, 0].flatten(2).sort(-1).values[..., torch.linspace(0, 1023, 64).round().long()]
    torch.testing.assert_close(colour_quantile_drift(fade), expected.abs().mean() / 4)
    assert colour_quantile_drift(still) == 0


def test_the_prior_is_on_by_default_and_params_yaml_says_the_same():
    assert TrainConfig().colour_prior == 30.0 == load_config(ROOT / "params.yaml").train.colour_prior


def test_g_moves_by_the_gradient_of_the_prior_on_its_fakes_and_the_ds_do_not():
    assert_g_prior_replays("colour_prior", "colour_drift", lambda fakes, real, gen: colour_quantile_drift(fakes))


def test_on_distinct_values_the_gradient_is_torch_sorts_and_tied_pixels_share_what_torch_gives_them():
    torch.manual_seed(0)
    x = (torch.randperm(4 * 3 * 4 * 256).float() / 1000).view(4, 3, 4, 16, 16).requires_grad_()  # no ties
    ranks = torch.linspace(0, 255, 64).round().long()

    def by_torch_sort(v):
        q = v.flatten(3).sort(-1).values.index_select(-1, ranks)
        return (q - q.mean(2, keepdim=True)).abs().mean()

    torch.testing.assert_close(colour_quantile_drift(x), by_torch_sort(x), rtol=0, atol=0)
    ours, theirs = (torch.autograd.grad(f(x), x)[0] for f in (colour_quantile_drift, by_torch_sort))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    tied = x.detach().round()  # many exact ties per row: the same values; each value's share of the gradient
    ours, theirs = (torch.autograd.grad(f(t), t)[0] for f, t in ((colour_quantile_drift, tied.clone().requires_grad_()),
                                                                  (by_torch_sort, tied.clone().requires_grad_())))
    torch.testing.assert_close(colour_quantile_drift(tied), by_torch_sort(tied), rtol=0, atol=0)
    flat = tied.flatten(3)
    for v in flat.unique():  # per clip, channel and frame
        share = [(g.flatten(3) * (flat == v)).sum(-1) for g in (ours, theirs)]  # (B, 3, T)
        torch.testing.assert_close(*share)
    assert theirs.abs().sum() > 0


def test_the_sort_in_row_blocks_on_threads_gives_the_one_thread_indices_bit_for_bit():
    # G's batch shape (B, 3, T, H·W) at the default, with the exact ties G's fakes make (saturated pixels)
    x = torch.rand(16, 3, 16, 64 * 64, generator=torch.Generator().manual_seed(0))
    x[x > 0.9] = 1.0
    threads = torch.get_num_threads()
    try:
        orders = {}
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            orders[n] = losses._argsort(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(orders[1], torch.from_numpy(np.argsort(x.numpy(), axis=-1)))
    assert torch.equal(orders[2], orders[1]) and torch.equal(orders[3], orders[1])
    assert len(losses._pools) >= 2  # the blocks did run on threads (one pool per size)
