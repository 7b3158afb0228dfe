"""`denseface landmarks ...`: build the dense landmark set from the BFM, show its info."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EXIT_USAGE, DenseFaceError, OutputError

HELP = "build and inspect dense landmark sets"


def register(sub) -> None:
    p = sub.add_parser("landmarks", help=HELP)
    lsub = p.add_subparsers(dest="landmarks_command", required=True, metavar="SUBCOMMAND")

    b = lsub.add_parser("build", help="regenerate a landmark set from the BFM (deterministic)",
                        description="Regenerate a dense landmark set from the BFM. The default "
                        "output is the packaged set denseface/landmarks/data/dense<N>.npz.")
    b.add_argument("--bfm", type=Path, default=None,
                   help="BFM: 3DDFA-layout folder or face3d BFM.mat (default: the shared one)")
    b.add_argument("--n", type=int, default=520, help="number of points (default 520)")
    b.add_argument("--rounds", type=int, default=3, help="Delaunay-centroid rounds (default 3)")
    b.add_argument("--face-mask", type=Path, default=None,
                   help="PRNet's 256x256 UV face mask PNG, the region points are sampled from "
                        "(default: the shared data/paper_520/uv_face_mask.png; 'none' = whole mesh "
                        "minus a border)")
    b.add_argument("--out", type=Path, required=True,
                   help="output .npz (required: the packaged sets are never overwritten)")
    b.add_argument("--plot", type=Path, default=None,
                   help="also save a picture of the set on the mean face (PNG)")
    b.set_defaults(func=cmd_build)

    s = lsub.add_parser("show", help="print a landmark set's info")
    s.add_argument("set", nargs="?", default="dense520", help="packaged set name or .npz path")
    s.set_defaults(func=cmd_show)


def read_face_mask(path: Path | None):
    """The UV face mask as a (256, 256) uint8 array, or None for 'none'."""
    import cv2

    from ..paths import shared_path

    if path is not None and str(path).lower() == "none":
        return None
    path = path or shared_path("data", "paper_520", "uv_face_mask.png")
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise DenseFaceError("cannot read the face mask image", path=path)
    return mask


def cmd_build(args: argparse.Namespace) -> int:
    from ..landmarks.build import build_landmark_set
    from ..mesh import load_bfm

    if args.n < 68:
        raise DenseFaceError(f"--n {args.n}: a set needs at least the 68 landmarks", exit_code=EXIT_USAGE)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise OutputError("landmark set files end in .npz", path=out)
    if not out.parent.is_dir():
        raise OutputError("output folder does not exist", path=out.parent)
    bfm = load_bfm(args.bfm)
    mask = read_face_mask(args.face_mask)
    try:
        lmset = build_landmark_set(bfm, args.n, rounds=args.rounds, face_mask=mask)
    except ValueError as e:
        raise DenseFaceError(str(e), exit_code=EXIT_USAGE) from None
    try:
        lmset.save(out)
    except OSError as e:
        raise OutputError(f"cannot write ({e})", path=out) from None
    print(f"wrote {out} ({lmset.n_points} points, {len(lmset.triangles)} triangles)")
    if args.plot is not None:
        from ..landmarks.plot import plot_landmark_set

        print(f"wrote {plot_landmark_set(bfm, lmset, args.plot)}")
    return 0


def describe(lmset) -> str:
    """Multi-line summary of a landmark set."""
    import numpy as np

    from ..landmarks import REGION_NAMES

    counts = np.bincount(lmset.region, minlength=len(REGION_NAMES))
    n_mid = int((lmset.flip == np.arange(lmset.n_points)).sum())
    lines = [
        f"name        {lmset.name}",
        f"points      {lmset.n_points} ({n_mid} on the midline, {(lmset.n_points - n_mid) // 2} mirror pairs)",
        f"triangles   {len(lmset.triangles)}",
        f"68 subset   positions {lmset.idx68[:5].tolist()} ... (68)",
        "regions     " + ", ".join(f"{n} {c}" for n, c in zip(REGION_NAMES, counts)),
    ]
    lines += [f"{k:<11} {v}" for k, v in lmset.info.items()]
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    from ..landmarks import load_landmark_set

    print(describe(load_landmark_set(args.set)))
    return 0
