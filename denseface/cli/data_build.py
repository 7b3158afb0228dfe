"""`denseface data build`: a 300W-LP-layout folder -> a training set (aflw_pl layout)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import EXIT_PARTIAL, EXIT_USAGE, DenseFaceError


def register(dsub) -> None:
    p = dsub.add_parser(
        "build", help="turn a 300W-LP-layout folder (jpg + .mat) into a training set",
        description="Crop every image + .mat pair under SRC (recursively) around its fit's 68 "
        "landmarks and write OUT/images/*.jpg and OUT/labels.npz in the aflw_pl layout. Bad items "
        "are skipped with one line each and a summary; the exit code is 5 when any was skipped.")
    p.add_argument("src", type=Path, help="300W-LP-layout folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--size", type=int, default=120, help="crop side in pixels (default 120)")
    p.add_argument("--bfm", type=Path, default=None,
                   help="BFM: 3DDFA-layout folder or face3d BFM.mat (default: the shared one)")
    p.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    from ..mesh import load_bfm
    from ..data.build300wlp import BuildConfig, build_300wlp

    if args.size < 8:
        raise DenseFaceError(f"--size {args.size} is too small", exit_code=EXIT_USAGE)
    bfm = load_bfm(args.bfm)
    report = build_300wlp(args.src, args.out, bfm, BuildConfig(size=args.size), log=sys.stderr)
    print(f"{report.summary()}; wrote {args.out / 'labels.npz'}")
    return EXIT_PARTIAL if report.skipped else 0
