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

The parts (docs/architecture.md): the inputs (:mod:`.sources`), the jobs and their options
(:mod:`.jobs`), the worker pool (:mod:`.pool`), resuming (:mod:`.resume`); this module runs
them and counts. Many images (docs/scale.md):

* ``workers`` > 1: a process pool over the images (:mod:`.pool`); results come back to the main
  process, which updates the progress bar as they arrive and reports errors, counts and table
  rows in input order. Videos stay in the main process (tracking is sequential), after the
  images.
* ``skip_existing``: an input whose outputs all exist (atomic writes: an existing file is
  complete) is skipped and counted, so a killed run resumes where it stopped.
* ``table`` ("parquet" | "jsonl"): one file ``OUT/predictions.<ext>`` with a row per image (the
  fields of the per-image JSON plus ``error``) instead of per-image prediction files, streamed
  in row groups into a temporary file renamed at the end; on Ctrl-C or SIGTERM the rows done so
  far are kept (the file is closed and renamed), so ``skip_existing`` resumes from them.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import EXIT_OK, EXIT_PARTIAL, ConfigError, DenseFaceError, printable
from ..io.files import atomic_output, ensure_out_dir
from .api import DenseFace, ModelSpec, Timings
from .jobs import (AUTO_WORKERS, TABLE_FILES, BatchOptions, Item, auto_workers, image_outcome, item_error,
                   video_options_note)
from .outputs import OutputNamer
from .pool import pool_outcomes
from .resume import already_done, extras_done
from .sources import collect_inputs
from .tables import PredictionTable
from .tracking import TrackerConfig


@dataclass
class BatchSummary:
    done: int = 0
    faces: int = 0
    without_face: int = 0
    videos: int = 0
    frames: int = 0
    frames_with_face: int = 0
    video_faces: int = 0
    video_detector_frames: int = 0     # frames on which the detector ran (the rest were tracked)
    failed: list[DenseFaceError] = field(default_factory=list)
    not_followed: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: int = 0                   # inputs whose outputs already existed (skip_existing)
    video_codec: str | None = None     # the annotated videos' codec (--draw), said in the summary
    workers: int = 1                   # processes that predicted the images (said when > 1)
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
        if self.failed:
            head += " (each named above)"     # every failure was logged as it happened, once
        if self.skipped:
            head += f", {self.skipped} skipped, already done"
        images = self.done - self.videos
        if images > 0:
            head += f"; {images} image(s), {self.faces} face(s)"
            if self.workers > 1:
                head += f" in {self.workers} worker processes"
            if self.without_face:
                head += f", {self.without_face} image(s) without a face"
        if self.videos:
            head += (f"; {self.videos} video(s), {self.frames} frame(s), {self.frames_with_face} "
                     f"with a face, {self.video_faces} face(s) over all frames, the detector run on "
                     f"{self.video_detector_frames} frame(s) (tracked on the others)")
            if self.video_codec:
                head += f", drawn as {self.video_codec}"
        out = [head]
        out += [f"  not followed (symlinked folder): {printable(str(p))}" for p in self.not_followed]
        return out


def run_batch(model: DenseFace | None, paths, options: BatchOptions, log=None,
              spec: ModelSpec | None = None, on_result=None) -> BatchSummary:
    """Predict every input and write its outputs into ``options.out_dir``.

    ``model`` predicts in this process: every input when ``options.workers`` is 1, the videos
    otherwise (None: built from ``spec`` if needed); ``spec`` builds each worker's own model
    (needed when ``options.workers`` > 1).
    ``on_result(n)``: called as n more inputs are finished (like the progress bar)."""
    log = log or (lambda line: print(line, file=sys.stderr))
    if options.workers != AUTO_WORKERS and options.workers > 1 and spec is None:
        raise ConfigError("workers > 1 needs a ModelSpec to build each worker's model")
    if model is None and spec is None:
        raise ConfigError("run_batch needs a model (or a ModelSpec)")
    out_dir = ensure_out_dir(options.out_dir)
    namer = OutputNamer(out_dir)
    summary = BatchSummary()
    plan = _plan(paths, options, namer, summary, log)
    with _table_for(out_dir, options, plan, namer) as table:
        todo = [it for it in plan if not (options.skip_existing and
                                          already_done(it, namer, options, table))]
        summary.skipped = len(plan) - len(todo)
        recorder = _Recorder(summary, table, log)
        bar = _progress(len(todo), options.progress and len(todo) > 1)

        def advance(n: int = 1) -> None:
            bar.update(n)
            if on_result is not None:
                on_result(n)

        try:
            _run_items(model, spec, todo, namer, options, out_dir, recorder, advance)
        finally:
            bar.close()
    summary.failed += [e for _, e in sorted(recorder.failures, key=lambda f: f[0])]
    return summary


def _plan(paths, options: BatchOptions, namer: OutputNamer, summary: BatchSummary, log) -> list[Item]:
    """The run's items, in input order, each with its output stem; unusable inputs are logged
    and counted as failed, a note says which options the videos ignore."""
    inputs = collect_inputs(paths)
    summary.not_followed += inputs.not_followed
    for e in inputs.errors:
        log(f"denseface: {e}")
        summary.failed.append(e)
    boxes_for = options.boxes_for or {}
    plan = [Item(i, p, kind, namer.stem_for(p), boxes_for.get(str(p)))
            for i, (p, kind) in enumerate(inputs.items)]
    note = video_options_note(options, sum(it.kind == "video" for it in plan), len(plan))
    if note:
        log(note)
    return plan


class _Recorder:
    """Counts outcomes into the summary and the table; failures are logged as they come and
    kept with their input position (the summary lists them in input order)."""

    def __init__(self, summary: BatchSummary, table: PredictionTable | None, log):
        self.summary, self.table, self.log = summary, table, log
        self.failures: list[tuple[int, DenseFaceError]] = []

    def record(self, outcome, item: Item) -> None:
        summary = self.summary
        summary.written += outcome.written
        if outcome.pid is not None:
            old = summary.worker_peak_rss.get(outcome.pid) or 0
            summary.worker_peak_rss[outcome.pid] = max(old, outcome.peak_rss or 0)
        if outcome.error is None:
            summary.done += 1
            summary.faces += outcome.faces
            summary.without_face += not outcome.faces
            if self.table is not None:
                self.table.add(outcome.record)
        else:
            self.fail(item, outcome.error)

    def fail(self, item: Item, e: BaseException) -> None:
        err = item_error(e, item.path)
        self.log(f"denseface: {err}")
        self.failures.append((item.index, err))
        if self.table is not None and item.kind == "image":
            self.table.add_error(str(item.path), str(err))


def _run_items(model: DenseFace | None, spec: ModelSpec | None, todo: list[Item], namer: OutputNamer,
               options: BatchOptions, out_dir: Path, recorder: _Recorder, advance) -> None:
    """The images in the worker pool (``options.workers`` > 1) or here, then the videos here."""
    timings = Timings()
    images = [it for it in todo if it.kind == "image"]
    rest = todo
    if options.workers == AUTO_WORKERS:
        options = replace(options, workers=auto_workers(len(images)) if spec is not None else 1)
    recorder.summary.workers = options.workers if len(images) > 1 else 1
    if options.workers > 1 and len(images) > 1:
        by_index = {it.index: it for it in images}
        for outcome in pool_outcomes(images, spec, options, out_dir, advance):
            recorder.record(outcome, by_index[outcome.index])
        rest = [it for it in todo if it.kind == "video"]   # videos stay here, after
    if rest and model is None:
        model = spec.build()
    for item in rest:
        try:
            if item.kind == "video":
                try:
                    _video(model, item, namer, options, recorder.summary, timings)
                    recorder.summary.done += 1
                except Exception as e:   # any per-item failure: report it, go on
                    recorder.fail(item, e)
            else:
                recorder.record(image_outcome(model, item, namer, options, timings), item)
        finally:
            advance(1)


def _video(model: DenseFace, item: Item, namer: OutputNamer, o: BatchOptions,
           summary: BatchSummary, timings: Timings) -> None:
    from .video import draw_codec, frame_count, process_video

    path, stem = item.path, item.stem
    tracker = TrackerConfig(**{**o.tracker.__dict__, "max_faces": o.max_faces})
    bar = _progress(frame_count(path), o.progress, unit="frame", leave=False, desc=path.name)
    try:
        res = process_video(model, path, namer.path(stem, ".jsonl"),
                            namer.path(stem, "_draw" + draw_codec().suffix) if o.draw else None, tracker,
                            o.smoothing, item.boxes if item.boxes is not None else o.boxes,
                            o.style, bar.update, timings)
    finally:
        bar.close()
    summary.written += res.outputs
    summary.frames += res.frames
    summary.frames_with_face += res.frames_with_face
    summary.video_faces += res.faces
    summary.video_detector_frames += res.detector_frames
    if res.codec is not None:
        summary.video_codec = res.codec.name
    if res.expected_frames and res.frames < res.expected_frames:
        raise DenseFaceError(f"decoded {res.frames} of the {res.expected_frames} frames the file "
                             f"declares (damaged or truncated video); the outputs hold the "
                             f"{res.frames} decoded frames", path=path, exit_code=EXIT_PARTIAL)
    summary.videos += 1


@contextmanager
def _table_for(out_dir: Path, o: BatchOptions, plan: list[Item], namer: OutputNamer):
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
                                or extras_done(images[image], namer, o, n))
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


def _progress(total, enabled: bool, **kw):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, **kw)
