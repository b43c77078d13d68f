"""The judge network, trained on the real training shards: it stands in for the Kinetics-pretrained
extractors that cannot be downloaded here.

Two branches. A per-frame 2D encoder, pooled over space, gives a frame embedding; **appearance
heads** classify every frame from it: the ground-truth factors the manifest lists (synthetic:
shape, colour, size, background), on real sets the training subject. Appearance is predicted per
frame and averaged, so it cannot lean on motion. A 3D-conv motion branch over the frames and their
temporal differences, at half resolution, gives the **video feature** (the space of ``fd_cls*``)
and the motion/class logits (UvA-NEMO's motion head is its deliberate/spontaneous label). On data
whose videos carry the object's track (the synthetic set), the **where head** reads the per-frame
encoder's last map, unpooled, of a clip's first and last frame: which cell of a 3 × 3 grid holds the
object. That is where z_m's motion within a class shows (start, offset, speed, phase), which the
class head cannot see.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from g3an.config import EvalConfig, LoaderConfig
from g3an.errors import UserError
from g3an.persistence import load_artifact, save_artifact
from g3an.vector_math import resolve_kernels
from pipeline.loader import ClipLoader, ClipStream, to_model_input
from pipeline.manifest import clip_plan, verified_shards

resolve_kernels()  # the judge is a network too: MKL's vector-math kernels resolved on one thread first
log = logging.getLogger("g3an.evaluator")
EMBED, FEATURE = 128, 256


def appearance_heads(manifest: dict) -> list[tuple[str, list[str]]]:
    """(metadata key, vocabulary) of each appearance head for this data set."""
    if manifest["factors"]:
        return [(k, list(v)) for k, v in manifest["factors"]]
    return [("subject", sorted(manifest["per_subject"]))]


class _GlobalPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, h, w) → (N, 2C)
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], dim=1)


ARCH = "g3an-judge-3"  # bumped whenever the layers change: an older file is refused with the fix
TRACK_GRID = 3  # the position heads: which cell of a 3 × 3 grid holds the object


class Evaluator(nn.Module):
    def __init__(self, size: int, n_motion: int, heads: list[tuple[str, int]], width: int = 32,
                 train_frames: int = 4, track_grid: int = 0):
        super().__init__()
        self.train_frames, self.track_grid = train_frames, track_grid
        self.config = {"arch": ARCH, "size": size, "n_motion": n_motion, "heads": [list(h) for h in heads],
                       "width": width, "train_frames": train_frames, "track_grid": track_grid}
        layers, cin, s = [], 3, size
        for i, cout in enumerate((width, 2 * width, 4 * width, 4 * width)):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1)] + ([nn.BatchNorm2d(cout)] if i else []) + [nn.LeakyReLU(0.2)]
            cin, s = cout, s // 2
        self.frame_maps = nn.Sequential(*layers)  # (N, 4w, S/16, S/16)
        # appearance is position-free: pool the last map globally (mean and max), then embed
        self.frames = nn.Sequential(_GlobalPool(), nn.Linear(2 * cin, EMBED), nn.LeakyReLU(0.2))
        # position is not: the **where** head reads the whole last map of one frame (the clip's first
        # and last frames, on data whose manifest is ``tracked``: the object's cell of a grid²)
        self.where = nn.Linear(cin * s * s, track_grid ** 2) if track_grid else None
        # motion branch, at half resolution: frames and their temporal differences (6 channels) through
        # 3D convs; each channel's map is max-pooled over space (a moving edge is a small part of
        # the frame: a mean would dilute it) and mean-pooled over time, beside its plain mean
        m = width
        self.temporal = nn.Sequential(
            nn.Conv3d(6, m, (3, 4, 4), (1, 2, 2), (1, 1, 1)), nn.LeakyReLU(0.2),
            nn.Conv3d(m, 2 * m, (3, 4, 4), (1, 2, 2), (1, 1, 1)), nn.BatchNorm3d(2 * m), nn.LeakyReLU(0.2),
            nn.Conv3d(2 * m, 4 * m, (3, 4, 4), (2, 2, 2), (1, 1, 1)), nn.BatchNorm3d(4 * m), nn.LeakyReLU(0.2),
            nn.Conv3d(4 * m, FEATURE // 2, (3, 3, 3), (2, 1, 1), (1, 1, 1)), nn.LeakyReLU(0.2))
        self.motion = nn.Linear(FEATURE, max(1, n_motion))
        self.appearance = nn.ModuleDict({name: nn.Linear(EMBED, n) for name, n in heads})

    def forward(self, video: torch.Tensor) -> dict:
        """video (B, 3, T, H, W) in [-1, 1]. In training, appearance sees ``train_frames`` frames per
        clip (it is per frame anyway; 4× less work): random ones, and with the where head the first
        and the last among them; in eval mode every frame."""
        b, _, t, h, w = video.shape
        shown = video
        if self.training and 0 < self.train_frames < t:
            if self.where is None:
                pick = torch.randperm(t)[:self.train_frames].sort().values
            else:  # the ends, which the where head reads, and random frames between them
                middle = torch.randperm(t - 2)[:max(0, self.train_frames - 2)].sort().values + 1
                pick = torch.cat([torch.tensor([0]), middle, torch.tensor([t - 1])])
            shown = video[:, :, pick]
        n = shown.shape[2]
        maps = self.frame_maps(shown.transpose(1, 2).reshape(b * n, 3, h, w))  # (B·n, C, s, s)
        emb = self.frames(maps).reshape(b, n, EMBED)  # (B, n, E)
        where = None
        if self.where is not None:
            ends = maps.reshape(b, n, -1)[:, [0, n - 1]]  # (B, 2, C·s·s): the first and the last frame
            where = self.where(ends)  # (B, 2, cells)
        half = F.avg_pool3d(video, (1, 2, 2))  # (B, 3, T, H/2, W/2)
        moving = torch.cat([half[:, :, 1:], half[:, :, 1:] - half[:, :, :-1]], 1)  # (B, 6, T-1, H/2, W/2)
        maps = self.temporal(moving)  # (B, F/2, t', h', w')
        feat = torch.cat([maps.mean((2, 3, 4)), maps.amax((3, 4)).mean(2)], 1)  # (B, F)
        return {"frame_embedding": emb, "feature": feat, "motion": self.motion(feat),
                "appearance": {k: head(emb) for k, head in self.appearance.items()},  # (B, n, n_k)
                "where": where}


def _loss(out: dict, labels: torch.Tensor) -> torch.Tensor:
    """labels (B, 1 + K [+ 2]): motion class, one label per appearance head, then with the where head
    the object's cell in the first and the last frame (−1 = unknown)."""
    loss = F.cross_entropy(out["motion"], labels[:, 0], ignore_index=-1) if (labels[:, 0] >= 0).any() else 0.0
    for k, (name, logits) in enumerate(out["appearance"].items(), start=1):
        target = labels[:, k][:, None].expand(-1, logits.shape[1])
        if (target >= 0).any():
            loss = loss + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-1)
    if out["where"] is not None and (labels[:, -2:] >= 0).any():
        loss = loss + F.cross_entropy(out["where"].flatten(0, 1), labels[:, -2:].flatten(), ignore_index=-1)
    return loss


def predict(model: Evaluator, video: torch.Tensor) -> dict:
    """Discrete predictions: motion (B,), appearance {head: (B,)} from frame-averaged logits, and with
    the where head ``where`` (B, 2): the object's cell in the first and the last frame."""
    out = model(video)
    return {**out, "motion_logits": out["motion"], "motion": out["motion"].argmax(1),
            "motion_probs": out["motion"].softmax(1),
            "appearance": {k: v.mean(1).argmax(1) for k, v in out["appearance"].items()},
            "where": None if out["where"] is None else out["where"].argmax(2)}


WHERE_HEADS = ("where_first", "where_last")  # their names in the judge's test accuracy


def train_evaluator(shards: Path, manifest: dict, ev: EvalConfig, loader: LoaderConfig,
                    progress: Optional[Callable[[int, int, float], None]] = None) -> tuple[Evaluator, dict]:
    """The judge, trained for ``ev.evaluator_steps`` on clips of the training split cut as ``loader`` says."""
    heads = appearance_heads(manifest)
    plan = clip_plan(manifest, loader)  # refuses clips no video can give
    torch.manual_seed(ev.seed)
    grid = TRACK_GRID if manifest.get("tracked") else 0
    model = Evaluator(manifest["resolution"][0], len(manifest["classes"]), [(k, len(v)) for k, v in heads],
                      ev.evaluator_width, track_grid=grid)
    opt = torch.optim.Adam(model.parameters(), lr=ev.evaluator_lr)
    stream = ClipStream(verified_shards(shards, "train"), replace(loader, batch_size=ev.evaluator_batch), ev.seed,
                        meta_labels=heads, track_grid=grid)
    model.train()
    loss_value, steps = float("nan"), ev.evaluator_steps
    for step, (frames, labels) in enumerate(ClipLoader(stream, steps, loader.workers).segment(0), start=1):
        loss = _loss(model(to_model_input(frames)), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
        if progress:
            progress(step, steps, loss_value)
    model.eval()
    return model, {"heads": heads, "final_loss": loss_value, "clip_length": loader.clip_length,
                   "frame_steps": plan["frame_steps"]}


@torch.no_grad()
def split_accuracy(model: Evaluator, shards: Path, heads, ev: EvalConfig, loader: LoaderConfig) -> dict:
    """Accuracy of every head on ``ev.n_real`` clips of the test split (video-level)."""
    stream = ClipStream(verified_shards(shards, "test"), replace(loader, batch_size=ev.batch), ev.seed,
                        meta_labels=heads, track_grid=model.track_grid)
    hits: dict[str, list] = {"motion": []}
    for frames, labels in ClipLoader(stream, max(1, -(-ev.n_real // ev.batch)), 0).segment(0):
        p = predict(model, to_model_input(frames))
        hits["motion"].append(p["motion"][labels[:, 0] >= 0] == labels[:, 0][labels[:, 0] >= 0])
        for k, (name, _) in enumerate(heads, start=1):
            ok = labels[:, k] >= 0
            hits.setdefault(name, []).append(p["appearance"][name][ok] == labels[:, k][ok])
        if p["where"] is not None:
            for end, name in enumerate(WHERE_HEADS):
                truth = labels[:, -2 + end]
                hits.setdefault(name, []).append(p["where"][truth >= 0, end] == truth[truth >= 0])
    return {k: round(float(torch.cat(v).float().mean()), 4) if torch.cat(v).numel() else None for k, v in hits.items()}


def train_and_score(shards: Path, manifest: dict, ev: EvalConfig, loader: LoaderConfig,
                    progress: Optional[Callable[[int, int, float], None]] = None) -> tuple[Evaluator, dict]:
    """The judge trained on the training split (``train_evaluator``), its ``info`` holding every head's
    accuracy on the test split (``test_accuracy``), as ``save_evaluator`` stores it."""
    model, info = train_evaluator(shards, manifest, ev, loader, progress)
    info["test_accuracy"] = split_accuracy(model, shards, info["heads"], ev, loader)
    return model, info


def chance_levels(manifest: dict, heads, track_grid: int) -> dict[str, float]:
    """Each head's accuracy by guessing: the motion class, every appearance head, the where heads."""
    return {"motion": 1 / max(1, len(manifest["classes"])), **{k: 1 / len(v) for k, v in heads},
            **{k: 1 / track_grid ** 2 for k in (WHERE_HEADS if track_grid else ())}}


def readable(accuracy: Optional[float], chance: float) -> bool:
    """Whether a head reads its factor reliably: test accuracy at least halfway from chance to 1. A
    head below that only adds noise to the scores built on it."""
    return accuracy is not None and accuracy >= (chance + 1) / 2


def save_evaluator(path: Path, model: Evaluator, info: dict) -> None:
    save_artifact({"state": model.state_dict(), "config": model.config,
                   "heads": [[k, list(v)] for k, v in info["heads"]], "info": json.loads(json.dumps(info))},
                  path, "evaluator")


def load_evaluator(path: Path) -> tuple[Evaluator, dict]:
    blob = load_artifact(path, "evaluator")
    c = blob["config"]
    if c.get("arch") != ARCH:
        raise UserError(f"{path}: a judge from an older g3an (layers {c.get('arch', 'g3an-judge-1')}, this "
                        f"version reads {ARCH}); retrain it with `dvc repro train-evaluator`")
    model = Evaluator(c["size"], c["n_motion"], [tuple(h) for h in c["heads"]], c["width"], c["train_frames"],
                      c["track_grid"])
    model.load_state_dict(blob["state"])
    return model.eval(), blob


def judge_warning(info: dict, n_classes: int) -> Optional[str]:
    """A warning when the judge's motion accuracy is nearer chance than perfect: its scores cannot
    rank generators (a 10-step judge reads degenerate clips as perfectly disentangled)."""
    acc = (info.get("test_accuracy") or {}).get("motion")
    chance = 1 / max(1, n_classes)
    if acc is None or n_classes < 2 or readable(acc, chance):
        return None
    return (f"the judge's motion accuracy is {acc:.2f} (chance {chance:.2f}): these scores cannot rank generators; "
            "raise eval.evaluator_steps and re-run `dvc repro train-evaluator`")


def readable_heads(blob: dict) -> list[tuple[str, int]]:
    """The appearance heads the evaluator reads reliably on the test split: accuracy at least halfway
    from chance to 1. A head at chance would only add noise to the disentanglement scores (on the
    synthetic set at 64 px, shape is such a head); the metrics record which heads were used."""
    acc = blob["info"].get("test_accuracy") or {}
    heads = [(k, len(v)) for k, v in blob["heads"]]
    kept = [(k, n) for k, n in heads if acc.get(k) is None or readable(acc[k], 1 / n)]
    return kept or heads


def readable_where(blob: dict) -> bool:
    """Whether the judge has a where head that reads the object's cell, first and last frame, at least
    halfway from chance to 1 on the test split (else the path scores would be noise)."""
    grid = blob["config"].get("track_grid", 0)
    acc = blob["info"].get("test_accuracy") or {}
    return bool(grid) and all(readable(acc.get(k), 1 / grid ** 2) for k in WHERE_HEADS)
