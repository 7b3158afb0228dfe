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

Output stems are assigned by one :class:`OutputNamer` in input order, to every input (also to
those that fail), before any work: names depend on the input list only, so a rerun, a run with
more worker processes and a resumed run (``skip_existing``) name every output alike.

Many images (docs/scale.md):

* ``workers`` > 1: a process pool (concurrent.futures, "spawn" context) over the images; each
  worker builds its own DenseFace once, from a picklable :class:`ModelSpec` (1 thread each by
  default), predicts image by image exactly like the 1-process path and writes that image's
  files itself (atomic writes). Results come back to the main process, which updates the
  progress bar as they arrive and reports errors, counts and table rows in input order. Videos
  stay in the main process (tracking is sequential), after the images. A worker that dies (e.g.
  killed for memory) fails only the image that killed it: the images it had in flight are run
  again one at a time in a fresh pool.
* ``skip_existing``: an input whose outputs all exist (atomic writes: an existing file is
  complete) is skipped and counted, so a killed run resumes where it stopped.
* ``table`` ("parquet" | "jsonl"): one file ``OUT/predictions.<ext>`` with a row per image (the
  fields of the per-image JSON plus ``error``) instead of per-image prediction files, streamed
  in row groups into a temporary file renamed at the end; on Ctrl-C or SIGTERM the rows done so
  far are kept (the file is closed and renamed), so ``skip_existing`` resumes from them.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import EXIT_OK, EXIT_PARTIAL, ConfigError, DenseFaceError, first_line, printable
from ..io.files import atomic_output, atomic_write, ensure_out_dir
from ..io.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_image, silence_opencv_log
from .api import DenseFace, PredictConfig, Timings
from .draw import DrawStyle, draw_faces, drawing_view
from .outputs import FORMATS, OutputNamer, encode_image, image_record, mesh_bytes, prediction_bytes
from .tables import PredictionTable
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
    workers: int = 1                   # > 1: a process pool over the images (needs a ModelSpec)
    skip_existing: bool = False        # skip inputs whose outputs all exist (resume a run)
    table: str | None = None           # "parquet" | "jsonl": one OUT/predictions.* file, no per-image files
    #: per-input user boxes, keyed by the input path as given (str); API only (benchmarks)
    boxes_for: dict | None = None

    def __post_init__(self) -> None:
        if isinstance(self.formats, str):
            self.formats = (self.formats,)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ConfigError(f"unknown output format {unknown or '(none)'} (expected one or more "
                              f"of {', '.join(FORMATS)})")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, got {self.workers!r}")
        if self.table is not None and self.table not in TABLE_FILES:
            raise ConfigError(f"unknown table format '{self.table}' (expected one of "
                              f"{', '.join(TABLE_FILES)})")


#: --table format -> the file written in the output folder
TABLE_FILES = {"parquet": "predictions.parquet", "jsonl": "predictions.jsonl"}


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker process needs to build its own :class:`DenseFace` (picklable: names,
    paths and plain options). model: a registry name or a file path (None: the default);
    detector: a backend name; threads: ONNX Runtime and detector threads per worker."""

    model: str | None = None
    detector: str = "default"
    device: str = "cpu"
    config: PredictConfig = field(default_factory=PredictConfig)
    threads: int | None = 1
    detector_options: dict = field(default_factory=dict)
    bfm: str | None = None

    def build(self) -> DenseFace:
        return DenseFace(self.model, detector=self.detector, device=self.device, config=self.config,
                         threads=self.threads, detector_options=dict(self.detector_options),
                         bfm=self.bfm)


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
    skipped: int = 0                   # inputs whose outputs already existed (skip_existing)
    #: peak resident memory (bytes) of each worker process, by process id (workers > 1)
    worker_peak_rss: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if not self.failed:
            return EXIT_OK
        return EXIT_PARTIAL if self.done or self.skipped else self.failed[0].exit_code

    def lines(self) -> list[str]:
        n = self.done + self.skipped + len(self.failed)
        head = f"denseface predict: {n} input(s): {self.done} done, {len(self.failed)} failed"
        if self.skipped:
            head += f", {self.skipped} skipped, already done"
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
    first = first_line(e)
    return DenseFaceError(f"unexpected error ({type(e).__name__}{': ' + first if first else ''})",
                          path=path)


@dataclass
class _Item:
    """One input: its position in the input list, path, kind, output stem and user boxes."""

    index: int
    path: Path
    kind: str
    stem: str
    boxes: list | None = None


@dataclass
class _Outcome:
    """What predicting one image gave, in the process that predicted it."""

    index: int
    faces: int = 0
    written: list = field(default_factory=list)
    record: dict | None = None          # the per-image JSON document (table mode only)
    error: DenseFaceError | None = None
    pid: int | None = None
    peak_rss: int | None = None


def run_batch(model: DenseFace, paths, options: BatchOptions, log=None,
              spec: ModelSpec | None = None, on_result=None) -> BatchSummary:
    """Predict every input and write its outputs into ``options.out_dir``.

    ``model`` predicts in this process: every input when ``options.workers`` is 1, the videos
    otherwise (None: built from ``spec`` if needed); ``spec`` builds each worker's own model
    (needed when ``options.workers`` > 1).
    ``on_result(n)``: called as n more inputs are finished (like the progress bar)."""
    log = log or (lambda line: print(line, file=sys.stderr))
    if options.workers > 1 and spec is None:
        raise ConfigError("workers > 1 needs a ModelSpec to build each worker's model")
    if model is None and spec is None:
        raise ConfigError("run_batch needs a model (or a ModelSpec)")
    out_dir = ensure_out_dir(options.out_dir)
    namer = OutputNamer(out_dir)
    summary = BatchSummary()
    items, missing = collect_inputs(paths, summary)
    for e in missing:
        log(f"denseface: {e}")
        summary.failed.append(e)
    boxes_for = options.boxes_for or {}
    plan = [_Item(i, p, kind, namer.stem_for(p), boxes_for.get(str(p)))
            for i, (p, kind) in enumerate(items)]
    failures: list[tuple[int, DenseFaceError]] = []
    timings = Timings()

    with _table_for(out_dir, options, plan, namer) as table:
        todo = [it for it in plan if not (options.skip_existing and
                                          _already_done(it, namer, options, table))]
        summary.skipped = len(plan) - len(todo)

        def record(outcome: _Outcome, item: _Item) -> None:
            summary.written += outcome.written
            if outcome.pid is not None:
                old = summary.worker_peak_rss.get(outcome.pid) or 0
                summary.worker_peak_rss[outcome.pid] = max(old, outcome.peak_rss or 0)
            if outcome.error is None:
                summary.done += 1
                summary.faces += outcome.faces
                summary.without_face += not outcome.faces
                if table is not None:
                    table.add(outcome.record)
            else:
                fail(item, outcome.error)

        def fail(item: _Item, e: BaseException) -> None:
            err = item_error(e, item.path)
            log(f"denseface: {err}")
            failures.append((item.index, err))
            if table is not None and item.kind == "image":
                table.add_error(str(item.path), str(err))

        bar = _progress(len(todo), options.progress and len(todo) > 1)

        def advance(n: int = 1) -> None:
            bar.update(n)
            if on_result is not None:
                on_result(n)

        try:
            images = [it for it in todo if it.kind == "image"]
            rest = todo
            if options.workers > 1 and len(images) > 1:
                by_index = {it.index: it for it in images}
                for outcome in _pool_outcomes(images, spec, options, out_dir, advance):
                    record(outcome, by_index[outcome.index])
                rest = [it for it in todo if it.kind == "video"]   # videos stay here, after
            if rest and model is None:
                model = spec.build()
            for item in rest:
                try:
                    if item.kind == "video":
                        try:
                            _video(model, item, namer, options, summary, timings)
                            summary.done += 1
                        except Exception as e:   # any per-item failure: report it, go on
                            fail(item, e)
                    else:
                        record(_image_outcome(model, item, namer, options, timings), item)
                finally:
                    advance(1)
        finally:
            bar.close()
    summary.failed += [e for _, e in sorted(failures, key=lambda f: f[0])]
    return summary


def _image_outcome(model: DenseFace, item: _Item, namer: OutputNamer, o: BatchOptions,
                   timings: Timings) -> _Outcome:
    """Predict one image and write its files; any failure becomes the outcome's error."""
    out = _Outcome(item.index)
    try:
        out.faces, record = _image(model, item, namer, o, out.written, timings)
        out.record = record if o.table else None
    except Exception as e:   # any per-item failure: report it, go on
        out.error = item_error(e, item.path)
    return out


def _image(model: DenseFace, item: _Item, namer: OutputNamer, o: BatchOptions,
           written: list, timings: Timings) -> tuple[int, dict]:
    """Predict one image, write its files (appended to ``written``) -> (faces, JSON record)."""
    path, stem = item.path, item.stem
    image = read_image(path)
    full = bool(o.export_mesh) and o.mesh == "full"
    faces = model.predict_array(image, boxes=o.boxes if item.boxes is None else item.boxes,
                                max_faces=o.max_faces, timings=timings,
                                mesh="full" if full else None)
    h, w = image.shape[:2]
    record = image_record(str(path), w, h, faces)
    if o.table is None:
        for fmt in o.formats:
            suffix, data = prediction_bytes(fmt, record, faces, model.landmark_set.n_points)
            written.append(atomic_write(namer.path(stem, suffix), data))
    if o.draw:
        view, view_faces = drawing_view(image, faces)
        drawn = draw_faces(view, view_faces, model.landmark_set.triangles, o.style)
        written.append(atomic_write(namer.path(stem, "_draw.jpg"), encode_image(drawn)))
    if o.export_mesh:
        for k, f in enumerate(faces):
            if full and f.mesh is not None:
                data = mesh_bytes(o.export_mesh, f.mesh, model.full_mesh_triangles)
            else:
                data = mesh_bytes(o.export_mesh, f.landmarks, model.mesh_triangles)
            written.append(atomic_write(namer.path(stem, f"_face{k}.{o.export_mesh}"), data))
    return len(faces), record


def _video(model: DenseFace, item: _Item, namer: OutputNamer, o: BatchOptions,
           summary: BatchSummary, timings: Timings) -> None:
    from .video import frame_count, process_video

    path, stem = item.path, item.stem
    tracker = TrackerConfig(**{**o.tracker.__dict__, "max_faces": o.max_faces})
    bar = _progress(frame_count(path), o.progress, unit="frame", leave=False, desc=path.name)
    try:
        res = process_video(model, path, namer.path(stem, ".jsonl"),
                            namer.path(stem, "_draw.mp4") if o.draw else None, tracker,
                            o.smoothing, item.boxes if item.boxes is not None else o.boxes,
                            o.style, bar.update, timings)
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


# ---------------------------------------------------------------------------- skip_existing
def _already_done(item: _Item, namer: OutputNamer, o: BatchOptions, table) -> bool:
    """Whether every output of ``item`` exists (atomic writes: an existing file is complete)."""
    try:
        if item.kind == "video":
            suffixes = [".jsonl"] + (["_draw.mp4"] if o.draw else [])
            return all(namer.path(item.stem, s).is_file() for s in suffixes)
        if table is not None:
            return str(item.path) in table.done
        preds = [f".{fmt}" for fmt in o.formats]
        if not all(namer.path(item.stem, s).is_file() for s in preds):
            return False
        n = _faces_in_outputs(namer, item.stem, o.formats) if o.export_mesh else 0
        return n is not None and _extras_done(item, namer, o, n)
    except (OSError, DenseFaceError):
        return False


def _extras_done(item: _Item, namer: OutputNamer, o: BatchOptions, n_faces: int) -> bool:
    """The drawing and the ``n_faces`` meshes of an image exist (those that were asked for)."""
    suffixes = (["_draw.jpg"] if o.draw else []) + (
        [f"_face{k}.{o.export_mesh}" for k in range(n_faces)] if o.export_mesh else [])
    try:
        return all(namer.path(item.stem, s).is_file() for s in suffixes)
    except (OSError, DenseFaceError):
        return False


def _faces_in_outputs(namer: OutputNamer, stem: str, formats) -> int | None:
    """The number of faces an existing prediction file holds (None: unreadable)."""
    import numpy as np

    try:
        if "npy" in formats:
            return int(np.load(namer.path(stem, ".npy"), mmap_mode="r").shape[0])
        if "json" in formats:
            return len(json.loads(namer.path(stem, ".json").read_bytes())["faces"])
        rows = namer.path(stem, ".csv").read_text().splitlines()[1:]
        return 1 + max((int(r.split(",", 1)[0]) for r in rows), default=-1)
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def _table_for(out_dir: Path, o: BatchOptions, plan: list[_Item], namer: OutputNamer):
    """The run's PredictionTable (None without ``o.table``), written through a temporary file
    that replaces OUT/predictions.<ext> at the end, also after Ctrl-C or SIGTERM (the rows done
    so far). With ``skip_existing`` the earlier table's rows are copied first, except those of
    inputs that will be predicted again (their drawing or meshes are missing)."""
    if o.table is None:
        yield None
        return
    final = out_dir / TABLE_FILES[o.table]
    interrupted = False
    with atomic_output(final) as tmp:
        table = PredictionTable(tmp, o.table)
        try:
            if o.skip_existing and final.is_file():
                images = {str(it.path): it for it in plan if it.kind == "image"}
                table.copy_from(final, lambda image, n: image not in images
                                or _extras_done(images[image], namer, o, n))
            try:
                with _sigterm_as_interrupt():
                    yield table
            except KeyboardInterrupt:
                interrupted = True       # keep the rows done so far: close and rename below
            table.close()
        except BaseException:
            try:
                table.close()
            except Exception:
                pass
            raise
    if interrupted:
        raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises KeyboardInterrupt in the block (main thread only), so a table in progress
    is closed with the rows done so far."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# ---------------------------------------------------------------------------- worker processes
_WORKER: dict = {}


class WorkerStartError(DenseFaceError):
    """A worker process could not build its model (stops the whole batch)."""


def _init_worker(spec: ModelSpec, options: BatchOptions, out_dir: str) -> None:
    """Process pool initializer: build this worker's model once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the main process's to handle
    try:
        import cv2

        silence_opencv_log()                       # as in the CLI: problems are our one line
        cv2.setNumThreads(spec.threads or 1)
        model = spec.build()
        if options.export_mesh and options.mesh == "full":
            _ = model.mesh_fitter
        _WORKER.update(model=model, options=options, namer=OutputNamer(out_dir), timings=Timings())
    except BaseException as e:                     # reported by the first task, in the main process
        err = item_error(e, "worker")
        _WORKER["start_error"] = WorkerStartError(f"a worker process could not start: {err.problem}",
                                                  exit_code=err.exit_code)


def _run_task(items: list[_Item]) -> list[_Outcome]:
    """Worker side: predict a chunk of images, write their files."""
    if "start_error" in _WORKER:
        raise _WORKER["start_error"]
    w = _WORKER
    outs = []
    for item in items:
        out = _image_outcome(w["model"], item, w["namer"], w["options"], w["timings"])
        out.pid, out.peak_rss = os.getpid(), _peak_rss()
        outs.append(out)
    return outs


def _peak_rss() -> int | None:
    """This process's peak resident memory in bytes (None where unknown)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _pool_outcomes(items: list[_Item], spec: ModelSpec, options: BatchOptions, out_dir: Path,
                   progress, task=_run_task):
    """Outcomes of ``items`` (images) predicted by ``options.workers`` processes, yielded in
    input order; ``progress(n)`` is called as results arrive. A bounded number of chunks is in
    flight (and waiting to be yielded), so memory does not grow with the number of images."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    workers = options.workers
    wopts = replace(options, boxes_for=None)       # per-item boxes travel with the items
    chunk = max(1, min(8, len(items) // (workers * 16)))
    queue = deque(items[i:i + chunk] for i in range(0, len(items), chunk))
    suspects: deque = deque()      # images of a chunk whose worker died: run one at a time
    window, max_ready = 2 * workers, 8 * workers * chunk
    context = multiprocessing.get_context("spawn")

    def start():
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(spec, wopts, str(out_dir)))

    ready: dict[int, _Outcome] = {}
    inflight: dict = {}
    k = 0
    dead_pools = 0                 # pools in a row that broke before any result
    pool, progressed = start(), False
    try:
        while queue or suspects or inflight:
            broken = False
            alone = bool(suspects)     # after a worker died: one image at a time finds the culprit
            source = suspects if alone else queue
            try:
                while source and (not inflight if alone else
                                  len(inflight) < window and len(ready) < max_ready):
                    t = source.popleft()
                    try:
                        inflight[pool.submit(task, t)] = (t, alone)
                    except BrokenProcessPool:          # the pool broke under our feet
                        source.appendleft(t)
                        raise
            except BrokenProcessPool:
                broken = True
            done = wait(inflight, return_when=FIRST_COMPLETED)[0] if inflight else set()
            while done:
                for fut in done:
                    t, was_alone = inflight.pop(fut)
                    try:
                        outs = fut.result()
                        progressed = True
                    except BrokenProcessPool:
                        broken = True
                        if not was_alone:
                            suspects.extend([it] for it in t)
                            continue
                        outs = [_Outcome(t[0].index, error=DenseFaceError(
                            "the worker process died while predicting this image (killed, e.g. "
                            "for memory)", path=t[0].path))]
                    except WorkerStartError:
                        raise
                    except Exception as e:     # e.g. a result that could not be sent back
                        outs = [_Outcome(it.index, error=item_error(e, it.path)) for it in t]
                    for o in outs:
                        ready[o.index] = o
                    progress(len(outs))
                # every other task of a broken pool fails too: collect them all
                done = wait(inflight)[0] if broken and inflight else set()
            if broken:
                dead_pools = 0 if progressed else dead_pools + 1
                if dead_pools >= 3:
                    raise WorkerStartError(
                        "the worker processes die before finishing any image (3 pools in a row); "
                        "a script that starts them needs the `if __name__ == \"__main__\":` guard")
                suspects = deque(sorted(suspects, key=lambda s: s[0].index))
                pool.shutdown(wait=True, cancel_futures=True)
                pool, progressed = start(), False
            while k < len(items) and items[k].index in ready:
                yield ready.pop(items[k].index)
                k += 1
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _progress(total, enabled: bool, **kw):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, **kw)
