"""What the peer workers (``benchmarks/peer_mediapipe.py``, ``benchmarks/peer_dlib.py``) share:
their CLI (``info``, ``predict``, ``time``), image list and decoding, core pinning and the
per-photo timing loop.

NumPy, OpenCV and the standard library only: it runs in each peer's own venv (MediaPipe's has
numpy < 2) and never imports denseface. The workers import it as a sibling module (they run as
scripts from ``benchmarks/``; an importer puts ``benchmarks/`` on ``sys.path``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

#: The ``time`` command's per-photo fields, in their output order.
TIME_FIELDS = ("end_to_end_ms", "end_to_end_cpu_ms", "detect_ms", "detect_cpu_ms", "landmarks_ms",
               "landmarks_cpu_ms")


def pin_cpus(n: int) -> list[int]:
    """Pin this process to its first ``n`` allowed cores (0 = leave as is); returns them."""
    allowed = sorted(os.sched_getaffinity(0))
    if n > 0:
        os.sched_setaffinity(0, allowed[:n])
    return sorted(os.sched_getaffinity(0))


def read_rgb(path: str) -> np.ndarray:
    """An image file -> (H, W, 3) RGB uint8 (OpenCV's decoder); ValueError when it cannot decode."""
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: cannot decode")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def read_list(path: str) -> list[str]:
    """The non-blank lines of an image list, stripped."""
    return [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]


def timed(fn: Callable, *args) -> tuple[object, float, float]:
    """``fn(*args)``, its wall ms and its process CPU ms (every thread)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, 1e3 * (time.perf_counter() - w0), 1e3 * (time.process_time() - c0)


def decoded_images(paths: list[str], given: np.ndarray | None,
                   worker: str) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """(index, RGB image, its row of ``given`` or None) for each image of ``paths`` that decodes
    (one stderr line ``WORKER: PATH: cannot decode`` for each that does not) and whose given row,
    if any, is finite (a row of NaN skips the image)."""
    for i, path in enumerate(paths):
        try:
            rgb = read_rgb(path)
        except ValueError as e:
            print(f"{worker}: {e}", file=sys.stderr)
            continue
        if given is not None and not np.isfinite(given[i]).all():
            continue
        yield i, rgb, (None if given is None else given[i])


def time_stages(paths: list[str], repeats: int, warmup: int, *, predict: Callable[[np.ndarray], list],
                detect: Callable[[np.ndarray], list], landmarks: Callable[[np.ndarray, object], object],
                warm_up: Callable[[np.ndarray], object]) -> dict:
    """Per photo, medians over ``repeats`` (after ``warmup`` untimed ``warm_up`` calls on the
    first photo) of the wall and CPU ms of ``predict(rgb)`` (end to end; its length is the faces
    found), of ``detect(rgb)`` and of ``landmarks(rgb, d)`` over each ``d`` that ``detect``
    gave. Returns {"per_photo": [{"image", "faces", "height", "width", TIME_FIELDS...}],
    "median": {TIME_FIELDS: median over photos, None without photos}}."""
    images = [(p, read_rgb(p)) for p in paths]
    for _ in range(warmup if images else 0):
        warm_up(images[0][1])
    rows = []
    for path, rgb in images:
        samples: list[tuple[float, ...]] = []
        faces = 0
        for _ in range(repeats):
            found, e2e, e2e_cpu = timed(predict, rgb)
            located, det, det_cpu = timed(detect, rgb)
            _, lmk, lmk_cpu = timed(lambda: [landmarks(rgb, d) for d in located])
            faces = len(found)
            samples.append((e2e, e2e_cpu, det, det_cpu, lmk, lmk_cpu))
        medians = np.median(np.array(samples).reshape(-1, len(TIME_FIELDS)), axis=0)
        rows.append({"image": path, "faces": faces, "height": int(rgb.shape[0]), "width": int(rgb.shape[1]),
                     **{k: float(v) for k, v in zip(TIME_FIELDS, medians)}})
    median = {k: (float(np.median([r[k] for r in rows])) if rows else None) for k in TIME_FIELDS}
    return {"per_photo": rows, "median": median}


#: An option a worker adds to its subcommands: (flag, argparse keyword arguments).
Option = tuple[str, dict]


def worker_parser(description: str, given_option: str, predict_options: tuple[Option, ...] = (),
                  shared_options: tuple[Option, ...] = ()) -> argparse.ArgumentParser:
    """The workers' shared CLI: ``info``; ``predict --images LIST --out OUT.npz [GIVEN_OPTION
    FILE.npy] [--max-faces 4]`` + ``predict_options`` (the given file is ``args.given``); ``time
    --images LIST --out OUT.json [--repeats 3] [--warmup 3] [--max-faces 1]``; then
    ``shared_options`` and ``--cpus 1`` on both."""
    ap = argparse.ArgumentParser(description=description)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    p = sub.add_parser("predict")
    p.add_argument("--images", required=True)
    p.add_argument("--out", required=True)
    p.add_argument(given_option, dest="given", default="", metavar=given_option.lstrip("-").upper())
    p.add_argument("--max-faces", type=int, default=4)
    for flag, kwargs in predict_options:
        p.add_argument(flag, **kwargs)
    t = sub.add_parser("time")
    t.add_argument("--images", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--warmup", type=int, default=3)
    t.add_argument("--max-faces", type=int, default=1)
    for q in (p, t):
        for flag, kwargs in shared_options:
            q.add_argument(flag, **kwargs)
        q.add_argument("--cpus", type=int, default=1, help="pin to this many cores (0: no pinning)")
    return ap


def run_worker(args: argparse.Namespace, worker: str, meta: Callable[[dict | None], dict],
               given_width: int, predict: Callable[[list[str], np.ndarray | None], tuple[dict, dict]],
               time_photos: Callable[[list[str]], dict]) -> int:
    """A parsed worker command. ``info``: ``meta(None)`` as JSON on stdout. Otherwise pinned to
    ``--cpus`` cores, on the images of ``--images``: ``time`` writes ``time_photos(paths)`` to
    ``--out`` as JSON; ``predict`` loads the given regions (``args.given``: an (N,
    ``given_width``) .npy, or None without one; a wrong shape is one stderr line and exit 2), runs ``predict(paths, regions)`` -> (arrays, settings) and writes the arrays and
    ``meta`` (``meta(settings)`` as a JSON string) to ``--out`` (.npz)."""
    if args.cmd == "info":
        print(json.dumps(meta(None), indent=1))
        return 0
    pin_cpus(args.cpus)
    paths = read_list(args.images)
    if args.cmd == "time":
        Path(args.out).write_text(json.dumps(time_photos(paths), indent=1))
        return 0
    regions = np.load(args.given).astype(np.float64) if args.given else None
    if regions is not None and regions.shape != (len(paths), given_width):
        print(f"{worker}: {args.given}: shape {regions.shape}, expected ({len(paths)}, {given_width})",
              file=sys.stderr)
        return 2
    arrays, settings = predict(paths, regions)
    np.savez_compressed(args.out, **arrays, meta=np.array(json.dumps(meta(settings))))
    return 0

