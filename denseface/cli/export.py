"""`denseface export`: a torch checkpoint -> ONNX (dynamic batch), optional fp16 / int8 copies;
``--format web``: a static folder that runs denseface in a web browser (no torch needed)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError


HELP = ("[train] export a checkpoint to ONNX (optionally fp16 / int8 copies); --format web: a static "
        "browser folder (no torch)")


def register(sub) -> None:
    p = sub.add_parser(
        "export", help=HELP,
        description="--format onnx: write OUT (fp32 ONNX, dynamic batch, config in the metadata); "
                    "--fp16 adds OUT-stem.fp16.onnx, --int8 adds OUT-stem.int8.onnx. Prints the "
                    "torch/ONNX parity on random crops. --format web: write the folder OUT with the "
                    "demo page, the JavaScript package, the model and the face detector's files, "
                    "which any static server can serve (e.g. python -m http.server -d OUT); needs "
                    "a source checkout with `npm ci` run in web/ (docs/web.md).")
    p.add_argument("target", nargs="?", type=Path, metavar="OUT",
                   help="output: the .onnx file (--format onnx) or the folder (--format web)")
    p.add_argument("--checkpoint", type=Path, help="torch checkpoint (.pt); --format onnx")
    p.add_argument("--format", choices=("onnx", "web"), default="onnx")
    p.add_argument("--out", type=Path, help="output .onnx file (or folder for --format web); same as OUT")
    p.add_argument("--model", default=None,
                   help="--format web: the model to serve, a registry name or .onnx file (default: "
                        "the package default)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--head-rank", type=int, default=0, metavar="R",
                   help="factor the linear head to rank R by truncated SVD first (0 = keep; the shipped "
                        "fast model uses 128, docs/MODEL_CARD.md)")
    p.add_argument("--head-300w", action="store_true",
                   help="add the second head, the 68 points as people annotate them (300-W): a linear "
                        "map of the model's points fitted on the train photos of --human68 (docs/predict.md)")
    p.add_argument("--human68", type=Path, default=None, metavar="DIR",
                   help="human-68 folder for --head-300w (default: the shared data/w300_afw_helen)")
    p.add_argument("--fp16", action="store_true", help="also write an fp16 copy (float32 I/O kept)")
    p.add_argument("--weights-fp16", action="store_true",
                   help="store OUT's weights in fp16 (half the size) while it still computes in "
                        "float32 (how the shipped model is stored)")
    p.add_argument("--int8", action="store_true", help="also write an int8 copy (onnxruntime.quantization)")
    p.add_argument("--int8-mode", choices=("dynamic", "static"), default=None,
                   help="static (QDQ, calibrated) when --calib-images is given, else dynamic")
    p.add_argument("--calib-images", type=Path, default=None, metavar="DIR",
                   help="face crops for static int8 calibration (e.g. aflw_pl/train/images)")
    p.add_argument("--calib-count", type=int, default=200, metavar="N",
                   help="number of calibration crops (default 200)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    if args.target is not None and args.out is not None and args.target != args.out:
        raise ConfigError(f"give the output once (OUT '{args.target}' and --out '{args.out}' differ)")
    args.out = args.out or args.target
    if args.out is None:
        raise ConfigError("give the output: OUT or --out")
    if args.format == "web":
        return run_web(args)
    if args.checkpoint is None:
        raise ConfigError("--format onnx needs --checkpoint X.pt")
    return run_onnx(args)


def run_web(args: argparse.Namespace) -> int:
    from ..export.web import WebExportConfig, export_web

    if args.checkpoint is not None:
        raise ConfigError("--format web serves an ONNX model (--model), not a checkpoint")
    config = WebExportConfig(out=args.out, model=args.model)
    if not (config.web_dir / "package.json").is_file():   # an installed wheel has no web/ package
        raise ConfigError("--format web needs a source checkout of denseface (its web/ folder, "
                          "with `npm ci` run there): this denseface is installed without it; clone "
                          "the repository, `pip install -e .` and run the command there (docs/web.md)")
    manifest = export_web(config)
    print(f"wrote {args.out}/ ({len(manifest['files'])} files, {manifest['total_bytes'] / 1e6:.1f} MB); "
          f"serve it with: python -m http.server -d {args.out} 8000", file=sys.stderr)
    return 0


def run_onnx(args: argparse.Namespace) -> int:
    from ..export.checkpoint import PARITY_CROPS, export_checkpoint
    from ..export.quantize import convert_fp16, load_crops, quantize_int8, variant_path

    if args.out.suffix != ".onnx":
        raise ConfigError(f"--out must end in .onnx, got '{args.out}'")
    mode = args.int8_mode or ("static" if args.calib_images else "dynamic")
    if args.int8 and mode == "static" and args.calib_images is None:
        raise ConfigError("--int8-mode static needs --calib-images DIR")
    if args.human68 is not None and not args.head_300w:
        raise ConfigError("--human68 is the data of --head-300w: add --head-300w or drop it")
    points_map = None
    if args.head_300w:
        from ..train.points_map import with_points_map

        def points_map(model):
            return with_points_map(model, args.human68)
    done = export_checkpoint(args.checkpoint, args.out, head_rank=args.head_rank, points_map=points_map,
                             opset=args.opset, weights_fp16=args.weights_fp16)
    if done.points_map_fit is not None:
        fit = done.points_map_fit
        print(f"300-W map: lambda {fit['lambda']:g} (5-fold CV on {fit['train_faces']} train faces), held-out "
              f"NME {fit['val_nme']:.3f}% on {fit['val_faces']} faces (one crop, no flip averaging)",
              file=sys.stderr)
    path = done.onnx_path
    print(f"wrote {path} (torch vs ONNX max |diff| {done.parity_px:.2e} px on {PARITY_CROPS} random crops)",
          file=sys.stderr)
    if args.fp16:
        print(f"wrote {convert_fp16(path, variant_path(path, 'fp16'))}", file=sys.stderr)
    if args.int8:
        calib = load_crops(args.calib_images, done.input_size, args.calib_count) if mode == "static" else None
        q = quantize_int8(path, variant_path(path, "int8"), mode, calib)
        print(f"wrote {q} (int8 {mode})", file=sys.stderr)
    return 0
