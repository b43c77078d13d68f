"""Raw videos → subject-disjoint train/test WebDataset shard sets with manifests.

Videos are decoded, cropped and resized in worker processes (``workers``), at most a few in
flight, and written in input order — memory stays flat however many videos there are, and the
output bytes do not depend on scheduling. An unreadable, empty or truncated video is skipped and
listed in the manifest; the run fails only if no training video is left. Everything is written
into a temporary folder that replaces the output folder only when complete.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import multiprocessing as mp
import random
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import cv2
import numpy as np

from g3an.config import PreprocessConfig
from g3an.errors import UserError
from g3an.fsutil import staged_dir, write_json_atomic
from pipeline.crop import center_crop, crop_resize, face_box, load_detector, point_in_crop, scaled_size
from pipeline.manifest import build_manifest
from pipeline.shards import ShardSetWriter
from pipeline.sources.base import Skipped, Source, VideoRecord
from pipeline.video_io import DecodeError, check_decoder, iter_frames

log = logging.getLogger(__name__)
DETECT_FRAMES = 5  # the face box comes from the first frames


_DETECTORS: dict[tuple[str, float], object] = {}  # per worker process: (detector, min face size) → detector


def prepare_video(record: VideoRecord, opt: PreprocessConfig, crop: str) -> tuple[np.ndarray, dict]:
    """(frames (T, S, S, 3) uint8, extra metadata) for one video, cropped as its source says (``crop``:
    "resize", the paper's 85×64 + centre crop, or "face"); DecodeError when unusable."""
    extra: dict = {}
    if crop == "resize":  # scaled while decoding (decord does it inside FFmpeg), then centre-cropped
        frames = iter_frames(record.path, opt.decoder, opt.max_frames, scale_to=scaled_size(opt.size))
        out = [center_crop(f, opt.size) for f in frames]
    else:
        frames = iter_frames(record.path, opt.decoder, opt.max_frames)
        key = (opt.face_detector, opt.face_min_size)
        if key not in _DETECTORS:
            _DETECTORS[key] = load_detector(*key)
        head = []
        for f in frames:  # buffer only the detection frames, then stream the rest
            head.append(f)
            if len(head) == DETECT_FRAMES:
                break
        if not head:
            raise DecodeError("empty: no decodable frames")
        box, found = face_box(head, _DETECTORS[key], opt.face_margin)
        extra = {"crop_box": list(box), "face_found": found}
        out = [crop_resize(f, box, opt.size) for f in head] + [crop_resize(f, box, opt.size) for f in frames]
    return np.stack(out), extra


def map_track(meta: dict, frames: int, size: int, box=None) -> dict:
    """A source's per-frame object centre (``track_px``, pixels of a ``frame_size`` source frame) →
    ``track``: per stored frame, (u, v) as fractions of the stored frame's side (``point_in_crop``).
    Metadata without a track is returned as it is."""
    if "track_px" not in meta:
        return meta
    meta = dict(meta)
    width, height = meta.pop("frame_size")
    meta["track"] = [[round(c, 4) for c in point_in_crop(x, y, width, height, size, box)]
                     for x, y in meta.pop("track_px")[:frames]]
    return meta


def _work(args) -> tuple[Optional[np.ndarray], dict, Optional[str]]:
    record, opt, crop = args
    try:
        frames, extra = prepare_video(record, opt, crop)
        return frames, extra, None
    except DecodeError as e:
        return None, {}, str(e)
    except cv2.error as e:  # an OpenCV failure on one odd file skips that video, never the whole build
        return None, {}, f"unreadable: OpenCV failed on it ({str(e).strip().splitlines()[-1][:120]})"


def _leave_sigint_to_the_main_process() -> None:
    """A pool worker's start (for a worker the pool starts again later; the first ones inherit it):
    Ctrl-C, SIGINT to the whole process group, is for the main process alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigint_ignored_while_workers_start() -> Iterator[None]:
    """Worker processes started in this block inherit an ignored SIGINT (Python keeps it ignored), so a
    Ctrl-C while they import cannot kill them before their initializer runs. The block lasts while the
    pool hands its workers their start (~0.5 s on 2 cores): a Ctrl-C within it goes unseen."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it receives the signal
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)  # None: set from C


# How long an interrupted ``ordered_map`` waits for the items its workers hold before stopping them.
DRAIN_SECONDS = 60.0


def ordered_map(fn: Callable, items: Iterable, workers: int, window: int) -> Iterator:
    """``map`` over worker processes with at most ``window`` items in flight, results in input order.

    Interrupted (Ctrl-C, or an error), the main process stops submitting and waits up to
    ``DRAIN_SECONDS`` for the items already handed to the pool (at most ``window``) before it stops
    the workers: none is cut off while it sends a result. Leaving a ``Pool`` block terminated them at
    once, and one cut off mid-result left the pool's pipe half written: the main process then waited
    on it forever (about one Ctrl-C in ten). A result that never comes (its worker killed from
    outside) ends the wait at the deadline."""
    if workers == 0:
        yield from map(fn, items)
        return
    with _sigint_ignored_while_workers_start():
        pool = mp.get_context("spawn").Pool(workers, initializer=_leave_sigint_to_the_main_process)
    pending: collections.deque = collections.deque()
    try:
        for item in items:
            pending.append(pool.apply_async(fn, (item,)))
            if len(pending) >= window:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
    finally:
        pool.close()
        deadline = time.monotonic() + DRAIN_SECONDS
        for result in pending:  # empty unless interrupted
            result.wait(max(0.0, deadline - time.monotonic()))
        pool.terminate()  # every worker idle now (or past the deadline)
        pool.join()


def split_subjects(subjects: Sequence[str], test_fraction: float, test_subjects: Sequence[str], seed: int) -> set[str]:
    """The test subjects: the explicit list, else a seeded ``test_fraction`` of them (at least one)."""
    subjects = sorted(set(subjects))
    if test_subjects:
        unknown = sorted(set(test_subjects) - set(subjects))
        if unknown:
            raise UserError(f"preprocess.test_subjects names subjects not in the data: {unknown}; "
                            f"known: {subjects[:20]}{' …' if len(subjects) > 20 else ''}")
        return set(test_subjects)
    if test_fraction <= 0:
        return set()
    n = min(len(subjects) - 1, max(1, math.ceil(test_fraction * len(subjects))))
    rng = random.Random(f"split-{seed}")
    return set(rng.sample(subjects, n))


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _face_counts(entries: list[dict]) -> dict:
    found = sum(bool(e.get("face_found")) for e in entries)
    return {"found": found, "fallback_center": len(entries) - found}


def _check_faces(source: Source, prep: PreprocessConfig, entries: dict[str, list[dict]], raw_root: Path) -> None:
    """Warn when a face set's videos fell back to the centre square; refuse when most did."""
    if source.crop != "face" or prep.face_detector == "center":
        return
    every = entries["train"] + entries["test"]
    missed = [e for e in every if not e.get("face_found")]
    if not missed:
        return
    fix = (f"check preprocess.face_detector ({prep.face_detector!r}), preprocess.face_min_size "
           f"({prep.face_min_size}: smaller finds smaller faces) and preprocess.face_margin")
    if len(missed) > len(every) / 2:
        raise UserError(f"{raw_root}: no face found in {len(missed)} of {len(every)} {source.name} videos (they "
                        f"would be centre squares, not face crops); {fix}, or set face_detector=center on purpose")
    log.warning("no face found in %d of %d %s videos (e.g. %s): cropped to the centre square; %s", len(missed),
                len(every), source.name, missed[0]["source_path"], fix)


def build_shards(source: Source, raw_root: Path, out: Path, prep: PreprocessConfig, seed: int = 0,
                 progress: Optional[Callable[[int, int], None]] = None) -> dict[str, dict]:
    """Preprocess ``raw_root`` into ``out/{train,test}/*.tar`` + ``manifest.json`` as ``prep`` says (size,
    shard size, workers, split, decoder, face crop, frame cap); returns the manifests."""
    raw_root = Path(raw_root)
    if not raw_root.exists():
        raise UserError(f"{raw_root}: raw data not found; run `g3an-cli download {source.name}` first")
    check_decoder(prep.decoder)
    records, skipped = source.scan(raw_root)
    if not records:
        source.check_layout(raw_root)  # raises with what is missing
    test_set = split_subjects([r.subject for r in records], prep.test_fraction, prep.test_subjects, seed)
    params = dict(size=prep.size, shard_size=prep.shard_size, test_fraction=prep.test_fraction,
                  test_subjects=sorted(test_set), seed=seed, decoder=prep.decoder, crop=source.crop,
                  face_detector=prep.face_detector, face_margin=prep.face_margin, face_min_size=prep.face_min_size,
                  max_frames=prep.max_frames)
    with staged_dir(out, "preprocess") as tmp, contextlib.ExitStack() as on_exit:
        writers = {s: ShardSetWriter(tmp / s, s, prep.shard_size) for s in ("train", "test")}
        for writer in writers.values():
            on_exit.callback(writer.abort)  # a no-op once closed
        entries: dict[str, list[dict]] = {"train": [], "test": []}
        skipped_by_split: dict[str, list[Skipped]] = {"train": list(skipped), "test": []}
        results = on_exit.enter_context(contextlib.closing(  # the pool stops here, also when writing fails
            ordered_map(_work, ((r, prep, source.crop) for r in records), prep.workers, window=max(4, 4 * prep.workers))))
        for i, (record, (frames, extra, error)) in enumerate(zip(records, results)):
            split = "test" if record.subject in test_set else "train"
            if error is not None:
                skipped_by_split[split].append(Skipped(record.path, error))
                log.warning("skipped %s: %s", _relative(record.path, raw_root), error)
            else:
                box = extra.get("crop_box")
                meta = {"id": record.id, "subject": record.subject, "label": record.label,
                        "label_index": source.classes.index(record.label) if record.label in source.classes else -1,
                        "fps": record.fps, "frames": int(frames.shape[0]), "size": prep.size, "split": split,
                        "source_path": _relative(record.path, raw_root),
                        **map_track(record.meta, frames.shape[0], prep.size, box), **extra}
                writers[split].write(record.id, frames, meta)
                entries[split].append(meta)
            if progress:
                progress(i + 1, len(records))
        manifests = {}
        for split, writer in writers.items():
            shards = writer.close()
            skipped_here = [{"path": _relative(s.path, raw_root), "reason": s.reason} for s in skipped_by_split[split]]
            manifests[split] = build_manifest(split, source, entries[split], shards, skipped_here, params)
        _check_faces(source, prep, entries, raw_root)
        for split, m in manifests.items():
            m["faces"] = _face_counts(entries[split]) if source.crop == "face" else None
        if not entries["train"]:
            reasons = "; ".join(f"{_relative(s.path, raw_root)}: {s.reason}" for s in skipped_by_split["train"][:3])
            raise UserError(f"{raw_root}: no usable training video ({reasons}); check the data set's files")
        for split, manifest in manifests.items():
            write_json_atomic(tmp / split / "manifest.json", manifest)
    return manifests
