import json

import pytest

from g3an.config import SyntheticConfig
from g3an.errors import UserError
from pipeline.sources import get_source
from pipeline.sources.synthetic import render_dataset
from pipeline.sources.uva_nemo import read_details
from pipeline.sources.weizmann import parse_name
from tests.helpers import make_mug, make_uva_nemo, make_weizmann, weizmann_names


def test_weizmann_names_parse_to_10_actions_9_actors(tmp_path):
    for name in weizmann_names():  # scanning only reads names
        (tmp_path / name).touch()
    (tmp_path / "README.txt").touch()
    (tmp_path / "daria_fly.avi").touch()
    records, skipped = get_source("weizmann").scan(tmp_path)
    assert len(records) == 93
    assert len({r.label for r in records}) == 10 and len({r.subject for r in records}) == 9
    assert [s.path for s in skipped] == [str(tmp_path / "daria_fly.avi")]
    by_id = {r.id: r for r in records}
    assert by_id["weizmann-lena-walk1"].label == "walk" and by_id["weizmann-lena-walk2"].label == "walk"
    assert by_id["weizmann-ido-wave2"].label == "wave2"  # a digit that is part of the action
    assert all("." not in r.id for r in records)


def test_parse_name_edge_cases():
    assert parse_name("ido_wave1") == ("ido", "wave1", "")
    assert parse_name("lena_skip2") == ("lena", "skip", "2")
    assert parse_name("Denis_PJump") == ("denis", "pjump", "")
    assert parse_name("nounderscore") is None and parse_name("eli_swim") is None


def test_mug_layout_sessions_end_takes_and_neutral(tmp_path):
    make_mug(tmp_path / "MUG")
    records, skipped = get_source("mug").scan(tmp_path / "MUG")
    ids = [r.id for r in records]
    assert "mug-001-anger-take001end" in ids and "mug-002-session0-anger-take000" in ids
    end = next(r for r in records if r.id.endswith("take001end"))
    assert end.label == "anger" and end.meta["end_take"] is True and end.frames == 6
    assert {r.label for r in records} == {"anger", "disgust", "fear"}
    assert any("neutral excluded" in s.reason for s in skipped)
    with_neutral, _ = get_source("mug", {"include_neutral": True}).scan(tmp_path / "MUG" / "subjects3")
    assert len(with_neutral) == len(records) + 1
    assert get_source("mug").classes[:6] == ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


def test_mug_missing_layout_is_explained(tmp_path):
    (tmp_path / "somewhere").mkdir()
    with pytest.raises(UserError, match="no subjects3/ folder.*request it"):
        get_source("mug").check_layout(tmp_path / "somewhere")


def test_uva_nemo_names_and_details(tmp_path):
    make_uva_nemo(tmp_path)
    (tmp_path / "001_smile.mp4").touch()
    records, skipped = get_source("uva_nemo").scan(tmp_path)
    assert len(records) == 6 and len(skipped) == 1
    r = next(r for r in records if r.id == "uva_nemo-002-spontaneous-2")
    assert r.subject == "002" and r.label == "spontaneous" and r.fps == 50
    assert r.meta["details"]["Authenticity"] == "spontaneous" and r.meta["details"]["Age"] == "21"
    rows = read_details(tmp_path / "UvA-NEMO_Smile_Database_File_Details.txt")
    assert set(rows) == {p.stem for p in tmp_path.glob("*_smile_*.mp4")}


@pytest.mark.parametrize("header", [True, False])
def test_uva_nemo_subjects_come_from_the_details_subject_code(tmp_path, header):
    """Several file numbers can belong to one subject: the split must keep them on one side."""
    make_uva_nemo(tmp_path, subjects=("001", "002", "003"), codes=("101", "101", "102"))
    details = tmp_path / "UvA-NEMO_Smile_Database_File_Details.txt"
    if not header:  # no column names: the file's column order (file name, subject code, ...)
        details.write_text("\n".join(ln for ln in details.read_text().splitlines() if "smile" in ln) + "\n")
    records, _ = get_source("uva_nemo").scan(tmp_path)
    assert {r.id: r.subject for r in records} == {
        "uva_nemo-001-deliberate-1": "101", "uva_nemo-001-spontaneous-1": "101",
        "uva_nemo-002-deliberate-2": "101", "uva_nemo-002-spontaneous-2": "101",
        "uva_nemo-003-deliberate-3": "102", "uva_nemo-003-spontaneous-3": "102"}
    details.unlink()  # without the details file: the file number
    assert {r.subject for r in get_source("uva_nemo").scan(tmp_path)[0]} == {"001", "002", "003"}


@pytest.mark.parametrize("dataset", ["mug", "weizmann", "uva_nemo"])
def test_macos_archive_extras_are_not_data(tmp_path, dataset):
    """A zip made on macOS carries __MACOSX/ (AppleDouble ``._`` copies of every file, sorted first)."""
    make = {"mug": make_mug, "weizmann": make_weizmann, "uva_nemo": make_uva_nemo}[dataset]
    make(tmp_path / "set")
    clean, _ = get_source(dataset).scan(tmp_path / "set")
    for f in [p for p in (tmp_path / "set").rglob("*") if p.is_file()]:
        rel = f.relative_to(tmp_path / "set")
        for extra in (tmp_path / "set" / "__MACOSX" / rel.parent / f"._{f.name}", f.with_name(f"._{f.name}")):
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    records, _ = get_source(dataset).scan(tmp_path / "set")
    assert [r.id for r in records] == [r.id for r in clean] and records
    assert not any("__MACOSX" in r.path or "/._" in r.path for r in records)


def test_uva_nemo_without_details_is_usable_but_reported(tmp_path):
    make_uva_nemo(tmp_path, details=False)
    src = get_source("uva_nemo")
    src.check_layout(tmp_path)  # no raise
    assert any("File_Details" in m for m in src.missing(tmp_path))


def test_synthetic_render_is_deterministic_with_known_factors(tmp_path):
    cfg = SyntheticConfig(subjects=2, frames=8, actions=("up", "jack"))
    render_dataset(tmp_path / "a", cfg, seed=3)
    render_dataset(tmp_path / "b", cfg, seed=3)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["s000_jack.avi", "s000_jack.json", "s000_up.avi", "s000_up.json",
                     "s001_jack.avi", "s001_jack.json", "s001_up.avi", "s001_up.json"]
    for n in names:
        if n.endswith(".json"):
            assert (tmp_path / "a" / n).read_text() == (tmp_path / "b" / n).read_text()
    truth = json.loads((tmp_path / "a" / "s000_up.json").read_text())
    ys = [p[1] for p in truth["trajectory"]]
    assert ys[-1] < ys[0]  # "up" moves up (image y decreases)
    records, _ = get_source("synthetic", {"actions": cfg.actions}).scan(tmp_path / "a")
    assert [r.label for r in records] == ["jack", "up", "jack", "up"]
    assert set(records[0].meta) == {"shape", "colour", "size", "background", "track_px", "frame_size"}
    assert records[0].meta["frame_size"] == [180, 144] and len(records[0].meta["track_px"]) == 8


def test_synthetic_motion_varies_within_a_class_and_stays_in_the_crop(tmp_path):
    """Per-video motion factors: two videos of one action differ in speed, amplitude, start and
    offset (something for z_m to encode), recorded in the sidecar; every position stays inside
    the 64 px centre crop's source window (x in [18, 162] at 180×144) with the object whole."""
    import random

    from pipeline.sources.synthetic import SIZES, motion_factors, trajectory

    cfg = SyntheticConfig(subjects=2, frames=8, actions=("right", "up"))
    render_dataset(tmp_path, cfg, seed=0)
    a, b = (json.loads((tmp_path / f"s00{i}_right.json").read_text())["motion"] for i in (0, 1))
    assert set(a) == {"speed", "amplitude", "offset", "start", "phase", "cycles"}
    assert all(a[k] != b[k] for k in ("speed", "amplitude", "offset", "start"))
    spans = []
    for k in range(200):
        for action in ("up", "down", "left", "right", "circle_cw", "circle_ccw", "wave", "jack"):
            traj = trajectory(action, 48, random.Random(f"t{k}{action}"))
            r = max(SIZES.values()) * max(s for _, _, s in traj)
            assert all(18 <= x - r and x + r <= 162 and 0 <= y - r and y + r <= 144 for x, y, _ in traj), action
            if action == "right":
                spans.append(traj[-1][0] - traj[0][0])
    assert min(spans) > 20 and max(spans) > 1.8 * min(spans)  # always moves, at speeds that differ
    assert motion_factors("up", random.Random(1)) == motion_factors("up", random.Random(1))


def test_a_video_the_synthetic_renderer_cannot_write_is_one_line(tmp_path):
    import numpy as np

    from pipeline.sources.synthetic import write_video

    target = tmp_path / "not-made" / "clip.avi"  # OpenCV opens no writer there, as without the codec
    with pytest.raises(UserError, match="not-made/clip.avi: OpenCV cannot open it") as e:
        write_video(target, [np.zeros((32, 32, 3), np.uint8)] * 2)
    assert "\n" not in str(e.value) and not target.parent.exists()


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown data set 'kinetics'"):
        get_source("kinetics")
