"""A benchmark's predictions, the one prediction path of every evaluation (68 points, AFLW-21,
dense, pose): a predictor (denseface.eval.predictors) over a list of images,
with threaded decoding, batched inference, and the two face-box sources (ground-truth boxes or a
face detector). It keeps every output of the predictor for every image: all of a model's
points (the 68 subset is ``Predictions.pred68``), or the teacher adapter's parameters.

Detector mode runs the code ``denseface predict`` runs: :class:`denseface.infer.api.FaceCropper`
(detection on the image downscaled to ``detect_max_side``, ``min_face_px``, the detector's
calibrated ``crop_mapping`` or a given ``BoxToCrop``, the model's crop factor), then
``DenseFace``'s own pass loop (:meth:`denseface.infer.api.DenseFace.run_passes`:
``PredictConfig.passes``, flip averaging on the last pass, the eye stage after it). The
detection that belongs to the annotated face is the one
:func:`denseface.eval.calibration.match_detection` picks (rule "score": the highest-scoring one
whose centre lies inside the ground-truth 68-point box); an image without such a detection
counts as undetected.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DenseFaceError
from ..geometry.boxes import BoxToCrop
from ..infer.api import FaceCropper, PredictConfig
from ..infer.detectors import FaceDetector, crop_mapping_of
from ..io.images import read_image, to_rgb
from .calibration import match_detection


@dataclass
class RunConfig:
    """batch: images per model call; workers: decoding threads; box_policy: detector mode only,
    None = the detector's calibrated ``crop_mapping`` (denseface.infer.detectors.crop_mapping_of);
    predict: detector mode's PredictConfig (detect_max_side, passes, min_face_px: predict's
    defaults)."""

    batch: int = 64
    workers: int = 2
    progress: bool = True
    box_policy: BoxToCrop | None = None
    predict: PredictConfig = field(default_factory=PredictConfig)


@dataclass
class Predictions:
    """outputs (N, *output_shape) of the predictor: (N, K, 3) image pixels, all K points of a
    landmark predictor (the teacher adapter: (N, 62) parameters), NaN where an image failed or
    its face was not detected; idx68 (68,): the 68 iBUG points among the K (None for the
    teacher); crop_boxes (N, 4) of the final pass; detected (N,) bool; detector_boxes (N, 4)
    and detector_scores (N,) NaN without a detection; failed {index: reason}; seconds: wall
    time."""

    outputs: np.ndarray
    idx68: np.ndarray | None
    crop_boxes: np.ndarray
    detected: np.ndarray
    detector_boxes: np.ndarray
    detector_scores: np.ndarray
    failed: dict[int, str]
    seconds: float

    @property
    def pred68(self) -> np.ndarray:
        """(N, 68, 3) the 68 iBUG points, image pixels."""
        return self.outputs[:, self.idx68]


def predict_images(paths: Sequence[Path], predictor, cfg: RunConfig, boxes: np.ndarray | None = None,
                   detector: FaceDetector | None = None, face_boxes: np.ndarray | None = None,
                   desc: str = "eval") -> Predictions:
    """Predict every image, either in the given crop ``boxes`` (N, 4) or, with a ``detector``,
    in boxes from the detector matched to ``face_boxes`` (N, 4) (see module doc).

    Images are decoded by ``cfg.workers`` threads while the model runs on the previous batch.
    An unreadable image is skipped and listed in ``failed``; nothing else is lost."""
    from tqdm import tqdm

    if (boxes is None) == (detector is None):
        raise ValueError("give exactly one of boxes or detector")
    if detector is not None and face_boxes is None:
        raise ValueError("detector mode needs face_boxes to match detections")
    n = len(paths)
    idx68, shape = _layout(predictor)
    cropper = _cropper(cfg, detector, predictor) if detector is not None else None
    out = Predictions(np.full((n, *shape), np.nan), idx68, np.full((n, 4), np.nan), np.zeros(n, bool),
                      np.full((n, 4), np.nan), np.full(n, np.nan), {}, 0.0)
    t0 = time.perf_counter()
    chunks = [list(range(i, min(i + cfg.batch, n))) for i in range(0, n, max(cfg.batch, 1))]
    with ThreadPoolExecutor(max(cfg.workers, 1)) as pool, \
            tqdm(total=n, desc=desc, unit="img", disable=not cfg.progress, leave=True) as bar:
        pending: deque = deque()

        def submit(k: int) -> None:
            if k < len(chunks):
                pending.append([(i, pool.submit(_read_rgb, paths[i])) for i in chunks[k]])

        submit(0)
        submit(1)
        for k in range(len(chunks)):
            jobs = pending.popleft()
            submit(k + 2)
            idx, images = [], []
            for i, fut in jobs:
                try:
                    images.append(fut.result())
                    idx.append(i)
                except DenseFaceError as e:
                    out.failed[i] = str(e)
            if cropper is None:
                crop = boxes[idx] if idx else np.zeros((0, 4))
                keep = list(range(len(idx)))
            else:
                crop, keep = _detect(cropper, images, idx, face_boxes, out)
            if keep:
                sel = [images[j] for j in keep]
                ids = [idx[j] for j in keep]
                if cropper is None:
                    pred = predictor.predict(sel, crop)
                else:   # predict's passes, each after the first from the previous one's points
                    pred, crop = predictor.predict_passes(sel, crop, cropper.config.passes)
                out.outputs[ids] = pred
                out.crop_boxes[ids] = crop
                out.detected[ids] = True
            bar.update(len(jobs))
    out.seconds = time.perf_counter() - t0
    return out


def _read_rgb(path: Path) -> np.ndarray:
    return to_rgb(read_image(path))


def _layout(predictor) -> tuple[np.ndarray | None, tuple[int, ...]]:
    """(idx68, output shape per image) of a predictor; one without them (the older protocol)
    gives the 68 points."""
    idx68 = getattr(predictor, "idx68", None)
    shape = getattr(predictor, "output_shape", None)
    if shape is None:
        return np.arange(68), (68, 3)
    return (None if idx68 is None else np.asarray(idx68)), tuple(shape)


def box_policy_for(cfg: RunConfig, detector) -> BoxToCrop:
    """The configured box policy, else the detector's calibrated one."""
    return cfg.box_policy if cfg.box_policy is not None else crop_mapping_of(detector)


class _WithMapping:
    """A detector whose box-to-crop mapping is replaced (calibration experiments)."""

    def __init__(self, detector, mapping: BoxToCrop):
        self.detector, self.crop_mapping = detector, mapping
        self.name = getattr(detector, "name", type(detector).__name__)

    def detect(self, image_rgb: np.ndarray) -> list:
        return self.detector.detect(image_rgb)


def _cropper(cfg: RunConfig, detector, predictor) -> FaceCropper:
    """predict's FaceCropper for ``detector``, with the predictor's 68 points and crop factor."""
    idx68 = getattr(predictor, "idx68", None)
    if idx68 is None or not hasattr(predictor, "predict_passes"):
        raise DenseFaceError("detector mode needs a landmark predictor with predict_passes (its "
                             "second pass crops from the predicted 68 points)")
    det = detector if cfg.box_policy is None else _WithMapping(detector, cfg.box_policy)
    return FaceCropper(det, cfg.predict, idx68, cfg.predict.roi_factor or predictor.roi_factor)


def _detect(cropper: FaceCropper, images: list[np.ndarray], idx: list[int], face_boxes: np.ndarray,
            out: Predictions) -> tuple[np.ndarray, list[int]]:
    """First-pass crop boxes (K, 4) for the images whose face was detected, and their positions."""
    crops, keep = [], []
    for j, (i, image) in enumerate(zip(idx, images)):
        try:
            dets = cropper.detect(image)
        except DenseFaceError as e:
            out.failed[i] = str(e)
            continue
        hit = match_detection(dets, face_boxes[i].reshape(2, 2), rule="score")
        if hit is None:
            continue
        out.detector_boxes[i], out.detector_scores[i] = hit.box[:4], hit.score
        crops.append(crop_mapping_of(cropper.detector)(hit.box[:4]))
        keep.append(j)
    return (np.stack(crops) if crops else np.zeros((0, 4))), keep
