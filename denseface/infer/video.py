"""Videos (anything OpenCV's VideoCapture reads, e.g. mp4/avi): tracking, JSON Lines, drawing.

Per-frame JSON Lines: one object per frame, ``{"frame": i, "time": seconds, "width": W,
"height": H, "detected": bool, "faces": [face, ...]}`` with faces as in the per-image JSON
(smoothed landmarks and the pose of the smoothed landmarks). ``detected`` says whether the
detector ran on this frame. The JSON Lines and the annotated video are written to temporary
files and renamed into place when the video ends (denseface.io.files), so an earlier complete
result is only ever replaced whole. A video that decodes fewer frames than its container
declares (damaged or truncated) is an error: its partial outputs are written when there is no
earlier output, and an earlier (complete) output is kept otherwise. FFmpeg's own log lines are
kept off the terminal.

The annotated video (``--draw``) is VP8 in WebM, which browsers (Chromium, Firefox, Safari) and
common players play, written by the FFmpeg that the ``opencv-python-headless`` wheel bundles
(FFmpeg LGPL 2.1, libvpx BSD-3-Clause); where OpenCV has no VP8 encoder (e.g. a system OpenCV
built without libvpx) it falls back to mp4v in MP4, which players read but browsers do not, and
the run says so (:data:`DRAW_CODECS`, :func:`draw_codec`).
"""
from __future__ import annotations

import functools
import json
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ..errors import EXIT_PARTIAL, DenseFaceError, OutputError
from ..io.files import atomic_output
from ..io.images import normalise_array, quiet_stderr, silence_opencv_log
from .api import DenseFace, Timings
from .draw import DrawStyle, draw_faces
from .tracking import FaceTracker, SmoothingConfig, TrackerConfig


@dataclass(frozen=True)
class DrawCodec:
    """A codec for the annotated video: OpenCV's fourcc, the file suffix, what to call it."""

    fourcc: str
    suffix: str
    name: str
    plays_in_browsers: bool


#: the annotated video's codecs, preferred first (module docstring)
DRAW_CODECS = (DrawCodec("VP80", ".webm", "VP8 in WebM", True),
               DrawCodec("mp4v", ".mp4", "mp4v in MP4 (browsers do not play it; this OpenCV "
                                         "has no VP8 encoder)", False))


@functools.lru_cache(maxsize=None)
def draw_codec() -> DrawCodec:
    """The first of :data:`DRAW_CODECS` that this OpenCV can write (tried once, on two 16x16
    frames in a temporary folder); the last one when none opens."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp, quiet_stderr():
        for codec in DRAW_CODECS:
            path = Path(tmp) / f"probe{codec.suffix}"
            w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec.fourcc), 25.0, (16, 16), True)
            ok = w.isOpened()
            if ok:
                for _ in range(2):
                    w.write(np.zeros((16, 16, 3), np.uint8))
            w.release()
            if ok and path.is_file() and path.stat().st_size > 0:
                return codec
    return DRAW_CODECS[-1]


def codec_for(path: Path) -> DrawCodec:
    """The codec :data:`DRAW_CODECS` writes files of ``path``'s suffix with (mp4v for others)."""
    return next((c for c in DRAW_CODECS if c.suffix == path.suffix.lower()), DRAW_CODECS[-1])


@dataclass
class VideoResult:
    frames: int = 0
    expected_frames: int | None = None   # the container's frame count, when it states one
    frames_with_face: int = 0
    faces: int = 0                       # faces summed over frames
    detector_frames: int = 0
    drift_checks: int = 0
    restarts: int = 0
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    codec: DrawCodec | None = None       # the annotated video's codec (None: not drawn)


def open_video(path: str | Path) -> cv2.VideoCapture:
    """An opened VideoCapture whose first frame can be read; DenseFaceError otherwise."""
    import stat

    path = Path(path)
    silence_opencv_log()   # FFmpeg's log level is set when the first video is opened
    if not path.exists():
        raise DenseFaceError("file does not exist", path=path)
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise DenseFaceError("not a regular file", path=path)
    if st.st_size == 0:
        raise DenseFaceError("empty file (0 bytes)", path=path)
    with quiet_stderr():
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DenseFaceError("not a readable video (corrupt or unsupported format)", path=path)
    return cap


def video_fps(cap: cv2.VideoCapture) -> float:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0.5 < fps < 1000 else 30.0


def process_video(model: DenseFace, path: str | Path, jsonl_path: Path | None,
                  video_out: Path | None = None, tracker_config: TrackerConfig | None = None,
                  smoothing: SmoothingConfig | None = SmoothingConfig(), boxes=None,
                  style: DrawStyle | None = None, progress=None, timings: Timings | None = None,
                  max_frames: int | None = None) -> VideoResult:
    """Track faces through a video; write per-frame JSON Lines and (optionally) an annotated
    video ``video_out``, its codec chosen by its suffix (``.webm``: VP8, else mp4v; use
    ``draw_codec().suffix`` for the best this OpenCV writes). ``progress``: a callable taking the
    number of frames done (e.g. tqdm.update)."""
    import time

    path = Path(path)
    cap = open_video(path)
    with quiet_stderr():
        ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise DenseFaceError("not a readable video (no frame could be decoded)", path=path)
    fps = video_fps(cap)
    n_declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    h, w = frame.shape[:2]
    tracker = FaceTracker(model, tracker_config, smoothing, boxes)
    result = VideoResult(expected_frames=n_declared if n_declared > 0 and max_frames is None else None)
    t_start = time.perf_counter()
    with ExitStack() as stack:
        stack.callback(cap.release)
        jsonl, writer = _open_outputs(stack, jsonl_path, video_out, fps, (w, h), result)
        i = 0
        while ok and frame is not None and (max_frames is None or i < max_frames):
            rgb = normalise_array(frame, "bgr")
            before = tracker.detections
            faces = model.with_fits(tracker.update(rgb, i / fps, timings))   # expression if asked
            result.frames += 1
            result.frames_with_face += bool(faces)
            result.faces += len(faces)
            if jsonl is not None:
                rec = {"frame": i, "time": round(i / fps, 4), "width": w, "height": h,
                       "detected": tracker.detections > before, "faces": [f.to_dict() for f in faces]}
                jsonl.write(json.dumps(rec, allow_nan=False, separators=(",", ":")) + "\n")
            if writer is not None:
                drawn = draw_faces(rgb, faces, model.landmark_set.triangles, style)
                writer.write(cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
            if progress is not None:
                progress(1)
            i += 1
            with quiet_stderr():
                ok, frame = cap.read()
        result.detector_frames = tracker.detections
        result.drift_checks, result.restarts = tracker.checks, tracker.restarts
        result.seconds = time.perf_counter() - t_start
        earlier = [p for p in (jsonl_path, video_out) if p is not None and p.exists()]
        if result.expected_frames and result.frames < result.expected_frames and earlier:
            # a damaged or since-truncated video never replaces an earlier complete result
            raise DenseFaceError(f"decoded {result.frames} of the {result.expected_frames} frames the "
                                 f"file declares (damaged or truncated video); kept the earlier "
                                 f"{', '.join(p.name for p in earlier)}", path=path, exit_code=EXIT_PARTIAL)
    result.outputs = [p for p in (jsonl_path, video_out) if p is not None]
    return result


def _open_outputs(stack: ExitStack, jsonl_path: Path | None, video_out: Path | None, fps: float,
                  size: tuple[int, int], result: VideoResult):
    """(the JSON Lines file or None, the annotated video's writer or None), each written to a
    temporary name that ``stack`` renames into place when the run ends well; the video's codec
    is recorded in ``result``. ``size``: (width, height) of the frames."""
    jsonl = writer = None
    if jsonl_path is not None:
        tmp_jsonl = stack.enter_context(atomic_output(jsonl_path))
        jsonl = stack.enter_context(open(tmp_jsonl, "w", encoding="utf-8"))
    if video_out is not None:
        tmp_video = stack.enter_context(atomic_output(video_out, keep_suffix=True))
        result.codec = codec_for(video_out)
        writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*result.codec.fourcc), fps, size, True)
        if not writer.isOpened():
            raise OutputError(f"cannot write the annotated video ({result.codec.name})", path=video_out)
        stack.callback(writer.release)
    return jsonl, writer


def frame_count(path: str | Path) -> int | None:
    """The container's frame count, if it states one (for progress bars)."""
    with quiet_stderr():
        cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    return n if n > 0 else None
