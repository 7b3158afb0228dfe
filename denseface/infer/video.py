"""Videos (anything OpenCV's VideoCapture reads, e.g. mp4/avi): tracking, JSON Lines, drawing.

Per-frame JSON Lines: one object per frame, ``{"frame": i, "time": seconds, "width": W,
"height": H, "detected": bool, "faces": [face, ...]}`` with faces as in the per-image JSON
(smoothed landmarks and the pose of the smoothed landmarks). ``detected`` says whether the
detector ran on this frame. Lines are flushed as they are written, so a video that fails
half-way keeps every frame done before.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DenseFaceError, OutputError
from .api import DenseFace, Timings
from .draw import DrawStyle, draw_faces
from .images import normalise_array
from .tracking import FaceTracker, OneEuroConfig, TrackerConfig


@dataclass
class VideoResult:
    frames: int = 0
    frames_with_face: int = 0
    detector_frames: int = 0
    drift_checks: int = 0
    restarts: int = 0
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)


def open_video(path: str | Path) -> cv2.VideoCapture:
    """An opened VideoCapture whose first frame can be read; DenseFaceError otherwise."""
    path = Path(path)
    if not path.exists():
        raise DenseFaceError("file does not exist", path=path)
    if path.stat().st_size == 0:
        raise DenseFaceError("empty file (0 bytes)", path=path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DenseFaceError("not a readable video (corrupt or unsupported format)", path=path)
    return cap


def video_fps(cap: cv2.VideoCapture) -> float:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0.5 < fps < 1000 else 30.0


def process_video(model: DenseFace, path: str | Path, jsonl_path: Path | None,
                  video_out: Path | None = None, tracker_config: TrackerConfig | None = None,
                  smoothing: OneEuroConfig | None = OneEuroConfig(), boxes=None,
                  style: DrawStyle | None = None, progress=None, timings: Timings | None = None,
                  max_frames: int | None = None) -> VideoResult:
    """Track faces through a video; write per-frame JSON Lines and (optionally) an annotated
    mp4. ``progress``: a callable taking the number of frames done (e.g. tqdm.update)."""
    import time

    path = Path(path)
    cap = open_video(path)
    ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise DenseFaceError("not a readable video (no frame could be decoded)", path=path)
    fps = video_fps(cap)
    h, w = frame.shape[:2]
    tracker = FaceTracker(model, tracker_config, smoothing, boxes)
    result = VideoResult()
    writer = None
    jsonl = None
    t_start = time.perf_counter()
    try:
        if jsonl_path is not None:
            try:
                jsonl = open(jsonl_path, "w", encoding="utf-8")
            except OSError as e:
                raise OutputError(f"cannot write ({e.strerror})", path=jsonl_path) from None
            result.outputs.append(jsonl_path)
        if video_out is not None:
            writer = cv2.VideoWriter(str(video_out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not writer.isOpened():
                raise OutputError("cannot write the annotated video", path=video_out)
            result.outputs.append(video_out)
        i = 0
        while ok and frame is not None and (max_frames is None or i < max_frames):
            rgb = normalise_array(frame, "bgr")
            before = tracker.detections
            faces = tracker.update(rgb, i / fps, timings)
            result.frames += 1
            result.frames_with_face += bool(faces)
            if jsonl is not None:
                rec = {"frame": i, "time": round(i / fps, 4), "width": w, "height": h,
                       "detected": tracker.detections > before, "faces": [f.to_dict() for f in faces]}
                jsonl.write(json.dumps(rec, allow_nan=False, separators=(",", ":")) + "\n")
                jsonl.flush()
            if writer is not None:
                drawn = draw_faces(rgb, faces, model.landmark_set.triangles, style)
                writer.write(cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
            if progress is not None:
                progress(1)
            i += 1
            ok, frame = cap.read()
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if jsonl is not None:
            jsonl.close()
        result.detector_frames = tracker.detections
        result.drift_checks, result.restarts = tracker.checks, tracker.restarts
        result.seconds = time.perf_counter() - t_start
    return result


def frame_count(path: str | Path) -> int | None:
    """The container's frame count, if it states one (for progress bars)."""
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    return n if n > 0 else None


def write_test_video(path: str | Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    """Write RGB frames (T, H, W, 3) uint8 as an mp4 (mp4v); used by tests and benchmarks."""
    path = Path(path)
    t, h, w = frames.shape[:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise OutputError("cannot write video", path=path)
    for f in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
    writer.release()
    return path
