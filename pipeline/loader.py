"""Training clips from WebDataset shards.

Each sample in a shard is one whole video; the loader cuts one clip per video visit: T frames
(``clip_length``, default 16) with a random start and a frame step drawn from ``frame_steps``
(default {2, 3}, as the reference code). **Short videos**: a clip is only ever cut with a step
from ``frame_steps`` that fits the video, (T − 1)·step + 1 ≤ N frames; among the steps that fit, one
is drawn at random. A video that no allowed step fits is skipped — never padded, never cut with a
smaller step — so every clip follows the protocol the metrics record. ``pipeline.manifest.clip_plan`` tells from a
manifest, before any clip is read, which steps the data serves and how many videos are skipped,
and refuses a split where none fits.

Batches are uint8 ``(B, T, H, W, 3)`` tensors plus int64 labels (−1 when unlabelled) — shape (B,),
or (B, 1 + K) when ``meta_labels`` asks for K more per-video labels (e.g. the synthetic set's
appearance factors, or the subject), each mapped through its vocabulary (−1 if absent), and two more
per clip with ``track_grid`` (where the object is in the clip's first and last frame); they cross
the DataLoader's worker pipes as uint8 and become float in the consumer (``to_model_input``).

Streams are endless and split into **segments** of a fixed number of batches: segment ``s`` of a
run is a pure function of (seed, s, rank, worker), so every rank yields exactly the same number
of batches (uneven shard counts cannot hang DDP) and a resumed run sees the very same batches as
an uninterrupted one. ``shard_mode``:
- ``"split"`` (default): shards are divided between ranks (``wds.split_by_node``) and then
  between workers (``wds.split_by_worker``) — disjoint data; each worker loops over its shards,
  reshuffled per pass;
- ``"resampled"``: every worker draws shards with replacement from all shards.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import random
import signal
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from g3an.config import LoaderConfig
from g3an.errors import UserError
from pipeline.manifest import fitting_steps


def list_shards(folder: str | Path) -> list[str]:
    shards = sorted(str(p) for p in Path(folder).glob("*.tar"))
    if not shards:
        raise UserError(f"{folder}: no .tar shards; run `g3an-cli preprocess` first")
    return shards


def clip_indices(n: int, length: int, steps: Sequence[int], rng: random.Random) -> np.ndarray | None:
    """Frame indices of one clip from an ``n``-frame video, or None when no allowed step fits."""
    fitting = fitting_steps(n, length, steps)
    if not fitting:
        return None
    step = rng.choice(fitting)
    start = rng.randrange(n - (length - 1) * step)
    return start + step * np.arange(length)


def track_cell(point: Sequence[float], grid: int) -> int:
    """The cell (row-major) of a grid × grid division of the frame that holds ``point`` = (u, v), as
    fractions of the frame's side; a point outside the frame counts in the nearest edge cell."""
    col, row = (min(grid - 1, max(0, int(c * grid))) for c in point[:2])
    return row * grid + col


def decode_sample(sample: dict) -> tuple[np.ndarray, dict]:
    """A raw shard sample → (frames (N, H, W, 3) uint8, metadata)."""
    return wds.autodecode.npy_loads(sample["frames.npy"]), wds.autodecode.json.loads(sample["json"])


def _rank_world() -> tuple[int, int]:
    rank, world, _, _ = wds.utils.pytorch_worker_info()
    return rank, world


def too_few_shards(shards: int, world: int, workers: int) -> UserError:
    """What a user sees when split shards leave a rank's worker without any."""
    return UserError(f"{shards} shards cannot feed {world} rank(s) × {workers} loader worker(s); lower "
                     "preprocess.shard_size, use fewer loader.workers, or set loader.shard_mode=resampled")


class ClipStream(IterableDataset):
    """Endless batches of clips for the current ``segment`` (set it before iterating)."""

    def __init__(self, shards: Sequence[str], loader: LoaderConfig, seed: int = 0,
                 meta_labels: Sequence[tuple[str, Sequence[str]]] = (), track_grid: int = 0,
                 subject_pairs: bool = False):
        """Clips as ``loader`` says (clip length, frame steps, batch size, shuffle buffer, shard mode);
        change one setting for one use with ``dataclasses.replace(cfg.loader, batch_size=32)``.
        ``track_grid`` > 0 appends two labels per clip: the cell of a ``track_grid``² grid that holds the
        object in the clip's first and in its last frame (``track_cell``; −1 where the track has no point).
        ``subject_pairs``: every batch is B/2 pairs — clips 2k and 2k + 1 of one subject (``train.pair_d``).
        A clip waits until the stream brings another clip of its subject (one clip per subject waits at
        most, so memory stays bounded); each pair is mostly two different videos, and for a subject
        with one video, two visits of it (two windows) on later passes."""
        super().__init__()
        if subject_pairs and loader.batch_size % 2:
            raise UserError(f"loader.batch_size = {loader.batch_size}: same-subject pairs (train.pair_d > 0) "
                            "need an even batch; set loader.batch_size to an even number")
        self.subject_pairs = subject_pairs
        self.meta_labels = [(key, {v: i for i, v in enumerate(vocab)}) for key, vocab in meta_labels]
        self.track_grid = track_grid
        self.shards = list(shards)
        self.clip_length, self.frame_steps = loader.clip_length, tuple(loader.frame_steps)
        self.batch_size, self.shuffle_buffer = loader.batch_size, loader.shuffle_buffer
        self.seed, self.shard_mode = seed, loader.shard_mode
        self.segment = 0

    def _my_shards(self) -> list[str]:
        if self.shard_mode == "resampled":
            return self.shards
        mine = [s["url"] for s in wds.split_by_worker(wds.split_by_node(({"url": u} for u in self.shards)))]
        if not mine:
            rank, world = _rank_world()
            info = get_worker_info()
            workers = info.num_workers if info else 1
            raise too_few_shards(len(self.shards), world, workers)
        return mine

    def _samples(self, rng: random.Random) -> Iterator[tuple[int, dict]]:
        """(pass number, sample), endlessly."""
        mine = self._my_shards()
        seen = 0
        for epoch in itertools.count():
            if self.shard_mode == "resampled":
                order = rng.choices(mine, k=max(1, len(mine) // _rank_world()[1]))
            else:
                order = list(mine)
                rng.shuffle(order)
            stream = wds.tarfile_to_samples()(iter([{"url": u} for u in order]))
            for sample in wds.shuffle(self.shuffle_buffer, initial=self.shuffle_buffer, rng=rng)(stream):
                seen += 1
                yield epoch, sample
            if not seen and (self.shard_mode != "resampled" or epoch >= 3):  # empty shards: it would spin forever
                raise UserError(f"{mine[0]}: no videos in the {len(mine)} shard(s) this stream reads; "
                                "preprocess again so that every split has videos")

    def __iter__(self):
        rank, _ = _rank_world()
        info = get_worker_info()
        worker = info.id if info else 0
        rng = random.Random(f"clips-{self.seed}-{self.segment}-{rank}-{worker}")
        batch_frames, batch_labels, clips = [], [], 0
        waiting: dict[str, tuple[np.ndarray, object]] = {}  # subject_pairs: subject → a clip and its label
        for epoch, sample in self._samples(rng):
            frames, meta = decode_sample(sample)  # (N, H, W, 3) uint8
            idx = clip_indices(frames.shape[0], self.clip_length, self.frame_steps, rng)
            if idx is None:  # too short for every allowed step: skipped, never padded (clip_plan counts them)
                if epoch > 0 and clips == 0:
                    raise UserError(f"no video in {len(self.shards)} shard(s) has enough frames for clip_length "
                                    f"{self.clip_length} at frame steps {list(self.frame_steps)}; lower them")
                continue
            clips += 1
            clip = frames[idx]  # (T, H, W, 3)
            label = int(meta.get("label_index", -1))
            if self.meta_labels or self.track_grid:
                label = [label] + [vocab.get(str(meta.get(key)), -1) for key, vocab in self.meta_labels]
            if self.track_grid:
                track = meta.get("track")
                label += [track_cell(track[i], self.track_grid) if track and i < len(track) else -1
                          for i in (idx[0], idx[-1])]
            if self.subject_pairs:
                subject = str(meta["subject"])
                if subject not in waiting:
                    waiting[subject] = (clip, label)
                    continue
                first, first_label = waiting.pop(subject)
                batch_frames.append(first)
                batch_labels.append(first_label)
            batch_frames.append(clip)
            batch_labels.append(label)
            if len(batch_frames) == self.batch_size:
                yield torch.from_numpy(np.stack(batch_frames)), torch.tensor(batch_labels, dtype=torch.int64)
                batch_frames, batch_labels = [], []


def leave_stop_signals_to_the_main_process(_worker_id: int = 0) -> None:
    """A loader worker's start: it ignores SIGINT and SIGTERM. Sent to the whole process group (Ctrl-C
    in a terminal, ``kill -TERM -PGID``, ``timeout``, a batch scheduler ending the job) they reached the
    workers too: a worker killed by SIGTERM made the main process — which stops at the end of its step
    and writes a checkpoint — die on ``DataLoader worker … is killed by signal`` instead, with a
    traceback, losing the steps since the last checkpoint. The main process shuts its workers down
    (the loader's own shutdown asks, it does not signal); should it die, each worker sees its parent
    gone and exits (PyTorch's worker watchdog); at its exit, ``_kill_workers_left_at_exit``. A signal
    in the instant between a worker's start and this call still reaches it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@atexit.register  # registered after multiprocessing's own exit hook, so it runs before it
def _kill_workers_left_at_exit() -> None:
    """Daemonic worker processes still alive at the interpreter's exit are killed. An uncaught error's
    traceback can keep a loader alive until then; multiprocessing would then ``terminate`` its workers
    (SIGTERM, which they ignore) and wait for them without end."""
    for p in multiprocessing.active_children():
        if p.daemon:
            p.kill()


class ClipLoader:
    """``segment(s, skip)`` → an iterator over exactly ``length`` batches of segment ``s``."""

    def __init__(self, stream: ClipStream, length: int, workers: int = 2):
        self.stream, self.length = stream, length
        _, world = _rank_world()
        if stream.shard_mode == "split" and len(stream.shards) < world * max(1, workers):
            # checked here, in the main process: raised in a worker it would reach the user as a traceback
            raise too_few_shards(len(stream.shards), world, workers)
        self.loader = DataLoader(stream, batch_size=None, num_workers=workers, persistent_workers=False,
                                 prefetch_factor=4 if workers else None,
                                 worker_init_fn=leave_stop_signals_to_the_main_process if workers else None)

    def segment(self, index: int, skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.stream.segment = index
        it = iter(self.loader)  # workers start here, with this segment number
        try:
            yield from itertools.islice(it, skip, self.length)
        finally:
            del it  # shuts the workers down


def to_model_input(frames: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (B, T, H, W, 3) → float (B, 3, T, H, W) in [-1, 1], converted on the consumer side."""
    x = frames.to(device, non_blocking=True).permute(0, 4, 1, 2, 3).float()
    return x.div_(127.5).sub_(1.0)


def iter_videos_once(shards: Sequence[str]) -> Iterator[tuple[np.ndarray, dict]]:
    """Every video of the shards exactly once, in shard order: (frames (N, H, W, 3) uint8, metadata)."""
    for sample in wds.tarfile_to_samples()(iter([{"url": u} for u in shards])):
        yield decode_sample(sample)
