"""A photo end to end: denseface beside MediaPipe Face Mesh, on the same photos and core.

    python benchmarks/bench_e2e.py                     # AFLW2000-3D (200) + 640x480 photos, 3 rounds
    python benchmarks/bench_e2e.py --rounds 5 --aflw 100
    python benchmarks/bench_e2e.py --report-only       # the doc sections from the saved result

Photos: ``--aflw`` evenly spaced AFLW2000-3D images (450x450 JPEG files as distributed) and the
photos of shared/data/face_landmark_samples centre-cropped to 4:3 and resized to 640x480
(``denseface.eval.calibration.speed_photos``), written as JPEG (quality 95) into a temporary folder so
that decoding is measured too.

Rules: one thread everywhere (ONNX Runtime, OpenCV, the detector), this process pinned to one
core (``--cpu``) and MediaPipe's worker pinned to the same core; every configuration and
MediaPipe take turns photo by photo (the order rotates with the photo and the round), so a
change in the machine's load hits them alike; per photo the median over ``--rounds``, then the
median over photos. The machine is shared: read the ratios of the same run.

- denseface, per configuration, from the file to the faces: ``read_image`` (file read, header
  checks, decode; the checks alone are timed separately too), then ``predict_array`` with its
  stage timings: detect, crop, network, decode (network output -> image pixels, and the head
  pose). Configurations: the default (``DenseFace()``: the default detector with its cascade,
  2 passes, the default ``tta``), the default with the other ``tta`` setting, and the previous
  default (libfacedetection on the 640-px copy, no cascade) for reference.
- MediaPipe Face Mesh: this script with ``--mediapipe-serve`` in MediaPipe's own venv
  (``benchmarks/peers_env.sh``: mediapipe==0.10.21), through ``benchmarks/peer_mediapipe.py``'s
  ``FaceMeshPeer`` (max 10 faces): per photo, ``cv2.imread`` + RGB, its legacy Face Mesh solution
  (BlazeFace short range + 468 points), and its detector and landmark parts alone.
- Ratio = denseface default / MediaPipe, both from the file; the decoded-image ratio leaves the
  decode out of both. Without MediaPipe (no venv / it fails) the result says so and the target
  is an absolute 10 ms.

Large JPEGs (every run): a 4032x3024 JPEG (a sample photo upscaled, quality 95): ``read_image``
(full decode), ``cv2.imread`` with ``IMREAD_REDUCED_COLOR_2/4/8`` (the decoder's DCT scaling),
and the detection copies made from the full image (``detection_view`` to 640 px, and the
cascade's small copy, made from the full image in two cheap steps): what
decoding at reduced size for detection would save, and what it would add when the crops still
need the full image.

Threads (``--threads-study``, not pinned, both cores): the default configuration with
``threads`` 1, 2 and None (each library's default) on the 640x480 photos, the three taking
turns photo by photo: wall and process CPU ms per photo (folders: ``--workers``, docs/scale.md).

Results: benchmarks/results/e2e.json; the sections between the ``e2e`` markers of
docs/predict.md and docs/detectors.md are rebuilt from it.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def mediapipe_serve() -> int:
    """Run in MediaPipe's venv (no denseface there): for each photo path read on stdin, one
    JSON line with the wall ms of decoding it (cv2.imread + RGB, peer_mediapipe.read_rgb), of
    the Face Mesh solution on it (and the process CPU ms of both, every MediaPipe thread) (FaceMeshPeer.predict: BlazeFace + 468 points, what a user
    runs), of BlazeFace alone and of the 468-point model on the ROIs BlazeFace gives, and the
    faces found. A line "warmup PATH" runs PATH three times untimed. MediaPipe's wrapper is
    benchmarks/peer_mediapipe.py (one wrapper for every benchmark)."""
    from peer_mediapipe import FaceMeshPeer, read_rgb

    peer = FaceMeshPeer(max_faces=int(os.environ.get("E2E_MAX_FACES", "10")))
    for line in sys.stdin:
        cmd, _, path = line.strip().partition(" ")
        if cmd == "warmup":
            rgb = read_rgb(path)
            for _ in range(3):
                peer.predict(rgb)
                for roi in peer.detect(rgb):
                    peer.landmarks_in_roi(rgb, roi)
            print("{}", flush=True)
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        rgb = read_rgb(path)
        t1 = time.perf_counter()
        faces = len(peer.predict(rgb))
        t2, c2 = time.perf_counter(), time.process_time()
        rois = peer.detect(rgb)
        t3 = time.perf_counter()
        for roi in rois:
            peer.landmarks_in_roi(rgb, roi)
        t4 = time.perf_counter()
        print(json.dumps({"decode": 1e3 * (t1 - t0), "end_to_end": 1e3 * (t2 - t1), "cpu_from_file": 1e3 * (c2 - c0),
                          "detect": 1e3 * (t3 - t2),
                          "landmarks": 1e3 * (t4 - t3), "faces": faces}), flush=True)
    peer.close()
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--mediapipe-serve"]:
    sys.exit(mediapipe_serve())

ROOT = Path(__file__).resolve().parents[1]

from denseface.eval.calibration import speed_photos  # noqa: E402
from denseface.eval.datasets import load_aflw2000  # noqa: E402
from denseface.eval.e2e_report import e2e_markdown  # noqa: E402
from denseface.eval.report import machine, write_doc_section, write_json  # noqa: E402
from denseface.infer.api import STAGES, DenseFace, PredictConfig, Timings  # noqa: E402
from denseface.io.image_headers import header_size  # noqa: E402
from denseface.io.images import read_file_bytes, read_image  # noqa: E402
from denseface.paths import shared_root  # noqa: E402

RESULT = ROOT / "benchmarks" / "results" / "e2e.json"
MEDIAPIPE_PYTHON = Path("/work/venvs/mediapipe/bin/python")


def configurations() -> dict[str, dict]:
    """label -> DenseFace keyword arguments (threads=1 added). The first is the default."""
    default = PredictConfig()
    other_tta = "none" if default.tta != "none" else "flip"
    return {
        "default": {},
        f"default, tta={other_tta}": {"config": PredictConfig(tta=other_tta)},
        "previous default (libfacedetection, 640 px, no cascade)":
            {"detector": "libfacedetection", "config": PredictConfig(cascade_side=0)},
    }


def photo_sets(shared: Path, n_aflw: int, folder: Path) -> dict[str, list[Path]]:
    """The two photo sets as files: AFLW2000-3D as distributed, 640x480 JPEGs written here."""
    aflw = list(load_aflw2000(shared / "data" / "aflw2000_3d", shared / "data" / "3ddfa_test_configs",
                              n_aflw).image_paths)
    photos = []
    for k, rgb in enumerate(speed_photos(shared, count=1000)):
        path = folder / f"photo_{k:02d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        photos.append(path)
    return {"AFLW2000-3D (450x450)": aflw, "640x480 photos": photos}


def time_denseface_photo(model: DenseFace, path: Path) -> dict:
    """One photo from the file: wall ms of read_image, of each predict stage, the total, and the
    process CPU ms of the whole (all threads)."""
    t = Timings()
    w0, c0 = time.perf_counter(), time.process_time()
    image = read_image(path)
    w1 = time.perf_counter()
    faces = model.predict_array(image, timings=t)
    w2, c2 = time.perf_counter(), time.process_time()
    row = {"read_image": 1e3 * (w1 - w0), "total": 1e3 * (w2 - w0), "cpu_total": 1e3 * (c2 - c0),
           "faces": len(faces)}
    row.update({s: 1e3 * t.seconds[s] for s in STAGES})
    return row


def time_decoders_photo(path: Path) -> dict:
    """cv2.imread alone, and read_image's checks alone (reading the file and its header)."""
    w0 = time.perf_counter()
    cv2.imread(str(path), cv2.IMREAD_COLOR)
    w1 = time.perf_counter()
    header_size(read_file_bytes(path))
    w2 = time.perf_counter()
    return {"imread": 1e3 * (w1 - w0), "checks": 1e3 * (w2 - w1)}


class MediaPipeServer:
    """This script's ``--mediapipe-serve`` in MediaPipe's venv, pinned to ``cpu``: one photo per
    request, so that MediaPipe takes turns with denseface photo by photo."""

    def __init__(self, python: Path, cpu: int):
        env = {**os.environ, "E2E_MAX_FACES": "10"}
        self.proc = subprocess.Popen([str(python), str(Path(__file__).resolve()), "--mediapipe-serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))

    def ask(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("the MediaPipe worker stopped")
        return json.loads(answer)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def start_mediapipe(python: Path, cpu: int, warmup: Path) -> tuple[MediaPipeServer | None, str]:
    """The MediaPipe worker, warmed up; or None and why not."""
    if not python.is_file():
        return None, f"no MediaPipe venv at {python} (bash benchmarks/peers_env.sh mediapipe)"
    try:
        server = MediaPipeServer(python, cpu)
        server.ask(f"warmup {warmup}")
        return server, ""
    except (OSError, RuntimeError, ValueError) as e:
        return None, f"the MediaPipe worker failed ({e})"


def large_jpeg(shared: Path, folder: Path, repeats: int = 5) -> dict:
    """ms (median of ``repeats``) of each way to get a 4032x3024 JPEG to the detector."""
    from denseface.io.images import detection_view

    rgb = speed_photos(shared, count=1)[0]
    big = cv2.resize(rgb, (4032, 3024), interpolation=cv2.INTER_CUBIC)
    path = folder / "large.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    full = read_image(path)
    small = PredictConfig().cascade_side
    steps = {"read_image (full decode)": lambda: read_image(path),
             "detection_view 640 px from the full image": lambda: detection_view(full, 640),
             f"the cascade's {small}-px copy from the full image (fast)": lambda: detection_view(full, small, fast=True)}
    for f in (2, 4, 8):
        flag = getattr(cv2, f"IMREAD_REDUCED_COLOR_{f}")
        steps[f"cv2.imread reduced 1/{f}"] = lambda flag=flag: cv2.imread(str(path), flag)
    out = {}
    for name, step in steps.items():
        step()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            ts.append(1e3 * (time.perf_counter() - t0))
        out[name] = float(np.median(ts))
    return {"size": [4032, 3024], "file_mb": round(path.stat().st_size / 2**20, 2), "ms": out}


def threads_study(paths: list[Path], rounds: int) -> dict:
    """Per photo, wall and process-CPU ms of the default pipeline at threads 1, 2 and None,
    taking turns photo by photo (unpinned); medians over rounds, then over photos."""
    settings = {"1": 1, "2": 2, "None": None}
    models = {k: DenseFace(threads=v) for k, v in settings.items()}
    for m in models.values():
        for path in paths[:3]:
            time_denseface_photo(m, path)
    wall = {k: [[] for _ in paths] for k in models}
    cpu = {k: [[] for _ in paths] for k in models}
    for r in range(rounds):
        for i, path in enumerate(paths):
            for j in range(len(models)):
                key = list(models)[(r + i + j) % len(models)]
                w0, c0 = time.perf_counter(), time.process_time()
                models[key].predict(path)
                wall[key][i].append(1e3 * (time.perf_counter() - w0))
                cpu[key][i].append(1e3 * (time.process_time() - c0))
    return {k: {"wall_ms": float(np.median([np.median(v) for v in wall[k]])),
                "cpu_ms": float(np.median([np.median(v) for v in cpu[k]]))} for k in models}


def run(args) -> dict:
    shared = args.shared
    if args.threads_study:
        with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
            paths = photo_sets(shared, 0, Path(tmp))["640x480 photos"]
            study = {"machine": machine(), "rounds": args.rounds, "photos": len(paths),
                     "settings": threads_study(paths, args.rounds), "load_average_end": round(os.getloadavg()[0], 1)}
        old = json.loads(RESULT.read_text()) if RESULT.exists() else {}
        return {**old, "threads": study}
    os.sched_setaffinity(0, {args.cpu})
    cv2.setNumThreads(1)
    configs = configurations()
    models = {label: DenseFace(threads=1, **kw) for label, kw in configs.items()}
    out = {"machine": machine(), "cpu": args.cpu, "rounds": args.rounds, "sets": {},
           "configs": {label: _describe(m) for label, m in models.items()}}
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        out["large_jpeg"] = large_jpeg(shared, Path(tmp))
        sets = photo_sets(shared, args.aflw, Path(tmp))
        for model in models.values():  # warm up (sessions, first-call allocations)
            for path in sets["640x480 photos"][:3]:
                time_denseface_photo(model, path)
        server, why_not = start_mediapipe(args.mediapipe_python, args.cpu, sets["640x480 photos"][0])
        parts = list(models) + ["decoders"] + (["mediapipe"] if server else [])
        for set_name, paths in sets.items():
            runs = {part: [[] for _ in paths] for part in parts}
            for r in range(args.rounds):
                for i, path in enumerate(paths):
                    for k in range(len(parts)):  # every part on this photo, in rotating order
                        part = parts[(r + i + k) % len(parts)]
                        if part == "mediapipe":
                            runs[part][i].append(server.ask(f"time {path}"))
                        elif part == "decoders":
                            runs[part][i].append(time_decoders_photo(path))
                        else:
                            runs[part][i].append(time_denseface_photo(models[part], path))
                print(f"{set_name}: round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
            out["sets"][set_name] = {
                "photos": len(paths), "size": _size(paths[0]),
                "denseface": {label: _per_photo_median(runs[label]) for label in models},
                "decoders": _per_photo_median(runs["decoders"]),
                "mediapipe": _per_photo_median(runs["mediapipe"]) if server else None,
                "mediapipe_missing": why_not or None}
        if server:
            server.close()
    out["load_average_end"] = round(os.getloadavg()[0], 1)
    old = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    if "threads" in old:
        out["threads"] = old["threads"]
    return out


def _describe(model: DenseFace) -> dict:
    c = model.config
    return {"detector": model.detector.name, "cascade_side": c.cascade_side, "detect_max_side": c.detect_max_side,
            "cascade_min_face_px": c.cascade_min_face_px, "passes": c.passes, "tta": getattr(c, "tta", None),
            "model": Path(str(getattr(model.runner, "path", "") or "")).name}


def _size(path: Path) -> list[int]:
    h, w = read_image(path).shape[:2]
    return [w, h]


def _per_photo_median(per_photo: list[list[dict]]) -> list[dict]:
    """Per photo, the median of each timing over its rounds (counts from the first round)."""
    return [{key: value if key == "faces" else float(np.median([r[key] for r in rounds]))
             for key, value in rounds[0].items()} for rounds in per_photo]


# ------------------------------------------------------------------------------------ report
def write_report(r: dict) -> None:
    text = e2e_markdown(r)
    for doc in (ROOT / "docs" / "predict.md", ROOT / "docs" / "detectors.md"):
        write_doc_section(doc, "e2e", text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=shared_root())
    ap.add_argument("--aflw", type=int, default=200, help="AFLW2000-3D images, evenly spaced (default 200)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the last allowed)")
    ap.add_argument("--mediapipe-python", type=Path, default=MEDIAPIPE_PYTHON,
                    help=f"python of MediaPipe's venv (default {MEDIAPIPE_PYTHON})")
    ap.add_argument("--threads-study", action="store_true",
                    help="only the threads study (1, 2, None; unpinned), kept beside the saved result")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        if args.shared is None:
            ap.error("no shared data folder: pass --shared")
        args.cpu = sorted(os.sched_getaffinity(0))[-1] if args.cpu is None else args.cpu
        write_json(RESULT, run(args))
    write_report(json.loads(RESULT.read_text()))
    print(e2e_markdown(json.loads(RESULT.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
