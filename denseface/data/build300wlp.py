"""Turn a 300W-LP-layout folder (jpg + .mat, any depth) into a training set in the aflw_pl layout.

Per item ``<dir>/<stem>.jpg`` + ``<dir>/<stem>.mat``:
  1. the fit from the .mat (Pose_Para, Shape_Para[:Ks], Exp_Para[:Ke]; image pixels);
  2. the crop box: ``roi_box_from_landmarks`` of the fit's 68 landmark vertices (3DDFA policy,
     square, sqrt(2) x the landmark box side; parts outside the photo are black, never clipped);
  3. the crop, resized to ``size`` x ``size``, written as ``images/<name>``;
  4. the fit's camera moved into crop pixels: x, y through the crop matrix, z scaled like x and
     y and shifted so that min z over the whole mesh is 0 (as aflw_pl).

``labels.npz`` holds names, camera (N,3,4), shape (N,Ks), expression (N,Ke), pts21 (N,21,2) all
NaN (300W-LP has no AFLW-21 human points), yaw (N,) degrees (:func:`pose_from_camera`, the
aflw_pl sign) and roi_box (N,4) in source-photo pixels. Names are the item's path relative to
the source folder with ``/`` replaced by ``__`` (``AFW_Flip__AFW_134212_1_0.jpg``), because
300W-LP repeats file names across its subfolders.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..errors import DenseFaceError, OutputError
from ..io.files import atomic_write
from ..io.images import read_image, to_rgb
from ..mesh.bfm import BFM, mesh_min_z
from ..mesh.fit import Fit, pose_from_camera
from ..mesh.readers import FitTable, read_mat
from ..geometry.boxes import roi_box_from_landmarks
from ..geometry.crop import crop_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class BuildConfig:
    """size: crop side in pixels; n_shape / n_exp: coefficients kept (the BFM's 40 / 10);
    jpeg_quality: of the written crops."""

    size: int = 120
    n_shape: int = 40
    n_exp: int = 10
    jpeg_quality: int = 95


@dataclass
class CropSample:
    """One built item: the crop (RGB uint8) and its row of labels."""

    name: str
    crop: np.ndarray
    fit: Fit            # camera in crop pixels, min mesh z = 0
    yaw: float
    roi_box: np.ndarray


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, problem)

    def summary(self) -> str:
        n = len(self.built) + len(self.skipped)
        return f"built {len(self.built)} of {n} items, skipped {len(self.skipped)}"


def find_items(src: Path) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """Pairs (image, mat) under ``src`` in sorted order, and the unpaired files as problems."""
    mats = sorted(p for p in src.rglob("*") if p.suffix.lower() == ".mat" and p.is_file())
    images = {p.with_suffix(""): p for p in sorted(src.rglob("*"))
              if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
    pairs, problems = [], []
    for m in mats:
        img = images.pop(m.with_suffix(""), None)
        if img is None:
            problems.append((str(m), "no image next to it (.jpg/.png with the same name)"))
        else:
            pairs.append((img, m))
    problems += [(str(p), "no .mat fit next to it") for p in images.values()]
    return pairs, problems


def item_name(image: Path, src: Path) -> str:
    """Flat, unique output name: relative path with '/' -> '__', always .jpg."""
    rel = image.relative_to(src).with_suffix("")
    return "__".join(rel.parts) + ".jpg"


def build_item(bfm: BFM, image_path: Path, mat_path: Path, name: str, cfg: BuildConfig) -> CropSample:
    """Crop and labels of one item; raises DenseFaceError naming the file and the problem."""
    image = to_rgb(read_image(image_path, complete_jpeg=True))
    rec = read_mat(mat_path, image_height=image.shape[0])
    ks, ke = rec.fit.shape.size, rec.fit.expression.size
    if ks < cfg.n_shape or ke < cfg.n_exp:
        raise DenseFaceError(f"Shape_Para/Exp_Para have {ks}/{ke} values, expected at least "
                             f"{cfg.n_shape}/{cfg.n_exp}", path=mat_path)
    fit = Fit(rec.fit.camera, rec.fit.shape[:cfg.n_shape], rec.fit.expression[:cfg.n_exp])
    lm68 = bfm.landmarks68(fit)
    if not np.isfinite(lm68).all():
        raise DenseFaceError("fit gives non-finite landmarks", path=mat_path)
    box = roi_box_from_landmarks(lm68)
    if not (box[2] - box[0]) > 1.0:
        raise DenseFaceError("degenerate crop box (landmarks collapse to a point)", path=mat_path)
    crop, M = crop_image(image, box, cfg.size)
    scale = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    cfit = fit.transformed(M, z_scale=scale)
    cfit = cfit.transformed(np.eye(2, 3), z_shift=-(
        mesh_min_z(bfm, cfit.camera[None, 2, :3], cfit.shape[None], cfit.expression[None])[0]
        + cfit.camera[2, 3]))
    return CropSample(name, crop, cfit, pose_from_camera(cfit.camera)[0], box)


def build_300wlp(src: str | Path, out: str | Path, bfm: BFM, cfg: BuildConfig = BuildConfig(),
                 log=sys.stderr) -> BuildReport:
    """Build the training set; bad items are skipped, each with one line on ``log``, and the
    report lists them. Writes ``out/images/*.jpg`` and ``out/labels.npz`` (atomically)."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DenseFaceError("source folder does not exist", path=src)
    if bfm.n_shape < cfg.n_shape or bfm.n_exp < cfg.n_exp:
        raise DenseFaceError(f"the BFM has {bfm.n_shape}/{bfm.n_exp} components, "
                             f"{cfg.n_shape}/{cfg.n_exp} requested", path=bfm.source or None)
    pairs, problems = find_items(src)
    report = BuildReport(skipped=list(problems))
    for path, problem in problems:
        print(f"skipped {path}: {problem}", file=log)
    if not pairs:
        raise DenseFaceError("no image + .mat pairs found", path=src)
    img_dir = out / "images"
    try:
        img_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output folder ({e})", path=img_dir) from None

    rows: list[CropSample] = []
    for image_path, mat_path in pairs:
        name = item_name(image_path, src)
        try:
            sample = build_item(bfm, image_path, mat_path, name, cfg)
        except DenseFaceError as e:
            report.skipped.append((e.path or str(mat_path), e.problem))
            print(f"skipped {e}", file=log)
            continue
        ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(sample.crop, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
        if not ok:
            raise OutputError("cannot encode image", path=img_dir / name)
        atomic_write(img_dir / name, jpg.tobytes())
        rows.append(replace(sample, crop=np.empty((0, 0, 3), np.uint8)))  # keep labels only
        report.built.append(name)
    if not rows:
        raise DenseFaceError(f"no usable items ({len(report.skipped)} skipped)", path=src)
    table = FitTable(
        names=np.array([r.name for r in rows]),
        camera=np.stack([r.fit.camera for r in rows]),
        shape=np.stack([r.fit.shape for r in rows]),
        expression=np.stack([r.fit.expression for r in rows]),
        pts21=np.full((len(rows), 21, 2), np.nan, np.float32),
        yaw=np.array([r.yaw for r in rows], np.float32),
        roi_box=np.stack([r.roi_box for r in rows]).astype(np.float32),
    )
    try:
        table.save(out / "labels.npz")
    except OSError as e:
        raise OutputError(f"cannot write labels ({e})", path=out / "labels.npz") from None
    return report
