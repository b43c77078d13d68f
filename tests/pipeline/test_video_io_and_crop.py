import sys

import cv2
import numpy as np
import pytest

from g3an.errors import UserError
from pipeline.crop import crop_resize, face_box, load_detector, resize_center_crop, square_box
from pipeline.video_io import DecodeError, _fallback_to_opencv, choose_decoder, read_video
from tests.helpers import face_frames, moving_frames, truncate, write_video


@pytest.mark.parametrize("decoder", ["opencv", "decord"])
def test_decoders_read_opencv_encoded_video(tmp_path, decoder):
    src = moving_frames(8, 64, 48)
    path = write_video(tmp_path / "a.avi", src)
    frames = read_video(path, decoder)
    assert frames.shape == (8, 48, 64, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - src.astype(int)).mean() < 6  # lossy codec, same picture, RGB order


def test_decoders_agree(tmp_path):
    path = write_video(tmp_path / "a.mp4", moving_frames(8, 64, 48))
    a, b = read_video(path, "opencv"), read_video(path, "decord")
    assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() < 3


def test_auto_falls_back_to_opencv_where_decord_fails(tmp_path):
    path = write_video(tmp_path / "odd.mp4", moving_frames(8, 48, 40))  # decord 0.6.0 cannot copy 48×40 rows
    with pytest.raises(DecodeError):
        read_video(path, "decord")
    assert read_video(path, "auto").shape == (8, 40, 48, 3)


def test_auto_falls_back_to_opencv_where_decord_yields_no_frames(tmp_path):
    # decord can open a file and report no frames where OpenCV reads them; no file made here does that
    # (zeroed AVI frame counts make decord fail at open instead), so the fallback gets decord's empty stream
    src = moving_frames(8, 64, 48)
    path = write_video(tmp_path / "a.avi", src)
    frames = np.stack(list(_fallback_to_opencv(iter(()), path, (32, 24))))
    assert frames.shape == (8, 24, 32, 3)
    assert np.abs(frames.astype(int) - np.stack([cv2.resize(f, (32, 24), interpolation=cv2.INTER_AREA)
                                                 for f in src]).astype(int)).mean() < 6


def test_auto_decoder_by_resolution():
    assert choose_decoder("auto", 1920, 1080) == "opencv"
    assert choose_decoder("auto", 180, 144) == "decord"
    assert choose_decoder("opencv", 180, 144) == "opencv"


def test_stray_and_odd_sized_images_in_a_frame_folder(tmp_path):
    """A MUG take from a macOS tar carries ._img_NNNN.jpg beside each frame; a frame of another size
    cannot share the take's one crop box, so the take is skipped with the reason."""
    take = tmp_path / "take000"
    take.mkdir()
    for k, f in enumerate(moving_frames(4, 40, 40)):
        cv2.imwrite(str(take / f"img_{k:04d}.jpg"), f)
        (take / f"._img_{k:04d}.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    assert read_video(take).shape == (4, 40, 40, 3)
    cv2.imwrite(str(take / "img_0004.jpg"), moving_frames(1, 20, 20)[0])
    with pytest.raises(DecodeError, match="frame img_0004.jpg is 20×20, the take's first is 40×40"):
        read_video(take)


def test_decord_asked_for_but_not_installed_is_a_user_error(monkeypatch):
    """decord ships x86-64 wheels only: on an ARM machine ``preprocess.decoder=decord`` cannot work."""
    monkeypatch.setitem(sys.modules, "decord", None)  # what `import decord` meets where it is not installed
    with pytest.raises(UserError, match="decord is not installed.*preprocess.decoder=opencv or auto"):
        choose_decoder("decord", 180, 144)
    assert choose_decoder("auto", 180, 144) == "opencv"


@pytest.mark.parametrize("decoder", ["opencv", "decord"])
def test_empty_and_truncated_videos_raise(tmp_path, decoder):
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(DecodeError):
        read_video(empty, decoder)
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(DecodeError):
        read_video(garbage, decoder)
    cut = truncate(write_video(tmp_path / "cut.avi", moving_frames(40, 64, 48)), keep=0.3)
    with pytest.raises(DecodeError):
        read_video(cut, decoder)


def test_resize_center_crop_is_the_papers_85x64():
    frame = np.zeros((144, 180, 3), np.uint8)
    frame[:, 90:] = 255  # right half white
    out = resize_center_crop(frame, 64)
    assert out.shape == (64, 64, 3)
    assert out[:, :28].max() == 0 and out[:, 36:].min() == 255  # 85 px wide, centre 64 kept


def test_haar_finds_a_real_face_and_gives_one_stable_box():
    frames, truth = face_frames(8)
    box, found = face_box(frames[:5], load_detector("haar"), margin=0.1)
    assert found
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0  # square
    mid = truth[2]  # the median of the 5 detections sits near frame 2's face
    face_cx, face_cy = (mid[0] + mid[2]) / 2, (mid[1] + mid[3]) / 2
    assert x0 < face_cx < x1 and y0 < face_cy < y1
    assert 60 <= x1 - x0 <= 200
    crops = [crop_resize(f, box, 64) for f in frames]
    assert all(c.shape == (64, 64, 3) for c in crops)


def test_the_box_follows_the_face_seen_most_not_a_larger_false_detection():
    """Frames 0-3 hold the face A; frames 2-3 also a larger false positive B; frame 4 nothing. Keeping
    each frame's largest and taking a per-coordinate median put the box between A and B, on neither."""
    a, b = (800, 300, 240, 240), (100, 600, 300, 300)
    seen = {0: [a], 1: [a], 2: [a, b], 3: [b, a], 4: []}
    frames = [np.full((1080, 1920, 3), i, np.uint8) for i in range(5)]
    box, found = face_box(frames, lambda f: seen[int(f[0, 0, 0])], margin=0.0)
    assert found and box == (800, 300, 1040, 540)


def test_no_face_falls_back_to_centre_square_and_boxes_clamp():
    blank = [np.full((120, 200, 3), 128, np.uint8)] * 3
    box, found = face_box(blank, load_detector("haar"))
    assert not found and box == (40, 0, 160, 120)
    assert square_box(5, 5, 50, 200, 120) == (0, 0, 50, 50)
    assert square_box(195, 115, 500, 200, 120) == (80, 0, 200, 120)


def test_a_small_face_in_a_1080p_frame_is_found_with_the_documented_minimum_size():
    frames, _ = face_frames(3)
    # the photograph's face is about half of the 160-px crop: scaled to 220 px it is ~10% of 1080 rows
    face = cv2.resize(frames[0][40:200, 20:180], (220, 220), interpolation=cv2.INTER_AREA)
    big = np.full((1080, 1920, 3), 128, np.uint8)
    big[500:720, 900:1120] = face
    box, found = face_box([big], load_detector("haar", min_size=0.05))
    assert found and box[0] < 1010 < box[2] and box[1] < 600 < box[3] and box[2] - box[0] < 300
    _, found_old_limit = face_box([big], load_detector("haar", min_size=0.125))  # the old 1/8 floor misses it
    assert not found_old_limit


@pytest.mark.parametrize("box", [None, (40, 10, 140, 110)])
def test_point_in_crop_follows_a_dot_through_either_crop(box):
    """A dot drawn at (x, y) of a 180×144 frame is found at point_in_crop's (u, v) after the resize +
    centre crop and after a face-box crop, at 32 px."""
    from pipeline.crop import point_in_crop

    for x, y in ((70, 40), (95, 72), (120, 100)):
        frame = np.zeros((144, 180, 3), np.uint8)
        cv2.circle(frame, (x, y), 6, (255, 255, 255), -1)
        out = resize_center_crop(frame, 32) if box is None else crop_resize(frame, box, 32)  # as preprocess crops
        u, v = point_in_crop(x, y, 180, 144, 32, box)
        assert out[int(v * 32), int(u * 32)].min() > 200
