"""`denseface data profile`: new large-pose views of fitted faces (300W-LP's face profiling)."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError, OutputError


def register(dsub) -> None:
    from ..data.profile import ProfileConfig

    d = ProfileConfig()
    p = dsub.add_parser(
        "profile", help="render fitted faces at larger yaw with exact labels (face profiling)",
        description="Turn each fitted face of DATA out of plane towards larger yaw (300W-LP's face "
        "profiling: the 3DMM fit re-rendered with the source texture, the background warped by "
        "anchors) and write OUT/images/*.jpg and OUT/labels.npz in the aflw_pl layout (the rotated "
        "fits; pts21 all NaN). DATA is an aflw_pl-layout split (fits in labels.npz or --labels) or "
        "a human-68 folder (data/w300_afw_helen layout): its train part is fitted first (teacher, "
        "then the refiner on the human points; the jaw only within 15 degrees of frontal); the "
        "held-out photos are never read. Deterministic for a --seed. See docs/training.md.")
    p.add_argument("--data", required=True, type=Path, help="aflw_pl-layout split or human-68 folder")
    p.add_argument("--labels", type=Path, default=None,
                   help="fits to use instead of DATA/labels.npz (e.g. runs/refined/train/labels.npz)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--append", action="store_true",
                   help="add to OUT/labels.npz (and labels_with_real.npz) instead of replacing them")
    p.add_argument("--with-real", action="store_true",
                   help="also put every real crop of DATA into OUT/images (symlinks for aflw_pl "
                        "crops) and write OUT/labels_with_real.npz: real rows + profiled rows")
    p.add_argument("--views", type=int, default=d.views, help="views per source face")
    p.add_argument("--yaw-max", type=float, default=d.yaw_max, help="largest |yaw| (degrees)")
    p.add_argument("--min-step", type=float, default=d.min_step,
                   help="the views turn at least this far beyond the source's |yaw| (degrees)")
    p.add_argument("--pitch", type=float, default=d.pitch_jitter,
                   help="pitch change per view, uniform in [-PITCH, PITCH] degrees")
    p.add_argument("--max-source-yaw", type=float, default=45.0,
                   help="profile only sources whose fit has |yaw| below this (degrees)")
    p.add_argument("--limit", type=int, default=0, help="draw this many source faces (0 = all)")
    p.add_argument("--size", type=int, default=d.size, help="output crop side (px)")
    p.add_argument("--supersample", type=int, default=d.supersample, help="render this much larger")
    p.add_argument("--bfm", type=Path, default=None, help="BFM folder (default: the shared one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.add_argument("--summary", type=Path, default=None, help="also write the summary as JSON here")
    p.set_defaults(func=cmd_profile)


def cmd_profile(args) -> int:
    from ..data.profile import ProfileConfig, profile_sources
    from ..mesh import load_bfm

    try:
        cfg = ProfileConfig(size=args.size, views=args.views, yaw_max=args.yaw_max, min_step=args.min_step,
                            pitch_jitter=args.pitch, supersample=args.supersample)
    except ValueError as e:
        raise DenseFaceError(str(e)) from None
    out = Path(args.out)
    labels_path = out / "labels.npz"
    if labels_path.exists() and not args.append:
        raise OutputError("already holds labels.npz (use --append to add to it, or another --out)",
                          path=out)
    if not Path(args.data).is_dir():      # the input first: its problem is the one to name
        raise DenseFaceError("data folder does not exist", path=args.data)
    t0 = time.time()
    bfm = load_bfm(args.bfm)
    sources, real_table, real_sources, fit_summary = _profile_inputs(args, bfm, cfg.size)
    table, extras = profile_sources(sources, out, bfm, cfg, args.seed, args.workers,
                                    progress=sys.stderr.isatty())
    seconds_profile = time.time() - t0
    n_new = len(table)
    profiled_bytes = sum((out / "images" / n).stat().st_size for n in table.names)
    _save(out / "labels.npz", table, extras, args.append)
    n_real = 0
    if args.with_real:
        real_extras = {"source": real_table.names.astype(str),
                       "pitch_delta": np.zeros(len(real_table), np.float32)}
        _place_real(real_table, args.data, out, real_sources)
        merged_table, merged_extras = _concat(real_table, real_extras, table, extras)
        _save(out / "labels_with_real.npz", merged_table, merged_extras, args.append)
        n_real = len(real_table)
    summary = {
        "data": str(args.data), "labels": str(args.labels) if args.labels else None, "out": str(out),
        "sources": int(len(sources.table)), "views": int(n_new), "real_rows": int(n_real),
        "seconds": round(time.time() - t0, 1), "seconds_profiling": round(seconds_profile, 1),
        "workers": args.workers, "profiled_bytes": int(profiled_bytes),
        "yaw_abs_hist": np.histogram(np.abs(table.yaw), bins=[0, 30, 60, 75, 90.5])[0].tolist(),
        "config": {k: getattr(cfg, k) for k in ("size", "views", "yaw_max", "min_step", "pitch_jitter",
                                                "supersample")} | {"seed": args.seed,
                                                                   "max_source_yaw": args.max_source_yaw},
        "human68_fit": fit_summary,
    }
    if args.summary is not None:
        try:
            args.summary.write_text(json.dumps(summary, indent=2))
        except OSError as e:
            raise OutputError(f"cannot write ({e.strerror})", path=args.summary) from None
    print(f"profiled {len(sources.table)} faces into {n_new} views in {summary['seconds']:.0f} s "
          f"({profiled_bytes / 2 ** 20:.1f} MiB) -> {labels_path}")
    if args.with_real:
        print(f"  with {n_real} real crops: {out / 'labels_with_real.npz'}")
    return 0


def _profile_inputs(args, bfm, size: int):
    """(the faces to profile, the real faces' fit table, the real faces' crops or None, the
    human-68 fit's summary or None): fitted here for a human-68 folder, else read from its fits."""
    from ..data.profile import Sources, fit_human68, read_sources, select_sources
    from ..mesh.readers import read_fit_table

    if args.labels is None and _is_human68(args.data):
        real_sources, fit_summary = fit_human68(args.data, bfm, size)
        idx = select_sources(real_sources.table.yaw, args.max_source_yaw, args.limit, args.seed)
        sources = Sources(real_sources.crops[idx], real_sources.table.subset(idx))
        return sources, real_sources.table, real_sources, fit_summary
    sources = read_sources(args.data, args.labels, args.max_source_yaw, args.limit, args.seed)
    return sources, read_fit_table(args.labels or args.data), None, None


def _is_human68(folder: Path) -> bool:
    """Whether ``folder/labels.npz`` holds human 68 points and no fits (w300_afw_helen layout)."""
    path = Path(folder) / "labels.npz"
    if not path.is_file():
        raise DenseFaceError("no labels.npz", path=path)
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
    except Exception as e:
        raise DenseFaceError(f"cannot read labels ({type(e).__name__})", path=path) from None
    return "pts68" in files and "camera" not in files


def _concat(a, a_extras: dict, b, b_extras: dict):
    """Rows of two FitTables (and their extras) one after the other; names must not repeat."""
    from ..mesh.readers import FitTable

    names = np.concatenate([a.names.astype(str), b.names.astype(str)])
    if len(np.unique(names)) != len(names):
        raise DenseFaceError("the same image name twice (profiling the same source again?)")

    def cat(x, y, fill_shape, fill=np.nan):
        x = np.full((len(a),) + fill_shape, fill, np.float32) if x is None else x
        y = np.full((len(b),) + fill_shape, fill, np.float32) if y is None else y
        return np.concatenate([np.asarray(x, np.float32), np.asarray(y, np.float32)])

    k = min(a.shape.shape[1], b.shape.shape[1]), min(a.expression.shape[1], b.expression.shape[1])
    table = FitTable(names, np.concatenate([a.camera, b.camera]),
                     np.concatenate([a.shape[:, :k[0]], b.shape[:, :k[0]]]),
                     np.concatenate([a.expression[:, :k[1]], b.expression[:, :k[1]]]),
                     cat(a.pts21, b.pts21, (21, 2)), cat(a.yaw, b.yaw, ()), cat(a.roi_box, b.roi_box, (4,)))
    extras = {key: np.concatenate([np.asarray(a_extras[key]), np.asarray(b_extras[key])])
              for key in a_extras if key in b_extras}
    return table, extras


def _save(path: Path, table, extras: dict, append: bool) -> None:
    """Write ``table`` (+ extras) to ``path``, after the rows already there when ``append``."""
    from ..mesh.readers import read_fit_table

    if append and path.exists():
        old = read_fit_table(path)
        with np.load(path, allow_pickle=False) as z:
            old_extras = {k: z[k] for k in extras if k in z.files}
        table, extras = _concat(old, old_extras, table, extras)
    try:
        table.save(path, **extras)
    except OSError as e:
        raise OutputError(f"cannot write ({e.strerror})", path=path) from None


def _place_real(table, data: Path, out: Path, sources) -> None:
    """Every real crop into OUT/images: a symlink to an aflw_pl crop, or the fitted human-68 crop
    written as JPEG (``sources``)."""
    import cv2

    from ..io.files import atomic_write

    img_dir = out / "images"
    for i, name in enumerate(table.names.astype(str)):
        dst = img_dir / name
        if dst.exists() or dst.is_symlink():
            continue
        try:
            if sources is None:
                os.symlink(os.path.abspath(Path(data) / "images" / name), dst)
            else:
                ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(sources.crops[i], cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, 95])
                atomic_write(dst, jpg.tobytes())
        except OSError as e:
            raise OutputError(f"cannot write ({e.strerror})", path=dst) from None
