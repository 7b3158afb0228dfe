"""The second head (``config.head_300w``): a linear map from a model's N x 3 points to the 68
points as people annotate them (300-W), fitted in closed form.

Inputs and targets are normalised crop coordinates (``p / S - 0.5``, denseface.models.codec; x
right, y down): the model's own outputs on each train face of a human-68 folder
(denseface.data.human68), cropped where ``DenseFace``'s default pipeline ends when given the
face's box (its second pass's crop, so the map sees what it will see at inference), and on that
crop's mirror image, whose human points are mirrored
exactly (through the iBUG flip and x -> S - s - x, denseface.data.augment.label_flip_shift), so
the map is fitted to what the network predicts and treats a face and its mirror alike, as flip
averaging needs. Ridge regression (denseface.train.head_init.ridge_solve) with its lambda chosen
by 5-fold cross-validation over the train photos (the faces of a photo and their mirrors share a
fold); the held-out photos are only scored.

Why a map of the points and not a head on the image features: on the held-out photos the
ridge map of the 520 points beat a ridge head on the pooled features, and fine-tuning the
network with the human points (a second head trained beside the 3D labels) made both the
held-out 300-W error and aflw_pl val worse within its budget (docs/MODEL_CARD.md).
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..data.human68 import Human68Split, load_human68, photo_of
from ..landmarks.ibug68 import FLIP_68
from ..metrics import interocular, nme_2d
from ..models.codec import encode_points, unmirror_crop_points
from ..models.regressor import DenseRegressor
from .head_init import ridge_solve

#: The ridge lambdas (per sample) the cross-validation chooses from.
LAMBDAS = (1e-6, 1e-5, 1e-4, 1e-3)
FOLDS = 5


@torch.inference_mode()
def model_points(model: DenseRegressor, images: np.ndarray, batch: int = 128) -> np.ndarray:
    """(M, N * 3) normalised outputs of ``model`` on crops (M, S, S, 3) uint8 RGB."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch].transpose(0, 3, 1, 2))).float()
        out.append(model(x).flatten(1).double().numpy())
    return np.concatenate(out)


def mirrored_targets(split: Human68Split, size: int) -> np.ndarray:
    """The human points (M, 68, 2) crop pixels of each crop's pixel mirror (``crop[:, ::-1]``)."""
    return unmirror_crop_points(split.points[..., :2], np.argsort(FLIP_68), size, split.source_scale)


def design(model: DenseRegressor, split: Human68Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs X (2M, N * 3), targets Y (2M, 136) (normalised) of every crop and then its mirror,
    and each row's face index (for grouping folds)."""
    S = model.config.input_size
    X = np.concatenate([model_points(model, split.images),
                        model_points(model, np.ascontiguousarray(split.images[:, :, ::-1]))])
    Y = np.concatenate([encode_points(split.points[..., :2], S), encode_points(mirrored_targets(split, S), S)])
    face = np.tile(np.arange(len(split.names)), 2)
    return X, Y.reshape(len(Y), -1).astype(np.float64), face


def photo_folds(names: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(M,) fold index per face; the faces of one photo (names ``<photo>_<k>.jpg``) share a fold."""
    photos = photo_of(names)
    unique = np.unique(photos)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = dict(zip(unique[order], np.arange(len(unique)) % folds))
    return np.array([fold_of[p] for p in photos])


def crop_nme(pred: np.ndarray, truth_px: np.ndarray, size: int) -> np.ndarray:
    """(M,) inter-ocular NME (%) of normalised predictions (M, 136) against crop pixels (M, 68, 2)."""
    p = (pred.reshape(len(pred), 68, 2) + 0.5) * size
    return nme_2d(p, truth_px, interocular(truth_px))


def choose_lambda(X: np.ndarray, Y: np.ndarray, face: np.ndarray, folds: np.ndarray, size: int,
                  lambdas=LAMBDAS) -> tuple[float, dict]:
    """The lambda with the lowest cross-validated NME (original crops scored), and every score."""
    scores = {}
    truth = ((Y.reshape(len(Y), 68, 2) + 0.5) * size)
    fold = folds[face]
    first = np.arange(len(Y)) < len(Y) // 2
    for lam in lambdas:
        errs = []
        for k in range(int(folds.max()) + 1):
            test = (fold == k) & first
            W, b = ridge_solve(X[fold != k], Y[fold != k], lam)
            errs.append(crop_nme(X[test] @ W + b, truth[test], size))
        scores[lam] = float(np.concatenate(errs).mean())
    return min(scores, key=scores.get), scores


def pipeline_crop(model: DenseRegressor):
    """``(image, points68) -> crop box``: where ``DenseFace``'s default pipeline (passes, flip
    averaging) ends for a face given the box of its 68 points."""
    from ..geometry.boxes import landmark_bbox
    from ..infer.api import DenseFace
    from ..models.runners import TorchRunner

    face_model = DenseFace(TorchRunner(model))
    return lambda image, points: face_model.predict_array(image, boxes=[landmark_bbox(points)])[0].crop_box


def with_points_map(model: DenseRegressor, folder: str | Path | None = None) -> tuple[DenseRegressor, dict]:
    """A copy of ``model`` with the second head fitted on the train photos of the human-68
    ``folder`` (None: the shared data/w300_afw_helen), and the fit's statistics: the lambda and
    its cross-validation scores, and the held-out photos' NME (%) without flip averaging."""
    from ..paths import shared_path

    folder = Path(folder) if folder else shared_path("data", "w300_afw_helen")
    S = model.config.input_size
    crop_box_of = pipeline_crop(model)
    train, val = (load_human68(folder, part, S, crop_box_of) for part in ("train", "val"))
    X, Y, face = design(model, train)
    lam, cv = choose_lambda(X, Y, face, photo_folds(train.names), S)
    W, b = ridge_solve(X, Y, lam)
    out = copy.deepcopy(model)
    out.config = dataclasses.replace(model.config, head_300w=True)
    out.head_300w = torch.nn.Linear(X.shape[1], Y.shape[1])
    with torch.no_grad():
        out.head_300w.weight.copy_(torch.from_numpy(W.T))
        out.head_300w.bias.copy_(torch.from_numpy(b))
    val_pred = model_points(model, val.images) @ W + b
    stats = {"lambda": lam, "cv_nme": {str(k): v for k, v in cv.items()}, "train_faces": len(train.names),
             "val_faces": len(val.names), "val_nme": float(crop_nme(val_pred, val.points[..., :2], S).mean())}
    return out.eval(), stats
