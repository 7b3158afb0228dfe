"""`denseface data refine`: fit 3DMMs to human sparse landmarks, starting from given fits.

Reads ``DIR/labels.npz`` (aflw_pl layout: names, camera, shape, expression, pts21, ...) and
writes the refined fits in the same layout plus per-image diagnostics (see
docs/refinement.md). Images are not read: the fit uses the landmarks only.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError, OutputError


def register(dsub) -> None:
    from ..refine.fitter import CAMERA_MODES, FitWeights
    from ..refine.mapping import MAPPINGS
    from ..refine.refiner import RefineConfig

    d, w = RefineConfig(), FitWeights()
    p = dsub.add_parser(
        "refine", help="refine 3DMM fits with human sparse landmarks (aflw_pl layout)",
        description="Fit pose, shape and expression to the human 2D landmarks of every image, "
                    "starting from (and staying near) the given fits. Writes an aflw_pl-layout "
                    "labels.npz with refine_status, doubtful, residual_px, residual_init_px, "
                    "n_points and moved_px added.")
    p.add_argument("--data", required=True, type=Path,
                   help="split folder holding labels.npz (aflw_pl layout), or the .npz itself")
    p.add_argument("--out", required=True, type=Path, help="output labels .npz")
    p.add_argument("--bfm", type=Path, default=None, help="BFM folder (default: shared bfm_3ddfa_53215)")
    p.add_argument("--points-key", default="pts21",
                   help="array of human points (N, K, 2) crop px, NaN = missing (default pts21)")
    p.add_argument("--mapping", choices=MAPPINGS, default=d.mapping, help="landmark-to-mesh mapping")
    p.add_argument("--camera", choices=CAMERA_MODES, default=w.camera)
    p.add_argument("--huber-px", type=float, default=w.huber_px)
    p.add_argument("--anchor-weight", type=float, default=w.anchor_weight,
                   help="weight of staying near the initial fit's projected mesh")
    p.add_argument("--prior-weight", type=float, default=w.prior_weight,
                   help="weight of the 3DMM prior |coefficients / std|^2")
    p.add_argument("--init-weight", type=float, default=w.init_weight,
                   help="weight of |(coefficients - initial) / std|^2")
    p.add_argument("--iterations", type=int, default=w.iterations)
    p.add_argument("--min-points", type=int, default=d.min_points,
                   help="fewer usable human points: keep the initial fit and flag the image")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--summary", type=Path, default=None, help="also write the summary as JSON here")
    p.set_defaults(func=cmd_refine)


def cmd_refine(args) -> int:
    from ..mesh import load_bfm
    from ..mesh.readers import read_fit_table
    from ..refine.fitter import FitWeights
    from ..refine.refiner import RefineConfig, Refiner

    weights = FitWeights(huber_px=args.huber_px, anchor_weight=args.anchor_weight,
                         prior_weight=args.prior_weight, init_weight=args.init_weight,
                         camera=args.camera, iterations=args.iterations)
    config = RefineConfig(mapping=args.mapping, weights=weights, min_points=args.min_points,
                          batch_size=args.batch_size)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise OutputError("output folder does not exist", path=out.parent)
    if out.suffix != ".npz":
        raise OutputError("output must be a .npz file", path=out)
    src = Path(args.data)
    table = read_fit_table(src)
    labels = src / "labels.npz" if src.is_dir() else src
    points = table.pts21
    if args.points_key != "pts21":
        with np.load(labels) as z:
            if args.points_key not in z.files:
                raise DenseFaceError(f"no array '{args.points_key}'", path=labels)
            points = z[args.points_key]
    if points is None:
        raise DenseFaceError(f"no human points ('{args.points_key}')", path=labels)
    refiner = Refiner(load_bfm(args.bfm), config)
    if points.shape != (len(table), refiner.mapping.n_points, 2):
        raise DenseFaceError(f"'{args.points_key}' is {points.shape}, mapping {refiner.mapping.name} needs "
                             f"({len(table)}, {refiner.mapping.n_points}, 2)", path=labels)
    usable = int((np.isfinite(np.asarray(points, np.float64)).all(-1).sum(-1) >= config.min_points).sum())
    if usable == 0:
        raise DenseFaceError(f"no image has {config.min_points} or more usable human points in "
                             f"'{args.points_key}' (all {len(table)} are missing them; `denseface data "
                             "build` output carries no human landmarks), so there is nothing to refine",
                             path=labels)
    result = refiner.run(table, points=points, progress=sys.stderr.isatty())
    try:
        result.table.save(out, **result.extras())
    except OSError as e:
        raise OutputError(f"cannot write ({e.strerror})", path=out) from None
    summary = result.summary() | {"config": config.as_dict(), "data": str(labels), "out": str(out)}
    if args.summary is not None:
        try:
            args.summary.write_text(json.dumps(summary, indent=2))
        except OSError as e:
            raise OutputError(f"cannot write ({e.strerror})", path=args.summary) from None
    s = result.summary()
    print(f"refined {s['refined']}/{s['images']} images in {s['seconds']:.0f} s -> {out}")
    print(f"  kept the initial fit: {s['too_few_points']} with < {config.min_points} usable points, "
          f"{s['failed']} failed optimisations, {s['input_not_finite']} non-finite inputs")
    print(f"  doubtful: {s['doubtful']}; human points dropped by the gates: {s['points_dropped']}")
    print(f"  mean human-point residual (refined images): {s['residual_init_px']:.2f} px -> "
          f"{s['residual_px']:.2f} px; mean 68-point move {s['moved_px_mean']:.2f} px")
    return 0
