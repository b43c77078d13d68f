import os
import tarfile

import numpy as np
import pytest
import torch

from g3an.config import LoaderConfig
from g3an.errors import UserError
from pipeline.loader import ClipLoader, ClipStream, clip_indices, list_shards, to_model_input
from pipeline.manifest import clip_plan
from tests.helpers import make_index_shards


def _clip_info(frames: torch.Tensor):
    """From make_index_shards pixels: (video index, frame indices) of each clip in a batch."""
    return [(int(c[0, 0, 0, 1]), c[:, 0, 0, 0].tolist()) for c in frames]


def test_clips_have_shape_range_and_steps(tmp_path):
    shards = make_index_shards(tmp_path, videos=8, frames=50)
    loader = ClipLoader(ClipStream(list_shards(tmp_path), LoaderConfig(clip_length=16, frame_steps=(2, 3), batch_size=4)), 6, 2)
    batches = list(loader.segment(0))
    assert len(batches) == 6 and len(shards) == 3
    frames, labels = batches[0]
    assert frames.shape == (4, 16, 8, 8, 3) and frames.dtype == torch.uint8 and labels.dtype == torch.int64
    x = to_model_input(frames)
    assert x.shape == (4, 3, 16, 8, 8) and x.min() >= -1 and x.max() <= 1
    steps = set()
    for frames, labels in batches:
        for (video, idx), label in zip(_clip_info(frames), labels.tolist()):
            diffs = set(np.diff(idx))
            assert len(diffs) == 1 and label == video % 4
            steps |= diffs
    assert steps == {2, 3}


def test_short_videos_use_only_allowed_steps_or_are_skipped():
    import random

    rng = random.Random(0)
    assert {tuple(set(np.diff(clip_indices(20, 8, (2, 3), rng)))) for _ in range(20)} == {(2,)}  # 3 needs 22
    assert set(np.diff(clip_indices(22, 8, (2, 3), rng))) <= {2, 3}
    assert clip_indices(14, 8, (2, 3), rng) is None and clip_indices(5, 8, (2, 3), rng) is None  # never step 1
    assert list(clip_indices(15, 8, (2,), rng)) == list(range(0, 15, 2))  # exactly fits


def test_the_clip_plan_records_the_steps_used_and_refuses_what_cannot_be_served():
    manifest = {"dataset": "mug", "split": "train", "videos": 10, "lengths": {"30": 6, "60": 4},
                "frames_per_video": {"min": 30}}
    plan = clip_plan(manifest, LoaderConfig(clip_length=16, frame_steps=(2, 3)))
    assert plan == {"frame_steps": [2, 3], "videos": 10, "skipped_short": 6}  # 30 frames: 31 needed for step 2
    assert clip_plan({**manifest, "lengths": {"30": 10}}, LoaderConfig(clip_length=16, frame_steps=(1, 2)))[
        "frame_steps"] == [1]
    with pytest.raises(UserError, match="loader.clip_length = 16 at any of loader.frame_steps = \\[2, 3\\]"):
        clip_plan({**manifest, "lengths": {"30": 10}}, LoaderConfig(clip_length=16, frame_steps=(2, 3)))


def test_short_videos_in_shards_are_skipped_not_padded(tmp_path):
    shards = make_index_shards(tmp_path, videos=6, frames=12, lengths=[12, 5, 12, 5, 12, 5], per_shard=2)
    batches = ClipLoader(ClipStream([str(p) for p in shards], LoaderConfig(clip_length=4, frame_steps=(3,),
                                                                           batch_size=3)), 4, 0).segment(0)
    for frames, _ in batches:
        assert set(frames[:, 0, 0, 0, 1].tolist()) <= {0, 2, 4}  # the 5-frame videos never appear
        assert all(set(np.diff(frames[b, :, 0, 0, 0].tolist())) == {3} for b in range(3))
    with pytest.raises(UserError, match="no video in 3 shard"):
        short = make_index_shards(tmp_path / "short", videos=6, frames=5, per_shard=2)
        next(ClipLoader(ClipStream([str(p) for p in short], LoaderConfig(clip_length=4, frame_steps=(3,))), 1,
                        0).segment(0))


def test_segments_are_deterministic_and_resumable(tmp_path):
    make_index_shards(tmp_path, videos=8, frames=40)
    loader = ClipLoader(ClipStream(list_shards(tmp_path), LoaderConfig(clip_length=4, batch_size=3), seed=7), 5, 2)
    a = [_clip_info(f) for f, _ in loader.segment(3)]
    assert a == [_clip_info(f) for f, _ in loader.segment(3)]
    assert a[2:] == [_clip_info(f) for f, _ in loader.segment(3, skip=2)]
    assert a != [_clip_info(f) for f, _ in loader.segment(4)]


def _videos_seen(shards, rank, world, workers=1, batches=12):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
    try:
        stream = ClipStream(shards, LoaderConfig(clip_length=4, batch_size=2), seed=0)
        return {v for f, _ in ClipLoader(stream, batches, workers).segment(0) for v, _ in _clip_info(f)}
    finally:
        del os.environ["RANK"], os.environ["WORLD_SIZE"]


def test_ranks_get_disjoint_shards_even_when_uneven(tmp_path):
    shards = [str(p) for p in make_index_shards(tmp_path, videos=15, frames=12, per_shard=3)]  # 5 shards, 2 ranks
    seen0, seen1 = _videos_seen(shards, 0, 2), _videos_seen(shards, 1, 2)
    assert seen0 and seen1 and not seen0 & seen1
    assert seen0 | seen1 == set(range(15))


def test_too_few_shards_for_ranks_and_workers_is_a_clear_error(tmp_path):
    shards = [str(p) for p in make_index_shards(tmp_path, videos=3, frames=12, per_shard=3)]
    with pytest.raises(UserError, match="cannot feed 2 rank"):
        _videos_seen(shards, 1, 2, workers=0)
    stream = ClipStream(shards, LoaderConfig(clip_length=4, batch_size=2), seed=0)
    with pytest.raises(UserError, match=r"1 shards cannot feed 1 rank\(s\) × 2 loader worker\(s\)"):
        ClipLoader(stream, 4, workers=2)  # in this process, before a worker starts (not a worker's traceback)


@pytest.mark.parametrize("mode", ["split", "resampled"])
def test_shards_without_a_video_are_an_error_not_an_endless_wait(tmp_path, mode):
    """What preprocess leaves for a split with no videos: a shard that is an empty tar."""
    with tarfile.open(tmp_path / "test-000000.tar", "w"):
        pass
    stream = ClipStream([str(tmp_path / "test-000000.tar")], LoaderConfig(clip_length=4, batch_size=2, shard_mode=mode),
                        seed=0)
    with pytest.raises(UserError, match="test-000000.tar: no videos in the 1 shard"):
        next(iter(ClipLoader(stream, 1, 0).segment(0)))


def test_no_shards_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="run `g3an-cli preprocess` first"):
        list_shards(tmp_path)


def test_track_cells_are_row_major_and_clamped():
    from pipeline.loader import track_cell

    assert [track_cell(p, 3) for p in ([0.1, 0.1], [0.5, 0.1], [0.9, 0.5], [0.5, 0.99])] == [0, 1, 5, 7]
    assert track_cell([-0.2, 1.3], 3) == 6 and track_cell([1.0, 0.0], 3) == 2  # outside: the nearest edge cell


def test_a_track_shorter_than_its_video_labels_only_the_frames_it_covers(tmp_path):
    from pipeline.loader import track_cell

    make_index_shards(tmp_path, videos=4, frames=40, track_frames=20)  # the track stops half-way
    stream = ClipStream(list_shards(tmp_path), LoaderConfig(clip_length=8, frame_steps=(2, 3), batch_size=4), track_grid=3)
    seen = set()
    for frames, labels in ClipLoader(stream, 8, 0).segment(0):
        for (_, idx), lab in zip(_clip_info(frames), labels.tolist()):
            expect = [track_cell([i / 40, 0.5], 3) if i < 20 else -1 for i in (idx[0], idx[-1])]
            assert lab[1:] == expect, (idx, lab)
            seen.update(x >= 0 for x in lab[1:])
    assert seen == {True, False}  # clips inside the track and past its end both came up


def test_track_labels_name_the_cell_that_holds_the_object_in_the_first_and_last_frame(tmp_path):
    """End to end on synthetic shards: the two per-clip labels agree with where the object's pixels
    are in the clip's first and last frames."""
    from pipeline.loader import track_cell
    from pipeline.sources.synthetic import BACKGROUNDS
    from tests.helpers import make_training_shards

    shards = make_training_shards(tmp_path, subjects=2)
    stream = ClipStream(list_shards(shards / "train"), LoaderConfig(clip_length=8, frame_steps=(2, 3), batch_size=8),
                        meta_labels=[("background", list(BACKGROUNDS))], track_grid=3)
    agree = []
    for frames, labels in ClipLoader(stream, 4, 0).segment(0):
        assert labels.shape == (8, 4)  # class, background, first cell, last cell
        for clip, lab in zip(frames.numpy().astype(int), labels.tolist()):
            ground = np.array(list(BACKGROUNDS.values())[lab[1]])
            for frame, cell in ((clip[0], lab[2]), (clip[-1], lab[3])):
                ys, xs = np.nonzero(np.abs(frame - ground).sum(-1) > 90)  # the object's pixels
                agree.append(track_cell(((xs.mean() + 0.5) / 32, (ys.mean() + 0.5) / 32), 3) == cell)
    assert len(agree) == 64 and np.mean(agree) > 0.9  # a centroid on a cell border may round the other way


def test_subject_pairs_batch_two_clips_of_one_subject_side_by_side(tmp_path):
    make_index_shards(tmp_path, videos=12, frames=40, per_shard=3, subjects=3)  # subject = video mod 3
    cfg = LoaderConfig(clip_length=4, batch_size=4, shuffle_buffer=4)
    seen_videos = set()
    for frames, labels in ClipLoader(ClipStream(list_shards(tmp_path), cfg, seed=3, subject_pairs=True), 12, 0).segment(0):
        video = frames[:, 0, 0, 0, 1].long()  # (B,) channel 1 holds the video index
        assert torch.equal(video[0::2] % 3, video[1::2] % 3)  # each pair: one subject
        assert torch.equal(labels, video % 4)  # every label still travels with its own clip
        seen_videos |= set(video.tolist())
    assert len(seen_videos) == 12  # no video is left out for waiting
    with pytest.raises(UserError, match="loader.batch_size = 3: same-subject pairs"):
        ClipStream(list_shards(tmp_path), LoaderConfig(batch_size=3), subject_pairs=True)


def test_an_uncaught_error_with_workers_alive_still_lets_the_process_exit(tmp_path):
    # the workers ignore SIGTERM (stop signals are the main process's); an uncaught error's traceback keeps
    # the loader alive until exit, where multiprocessing's own SIGTERM would then be waited on for ever
    import subprocess
    import sys

    from tests.helpers import ROOT

    make_index_shards(tmp_path, videos=8, frames=50)
    code = ("import sys; from g3an.config import LoaderConfig; from pipeline.loader import ClipLoader, ClipStream, "
            "list_shards; stream = ClipStream(list_shards(sys.argv[1]), LoaderConfig(clip_length=4, batch_size=2)); "
            "batches = ClipLoader(stream, 100, 2).segment(0); next(batches); raise RuntimeError('a bug')")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "RuntimeError: a bug" in r.stderr
