"""``train.change_prior``: the batch's per-pixel temporal changes |x_{t+1} − x_t| held to the real batch's
distribution (losses.change_quantile_gap), added to G's loss. A still clip and a flickering one both cost;
the real batch itself costs nothing."""

import torch

from g3an.config import TrainConfig, load_config
from g3an.losses import change_quantile_gap
from tests.helpers import ROOT, assert_g_prior_replays


def _moving_squares(b: int = 2, t: int = 8, size: int = 32) -> torch.Tensor:
    """(B, 3, T, H, W): a 6×6 red square moving right across a grey ground, one pixel a frame, per clip."""
    clip = torch.full((b, 3, t, size, size), -0.5)
    for i in range(t):
        clip[:, :, i, 10:16, 4 + i:10 + i] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)
    return clip


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _literal_changes(video: torch.Tensor, samples: int) -> torch.Tensor:
    """Every change |x_{t+1} − x_t| of the batch, then ``samples`` of them drawn as _gen() draws: (S,)."""
    changes = (video[:, :, 1:] - video[:, :, :-1]).abs().flatten()
    return changes[torch.randint(changes.numel(), (samples,), generator=_gen())]


def test_the_real_batch_costs_nothing_a_still_clip_costs_the_real_changes_mean():
    real = _moving_squares()
    assert change_quantile_gap(real, real, _gen()) == 0
    still = real[:, :, :1].expand_as(real)  # (B, 3, T, H, W): the first frame, held
    # every fake change is 0: the distance is the mean real change over the sampled positions
    torch.testing.assert_close(change_quantile_gap(still, real, _gen()), _literal_changes(real, 65536).mean())
    # per frame pair the square's leading and trailing columns change, 12 pixels by 1.5 (red) + 0.5 + 0.5,
    # among 3 × 1024 values: 30 / 3072 ≈ 0.0098 over the whole clip
    torch.testing.assert_close(change_quantile_gap(still, real, _gen()), torch.tensor(30 / 3072), rtol=0.05, atol=0)


def test_flicker_costs_though_the_clip_moves_as_the_real_one():
    real = _moving_squares()
    flicker = real + 0.05 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    gap = change_quantile_gap(flicker, real, _gen())
    # the still ground's changes go from 0 to |N(0, 2·0.05²)|, mean 0.05·√2·√(2/π) ≈ 0.056, on ~98 % of them
    assert 0.045 < gap < 0.06
    assert change_quantile_gap(flicker, real, _gen()) > 10 * change_quantile_gap(real.flip(0), real, _gen())


def test_the_gradient_goes_to_the_fake_only_and_pulls_its_changes_toward_the_real_ones():
    real = _moving_squares().requires_grad_()
    # nearly still: a faint flicker on the first frame (a clip held bitwise still has no direction of change to
    # follow: |·|'s gradient at 0 is 0)
    wobble = 1e-2 * torch.randn(real.shape, generator=torch.Generator().manual_seed(1))
    still = (real.detach()[:, :, :1] + wobble).requires_grad_()
    change_quantile_gap(still, real, _gen()).backward()
    assert real.grad is None or real.grad.abs().sum() == 0
    assert still.grad.abs().sum() > 0
    # a small step down the gradient brings the clip's changes closer to the real batch's (a larger one
    # overshoots: the changes matched to the real ground's zeros are that small)
    stepped = still.detach() - 10.0 * still.grad
    assert change_quantile_gap(stepped, real.detach(), _gen()) < change_quantile_gap(still.detach(), real.detach(), _gen())


def test_the_prior_is_off_by_default_and_params_yaml_says_the_same():
    assert TrainConfig().change_prior == 0.0 == load_config(ROOT / "params.yaml").train.change_prior


def test_g_moves_by_the_gradient_of_the_prior_on_its_fakes_and_the_ds_do_not():
    assert_g_prior_replays("change_prior", "change_gap", change_quantile_gap)


def test_only_the_sampled_changes_are_computed_and_they_are_the_whole_clips_changes_at_those_positions():
    fake = torch.randn(2, 3, 5, 8, 8, generator=torch.Generator().manual_seed(2)).requires_grad_()
    real = _moving_squares(b=2, t=5, size=8)

    def literal(x):  # every change of the batch, then the same samples of them
        return (_literal_changes(x, 4096).sort().values - _literal_changes(real, 4096).sort().values).abs().mean()

    ours = change_quantile_gap(fake, real, _gen(), samples=4096)
    torch.testing.assert_close(ours, literal(fake), rtol=0, atol=0)
    torch.testing.assert_close(torch.autograd.grad(ours, fake)[0], torch.autograd.grad(literal(fake), fake)[0],
                               rtol=0, atol=0)
