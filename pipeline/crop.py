"""Frame geometry: the paper's resize + centre crop, and one stable face box per video.

Faces (MUG, UvA-NEMO): detect on the first frames, take the median box, enlarge it by
``margin`` (10% by default), make it square, clamp it to the frame, and use that one box for every
frame — a per-frame box would make the crop jitter. The default detector is OpenCV's bundled
frontal-face Haar cascade (offline; opencv-python 4.x ships it, 5.x does not). Select another with
``preprocess.face_detector``: ``"center"`` (no detection: the central square), or
``"package.module:factory"`` where ``factory()`` returns a callable mapping an RGB frame to a list
of (x, y, w, h) boxes.
"""

from __future__ import annotations

import importlib
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from g3an.errors import UserError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
Detector = Callable[[np.ndarray], Sequence[Sequence[int]]]
WEIZMANN_ASPECT = 85 / 64  # the paper scales Weizmann frames to 85×64 (W×H) before the crop


def scaled_size(size: int, aspect: float = WEIZMANN_ASPECT) -> tuple[int, int]:
    """(W, H) a frame is scaled to before the centre crop: (85, 64) for size 64."""
    return int(round(size * aspect)), size


def center_crop(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    x0, y0 = (w - size) // 2, (h - size) // 2
    return np.ascontiguousarray(frame[y0:y0 + size, x0:x0 + size])


def resize_center_crop(frame: np.ndarray, size: int, aspect: float = WEIZMANN_ASPECT) -> np.ndarray:
    """Scale to (round(size·aspect), size) (W×H), then take the central size×size square."""
    small = cv2.resize(frame, scaled_size(size, aspect), interpolation=cv2.INTER_AREA)
    return center_crop(small, size)


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade on a grey frame downscaled to ``max_side``. Faces smaller than
    ``min_size`` × the frame's short side are not looked for (``preprocess.face_min_size``; 0.05 finds
    a face a tenth of a 1080p frame's height)."""

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", max_side: int = 640,
                 min_size: float = 0.05):
        data = getattr(cv2, "data", None)
        if data is None:
            raise UserError("this OpenCV has no bundled Haar cascades (opencv 5.x); install opencv-python-headless<5 "
                            "or set preprocess.face_detector")
        self.cascade = cv2.CascadeClassifier(data.haarcascades + cascade)
        if self.cascade.empty():
            raise UserError(f"cannot load the Haar cascade {cascade}; reinstall opencv-python-headless<5")
        self.max_side, self.min_size = max_side, min_size

    def __call__(self, frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if scale < 1:
            grey = cv2.resize(grey, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        # no global histogram equalisation: on a frame that is mostly background it washes out a small
        # face (measured: a face a tenth of a 1080p frame's height went undetected with it, found without)
        smallest = max(24, int(min(grey.shape) * self.min_size))  # 24: the cascade's own window
        found = self.cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest))
        return [tuple(int(round(v / scale)) for v in box) for box in found]


def load_detector(name: str, min_size: float = 0.05) -> Optional[Detector]:
    """``"haar"`` → the cascade; ``"center"`` → None (central square); ``"pkg.mod:factory"`` → factory()."""
    if name == "haar":
        return HaarFaceDetector(min_size=min_size)
    if name == "center":
        return None
    if ":" in name:
        module, attr = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module), attr)()
        except (ImportError, AttributeError) as e:
            raise UserError(f"preprocess.face_detector = {name!r}: cannot load it ({e}); "
                            "expected 'haar', 'center' or 'package.module:factory'") from None
    raise UserError(f"preprocess.face_detector = {name!r}: expected 'haar', 'center' or 'package.module:factory'")


def square_box(cx: float, cy: float, side: float, width: int, height: int) -> Box:
    """A square of ``side`` centred at (cx, cy), shrunk to fit and shifted inside the frame."""
    side = int(round(min(side, width, height)))
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, x0 + side, y0 + side


def face_box(frames: Sequence[np.ndarray], detector: Optional[Detector], margin: float = 0.1) -> tuple[Box, bool]:
    """One box for the whole video from its first frames; (box, found). Without a face: the central square."""
    h, w = frames[0].shape[:2]
    per_frame = [list(detector(f)) for f in frames] if detector is not None else []
    candidates = [b for found in per_frame for b in found]
    if not candidates:
        return square_box(w / 2, h / 2, min(w, h), w, h), False

    def track(box) -> list:  # each frame's detection of the same face as ``box`` (IoU >= 0.5), where it has one
        matches = [max(found, key=lambda b: _iou(b, box)) for found in per_frame if found]
        return [b for b in matches if _iou(b, box) >= 0.5]

    # the face seen in the most frames (then the largest): a false detection in a frame or two, even a
    # larger one, neither wins nor drags a per-coordinate median between two faces
    best = max(candidates, key=lambda b: (len(track(b)), b[2] * b[3]))
    x, y, bw, bh = np.median(np.array(track(best), dtype=np.float64), axis=0)
    return square_box(x + bw / 2, y + bh / 2, max(bw, bh) * (1 + margin), w, h), True


def _iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def point_in_crop(x: float, y: float, width: int, height: int, size: int,
                  box: Optional[Box] = None) -> tuple[float, float]:
    """Where the point (x, y) of a width×height source frame (pixel-centre coordinates, as OpenCV
    draws) lands in the size×size output frame, as fractions of its side (0–1 inside it; pixel
    ``floor(u·size)``): after the resize + centre crop, or after ``crop_resize`` to a face ``box``."""
    if box is None:
        sw, sh = scaled_size(size)
        x0, y0 = (sw - size) // 2, (sh - size) // 2  # as center_crop cuts
        xs, ys = (x + 0.5) * sw / width - x0, (y + 0.5) * sh / height - y0
    else:
        bx0, by0, bx1, by1 = box
        xs, ys = (x - bx0 + 0.5) * size / (bx1 - bx0), (y - by0 + 0.5) * size / (by1 - by0)
    return xs / size, ys / size


def crop_resize(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    return cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
