"""Batch prediction over files, folders and videos, as run by ``denseface predict``.

Each input is processed on its own: any problem with one (missing, corrupt, unreadable, too
large, not a regular file, a video that decodes short, an output that cannot be written, or an
unexpected failure) prints one line ``denseface: <path>: <problem>``, is counted, and the batch
goes on; files already written stay. Folder entries that are not regular files (named pipes,
devices, broken links) are listed as failed items; symlinked sub-folders are not followed and
are listed in the summary. Exit status (denseface.errors): 0 all done, EXIT_PARTIAL (5) some
inputs failed, or the failures' own code when every input failed (EXIT_INPUT 3 / EXIT_OUTPUT 4
/ EXIT_USAGE 2). An output folder that cannot be written stops the batch before it starts
(EXIT_OUTPUT).
"""
from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EXIT_OK, EXIT_PARTIAL, DenseFaceError, printable
from ..io.files import atomic_write, ensure_out_dir
from ..io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image
from .api import DenseFace, Timings
from .draw import DrawStyle, draw_faces, drawing_view
from .outputs import FORMATS, OutputNamer, encode_image, image_record, mesh_bytes, prediction_bytes
from .tracking import SmoothingConfig, TrackerConfig


@dataclass
class BatchOptions:
    """What ``denseface predict`` writes for each input (see docs/predict.md).

    formats: one or more of FORMATS, each written beside the others."""

    out_dir: Path = Path("denseface_out")
    formats: tuple[str, ...] = ("json",)
    draw: bool = False
    style: DrawStyle = field(default_factory=DrawStyle)
    max_faces: int | None = None
    boxes: list | None = None
    export_mesh: str | None = None     # "ply" | "obj": one mesh file per face
    mesh: str = "points"               # what export_mesh writes: the 520 points or the full BFM mesh
    smoothing: SmoothingConfig | None = field(default_factory=SmoothingConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.formats, str):
            self.formats = (self.formats,)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            from ..errors import ConfigError
            raise ConfigError(f"unknown output format {unknown or '(none)'} (expected one or more "
                              f"of {', '.join(FORMATS)})")


@dataclass
class BatchSummary:
    done: int = 0
    faces: int = 0
    without_face: int = 0
    videos: int = 0
    frames: int = 0
    frames_with_face: int = 0
    video_faces: int = 0
    failed: list[DenseFaceError] = field(default_factory=list)
    not_followed: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if not self.failed:
            return EXIT_OK
        return EXIT_PARTIAL if self.done else self.failed[0].exit_code

    def lines(self) -> list[str]:
        n = self.done + len(self.failed)
        head = f"denseface predict: {n} input(s): {self.done} done, {len(self.failed)} failed"
        images = self.done - self.videos
        if images > 0:
            head += f"; {images} image(s), {self.faces} face(s)"
            if self.without_face:
                head += f", {self.without_face} image(s) without a face"
        if self.videos:
            head += (f"; {self.videos} video(s), {self.frames} frame(s), {self.frames_with_face} "
                     f"with a face, {self.video_faces} face detection(s) over all frames")
        out = [head]
        out += [f"  failed: {e}" for e in self.failed]
        out += [f"  not followed (symlinked folder): {printable(str(p))}" for p in self.not_followed]
        return out


def _file_problem(p: Path) -> str | None:
    """Why a folder entry with an image/video suffix cannot be read, or None for a regular file."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return "broken link (its target does not exist)"
    except OSError as e:
        return f"cannot read ({e.strerror})"
    if stat.S_ISREG(st.st_mode):
        return None
    kinds = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return "not a regular file (" + next((n for t, n in kinds if t(st.st_mode)), "special") + ")"


def _walk(folder: Path, summary: BatchSummary) -> tuple[list[Path], list[DenseFaceError]]:
    """Image and video files under ``folder`` (sorted, symlinked folders not followed)."""
    files, errors = [], []
    for root, dirs, names in os.walk(folder, followlinks=False):
        r = Path(root)
        for d in list(dirs):
            if (r / d).is_symlink():
                summary.not_followed.append(r / d)
        dirs.sort()
        for name in sorted(names):
            p = r / name
            if p.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                continue
            problem = _file_problem(p)
            if problem is None:
                files.append(p)
            else:
                errors.append(DenseFaceError(problem, path=p))
    return sorted(files), errors


def collect_inputs(paths, summary: BatchSummary | None = None
                   ) -> tuple[list[tuple[Path, str]], list[DenseFaceError]]:
    """Expand PATH arguments: files as given (kind by suffix: video or image; any other suffix
    is tried as an image), folders recursively (image and video suffixes only, sorted).
    Returns ([(path, "image"|"video")], [errors for missing or unreadable paths])."""
    summary = summary if summary is not None else BatchSummary()
    items: list[tuple[Path, str]] = []
    errors: list[DenseFaceError] = []
    for raw in paths:
        p = Path(raw)
        if str(raw) == "":
            errors.append(DenseFaceError("empty path"))
        elif p.is_dir():
            found, bad = _walk(p, summary)
            items += [(q, _kind(q)) for q in found]
            errors += bad
            if not found and not bad:
                errors.append(DenseFaceError("folder holds no image or video files", path=p))
        elif os.path.lexists(p):
            items.append((p, _kind(p)))
        else:
            errors.append(DenseFaceError("does not exist", path=p))
    return items, errors


def _kind(p: Path) -> str:
    return "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"


def item_error(e: BaseException, path: Path) -> DenseFaceError:
    """Any per-item failure as a one-line DenseFaceError naming the input."""
    if isinstance(e, DenseFaceError):
        return e if e.path is not None else type(e)(e.problem, path=path, exit_code=e.exit_code)
    if isinstance(e, MemoryError):
        return DenseFaceError("out of memory while processing this input", path=path)
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return DenseFaceError(f"unexpected error ({type(e).__name__}{': ' + first if first else ''})",
                          path=path)


def run_batch(model: DenseFace, paths, options: BatchOptions, log=None) -> BatchSummary:
    """Predict every input and write its outputs into ``options.out_dir``."""
    log = log or (lambda line: print(line, file=sys.stderr))
    out_dir = ensure_out_dir(options.out_dir)
    namer = OutputNamer(out_dir)
    summary = BatchSummary()
    items, missing = collect_inputs(paths, summary)
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
            except Exception as e:   # any per-item failure: report it, go on
                err = item_error(e, path)
                log(f"denseface: {err}")
                summary.failed.append(err)
            finally:
                bar.update(1)
    finally:
        bar.close()
    return summary


def _image(model: DenseFace, path: Path, namer: OutputNamer, o: BatchOptions,
           summary: BatchSummary, timings: Timings) -> None:
    image = read_image(path)
    full = bool(o.export_mesh) and o.mesh == "full"
    faces = model.predict_array(image, boxes=o.boxes, max_faces=o.max_faces, timings=timings,
                                mesh="full" if full else None)
    stem = namer.stem_for(path)
    h, w = image.shape[:2]
    record = image_record(str(path), w, h, faces)
    for fmt in o.formats:
        suffix, data = prediction_bytes(fmt, record, faces, model.landmark_set.n_points)
        summary.written.append(atomic_write(namer.path(stem, suffix), data))
    if o.draw:
        view, view_faces = drawing_view(image, faces)
        drawn = draw_faces(view, view_faces, model.landmark_set.triangles, o.style)
        summary.written.append(atomic_write(namer.path(stem, "_draw.jpg"), encode_image(drawn)))
    if o.export_mesh:
        for k, f in enumerate(faces):
            if full and f.mesh is not None:
                data = mesh_bytes(o.export_mesh, f.mesh, model.full_mesh_triangles)
            else:
                data = mesh_bytes(o.export_mesh, f.landmarks, model.mesh_triangles)
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
                            o.smoothing, o.boxes, o.style, bar.update, timings)
    finally:
        bar.close()
    summary.written += res.outputs
    summary.frames += res.frames
    summary.frames_with_face += res.frames_with_face
    summary.video_faces += res.faces
    if res.expected_frames and res.frames < res.expected_frames:
        raise DenseFaceError(f"decoded {res.frames} of the {res.expected_frames} frames the file "
                             f"declares (damaged or truncated video); the outputs hold the "
                             f"{res.frames} decoded frames", path=path, exit_code=EXIT_PARTIAL)
    summary.videos += 1


def _progress(total, enabled: bool, **kw):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, **kw)
