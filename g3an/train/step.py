"""One G³AN iteration: D_V + D_I step, then a G step that reuses the same fake batch
(as the reference code). Shared by the training loop and the benchmarks."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from g3an.losses import change_quantile_gap, colour_quantile_drift, d_loss, g_loss
from g3an.sampling import pick_frames, sample_latents
from g3an.train.augment import translate


def unwrap(m: nn.Module) -> nn.Module:
    """The bare module under a DDP / torch.compile wrapper."""
    m = getattr(m, "module", m)
    return getattr(m, "_orig_mod", m)


@dataclass
class Nets:
    g: nn.Module
    d_v: nn.Module
    d_i: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer  # over D_V and D_I
    latent_length: int
    n_classes: int = 0
    loss: str = "bce"
    r1_gamma: float = 0.0  # R1 penalty weight on D_V and D_I at real inputs; 0 = none (the paper)
    r1_every: int = 1  # lazy R1: the penalty, weighted by this interval, on every r1_every-th step only
    augment_translate: float = 0.0  # both Ds see clips shifted by up to this fraction (augment.translate); 0 = off
    zm_diversity: float = 0.0  # weight of the mode-seeking term on z_m (zm_spread); 0 = off (the paper)
    zm_info: float = 0.0  # weight of InfoGAN's z_m regression (D_V built with its motion-code head); 0 = off (the paper)
    d_p: Optional[nn.Module] = None  # the pair discriminator (train.pair_d; its parameters in opt_d)
    pair_d: float = 0.0  # weight of D_P's losses; > 0 needs d_p and a real batch of same-subject pairs (2k, 2k + 1)
    class_head: float = 0.0  # weight of AC-GAN's class cross-entropy (D_V built with its class head); 0 = off
    za_info: float = 0.0  # weight of InfoGAN's z_a regression (D_I built with its appearance-code head); 0 = off
    colour_prior: float = 0.0  # weight of colour_quantile_drift on G's clips; 0 = off (the paper)
    change_prior: float = 0.0  # weight of change_quantile_gap, G's clips against the real batch; 0 = off (the paper)


def make_optimizers(g: nn.Module, d_v: nn.Module, d_i: nn.Module, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999),
                    d_p: Optional[nn.Module] = None):
    opt_g = torch.optim.Adam(g.parameters(), lr=lr_g, betas=betas)
    d_params = [p for d in (d_v, d_i, d_p) if d is not None for p in d.parameters()]
    opt_d = torch.optim.Adam(d_params, lr=lr_d, betas=betas)
    return opt_g, opt_d


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def zm_spread(fake: torch.Tensor, z_m: torch.Tensor, pairs: int) -> torch.Tensor:
    """Mode seeking on the motion code (Mao et al., 2019, MSGAN), on what moves: for the clip pairs
    (i, i + pairs) that share z_a and class, the mean |difference| of the clips' motion (each clip
    minus its mean over time, so a static change such as colour counts little) over the mean
    |difference| of their z_m. fake (B, 3, T, H, W), z_m (B, 10, T_z) → a scalar."""
    motion = (fake - fake.mean(2, keepdim=True)).float()  # (B, 3, T, H, W)
    d_video = (motion[:pairs] - motion[pairs:2 * pairs]).abs().flatten(1).mean(1)  # (pairs,)
    d_z = (z_m[:pairs] - z_m[pairs:2 * pairs]).abs().flatten(1).mean(1)
    return (d_video / d_z).mean()


def code_error(read: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """InfoGAN's mutual-information bound for a Gaussian code of fixed variance, up to constants: the
    mean squared error of the code a Q head reads back — z_m by D_V's, read (B, 10·T_z) and code
    (B, 10, T_z); z_a by D_I's, read and code (B, 128) → a scalar."""
    return (read.float() - code.flatten(1)).pow(2).mean()


def _logits_and_reads(d: nn.Module, x: torch.Tensor, labels: Optional[torch.Tensor], **asked: bool) -> tuple:
    """One pass of D: its float logits (B,), then for each of ``asked`` (D's ``with_*`` switches, in
    the order given) the float output of that head — the z_m D_V's Q head reads (B, 10·T_z), its class
    logits (B, n_classes), the z_a D_I's Q head reads (B, 128) — or None where the switch is off."""
    wanted = {name: True for name, on in asked.items() if on}
    if not wanted:
        return (d(x, labels).float(), *(None for _ in asked))
    logits, *reads = d(x, labels, **wanted)
    read = iter(reads)
    return (logits.float(), *(next(read).float() if on else None for on in asked.values()))


def gan_step(nets: Nets, real: torch.Tensor, labels: Optional[torch.Tensor], gen: torch.Generator,
             autocast=contextlib.nullcontext, step: int = 1) -> dict[str, torch.Tensor]:
    """real (B, 3, T, H, W) in [-1, 1], labels (B,) or None; ``step``: this step's number, counted
    from 1 (lazy R1 runs when it is a multiple of ``r1_every``). Returns detached losses and logits
    (plus ``r1_video``/``r1_image`` on R1 steps, ``zm_spread`` with ``zm_diversity``, ``zm_info_d`` and
    ``zm_info_g`` with ``zm_info``, ``za_info_d`` and ``za_info_g`` with ``za_info``,
    ``loss_d_pair``/``loss_g_pair`` (and ``r1_pair``) with ``pair_d``, ``class_d``/``class_g`` with
    ``class_head``, ``colour_drift`` with ``colour_prior``, ``change_gap`` with ``change_prior``).

    With ``pair_d`` the real batch must come as same-subject pairs (clips 2k and 2k + 1: the loader's
    ``subject_pairs``); the fakes are paired alike — clip 2k + 1 shares clip 2k's z_a — and take the
    real batch's classes, so a fake pair's classes relate as a real pair's do."""
    b, t = real.shape[0], real.shape[2]
    z_a, z_m, fake_labels = sample_latents(b, nets.latent_length, nets.n_classes, gen, real.device, real.dtype)
    pairs = b // 2 if nets.zm_diversity > 0 else 0
    if pairs:  # clip i + pairs repeats clip i's z_a and class with its own z_m: the pairs zm_spread compares
        def repeat_first_half(x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x[:pairs], x[:pairs], x[2 * pairs:]])

        z_a = repeat_first_half(z_a)
        if fake_labels is not None:
            fake_labels = repeat_first_half(fake_labels)
    info, appearance_info = nets.zm_info > 0, nets.za_info > 0
    if not nets.n_classes:
        labels = None
    classes = nets.class_head > 0
    if classes and labels is None:
        raise ValueError("class_head needs a conditional run: class labels for the real batch")
    pair = nets.pair_d > 0
    if pair:
        if nets.d_p is None or b % 2:
            raise ValueError(f"pair_d needs a pair discriminator and an even batch (got {b} clips)")
        z_a = z_a[0::2].repeat_interleave(2, 0)  # (B, 128): clips 2k and 2k + 1 share one z_a
        if labels is not None:
            fake_labels = labels
    idx_real = torch.randint(t, (b,), generator=gen)  # D_I sees one random frame per clip
    idx_fake = torch.randint(t, (b,), generator=gen)

    with autocast():
        fake = nets.g(z_a, z_m, fake_labels)  # (B, 3, T, H, W)
    spread = zm_spread(fake, z_m, pairs) if pairs else None
    raw_real, raw_fake = real, fake  # (B, 3, T, H, W): the change prior compares these, before any shift
    # what both Ds see (D_I a frame of it): real and fake shifted alike when augment_translate > 0
    real, fake = (translate(v, nets.augment_translate, gen) for v in (real, fake))

    # --- D step: real and fake through each discriminator separately, one backward for all four.
    # Apart, R1's ∂D/∂x and its double backward run over the real half only (the cat's fake half cost
    # as much again: D_V's step 0.51 → 0.36 s at width 1/8; docs/what-we-tried.md, "The default step
    # with R1"), and model.d_mbstd's batch statistic never mixes real and fake clips.
    d_v, d_i = unwrap(nets.d_v), unwrap(nets.d_i)
    d_p = unwrap(nets.d_p) if pair else None
    discriminators = [d for d in (d_v, d_i, d_p) if d is not None]
    for d in discriminators:
        _requires_grad(d, True)
    fake_d = fake.detach()
    r1 = nets.r1_gamma > 0 and step % nets.r1_every == 0
    real_clip = real.detach().requires_grad_(r1)  # (B, 3, T, H, W): a leaf when R1 needs ∂D/∂x
    real_frame = pick_frames(real, idx_real).detach().requires_grad_(r1)  # (B, 3, H, W)
    fake_frame = pick_frames(fake_d, idx_fake)  # (B, 3, H, W)
    with autocast():
        # D_V's class head learns the real clips' classes; D_V and D_I learn to read z_m and z_a from the fakes
        real_v, real_class = _logits_and_reads(nets.d_v, real_clip, labels, with_class=classes)  # (B,), (B, n)
        fake_v, zm_read = _logits_and_reads(nets.d_v, fake_d, fake_labels, with_motion_code=info)
        real_i = nets.d_i(real_frame, labels).float()
        fake_i, za_read = _logits_and_reads(nets.d_i, fake_frame, fake_labels, with_appearance_code=appearance_info)
        loss_dv, loss_di = d_loss(real_v, fake_v, nets.loss), d_loss(real_i, fake_i, nets.loss)
    loss_d = loss_dv + loss_di
    extra = {}
    if classes:  # AC-GAN: D_V's class head learns the real clips' classes (never the fakes')
        extra["class_d"] = F.cross_entropy(real_class, labels)
        loss_d = loss_d + nets.class_head * extra["class_d"]
    if pair:  # D_P: a frame of clip 2k beside a frame of clip 2k + 1 (the same frames D_I saw)
        real_pair = pick_frames(real, idx_real).detach().requires_grad_(r1)  # (B, 3, H, W): R1's own leaf
        with autocast():
            real_p = nets.d_p(real_pair[0::2], real_pair[1::2]).float()  # (B/2,)
            fake_p = nets.d_p(fake_frame[0::2], fake_frame[1::2]).float()
            extra["loss_d_pair"] = d_loss(real_p, fake_p, nets.loss)
        loss_d = loss_d + nets.pair_d * extra["loss_d_pair"]
    if info:
        extra["zm_info_d"] = code_error(zm_read, z_m)
        loss_d = loss_d + nets.zm_info * extra["zm_info_d"]
    if appearance_info:
        extra["za_info_d"] = code_error(za_read, z_a)
        loss_d = loss_d + nets.za_info * extra["za_info_d"]
    if r1:  # R1 (Mescheder et al., 2018): γ/2 · E‖∇ₓD(x)‖² over real inputs, for each discriminator
        outs, leaves = [real_v.sum(), real_i.sum()], [real_clip, real_frame]
        if pair:
            outs, leaves = outs + [real_p.sum()], leaves + [real_pair]
        grads = torch.autograd.grad(outs, leaves, create_graph=True)
        extra["r1_video"] = grads[0].float().pow(2).flatten(1).sum(1).mean()
        extra["r1_image"] = grads[1].float().pow(2).flatten(1).sum(1).mean()
        penalty = extra["r1_video"] + extra["r1_image"]
        if pair:  # per real pair: the two frames' gradients together
            extra["r1_pair"] = grads[2].float().pow(2).view(b // 2, -1).sum(1).mean()
            penalty = penalty + nets.pair_d * extra["r1_pair"]
        loss_d = loss_d + 0.5 * nets.r1_gamma * nets.r1_every * penalty
    nets.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    nets.opt_d.step()

    # --- G step: the same fake batch through the updated (frozen) Ds, bypassing their DDP wrappers
    for d in discriminators:
        _requires_grad(d, False)
    fake_frame = pick_frames(fake, idx_fake)  # (B, 3, H, W), through G this time
    with autocast():
        # G learns to put z_m where D_V reads it (zm_info), its class where the class head does
        # (class_head) and z_a where D_I reads it (za_info)
        out_v, zm_read, fake_class = _logits_and_reads(d_v, fake, fake_labels, with_motion_code=info,
                                                       with_class=classes)
        loss_gv = g_loss(out_v, nets.loss)
        out_i, za_read = _logits_and_reads(d_i, fake_frame, fake_labels, with_appearance_code=appearance_info)
        loss_gi = g_loss(out_i, nets.loss)
        if pair:
            extra["loss_g_pair"] = g_loss(d_p(fake_frame[0::2], fake_frame[1::2]).float(), nets.loss)
    nets.opt_g.zero_grad(set_to_none=True)
    loss_g = loss_gv + loss_gi
    if classes:  # AC-GAN: G makes each fake read as the class it was asked for
        extra["class_g"] = F.cross_entropy(fake_class, fake_labels)
        loss_g = loss_g + nets.class_head * extra["class_g"]
    if pair:
        loss_g = loss_g + nets.pair_d * extra["loss_g_pair"]
    if info:
        extra["zm_info_g"] = code_error(zm_read, z_m)
        loss_g = loss_g + nets.zm_info * extra["zm_info_g"]
    if appearance_info:
        extra["za_info_g"] = code_error(za_read, z_a)
        loss_g = loss_g + nets.za_info * extra["za_info_g"]
    if spread is not None:  # MSGAN's mode-seeking term: large when z_m changes the clip's motion little
        extra["zm_spread"] = spread
        loss_g = loss_g + nets.zm_diversity / (spread + 1e-5)
    if nets.colour_prior > 0:  # each frame's colour quantiles held to its clip's, wherever the object is
        extra["colour_drift"] = colour_quantile_drift(fake)
        loss_g = loss_g + nets.colour_prior * extra["colour_drift"]
    if nets.change_prior > 0:  # the batch's temporal changes distributed as the real batch's: sparse, edged
        extra["change_gap"] = change_quantile_gap(raw_fake, raw_real, gen)
        loss_g = loss_g + nets.change_prior * extra["change_gap"]
    loss_g.backward()
    nets.opt_g.step()
    for d in discriminators:
        _requires_grad(d, True)

    return {k: v.detach() for k, v in dict(
        loss_d_video=loss_dv, loss_d_image=loss_di, loss_g_video=loss_gv, loss_g_image=loss_gi,
        d_real=torch.sigmoid(real_v).mean(), d_fake=torch.sigmoid(fake_v).mean(), **extra).items()}
