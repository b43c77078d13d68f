"""Data benchmark: preprocessing throughput next to decode-only throughput of the same files,
loader clips/s with 0 and 2 workers, and preprocessing peak memory at 1× and 4× the videos.

    python benchmarks/bench_data.py [--videos 64] [--frames 96]
Targets: preprocess/decode ratio >= 0.8; loader >= 1000 clips/s (16×64×64); memory flat (4×/1× ≈ 1).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine_line  # noqa: E402  (this script's folder is on sys.path; imports no torch)


def _render(folder: Path, videos: int, frames: int) -> None:
    from g3an.config import SyntheticConfig
    from pipeline.sources.synthetic import render_dataset

    render_dataset(folder, SyntheticConfig(subjects=max(2, videos // 8), frames=frames), seed=0)


def _decode_only(path: str) -> int:
    """Plain decoding of every frame at its native size — the baseline."""
    from pipeline.video_io import iter_frames

    return sum(1 for _ in iter_frames(path))


def preprocess_vs_decode(raw: Path, out: Path, workers: int) -> dict:
    from g3an.config import PreprocessConfig
    from pipeline.preprocess import build_shards, ordered_map
    from pipeline.sources import get_source

    files = sorted(str(p) for p in raw.glob("*.avi"))
    t = time.perf_counter()
    import webdataset  # noqa: F401  (imports torch: a one-time start-up cost, reported on its own)

    startup_s = time.perf_counter() - t
    t = time.perf_counter()
    frames = sum(ordered_map(_decode_only, files, workers, window=2 * workers))
    decode_s = time.perf_counter() - t
    t = time.perf_counter()
    build_shards(get_source("synthetic"), raw, out, PreprocessConfig(workers=workers, shard_size=16))
    prep_s = time.perf_counter() - t
    return dict(videos=len(files), frames=frames, startup_s=startup_s, decode_videos_s=len(files) / decode_s,
                decode_frames_s=frames / decode_s, prep_videos_s=len(files) / prep_s, prep_frames_s=frames / prep_s,
                ratio=decode_s / prep_s)


def loader_rate(shards: Path, workers: int, batches: int = 60) -> float:
    from g3an.config import LoaderConfig
    from pipeline.loader import ClipLoader, ClipStream, list_shards, to_model_input

    loader = ClipLoader(ClipStream(list_shards(shards), LoaderConfig(batch_size=32, shuffle_buffer=64)), batches, workers)
    it = loader.segment(0)
    next(it)  # workers up
    t, n = time.perf_counter(), 0
    for frames, _ in it:
        to_model_input(frames)
        n += frames.shape[0]
    return n / (time.perf_counter() - t)


def memory_child(videos: int, frames: int) -> None:
    """Run in a subprocess: preprocess ``videos`` videos; print peak RSS of this process and its workers."""
    from g3an.config import PreprocessConfig
    from pipeline.preprocess import build_shards
    from pipeline.sources import get_source

    with tempfile.TemporaryDirectory() as d:
        _render(Path(d) / "raw", videos, frames)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        build_shards(get_source("synthetic"), Path(d) / "raw", Path(d) / "out", PreprocessConfig(workers=2))
        print(json.dumps(dict(main_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                              before_mb=base / 1024,
                              workers_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=128)
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    print(machine_line(with_torch=False), flush=True)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        _render(d / "raw", args.videos, args.frames)
        r = preprocess_vs_decode(d / "raw", d / "shards", workers=2)
        print(f"preprocess: {r['prep_videos_s']:.1f} videos/s, {r['prep_frames_s']:.0f} frames/s  |  decode only: "
              f"{r['decode_videos_s']:.1f} videos/s, {r['decode_frames_s']:.0f} frames/s  |  ratio {r['ratio']:.2f} "
              f"(target >= 0.8)  [{r['videos']} videos × {args.frames} frames, 180×144, 2 workers; "
              f"plus a one-time {r['startup_s']:.1f} s start-up importing webdataset/torch]", flush=True)
        for workers in (0, 2):
            print(f"loader: {loader_rate(d / 'shards' / 'train', workers):.0f} clips/s of 16×64×64 with {workers} "
                  "workers (target >= 1000)", flush=True)
    peaks = []
    for n in (args.videos, 4 * args.videos):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n), str(args.frames)], check=True,
                             capture_output=True, text=True, cwd=ROOT).stdout
        peaks.append(json.loads(out.strip().splitlines()[-1]))
        p = peaks[-1]
        print(f"preprocess memory at {n} videos: main {p['main_mb']:.0f} MB (before {p['before_mb']:.0f} MB), "
              f"largest worker {p['workers_mb']:.0f} MB", flush=True)
    print(f"memory 4×/1× videos: main x{peaks[1]['main_mb'] / peaks[0]['main_mb']:.2f}, "
          f"worker x{peaks[1]['workers_mb'] / peaks[0]['workers_mb']:.2f} (target: flat, ≈ 1)")


if __name__ == "__main__":
    main()
