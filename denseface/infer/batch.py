"""Batch prediction over files, folders and videos, as run by ``denseface predict``.

Each input is processed on its own: a problem with one (missing, corrupt, unreadable, an output
that cannot be written) prints one line ``denseface: <path>: <problem>``, is counted, and the
batch goes on; files already written stay. Exit status (denseface.errors): 0 all done,
EXIT_PARTIAL (5) some inputs failed, or the failures' own code when every input failed
(EXIT_INPUT 3 / EXIT_OUTPUT 4 / EXIT_USAGE 2). An output folder that cannot be written stops
the batch before it starts (EXIT_OUTPUT).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EXIT_OK, EXIT_PARTIAL, DenseFaceError
from .api import DenseFace, Timings
from .draw import DrawStyle, draw_faces
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from .outputs import (OutputNamer, atomic_write, encode_image, ensure_out_dir, image_record,
                      mesh_bytes, prediction_bytes)
from .tracking import OneEuroConfig, TrackerConfig


@dataclass
class BatchOptions:
    """What ``denseface predict`` writes for each input (see docs/predict.md)."""

    out_dir: Path = Path("denseface_out")
    format: str = "json"
    draw: bool = False
    max_faces: int | None = None
    boxes: list | None = None
    export_mesh: str | None = None
    smoothing: OneEuroConfig | None = field(default_factory=OneEuroConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    progress: bool = True


@dataclass
class BatchSummary:
    done: int = 0
    faces: int = 0
    without_face: int = 0
    videos: int = 0
    frames: int = 0
    frames_with_face: int = 0
    failed: list[DenseFaceError] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if not self.failed:
            return EXIT_OK
        return EXIT_PARTIAL if self.done else self.failed[0].exit_code

    def lines(self) -> list[str]:
        n = self.done + len(self.failed)
        head = (f"denseface predict: {n} input(s): {self.done} done, {len(self.failed)} failed; "
                f"{self.faces} face(s)")
        if self.without_face:
            head += f", {self.without_face} image(s) without a face"
        if self.videos:
            head += (f"; {self.videos} video(s), {self.frames} frame(s), "
                     f"{self.frames_with_face} with a face")
        out = [head]
        out += [f"  failed: {e}" for e in self.failed]
        return out


def collect_inputs(paths) -> tuple[list[tuple[Path, str]], list[DenseFaceError]]:
    """Expand PATH arguments: files as given (kind by suffix: video or image; any other suffix
    is tried as an image), folders recursively (image and video suffixes only, sorted).
    Returns ([(path, "image"|"video")], [errors for missing paths])."""
    items: list[tuple[Path, str]] = []
    errors: list[DenseFaceError] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = [q for q in sorted(p.rglob("*"))
                     if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES]
            items += [(q, _kind(q)) for q in found]
            if not found:
                errors.append(DenseFaceError("folder holds no image or video files", path=p))
        elif p.exists():
            items.append((p, _kind(p)))
        else:
            errors.append(DenseFaceError("does not exist", path=p))
    return items, errors


def _kind(p: Path) -> str:
    return "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"


def run_batch(model: DenseFace, paths, options: BatchOptions, log=None) -> BatchSummary:
    """Predict every input and write its outputs into ``options.out_dir``."""
    log = log or (lambda line: print(line, file=sys.stderr))
    out_dir = ensure_out_dir(options.out_dir)
    namer = OutputNamer(out_dir)
    items, missing = collect_inputs(paths)
    summary = BatchSummary()
    for e in missing:
        log(f"denseface: {e}")
        summary.failed.append(e)
    bar = _progress(len(items), options.progress and len(items) > 1)
    timings = Timings()
    try:
        for path, kind in items:
            try:
                if kind == "video":
                    _video(model, path, namer, options, summary, timings)
                else:
                    _image(model, path, namer, options, summary, timings)
                summary.done += 1
            except DenseFaceError as e:
                if e.path is None:
                    e = type(e)(e.problem, path=path, exit_code=e.exit_code)
                log(f"denseface: {e}")
                summary.failed.append(e)
            finally:
                bar.update(1)
    finally:
        bar.close()
    return summary


def _image(model: DenseFace, path: Path, namer: OutputNamer, o: BatchOptions,
           summary: BatchSummary, timings: Timings) -> None:
    image = read_image(path)
    faces = model.predict_array(image, boxes=o.boxes, max_faces=o.max_faces, timings=timings)
    stem = namer.stem_for(path)
    h, w = image.shape[:2]
    record = image_record(str(path), w, h, faces)
    suffix, data = prediction_bytes(o.format, record, faces, model.landmark_set.n_points)
    summary.written.append(atomic_write(namer.path(stem, suffix), data))
    if o.draw:
        drawn = draw_faces(image, faces, model.landmark_set.triangles, DrawStyle())
        summary.written.append(atomic_write(namer.path(stem, "_draw.jpg"), encode_image(drawn)))
    if o.export_mesh:
        for k, f in enumerate(faces):
            data = mesh_bytes(o.export_mesh, f.landmarks, model.landmark_set.triangles)
            summary.written.append(atomic_write(namer.path(stem, f"_face{k}.{o.export_mesh}"), data))
    summary.faces += len(faces)
    summary.without_face += not faces


def _video(model: DenseFace, path: Path, namer: OutputNamer, o: BatchOptions,
           summary: BatchSummary, timings: Timings) -> None:
    from .video import frame_count, process_video

    stem = namer.stem_for(path)
    tracker = TrackerConfig(**{**o.tracker.__dict__, "max_faces": o.max_faces})
    bar = _progress(frame_count(path), o.progress, unit="frame", leave=False, desc=path.name)
    try:
        res = process_video(model, path, namer.path(stem, ".jsonl"),
                            namer.path(stem, "_draw.mp4") if o.draw else None, tracker,
                            o.smoothing, o.boxes, DrawStyle(), bar.update, timings)
    finally:
        bar.close()
    summary.written += res.outputs
    summary.videos += 1
    summary.frames += res.frames
    summary.frames_with_face += res.frames_with_face


def _progress(total, enabled: bool, **kw):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, **kw)
