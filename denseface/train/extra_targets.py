"""Faces without 3D labels for training, cropped as inference crops them and pseudo-labelled.

Two sources (``TrainConfig.extra.sources``): the human 68-point faces of 300-W
(denseface.data.human68; its train photos only, the held-out photos are for validation) and the
closed-eye faces of CEW (denseface.data.closed_eyes; its train blocks). Each face is cropped
where ``DenseFace``'s default pipeline (passes, flip averaging) ends with a model (the *pseudo
model*): for a 300-W face given the box of its human points, for a CEW photo from the detector
(the whole photo as the box when it finds none). That model's points on the crop are the
pseudo-labels that denseface.data.human_targets turns into targets. The crops and pseudo-labels
are computed once and cached in an ``.npz``.

Frames: crops of side S; points in crop pixels (x right, y down, z towards the viewer on the
same scale, ``(p - x0) * s`` as the training crops' labels).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.closed_eyes import closed_eye_files
from ..data.human68 import held_out_photos, read_labels
from ..geometry.boxes import landmark_bbox
from ..geometry.crop import crop_image, points_to_crop
from ..io.images import read_image, to_rgb
from ..models.regressor import DenseRegressor

#: Keys of one cached part (a source's train or val faces).
_FIELDS = ("names", "images", "pseudo", "pseudo_300w", "human68", "source_scale")


@dataclass
class PseudoLabelled:
    """Crops (M, S, S, 3) uint8 RGB, the pseudo model's points (M, N, 3) and second-head points
    (M, 68, 2), the human points (M, 68, 2; NaN where there are none), crop px per source px."""

    names: np.ndarray
    images: np.ndarray
    pseudo: np.ndarray
    pseudo_300w: np.ndarray
    human68: np.ndarray
    source_scale: np.ndarray


def _face_model(model: DenseRegressor):
    from ..infer.api import DenseFace
    from ..models.runners import TorchRunner
    return DenseFace(TorchRunner(model.eval()))


def main_face(face_model, image: np.ndarray, box: np.ndarray | None):
    """The main face ``face_model`` (a DenseFace) predicts: in the given box (a landmark box), or
    from the detector, the whole photo as the box when it finds none (a tight crop)."""
    faces = face_model.predict_array(image, boxes=None if box is None else [box], max_faces=1)
    if not faces:
        h, w = image.shape[:2]
        faces = face_model.predict_array(image, boxes=[np.array([0.0, 0.0, w - 1.0, h - 1.0])], max_faces=1)
    return faces[0]


def human68_part(folder: Path, part: str, limit: int = 0) -> tuple[np.ndarray, list[Path], np.ndarray]:
    """The names, image files and human 68 points (M, 68, 2) of the ``part`` ("train" or "val")
    faces of a human-68 folder (denseface.data.human68's split), the first ``limit`` (0 = all)."""
    labels = read_labels(folder)
    keep = np.flatnonzero(held_out_photos(labels["source"]) == (part == "val"))[:limit or None]
    names = labels["names"][keep]
    return names, [folder / "images" / str(n) for n in names], labels["pts68"][keep].astype(np.float64)


def cached_arrays(path: Path, make) -> dict[str, np.ndarray]:
    """The arrays of the .npz at ``path``, or ``make()``'s (a mapping of arrays) written there
    first (atomically)."""
    if path.is_file():
        with np.load(path, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    arrays = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..io.files import atomic_output
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return arrays


def _crop_face(face_model, image: np.ndarray, box: np.ndarray | None, size: int):
    """(crop, pseudo (N, 3), pseudo_300w (68, 2), crop px per source px, crop box) of the main
    face."""
    f = main_face(face_model, image, box)
    crop, M = crop_image(image, f.crop_box, size)
    s = M[0, 0]
    pts = np.concatenate([points_to_crop(f.landmarks[None, :, :2], f.crop_box[None], size)[0],
                          f.landmarks[:, 2:3] * s], 1)
    p300 = points_to_crop(f.landmarks68_300w[None], f.crop_box[None], size)[0]
    return crop, pts, p300, s, f.crop_box


def pseudo_label(model: DenseRegressor, images: list[np.ndarray], boxes: list | None,
                 names, human68: np.ndarray | None = None) -> PseudoLabelled:
    """Crop each image as the pipeline of ``model`` does and take its points as pseudo-labels;
    ``human68`` (M, 68, 2) image px are carried into the crops."""
    from tqdm import tqdm

    fm, S = _face_model(model), model.config.input_size
    out = {k: [] for k in _FIELDS}
    for i, image in enumerate(tqdm(images, desc="pseudo-labels", file=sys.stderr, mininterval=5)):
        crop, pts, p300, s, box = _crop_face(fm, image, None if boxes is None else boxes[i], S)
        out["images"].append(crop)
        out["pseudo"].append(pts)
        out["pseudo_300w"].append(p300)
        out["source_scale"].append(s)
        out["human68"].append(np.full((68, 2), np.nan) if human68 is None
                              else points_to_crop(human68[i][None], box[None], S)[0])
    arrays = {k: np.stack(v) for k, v in out.items() if k != "names"}
    return PseudoLabelled(np.asarray(names), arrays["images"], arrays["pseudo"].astype(np.float32),
                          arrays["pseudo_300w"].astype(np.float32), arrays["human68"].astype(np.float32),
                          arrays["source_scale"])


def human68_faces(model: DenseRegressor, folder: Path, part: str, limit: int = 0) -> PseudoLabelled:
    """The ``part`` faces of a human-68 folder (the first ``limit``; 0 = all), pseudo-labelled by
    ``model``'s pipeline."""
    names, files, pts = human68_part(folder, part, limit)
    images = [to_rgb(read_image(p)) for p in files]
    return pseudo_label(model, images, [landmark_bbox(p) for p in pts], names, pts)


def closed_eye_faces(model: DenseRegressor, folder: Path, part: str, limit: int = 0) -> PseudoLabelled:
    """The ``part`` faces of a CEW folder (the first ``limit``; 0 = all), pseudo-labelled by
    ``model``'s pipeline."""
    files = closed_eye_files(folder, part)[:limit or None]
    images = [to_rgb(read_image(p)) for p in files]
    return pseudo_label(model, images, None, [p.name for p in files])


def load_or_make(cache: Path, make) -> PseudoLabelled:
    """The cached part at ``cache`` (an .npz), or ``make()`` written there first."""
    arrays = cached_arrays(cache, lambda: {k: getattr(part, k) for part in [make()] for k in _FIELDS})
    return PseudoLabelled(**{k: arrays[k] for k in _FIELDS})


def extra_training_sets(cfg, lset, out_dir: Path, verbose: bool = True) -> tuple[list, dict]:
    """The datasets of ``cfg.extra.sources`` (a denseface.train.config.TrainConfig) for the
    landmark set ``lset``, and each source's held-out part (source -> PseudoLabelled) for
    validation. Crops and pseudo-labels are cached in ``extra.cache_dir`` (default ``out_dir``)."""
    from ..data.dataset import ExtraTargetsDataset
    from ..data.human_targets import closed_eye_targets, eye_sigma, human_targets, propagation_weights
    from ..errors import ConfigError
    from ..models.regressor import load_model
    from ..paths import shared_path

    e = cfg.extra
    pseudo = e.pseudo_model or cfg.init_from
    if not pseudo:
        raise ConfigError("config key 'extra.pseudo_model': the extra sources need a model for "
                          "pseudo-labels (or init_from)")
    pseudo_model = load_model(pseudo)
    cache = Path(e.cache_dir) if e.cache_dir else Path(out_dir)
    ms, idx = lset.mean_shape, lset.idx68
    spread = propagation_weights(ms, idx, eye_sigma(ms, idx, e.spread_fraction))
    makers = {"human68": (human68_faces, e.human68_dir or shared_path("data", "w300_afw_helen"), e.repeat_human68),
              "closed_eyes": (closed_eye_faces, e.closed_eyes_dir or shared_path("data", "cew_closed"),
                              e.repeat_closed_eyes)}
    parts, val = [], {}
    for source in e.sources:
        make, folder, repeat = makers[source]
        tr, val[source] = (load_or_make(cache / f"extra_{source}_{part}.npz",
                                        lambda part=part: make(pseudo_model, Path(folder), part, e.limit_faces))
                           for part in ("train", "val"))
        if source == "human68":
            t = human_targets(tr.names, tr.images, tr.source_scale, tr.pseudo, tr.human68,
                              idx, spread, e.keep_weight, e.shared_weight)
        else:
            t = closed_eye_targets(tr.names, tr.images, tr.source_scale, tr.pseudo, tr.pseudo_300w,
                                   idx, spread, e.keep_weight, e.shared_weight)
        parts.append(ExtraTargetsDataset(t, lset.flip, cfg.input_size, e.augment, repeat,
                                         cfg.data.flip_double, cfg.seed))
        if verbose:
            print(f"denseface: extra source {source}: {len(tr.names)} train faces x {repeat} "
                  f"(+ mirrors), {len(val[source].names)} held out", file=sys.stderr)
    return parts, val
