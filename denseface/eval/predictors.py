"""Anything that gives landmarks for a face: a denseface model (ONNX, torch), a callable, or the
teacher through its adapter.

A predictor maps a batch of RGB uint8 images and one box per image ([x0, y0, x1, y1], OpenCV
pixels) to one array per image: ``predict(images, boxes)`` -> (B, *output_shape). Landmark
predictors give (B, K, 3) image pixels (x right, y down, z towards the viewer in the same
scale; z is NaN when the model gives only 2D points), all K points of the model, and ``idx68``
says which of them are the 68 iBUG points. The teacher's adapter gives its (B, 62) 3DDFA
parameters instead (``idx68`` None). Detector mode (denseface.eval.predictions) also needs
``predict_passes(images, boxes, passes)`` -> (outputs, the last pass's crop boxes): a denseface
model runs ``DenseFace``'s own pass loop, a callable re-crops from its 68 points.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from ..errors import DenseFaceError
from ..geometry.boxes import ROI_FACTOR, roi_box_from_landmarks
from ..infer.api import check_tta
from ..models.runners import POINTS
from .report import TEACHER


class LandmarkPredictor(Protocol):
    name: str
    idx68: np.ndarray | None
    output_shape: tuple[int, ...]

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """images: B RGB uint8 (H, W, 3); boxes (B, 4) -> (B, *output_shape)."""


class RunnerPredictor:
    """A denseface model run by :class:`denseface.infer.api.DenseFace` itself (``dense_face``):
    square crops of ``config.input_size`` from the boxes, the network, all the model's points
    mapped back to image pixels, and the eye stage after the last pass (models with the
    human-convention head when it is installed), through DenseFace's own pass loop
    (:meth:`~denseface.infer.api.DenseFace.run_passes`). The runner's checked landmark set
    gives ``idx68``; ``roi_factor`` is the model's crop factor. tta: "flip" averages each crop
    with its mirror on the last pass (None: predict's default)."""

    def __init__(self, runner, name: str, tta: str | None = None, eyes: bool = True):
        from ..infer.api import DenseFace, PredictConfig

        # the runner keeps its own threads; threads=1 is the eye stage's
        self.dense_face = DenseFace(runner, config=PredictConfig(tta=check_tta(tta), eyes=eyes), threads=1)
        self.runner, self.name, self.config = runner, name, runner.config
        self.landmark_set = self.dense_face.landmark_set
        self.idx68 = self.landmark_set.idx68
        self.output_shape = (self.landmark_set.n_points, 3)
        self.tta, self.roi_factor = self.dense_face.config.tta, self.dense_face.roi_factor

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        """One pass: (B, K, 3) image pixels in the crop ``boxes`` (B, 4)."""
        return self.predict_passes(images, boxes, 1)[0]

    def predict_passes(self, images: Sequence[np.ndarray], boxes: np.ndarray,
                       passes: int) -> tuple[np.ndarray, np.ndarray]:
        """``passes`` passes from the crop ``boxes`` -> ((B, K, 3) image pixels, the last
        pass's crop boxes (B, 4))."""
        if len(images) == 0:
            return np.zeros((0, *self.output_shape)), np.zeros((0, 4))
        outputs, used = self.dense_face.run_passes(list(images), list(boxes), passes=passes)
        return np.asarray(outputs[POINTS], np.float64), np.stack(used)


class CallablePredictor:
    """A Python function ``fn(image_rgb_uint8, box) -> (68, 2) or (68, 3)`` image pixels."""

    idx68 = np.arange(68)
    output_shape = (68, 3)
    roi_factor = ROI_FACTOR

    def __init__(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def predict_passes(self, images: Sequence[np.ndarray], boxes: np.ndarray,
                       passes: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`RunnerPredictor.predict_passes`: each pass after the first crops from the
        previous one's 68 points with 3DDFA's policy (``roi_box_from_landmarks``)."""
        boxes = np.asarray(boxes, np.float64)
        pred = self.predict(images, boxes)
        for _ in range(passes - 1):
            boxes = np.stack([roi_box_from_landmarks(p[:, :2], self.roi_factor) for p in pred])
            pred = self.predict(images, boxes)
        return pred, boxes

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        out = np.full((len(images), 68, 3), np.nan)
        for i, (img, box) in enumerate(zip(images, boxes)):
            p = np.asarray(self.fn(img, np.asarray(box, np.float64)), np.float64)
            if p.shape not in ((68, 2), (68, 3)):
                raise DenseFaceError(f"the model callable returned shape {p.shape}, expected "
                                     "(68, 2) or (68, 3)")
            out[i, :, :p.shape[1]] = p
        return out


class TeacherPredictor:
    """The teacher 3DDFA-V2 mb05 (denseface.refine.teacher) as a predictor: each box, in the
    OpenCV frame, is cropped the 3DDFA way in 3DDFA's own 1-based numbers (BGR, 120 px), and the
    network's 62 parameters come back, de-normalised (``output_shape`` (62,))."""

    name = TEACHER
    idx68 = None
    output_shape = (62,)

    def __init__(self, folder: str | Path | None = "", threads: int = 1):
        from ..paths import shared_path
        from ..refine.teacher import load_teacher

        self.teacher = load_teacher(folder or shared_path("models", "3ddfa_v2_mb05"))
        self.threads = threads

    def predict(self, images: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
        import cv2

        from ..refine.teacher import crop_3ddfa, predict_params
        from .datasets import MATLAB_TO_OPENCV

        bgr = [crop_3ddfa(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), box + MATLAB_TO_OPENCV)
               for img, box in zip(images, boxes)]
        return predict_params(self.teacher, np.stack(bgr), threads=self.threads)


def model_name(model) -> str:
    """The name a model goes by in reports: a registry name as given, a file's name, a
    predictor's or module's ``name`` (else its class name); None: the default model's name."""
    if model is None:
        from ..models.registry import DEFAULT_MODEL
        return DEFAULT_MODEL
    if isinstance(model, (str, Path)):
        return Path(model).name
    return getattr(model, "name", None) or type(model).__name__


def open_predictor(model=None, threads: int | None = None, tta: str | None = None,
                   eyes: bool = True) -> LandmarkPredictor:
    """A predictor for a model path (.onnx / .pt), a torch module, a runner, None (the shipped
    default), an existing predictor, or a callable ``(image, box) -> 68 x 2|3``. tta: "flip"
    or "none" for denseface models (None: predict's default, denseface.infer.api.PredictConfig);
    eyes: the eye stage after the network, as predict runs it (RunnerPredictor)."""
    from ..models.runners import open_runner

    if hasattr(model, "predict") and hasattr(model, "name") and not hasattr(model, "predict_crops"):
        return model
    is_torch_module = type(model).__module__.startswith("torch") or hasattr(model, "state_dict")
    if callable(model) and not is_torch_module and not hasattr(model, "predict_crops") \
            and not isinstance(model, (str, Path)):
        return CallablePredictor(model)
    return RunnerPredictor(open_runner(model, threads=threads), model_name(model), tta, eyes)
