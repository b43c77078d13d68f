import json

import numpy as np
import pytest
import webdataset as wds

from g3an.errors import UserError
from g3an.config import PreprocessConfig
from pipeline.manifest import verified_shards
from pipeline.preprocess import build_shards, prepare_video, split_subjects
from pipeline.sources import get_source
from tests.helpers import face_frames, make_mug, make_uva_nemo, make_weizmann, moving_frames, truncate, write_video


def _samples(folder):
    out = []
    for shard in sorted(folder.glob("*.tar")):
        out += list(wds.WebDataset(str(shard), shardshuffle=False).decode())
    return out


@pytest.fixture
def weizmann(tmp_path):
    root = tmp_path / "raw"
    make_weizmann(root)
    truncate(root / "jack" / "ido_jack.avi", keep=0.05)  # corrupt one video
    (root / "bend").mkdir()
    (root / "bend" / "eli_bend.avi").write_bytes(b"")  # an empty one
    return root


def test_weizmann_to_shards_round_trip_with_skips(weizmann, tmp_path):
    out = tmp_path / "shards"
    m = build_shards(get_source("weizmann"), weizmann, out,
                     PreprocessConfig(size=32, shard_size=2, workers=2, test_subjects=("ido",)), seed=0)
    train, test = _samples(out / "train"), _samples(out / "test")
    assert {s["json"]["subject"] for s in train} == {"daria", "lena"}
    assert {s["json"]["subject"] for s in test} == {"ido"}
    assert m["train"]["videos"] == 8 and m["test"]["videos"] == 3
    assert {s["path"] for s in m["test"]["skipped"]} == {"jack/ido_jack.avi"}
    assert any(s["path"] == "bend/eli_bend.avi" and "empty" in s["reason"] for s in m["train"]["skipped"])
    assert m["train"]["per_class"] == {"jack": 2, "walk": 2, "wave1": 2, "wave2": 2}
    assert len(m["train"]["shards"]) == 4 and m["train"]["resolution"] == [32, 32]
    s = train[0]
    assert s["frames.npy"].shape == (8, 32, 32, 3) and s["frames.npy"].dtype == np.uint8
    assert "." not in s["__key__"] and s["json"]["label_index"] == get_source("weizmann").classes.index(s["json"]["label"])
    expected, _ = prepare_video(next(r for r in get_source("weizmann").scan(weizmann)[0] if r.id == s["__key__"]),
                                PreprocessConfig(size=32), "resize")
    np.testing.assert_array_equal(s["frames.npy"], expected)
    on_disk = json.loads((out / "train" / "manifest.json").read_text())
    assert on_disk["videos"] == 8 and on_disk["classes"][0] == "walk"


def test_two_runs_give_identical_bytes(weizmann, tmp_path):
    for name in ("a", "b"):
        build_shards(get_source("weizmann"), weizmann, tmp_path / name, PreprocessConfig(size=16, shard_size=3), seed=1)
    a = sorted((tmp_path / "a").rglob("*.*"))
    assert a and [p.read_bytes() for p in a] == [(tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes() for p in a]


def test_nothing_usable_fails_and_leaves_no_output(tmp_path):
    root = tmp_path / "raw"
    write_video(root / "daria_walk.avi", moving_frames(8))
    truncate(root / "daria_walk.avi", keep=0.02)
    with pytest.raises(UserError, match="no usable training video"):
        build_shards(get_source("weizmann"), root, tmp_path / "out", PreprocessConfig(workers=0, test_fraction=0))
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_a_split_without_videos_is_refused_where_it_is_read(tmp_path):
    root = tmp_path / "raw"
    for name in ("daria_walk", "ido_walk"):
        write_video(root / f"{name}.avi", moving_frames(8))
    build_shards(get_source("weizmann"), root, tmp_path / "out", PreprocessConfig(workers=0, test_fraction=0))
    assert len(verified_shards(tmp_path / "out", "train")) == 1
    with pytest.raises(UserError, match="the test split holds no videos .*preprocess.test_fraction > 0"):
        verified_shards(tmp_path / "out", "test")


def test_missing_raw_folder_says_what_to_run(tmp_path):
    with pytest.raises(UserError, match="g3an-cli download weizmann"):
        build_shards(get_source("weizmann"), tmp_path / "nope", tmp_path / "out", PreprocessConfig())


def test_face_sets_are_cropped_with_one_box(tmp_path):
    make_mug(tmp_path / "mug")
    m = build_shards(get_source("mug"), tmp_path / "mug", tmp_path / "out",
                     PreprocessConfig(size=16, workers=0, test_subjects=("003",), face_detector="center"))
    train = _samples(tmp_path / "out" / "train")
    assert m["train"]["videos"] == 7 and all(s["frames.npy"].shape == (6, 16, 16, 3) for s in train)
    assert all(s["json"]["crop_box"] == [0, 0, 40, 40] and s["json"]["face_found"] is False for s in train)
    make_uva_nemo(tmp_path / "nemo", size=(64, 36))
    m = build_shards(get_source("uva_nemo"), tmp_path / "nemo", tmp_path / "out2",
                     PreprocessConfig(size=16, workers=0, face_detector="center"))
    assert m["train"]["videos"] + m["test"]["videos"] == 6 and not m["train"]["conditional"]


def test_a_face_set_where_most_faces_are_missed_is_refused_with_the_fix(tmp_path):
    make_uva_nemo(tmp_path / "nemo")  # moving squares: the Haar detector finds no face
    with pytest.raises(UserError, match=r"no face found in 6 of 6 uva_nemo videos.*preprocess.face_min_size"):
        build_shards(get_source("uva_nemo"), tmp_path / "nemo", tmp_path / "out", PreprocessConfig(size=16, workers=0))
    assert not (tmp_path / "out").exists()


def test_faces_found_and_missed_are_counted_and_warned(tmp_path, caplog):
    make_uva_nemo(tmp_path / "nemo", subjects=("001",))  # 2 videos without a face
    frames, _ = face_frames(8)
    for name in ("002_deliberate_smile_2", "003_deliberate_smile_3", "003_spontaneous_smile_3"):
        write_video(tmp_path / "nemo" / f"{name}.mp4", frames)  # 3 with a real face
    m = build_shards(get_source("uva_nemo"), tmp_path / "nemo", tmp_path / "out", PreprocessConfig(size=16, workers=0))
    faces = [m[s]["faces"] for s in ("train", "test")]
    assert sum(f["found"] for f in faces) == 3 and sum(f["fallback_center"] for f in faces) == 2
    assert "no face found in 2 of 5 uva_nemo videos" in caplog.text


def test_split_is_subject_disjoint_and_seeded():
    subjects = [f"p{i}" for i in range(10)]
    a = split_subjects(subjects * 3, 0.2, (), seed=0)
    assert len(a) == 2 and a == split_subjects(subjects, 0.2, (), seed=0)
    assert a != split_subjects(subjects, 0.2, (), seed=5) or True  # another seed may coincide; size holds
    assert split_subjects(subjects, 0.0, (), 0) == set()
    assert split_subjects(["a", "b"], 0.9, (), 0) != {"a", "b"}  # a training subject always remains
    with pytest.raises(UserError, match="not in the data"):
        split_subjects(subjects, 0.2, ["zz"], 0)


def test_synthetic_tracks_point_at_the_object_in_the_stored_frames(tmp_path):
    """The sidecar's trajectory, mapped through the resize + centre crop, lands on the object in the
    decoded, cropped 32 px frames of the shards: the pixel there has the object's colour."""
    from pipeline.sources.synthetic import BACKGROUNDS, COLOURS
    from tests.helpers import make_training_shards

    shards = make_training_shards(tmp_path, subjects=2)
    manifest = json.loads((shards / "train" / "manifest.json").read_text())
    assert manifest["tracked"] is True
    samples = _samples(shards / "train") + _samples(shards / "test")
    on_object = []
    for s in samples:
        frames, meta = s["frames.npy"], s["json"]
        if meta["shape"] == "ring":  # its centre is the hole
            continue
        assert "track_px" not in meta and len(meta["track"]) == frames.shape[0] == meta["frames"]
        colour, ground = np.array(COLOURS[meta["colour"]]), np.array(BACKGROUNDS[meta["background"]])
        for frame, (u, v) in zip(frames, meta["track"]):
            assert 0 <= u < 1 and 0 <= v < 1
            pixel = frame[int(v * 32), int(u * 32)].astype(int)
            on_object.append(np.abs(pixel - colour).sum() < np.abs(pixel - ground).sum())
    assert len(on_object) > 100 and np.mean(on_object) > 0.95


def test_sets_without_tracks_say_so(weizmann, tmp_path):
    m = build_shards(get_source("weizmann"), weizmann, tmp_path / "shards",
                     PreprocessConfig(size=32, shard_size=2, workers=0, test_subjects=("ido",)), seed=0)
    assert m["train"]["tracked"] is False
    assert all("track" not in s["json"] for s in _samples(tmp_path / "shards" / "train"))


def test_ctrl_c_stops_a_preprocess_with_workers_cleanly(tmp_path):
    """Ctrl-C reaches the whole process group: the pool workers ignore it, the main process stops the pool
    and leaves nothing behind. Before, each worker printed a KeyboardInterrupt traceback, and one killed
    while sending a result could leave the main process waiting on the pool's pipe forever."""
    import os
    import signal
    import time

    from tests.helpers import assert_group_ends, cli_started

    make_weizmann(tmp_path / "raw", actors=[f"a{i:02d}" for i in range(32)], frames=48)  # ~1.5 s of work
    (tmp_path / "params.yaml").write_text("preprocess:\n  workers: 2\n  shard_size: 2\n  size: 32\n")
    proc = cli_started("preprocess", "weizmann", "--raw", "raw", "--out", "shards", "--params", "params.yaml",
                       cwd=tmp_path, start_new_session=True,
                       # as a terminal's foreground job: a runner started in the background (`cmd &`)
                       # hands its children SIGINT ignored, and Python then leaves Ctrl-C ignored
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while len(list(tmp_path.glob(".shards.tmp-*/*/*.tar"))) < 3:  # the second train shard begun: videos in flight
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["params.yaml", "raw"]
    assert_group_ends(proc.pid)
