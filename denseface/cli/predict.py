"""`denseface predict PATH...`: dense 3D landmarks for images, folders and videos.

See docs/predict.md for the outputs and denseface.infer.batch for the exit codes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError


HELP = "predict dense 3D landmarks for images, folders and videos"


def register(sub) -> None:
    from ..infer.outputs import FORMATS

    p = sub.add_parser(
        "predict", help=HELP,
        description="Predict 520 dense 3D landmarks, the 68 iBUG subset and head pose for every "
                    "face. Exit codes: 0 ok, 2 usage, 3 input, 4 output, 5 some inputs failed.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image files, folders (searched recursively) or videos (mp4/avi/...)")
    p.add_argument("--out", type=Path, default=Path("denseface_out"),
                   help="output folder (default: ./denseface_out)")
    p.add_argument("--format", default=None, metavar="FMT[,FMT]",
                   help="per-image output formats, comma-separated: "
                        + ", ".join(f.summary for f in FORMATS.values()) + ". Videos always write JSON Lines")
    p.add_argument("--draw", action="store_true",
                   help="also write drawings: <name>_draw.jpg for images, <name>_draw.webm for "
                        "videos (VP8, plays in browsers; <name>_draw.mp4, mp4v, where OpenCV has no "
                        "VP8 encoder: the summary says which)")
    p.add_argument("--max-faces", type=int, default=None, metavar="N",
                   help="keep at most N faces per image or frame: the main faces, largest and "
                        "nearest the image centre first (box area - 2 x squared distance of its "
                        "centre from the image centre, as insightface's max_num)")
    p.add_argument("--box", action="append", default=None, metavar="x0,y0,x1,y1",
                   help="face box in image pixels (the face's landmark box); skips detection; "
                        "repeat for several faces")
    _add_model_args(p)
    _add_many_args(p)
    _add_video_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_predict)


def _default_thresholds() -> str:
    """"name threshold, ...": each registered backend's default score threshold."""
    import dataclasses

    from ..infer.detectors import backend_class, backend_names

    def threshold(name: str) -> str:
        config = getattr(backend_class(name), "Config", None)
        fields = {f.name: f.default for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else {}
        return f"{name} {fields['score_threshold']:g}" if "score_threshold" in fields else name

    return ", ".join(threshold(n) for n in backend_names())


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """The model, the detector and how they run (PredictConfig's defaults)."""
    from ..infer.api import TTA_MODES, PredictConfig

    pc = PredictConfig()
    p.add_argument("--model", default=None, metavar="M",
                   help="a shipped model by name (denseface models) or a model file (.onnx for ONNX "
                        "Runtime, .pt for torch); default: the package default model")
    from ..infer.detectors import choices_text

    p.add_argument("--detector", default=None,
                   help=f"face detector: {choices_text()}; see docs/detectors.md")
    p.add_argument("--detector-threshold", type=float, default=None, metavar="FLOAT",
                   help="keep faces with a detector score >= FLOAT (default: the backend's: "
                        f"{_default_thresholds()})")
    p.add_argument("--detector-model", default=None, metavar="PATH",
                   help="another weights file for --detector yunet (a YuNet .onnx; default: the "
                        "one shipped in the package)")
    p.add_argument("--export-mesh", choices=("ply", "obj"), default=None, type=str.lower,
                   help="also write each face's mesh as <name>_face<k>.ply/.obj (trimesh; image "
                        "pixels with y flipped up: right-handed, normals out of the face)")
    p.add_argument("--mesh", choices=("points", "full"), default="points", type=str.lower,
                   help="what --export-mesh writes: points (default: the 520 points and their "
                        "triangles) or full (the 53215-vertex BFM mesh fitted to them; needs --bfm "
                        "or DENSEFACE_SHARED)")
    p.add_argument("--expression", action="store_true",
                   help="also write each face's 10 BFM expression coefficients (expression: the Basel "
                        "Face Model fitted to its 520 points, about a sixth of the time a face takes; needs --bfm or "
                        "DENSEFACE_SHARED; docs/predict.md)")
    p.add_argument("--bfm", default=None, metavar="DIR",
                   help="Basel Face Model folder for --mesh full and --expression (never shipped; default: the "
                        "shared data folder, $DENSEFACE_SHARED)")
    p.add_argument("--draw-parts", default=None, metavar="PARTS",
                   help="what --draw draws, comma-separated from mesh, points, 68, 68_300w (the "
                        "human-convention 68, yellow; models with that output, denseface models), "
                        f"box, axes (default: {DEFAULT_DRAW_PARTS})")
    p.add_argument("--passes", type=int, choices=(1, 2), default=pc.passes,
                   help=f"{pc.passes} (default): re-crop from the first prediction's landmarks and "
                        "predict again; 1: the detector's crop only (half the network time)")
    p.add_argument("--tta", choices=TTA_MODES, default=pc.tta, type=str.lower,
                   help=f"flip{' (default)' if pc.tta == 'flip' else ''}: average each crop's "
                        "prediction with its mirror image's (exact, twice the network time); "
                        f"none{' (default)' if pc.tta == 'none' else ''}: the crop alone")
    p.add_argument("--no-eyes", dest="eyes", action="store_false",
                   help="keep the main network's eyelids (default: the eye stage reads them again from "
                        "eye patches of the photo, for models with the human-convention 68; docs/predict.md)")
    p.add_argument("--detect-max-side", type=int, default=None, metavar="PX",
                   help="images are downscaled to this longer side for detection only (default "
                        f"{pc.detect_max_side})")
    p.add_argument("--threads", type=int, default=1,
                   help="ONNX Runtime and face detector threads (default 1, the fastest per photo on a "
                        "small machine; for folders use --workers)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")


def _add_many_args(p: argparse.ArgumentParser) -> None:
    from ..infer.jobs import IMAGES_PER_WORKER

    many = p.add_argument_group("many images (docs/scale.md)")
    many.add_argument("--workers", type=_workers, default="auto", metavar="N|auto",
                      help="predict the images in N processes, each with its own model and 1 thread "
                           "(or --threads); 1: this process. auto (default): one per free core (the "
                           "cores minus the load average), but at most one per "
                           f"{IMAGES_PER_WORKER} images, so small batches and busy machines stay in "
                           "this process. More workers help only with free cores and many images: a "
                           "worker costs about 1 s to start, an image 10-30 ms (docs/scale.md). "
                           "Videos stay in this process")
    many.add_argument("--skip-existing", action="store_true",
                      help="skip inputs whose outputs all exist in --out (resume a killed run); "
                           "counted as skipped in the summary")
    many.add_argument("--table", choices=("parquet", "jsonl"), default=None, type=str.lower,
                      help="write one OUT/predictions.parquet or .jsonl with a row per image (the "
                           "JSON's fields plus error) instead of a file per image; parquet needs "
                           "pyarrow, the optional [parquet] extra")


def _add_video_args(p: argparse.ArgumentParser) -> None:
    from ..infer.tracking import SmoothingConfig, TrackerConfig

    sm, tk = SmoothingConfig(), TrackerConfig()
    v = p.add_argument_group("video (smoothing: docs/video.md)")
    v.add_argument("--smooth-min-cutoff", type=float, default=sm.shape.min_cutoff, metavar="HZ",
                   help="shape smoothing: One Euro min cutoff in Hz (lower = steadier; default "
                        f"{sm.shape.min_cutoff:g})")
    v.add_argument("--smooth-beta", type=float, default=sm.shape.beta,
                   help=f"shape smoothing: speed coefficient (higher = less lag; default {sm.shape.beta:g})")
    v.add_argument("--smooth-motion-cutoff", type=float, default=sm.motion.min_cutoff, metavar="HZ",
                   help="head-motion smoothing: min cutoff in Hz (lower = steadier, more lag; default "
                        f"{sm.motion.min_cutoff:g})")
    v.add_argument("--smooth-motion-beta", type=float, default=sm.motion.beta,
                   help=f"head-motion smoothing: speed coefficient (default {sm.motion.beta:g})")
    v.add_argument("--no-smooth", action="store_true", help="no temporal smoothing")
    v.add_argument("--redetect-every", type=int, default=tk.redetect_every, metavar="N",
                   help="also run the detector every N frames (default 0: only when a track is lost)")


def _workers(text: str):
    """--workers: a whole number >= 1 or "auto"."""
    from ..infer.jobs import AUTO_WORKERS

    if text.strip().lower() == AUTO_WORKERS:
        return AUTO_WORKERS
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1 or auto, got '{text}'")
    return n


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


DEFAULT_DRAW_PARTS = "mesh,points,68,box,axes"
DRAW_PARTS = {"mesh": "mesh", "points": "points", "68": "points68", "68_300w": "points68_300w",
              "box": "box", "axes": "axes"}


def draw_style(parts: str):
    """--draw-parts 'mesh,points,...' -> a DrawStyle drawing just those; ConfigError otherwise."""
    from ..infer.draw import DrawStyle

    names = [p.strip() for p in parts.split(",") if p.strip()]
    unknown = [p for p in names if p not in DRAW_PARTS]
    if unknown or not names:
        raise ConfigError(f"--draw-parts: unknown part(s) {', '.join(unknown) or '(none)'} "
                          f"(choose from {', '.join(DRAW_PARTS)})")
    return DrawStyle(**{field: key in names for key, field in DRAW_PARTS.items()})


def cmd_predict(args: argparse.Namespace) -> int:
    """Every check of the flags first (the output folder included), then the model, then the
    checks that need the model itself, then the run."""
    from ..infer.batch import run_batch
    from ..io.files import ensure_out_dir
    from ..io.images import silence_opencv_log

    silence_opencv_log()
    check_flags(args)
    options, spec = batch_options(args), model_spec(args)   # their own checks, before any load
    ensure_out_dir(args.out)  # fail before loading anything when the folder is unusable
    model = spec.build()
    check_model(args, model, options)
    summary = run_batch(model, args.paths, options, spec=spec)
    for line in summary.lines():
        print(line, file=sys.stderr)
    return summary.exit_code


def check_flags(args: argparse.Namespace) -> None:
    """ConfigError for a flag combination that cannot work (or would do nothing); loads nothing."""
    if args.max_faces is not None and args.max_faces < 1:
        raise ConfigError("--max-faces must be at least 1")
    if args.mesh == "full" and not args.export_mesh:
        raise ConfigError("--mesh full only changes what --export-mesh writes: add --export-mesh "
                          "ply or obj")
    if args.bfm is not None and not (args.export_mesh and args.mesh == "full") and not args.expression:
        raise ConfigError("--bfm is read only for full meshes and expressions: add --export-mesh ply|obj "
                          "--mesh full, or --expression")
    if args.table == "parquet":
        from ..infer.tables import require_pyarrow

        require_pyarrow()   # a missing optional extra stops here, before any work
    if args.table and args.format is not None:
        raise ConfigError("--table writes one table instead of the per-image files: drop --format")
    if args.draw_parts is not None and not args.draw:
        raise ConfigError("--draw-parts only changes what --draw draws: add --draw")
    if str(args.out) == "-":
        raise ConfigError("--out - : predict writes files into a folder, not to standard output; "
                          "give a folder (one JSON Lines file for all images: --table jsonl --out DIR)")
    detector_flags = [f for f, v in (("--detector", args.detector), ("--detector-model", args.detector_model),
                                     ("--detector-threshold", args.detector_threshold),
                                     ("--detect-max-side", args.detect_max_side)) if v is not None]
    if args.box and detector_flags:
        raise ConfigError(f"--box skips face detection, so {' and '.join(detector_flags)} would do "
                          "nothing: drop one or the other")
    for name in ("smooth_min_cutoff", "smooth_motion_cutoff"):
        if getattr(args, name) <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be > 0 Hz")


def batch_options(args: argparse.Namespace):
    """The run's BatchOptions from the flags (formats, boxes, drawing parts, smoothing checked)."""
    from dataclasses import replace

    from ..infer.batch import BatchOptions
    from ..infer.tracking import SmoothingConfig, TrackerConfig

    sm = SmoothingConfig()   # the flags set cutoffs and betas; speed low-passes and dead zones stay
    smoothing = None if args.no_smooth else SmoothingConfig(
        replace(sm.shape, min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta),
        replace(sm.motion, min_cutoff=args.smooth_motion_cutoff, beta=args.smooth_motion_beta))
    return BatchOptions(out_dir=args.out,
                        formats=tuple(f.strip().lower() for f in (args.format or "json").split(",")),
                        draw=args.draw, style=draw_style(args.draw_parts or DEFAULT_DRAW_PARTS),
                        max_faces=args.max_faces, boxes=[parse_box(b) for b in args.box] if args.box else None,
                        export_mesh=args.export_mesh, mesh=args.mesh,
                        smoothing=smoothing, tracker=TrackerConfig(redetect_every=args.redetect_every),
                        progress=not args.quiet and sys.stderr.isatty(),
                        workers=args.workers, skip_existing=args.skip_existing, table=args.table)


def model_spec(args: argparse.Namespace):
    """This process's model, and what each worker process builds its own from (--workers N)."""
    from ..infer.api import ModelSpec, PredictConfig

    det_opts = {"model_path": args.detector_model} if args.detector_model else {}
    if args.detector_threshold is not None:
        det_opts["score_threshold"] = args.detector_threshold
    config = PredictConfig(passes=args.passes, tta=args.tta, eyes=args.eyes, expression=args.expression, **(
        {} if args.detect_max_side is None else {"detect_max_side": args.detect_max_side}))
    return ModelSpec(args.model, args.detector or "default", args.device, config, args.threads,
                     det_opts, args.bfm)


def check_model(args: argparse.Namespace, model, options) -> None:
    """The checks that need the loaded model: its outputs, and the BFM and detector it will use
    (a missing file or extra stops here, once, before any input is read)."""
    if args.draw and options.style.points68_300w and not model.runner.config.head_300w:
        name = Path(getattr(model.runner, "path", args.model or "the default model")).stem
        raise ConfigError(f"--draw-parts 68_300w: the model '{name}' has no "
                          "human-convention 68-point output (landmarks68_300w); choose a model that "
                          "has it (denseface models) or drop 68_300w")
    if (args.export_mesh and args.mesh == "full") or args.expression:
        _ = model.mesh_fitter
    if options.boxes is None:
        _ = model.detector
