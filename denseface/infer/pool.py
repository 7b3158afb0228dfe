"""The worker pool of a batch (``workers`` > 1, docs/scale.md).

A process pool (concurrent.futures, "spawn" context) over the images: each worker builds its own
DenseFace once, from a picklable :class:`~denseface.infer.api.ModelSpec` (1 thread each unless
the spec names more), predicts image by image exactly like the 1-process path and writes that
image's files itself (atomic writes). Outcomes come back to the main process in input order. A
worker that dies (e.g. killed for memory) fails only the image that killed it: the images it had
in flight are run again one at a time in a fresh pool. Workers end with the main process, also
when it is killed outright (:mod:`.lifeline`).
"""
from __future__ import annotations

import os
import signal
import sys
from collections import deque
from dataclasses import replace
from pathlib import Path

from ..errors import DenseFaceError
from ..io.images import silence_opencv_log
from .api import ModelSpec, Timings
from .jobs import BatchOptions, Item, Outcome, image_outcome, item_error
from .lifeline import exit_with_parent
from .outputs import OutputNamer

#: This worker process's model, options, namer and timings (set by :func:`init_worker`).
_WORKER: dict = {}


class WorkerStartError(DenseFaceError):
    """A worker process could not build its model (stops the whole batch)."""


def init_worker(spec: ModelSpec, options: BatchOptions, out_dir: str, parent_pid: int) -> None:
    """Process pool initializer: end with the main process ``parent_pid`` (also when it is
    killed outright, :func:`~denseface.infer.lifeline.exit_with_parent`), then build this
    worker's model once (``spec.threads`` threads, 1 when it names none)."""
    exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the main process's to handle
    try:
        import cv2

        silence_opencv_log()                       # as in the CLI: problems are our one line
        cv2.setNumThreads(spec.threads or 1)
        model = replace(spec, threads=spec.threads or 1).build()
        if options.full_meshes:
            _ = model.mesh_fitter
        _WORKER.update(model=model, options=options, namer=OutputNamer(out_dir), timings=Timings())
    except BaseException as e:                     # reported by the first task, in the main process
        err = item_error(e, "worker")
        _WORKER["start_error"] = WorkerStartError(f"a worker process could not start: {err.problem}",
                                                  exit_code=err.exit_code)


def run_task(items: list[Item]) -> list[Outcome]:
    """Worker side: predict a chunk of images, write their files."""
    if "start_error" in _WORKER:
        raise _WORKER["start_error"]
    w = _WORKER
    outs = []
    for item in items:
        out = image_outcome(w["model"], item, w["namer"], w["options"], w["timings"])
        out.pid, out.peak_rss = os.getpid(), peak_rss()
        outs.append(out)
    return outs


def peak_rss() -> int | None:
    """This process's peak resident memory in bytes (None where unknown)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def pool_outcomes(items: list[Item], spec: ModelSpec, options: BatchOptions, out_dir: Path,
                  progress, task=run_task):
    """Outcomes of ``items`` (images) predicted by ``options.workers`` processes, yielded in
    input order; ``progress(n)`` is called as results arrive. A bounded number of chunks is in
    flight (and waiting to be yielded), so memory does not grow with the number of images."""
    run = _PoolRun(items, spec, options, out_dir, progress, task)
    k = 0
    try:
        while run.queue or run.suspects or run.inflight:
            broken = run.collect(run.submit())
            if broken:
                run.restart()
            while k < len(items) and items[k].index in run.ready:
                yield run.ready.pop(items[k].index)
                k += 1
    finally:
        run.pool.shutdown(wait=True, cancel_futures=True)


class _PoolRun:
    """The state of one :func:`pool_outcomes` run: chunks queued, in flight and done, and the
    images of a dead worker's chunk (``suspects``), run again one at a time."""

    def __init__(self, items: list[Item], spec: ModelSpec, options: BatchOptions, out_dir: Path,
                 progress, task):
        import multiprocessing

        workers = options.workers
        chunk = max(1, min(8, len(items) // (workers * 16)))
        self.queue = deque(items[i:i + chunk] for i in range(0, len(items), chunk))
        self.suspects: deque = deque()
        self.window, self.max_ready = 2 * workers, 8 * workers * chunk
        self.ready: dict[int, Outcome] = {}
        self.inflight: dict = {}
        self.dead_pools = 0            # pools in a row that broke before any result
        self.progress, self.task, self.workers = progress, task, workers
        self.context = multiprocessing.get_context("spawn")
        # per-item boxes travel with the items
        self.initargs = (spec, replace(options, boxes_for=None), str(out_dir), os.getpid())
        self.pool, self.progressed = self._start(), False

    def _start(self):
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=init_worker,
                                   initargs=self.initargs)

    def submit(self) -> bool:
        """Put more chunks in flight (after a worker died: one suspect image at a time, to find
        the culprit); True when the pool broke meanwhile."""
        from concurrent.futures.process import BrokenProcessPool

        alone = bool(self.suspects)
        source = self.suspects if alone else self.queue
        try:
            while source and (not self.inflight if alone else
                              len(self.inflight) < self.window and len(self.ready) < self.max_ready):
                t = source.popleft()
                try:
                    self.inflight[self.pool.submit(self.task, t)] = (t, alone)
                except BrokenProcessPool:          # the pool broke under our feet
                    source.appendleft(t)
                    raise
        except BrokenProcessPool:
            return True
        return False

    def collect(self, broken: bool = False) -> bool:
        """Wait for the first finished chunk and take every finished one into ``ready`` (all of
        them when the pool broke, also before: ``broken``); True when it broke."""
        from concurrent.futures import FIRST_COMPLETED, wait

        done = wait(self.inflight, return_when=FIRST_COMPLETED)[0] if self.inflight else set()
        while done:
            for fut in done:
                outs, died = self._outcomes(fut)
                broken = broken or died
                for o in outs:
                    self.ready[o.index] = o
                if outs:
                    self.progress(len(outs))
            # every other task of a broken pool fails too: collect them all
            done = wait(self.inflight)[0] if broken and self.inflight else set()
        return broken

    def _outcomes(self, fut) -> tuple[list[Outcome], bool]:
        """A finished chunk's outcomes, and whether its worker died (its images then become
        suspects, or the suspect itself fails)."""
        from concurrent.futures.process import BrokenProcessPool

        t, was_alone = self.inflight.pop(fut)
        try:
            outs = fut.result()
            self.progressed = True
            return outs, False
        except BrokenProcessPool:
            if not was_alone:
                self.suspects.extend([it] for it in t)
                return [], True
            return [Outcome(t[0].index, error=DenseFaceError(
                "the worker process died while predicting this image (killed, e.g. for memory)",
                path=t[0].path))], True
        except WorkerStartError:
            raise
        except Exception as e:     # e.g. a result that could not be sent back
            return [Outcome(it.index, error=item_error(e, it.path)) for it in t], False

    def restart(self) -> None:
        """A fresh pool after a broken one; three pools in a row that die before any result
        stop the batch."""
        self.dead_pools = 0 if self.progressed else self.dead_pools + 1
        if self.dead_pools >= 3:
            raise WorkerStartError(
                "the worker processes die before finishing any image (3 pools in a row); "
                "a script that starts them needs the `if __name__ == \"__main__\":` guard")
        self.suspects = deque(sorted(self.suspects, key=lambda s: s[0].index))
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool, self.progressed = self._start(), False
