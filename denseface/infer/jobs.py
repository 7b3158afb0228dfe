"""The jobs of a batch: what ``denseface predict`` writes per input, and the image job.

An :class:`Item` is one input with its position and output stem; predicting one image gives an
:class:`Outcome` (faces, files written, the JSON record, or the error), in whichever process ran
it. Any per-item failure becomes one DenseFaceError naming the input (:func:`item_error`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DenseFaceError, check_whole_number, first_line
from ..io.files import atomic_write
from ..io.images import read_image
from .api import DenseFace, Timings
from .draw import DrawStyle, draw_faces, drawing_view
from .outputs import FORMATS, OutputNamer, encode_image, image_record, mesh_bytes, prediction_bytes
from .tracking import SmoothingConfig, TrackerConfig

#: --table format -> the file written in the output folder
TABLE_FILES = {"parquet": "predictions.parquet", "jsonl": "predictions.jsonl"}


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
    workers: int | str = 1             # > 1: a process pool over the images (needs a ModelSpec); "auto": auto_workers
    skip_existing: bool = False        # skip inputs whose outputs all exist (resume a run)
    table: str | None = None           # "parquet" | "jsonl": one OUT/predictions.* file, no per-image files
    #: per-input user boxes, keyed by the input path as given (str); API only (benchmarks)
    boxes_for: dict | None = None

    def __post_init__(self) -> None:
        if isinstance(self.formats, str):
            self.formats = (self.formats,)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ConfigError(f"unknown output format {', '.join(map(repr, unknown)) or '(none)'} "
                              f"(expected one or more of {', '.join(FORMATS)})")
        if self.workers != AUTO_WORKERS:
            self.workers = check_whole_number("workers", self.workers, 1)
        if self.table is not None and self.table not in TABLE_FILES:
            raise ConfigError(f"unknown table format '{self.table}' (expected one of "
                              f"{', '.join(TABLE_FILES)})")

    @property
    def full_meshes(self) -> bool:
        """Whether each face's mesh file holds the full BFM mesh (else its points)."""
        return bool(self.export_mesh) and self.mesh == "full"


#: ``workers="auto"``: as many processes as free cores, each with at least this many images:
#: starting a worker costs about 1 s (spawn, imports, model) and an image about 10-30 ms on one
#: core (docs/scale.md), so a worker pays for itself from a few hundred images on
AUTO_WORKERS, IMAGES_PER_WORKER = "auto", 200


def auto_workers(n_images: int, cpus: int | None = None, load: float | None = None) -> int:
    """How many worker processes ``workers="auto"`` runs for ``n_images`` images: the free cores
    (usable CPUs minus the 1-minute load average, rounded; at least 1), but no more than one per
    IMAGES_PER_WORKER images; 1 (this process, no pool) for small batches or a busy machine."""
    import os

    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    free = max(1, cpus - int(round(load)))
    return max(1, min(free, n_images // IMAGES_PER_WORKER))


def video_options_note(options: BatchOptions, n_videos: int, n_inputs: int | None = None) -> str | None:
    """One line saying which options do not apply to the ``n_videos`` videos of a run, or which
    video options (smoothing, re-detection) do nothing because none of its ``n_inputs`` inputs
    is a video; None when every option applies."""
    if n_videos == 0 and n_inputs:
        unused = [] if options.smoothing == SmoothingConfig() else [
            "--no-smooth" if options.smoothing is None else "--smooth-*"]
        unused += ["--redetect-every"] if options.tracker.redetect_every != TrackerConfig().redetect_every else []
        if unused:
            return (f"denseface predict: note: {' and '.join(unused)} apply to videos only; none of "
                    f"the {n_inputs} input(s) is a video")
        return None
    ignored = [f"--export-mesh {options.export_mesh}"] if options.export_mesh else []
    other = [f for f in options.formats if f != "json"]
    ignored += [f"--format {','.join(other)}"] if other else []
    ignored += [f"--table {options.table}"] if options.table else []
    if not ignored or not n_videos:
        return None
    return (f"denseface predict: note: {' and '.join(ignored)} apply to images only; the "
            f"{n_videos} video(s) write per-frame JSON Lines (<name>.jsonl, docs/video.md)"
            + (", not table rows" if options.table else ""))


def item_error(e: BaseException, path: Path) -> DenseFaceError:
    """Any per-item failure as a one-line DenseFaceError naming the input."""
    if isinstance(e, DenseFaceError):
        return e if e.path is not None else type(e)(e.problem, path=path, exit_code=e.exit_code)
    if isinstance(e, MemoryError):
        return DenseFaceError("out of memory while processing this input", path=path)
    first = first_line(e)
    return DenseFaceError(f"unexpected error ({type(e).__name__}{': ' + first if first else ''})",
                          path=path)


@dataclass
class Item:
    """One input: its position in the input list, path, kind, output stem and user boxes."""

    index: int
    path: Path
    kind: str
    stem: str
    boxes: list | None = None


@dataclass
class Outcome:
    """What predicting one image gave, in the process that predicted it."""

    index: int
    faces: int = 0
    written: list = field(default_factory=list)
    record: dict | None = None          # the per-image JSON document (table mode only)
    error: DenseFaceError | None = None
    pid: int | None = None
    peak_rss: int | None = None


def image_outcome(model: DenseFace, item: Item, namer: OutputNamer, o: BatchOptions,
                  timings: Timings) -> Outcome:
    """Predict one image and write its files; any failure becomes the outcome's error."""
    out = Outcome(item.index)
    try:
        out.faces, record = predict_image(model, item, namer, o, out.written, timings)
        out.record = record if o.table else None
    except Exception as e:   # any per-item failure: report it, go on
        out.error = item_error(e, item.path)
    return out


def predict_image(model: DenseFace, item: Item, namer: OutputNamer, o: BatchOptions,
                  written: list, timings: Timings) -> tuple[int, dict]:
    """Predict one image, write its files (appended to ``written``) -> (faces, JSON record)."""
    path, stem = item.path, item.stem
    image = read_image(path)
    faces = model.predict_array(image, boxes=o.boxes if item.boxes is None else item.boxes,
                                max_faces=o.max_faces, timings=timings,
                                mesh="full" if o.full_meshes else None)
    h, w = image.shape[:2]
    record = image_record(str(path), w, h, faces)
    if o.table is None:
        for fmt in o.formats:
            suffix, data = prediction_bytes(fmt, record, faces, model.landmark_set.n_points)
            written.append(atomic_write(namer.path(stem, suffix), data))
    if o.draw:
        view, view_faces = drawing_view(image, faces)
        drawn = draw_faces(view, view_faces, model.landmark_set.triangles, o.style, model.roi_factor)
        written.append(atomic_write(namer.path(stem, "_draw.jpg"), encode_image(drawn)))
    if o.export_mesh:
        for k, f in enumerate(faces):
            if o.full_meshes and f.mesh is not None:
                data = mesh_bytes(o.export_mesh, f.mesh, model.full_mesh_triangles)
            else:
                data = mesh_bytes(o.export_mesh, f.landmarks, model.mesh_triangles)
            written.append(atomic_write(namer.path(stem, f"_face{k}.{o.export_mesh}"), data))
    return len(faces), record
