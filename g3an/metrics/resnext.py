"""The paper's FID protocol: a 3D ResNeXt-101 (Hara et al., "Can spatiotemporal 3D CNNs retrace
the history of 2D CNNs and ImageNet?", cardinality 32, shortcut B) pretrained on Kinetics-400;
inputs 16 frames at 112×112 with the training mean subtracted (no std scaling), 2048-d features
after global average pooling; 5,000 generated clips against all training clips.

Those weights cannot be downloaded here and are never fetched: set
``eval.i3d_or_resnext_weights`` to a local file (the public 3D-ResNets checkpoint, a dict with a
``state_dict`` whose keys may carry DataParallel's ``module.`` prefix); under ``dvc repro``, one in
``weights/`` (the stage's dependency). Numbers are comparable to
published G³AN FIDs only with those exact Kinetics weights; the metric records the file's hash.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from g3an.errors import UserError
from g3an.fsutil import sha256_of
from g3an.metrics.frechet import frechet_distance, statistics
from g3an.persistence import load_artifact, save_artifact
from g3an.sampling import generate, sample_latents
from pipeline.loader import clip_indices, iter_videos_once, to_model_input
from pipeline.manifest import verified_shards

MEAN_255 = (114.7748, 107.7354, 99.4750)  # the Kinetics/ActivityNet mean of the public code
SIZE, FRAMES = 112, 16


class Bottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes: int, planes: int, cardinality: int, stride: int = 1, downsample=None):
        super().__init__()
        mid = cardinality * (planes // 32)
        self.conv1 = nn.Conv3d(inplanes, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNeXt3D(nn.Module):
    """3D ResNeXt; ``layers=(3, 4, 23, 3)`` is ResNeXt-101. ``forward`` returns pooled features."""

    def __init__(self, layers=(3, 4, 23, 3), cardinality: int = 32, num_classes: int = 400):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv3d(3, 64, 7, (1, 2, 2), (3, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, 2, 1)
        self.layer1 = self._layer(128, layers[0], cardinality, 1)
        self.layer2 = self._layer(256, layers[1], cardinality, 2)
        self.layer3 = self._layer(512, layers[2], cardinality, 2)
        self.layer4 = self._layer(1024, layers[3], cardinality, 2)
        self.fc = nn.Linear(cardinality * 32 * Bottleneck.expansion, num_classes)

    def _layer(self, planes, blocks, cardinality, stride):
        down = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            down = nn.Sequential(nn.Conv3d(self.inplanes, planes * Bottleneck.expansion, 1, stride, bias=False),
                                 nn.BatchNorm3d(planes * Bottleneck.expansion))
        mods = [Bottleneck(self.inplanes, planes, cardinality, stride, down)]
        self.inplanes = planes * Bottleneck.expansion
        mods += [Bottleneck(self.inplanes, planes, cardinality) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):  # (B, 3, 16, 112, 112) → (B, 2048)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3, 4))


def load_resnext(path: Path) -> tuple[ResNeXt3D, str]:
    blob = load_artifact(path, "weights")
    state = blob.get("state_dict", blob)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = ResNeXt3D(num_classes=state["fc.weight"].shape[0] if "fc.weight" in state else 400)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{path}: not a 3D ResNeXt-101 state dict ({str(e).splitlines()[0]}); expected the public "
                        "3D-ResNets Kinetics checkpoint (resnext-101-kinetics.pth)") from None
    digest = sha256_of(path)[:16]
    return model.eval(), digest


def preprocess(video: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) in [-1, 1] → 112×112, 0–255 with the mean subtracted."""
    b, c, t, h, w = video.shape
    x = F.interpolate(video.transpose(1, 2).reshape(b * t, c, h, w), size=(SIZE, SIZE), mode="bilinear",
                      align_corners=False).reshape(b, t, c, SIZE, SIZE).transpose(1, 2)
    x = (x.clamp(-1, 1) + 1) * 127.5
    return x - torch.tensor(MEAN_255).view(1, 3, 1, 1, 1)


@torch.no_grad()
def features(model: ResNeXt3D, videos: torch.Tensor, batch: int = 8) -> torch.Tensor:
    return torch.cat([model(preprocess(videos[i:i + batch])) for i in range(0, videos.shape[0], batch)])


def paper_fvd(ctx, shards: Path, weights: Path, cache_dir: Path) -> dict:
    if not Path(weights).exists():
        raise UserError(f"eval.i3d_or_resnext_weights = {weights}: file not found (it is never downloaded)")
    cfg, t = ctx.cfg, ctx.protocol["clip_length"]
    if t != FRAMES:
        raise UserError(f"the paper's protocol uses 16-frame clips; this generator makes {t}")
    model, digest = load_resnext(weights)
    key = json.dumps({"digest": digest, "shards": verified_shards(shards, "train"),
                      "steps": ctx.protocol["frame_steps"], "seed": cfg.eval.seed}, sort_keys=True)
    cache = Path(cache_dir) / f"resnext-real-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"
    if cache.exists():
        real = load_artifact(cache, "real-stats")
    else:  # every training video once, one clip each, sampled as in training (recorded below)
        rng, feats, clips = random.Random(cfg.eval.seed), [], []
        for frames, _ in iter_videos_once(verified_shards(shards, "train")):
            idx = clip_indices(frames.shape[0], t, ctx.protocol["frame_steps"], rng)
            if idx is None:
                continue  # too short for every allowed step (pipeline.loader: skipped, never padded)
            clips.append(torch.from_numpy(frames[idx]))
            if len(clips) == 8:
                feats.append(features(model, to_model_input(torch.stack(clips))))
                clips = []
        if clips:
            feats.append(features(model, to_model_input(torch.stack(clips))))
        mu, sigma = statistics(torch.cat(feats))
        real = {"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma), "n": int(sum(f.shape[0] for f in feats))}
        save_artifact(real, cache, "real-stats")
    gen = torch.Generator().manual_seed(cfg.eval.seed + 2)
    fake_feats = []
    for i in range(0, cfg.eval.resnext_fakes, 32):
        n = min(32, cfg.eval.resnext_fakes - i)
        z_a, z_m, labels = sample_latents(n, ctx.latent_length, ctx.n_classes, gen)
        fake_feats.append(features(model, generate(ctx.g, z_a, z_m, labels, 32)))
    mu, sigma = statistics(torch.cat(fake_feats))
    value = frechet_distance(mu, sigma, real["mu"], real["sigma"])
    return {f"fvd_resnext101_2048_{t}f": {
        "value": value, "n_fake": cfg.eval.resnext_fakes, "n_real": real["n"], "resolution": SIZE,
        "clip_length": t, "frame_steps": ctx.protocol["frame_steps"], "real_clips": "every training video once",
        "extractor": f"3D ResNeXt-101 (user weights {Path(weights).name}, sha256 {digest})",
        "note": "comparable to published G3AN numbers only with the original Kinetics-400 weights, 5000 fakes "
                "and all training clips; other weights (e.g. random) give numbers that mean nothing"}}
