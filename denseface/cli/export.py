"""`denseface export`: a torch checkpoint -> ONNX (dynamic batch), optional fp16 / int8 copies."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="[train] export a checkpoint to ONNX (optionally fp16 / int8 copies)",
        description="Write OUT (fp32 ONNX, dynamic batch, config in the metadata); --fp16 adds "
                    "OUT-stem.fp16.onnx, --int8 adds OUT-stem.int8.onnx. Prints the torch/ONNX "
                    "parity on random crops.")
    p.add_argument("--checkpoint", required=True, type=Path, help="torch checkpoint (.pt)")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--out", required=True, type=Path, help="output .onnx file")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--head-rank", type=int, default=0, metavar="R",
                   help="factor the linear head to rank R by truncated SVD first (0 = keep; the shipped "
                        "fast model uses 128, docs/MODEL_CARD.md)")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..export.onnx import export_onnx, parity_max_abs_px
    from ..export.quantize import convert_fp16, load_crops, quantize_int8, variant_path
    from ..models.regressor import factor_head, load_model

    if args.out.suffix != ".onnx":
        raise ConfigError(f"--out must end in .onnx, got '{args.out}'")
    mode = args.int8_mode or ("static" if args.calib_images else "dynamic")
    if args.int8 and mode == "static" and args.calib_images is None:
        raise ConfigError("--int8-mode static needs --calib-images DIR")
    model = load_model(args.checkpoint)
    if args.head_rank:
        model = factor_head(model, args.head_rank)
    path = export_onnx(model, args.out, opset=args.opset, weights_fp16=args.weights_fp16)
    S = model.config.input_size
    crops = (np.random.default_rng(0).random((4, S, S, 3)) * 255).astype(np.uint8)
    print(f"wrote {path} (torch vs ONNX max |diff| {parity_max_abs_px(model, path, crops):.2e} px "
          "on 4 random crops)", file=sys.stderr)
    if args.fp16:
        print(f"wrote {convert_fp16(path, variant_path(path, 'fp16'))}", file=sys.stderr)
    if args.int8:
        calib = load_crops(args.calib_images, S, args.calib_count) if mode == "static" else None
        q = quantize_int8(path, variant_path(path, "int8"), mode, calib)
        print(f"wrote {q} (int8 {mode})", file=sys.stderr)
    return 0
