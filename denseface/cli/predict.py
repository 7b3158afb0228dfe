"""`denseface predict PATH...`: dense 3D landmarks for images, folders and videos.

See docs/predict.md for the outputs and denseface.infer.batch for the exit codes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict dense 3D landmarks for images, folders and videos",
        description="Predict 520 dense 3D landmarks, the 68 iBUG subset and head pose for every "
                    "face. Exit codes: 0 ok, 2 usage, 3 input, 4 output, 5 some inputs failed.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image files, folders (searched recursively) or videos (mp4/avi/...)")
    p.add_argument("--out", type=Path, default=Path("denseface_out"),
                   help="output folder (default: ./denseface_out)")
    p.add_argument("--format", choices=("json", "npy", "csv"), default="json",
                   help="per-image output format (videos always write JSON Lines)")
    p.add_argument("--draw", action="store_true",
                   help="also write drawings: <name>_draw.jpg for images, <name>_draw.mp4 for videos")
    p.add_argument("--max-faces", type=int, default=None, metavar="N",
                   help="keep at most N faces per image or frame (highest detector score first)")
    p.add_argument("--box", action="append", default=None, metavar="x0,y0,x1,y1",
                   help="face box in image pixels (the face's landmark box); skips detection; "
                        "repeat for several faces")
    p.add_argument("--model", default=None, metavar="M",
                   help="model file (.onnx for ONNX Runtime, .pt for torch); default: the shipped model")
    p.add_argument("--detector", default="default",
                   help="face detector: default (= haar), haar, yunet, mediapipe")
    p.add_argument("--detector-model", default=None, metavar="PATH",
                   help="weights file of the detector (the YuNet .onnx for --detector yunet)")
    p.add_argument("--export-mesh", choices=("ply", "obj"), default=None,
                   help="also write each face's 520 points and triangles as <name>_face<k>.ply/.obj")
    p.add_argument("--passes", type=int, choices=(1, 2), default=2,
                   help="2 (default): re-crop from the first prediction's landmarks and predict again")
    p.add_argument("--detect-max-side", type=int, default=640, metavar="PX",
                   help="images are downscaled to this longer side for detection only (default 640)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    v = p.add_argument_group("video")
    v.add_argument("--smooth-min-cutoff", type=float, default=1.0, metavar="HZ",
                   help="One Euro filter min cutoff in Hz (lower = steadier; default 1.0)")
    v.add_argument("--smooth-beta", type=float, default=0.05,
                   help="One Euro filter speed coefficient (higher = less lag; default 0.05)")
    v.add_argument("--smooth-d-cutoff", type=float, default=1.0, metavar="HZ",
                   help="One Euro filter cutoff of the speed estimate in Hz (default 1.0)")
    v.add_argument("--no-smooth", action="store_true", help="no temporal smoothing")
    v.add_argument("--redetect-every", type=int, default=0, metavar="N",
                   help="also run the detector every N frames (default 0: only when a track is lost)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_box(text: str) -> list[float]:
    """'x0,y0,x1,y1' -> 4 floats; ConfigError otherwise."""
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise ConfigError(f"--box needs x0,y0,x1,y1 (four numbers), got '{text}'")
    from ..infer.api import validate_boxes

    validate_boxes(vals)
    return vals


def run(args: argparse.Namespace) -> int:
    from ..infer.api import DenseFace, PredictConfig
    from ..infer.batch import BatchOptions, run_batch
    from ..infer.outputs import ensure_out_dir
    from ..infer.tracking import OneEuroConfig, TrackerConfig

    import cv2

    # OpenCV's own warnings (e.g. "PNG input buffer is incomplete") would add lines to our
    # one-line-per-problem report; the problem is reported by denseface instead.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    if args.max_faces is not None and args.max_faces < 1:
        raise ConfigError("--max-faces must be at least 1")
    boxes = [parse_box(b) for b in args.box] if args.box else None
    ensure_out_dir(args.out)  # fail before loading anything when the folder is unusable
    det_opts = {"model_path": args.detector_model} if args.detector_model else {}
    model = DenseFace(args.model, detector=args.detector, device=args.device,
                      config=PredictConfig(detect_max_side=args.detect_max_side, passes=args.passes),
                      threads=args.threads, detector_options=det_opts)
    if boxes is None:
        _ = model.detector  # a detector problem (missing extra, bad file) stops here, once
    smoothing = None if args.no_smooth else OneEuroConfig(
        args.smooth_min_cutoff, args.smooth_beta, args.smooth_d_cutoff)
    options = BatchOptions(out_dir=args.out, format=args.format, draw=args.draw,
                           max_faces=args.max_faces, boxes=boxes, export_mesh=args.export_mesh,
                           smoothing=smoothing, tracker=TrackerConfig(redetect_every=args.redetect_every),
                           progress=not args.quiet and sys.stderr.isatty())
    summary = run_batch(model, args.paths, options)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return summary.exit_code
