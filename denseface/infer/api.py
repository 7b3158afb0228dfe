"""The DenseFace API: image -> faces with 520 dense 3D landmarks, the 68 subset and head pose.

Pipeline per image (all coordinates image pixels, x right, y down, z towards the viewer on the
same pixel scale):

1. detect faces on a copy downscaled to ``detect_max_side`` (boxes scaled back), or take the
   user's boxes;
2. map each box to the square training crop (the detector's calibrated BoxToCrop; a user box
   is read as a landmark box and enlarged by 3DDFA's policy);
3. crop to ``input_size`` and run the network (ONNX Runtime by default; no torch);
4. decode crop pixels to image pixels (``crop_to_image``);
5. second pass (``passes=2``): re-crop with ``roi_box_from_landmarks`` of the predicted 68
   points, exactly the training crop policy, and predict again.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..geometry.boxes import box_size, landmark_bbox, roi_box, roi_box_from_landmarks
from ..geometry.crop import crop_image
from ..errors import ConfigError, DenseFaceError
from ..models.codec import crop_to_image
from .detectors import Detection, create_detector, crop_mapping_of
from .images import as_image, detection_view, to_rgb
from .pose import Pose, estimate_pose, load_mean_shape

STAGES = ("detect", "crop", "network", "decode")


@dataclass
class Face:
    """One face. box [x0, y0, x1, y1] (detector or user box) and its score; landmarks (N, 3)
    and landmarks68 (68, 3) in image pixels with z on the same scale (towards the viewer);
    pose in degrees (see denseface.infer.pose); crop_box: the square crop the last pass used."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    landmarks68: np.ndarray
    pose: Pose
    crop_box: np.ndarray

    def to_dict(self, decimals: int = 3) -> dict:
        """The JSON form (docs/predict.md); non-finite numbers become null."""
        return {"box": _round(self.box, decimals), "score": _round(self.score, 4),
                "landmarks": _round(self.landmarks, decimals),
                "landmarks68": _round(self.landmarks68, decimals),
                "pose": {k: _round(v, 3) for k, v in self.pose.as_dict().items()}}


def _round(a, decimals: int):
    """Rounded nested lists for JSON; non-finite values become None."""
    arr = np.round(np.asarray(a, np.float64), decimals)
    finite = np.isfinite(arr)
    if finite.all():
        return arr.tolist()
    return np.where(finite, arr, None).tolist()


@dataclass
class PredictConfig:
    """detect_max_side: the longer image side for detection (px; bigger images are downscaled
    for detection only; crops are always taken from the full-resolution image).
    passes: 1 = crop from the detector box only, 2 = also re-crop from the predicted landmarks.
    min_face_px: detections whose box is smaller (image px, mean side) are dropped."""

    detect_max_side: int = 640
    passes: int = 2
    min_face_px: float = 16.0
    roi_factor: float | None = None  # None: the model's (ModelConfig.roi_factor)


@dataclass
class Timings:
    """Seconds per stage (wall and calling-thread CPU time), summed over calls; ``faces`` counts
    the faces processed (once per pass), ``images`` the images."""

    seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    cpu_seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    faces: int = 0
    images: int = 0

    @contextmanager
    def stage(self, name: str):
        """Add the wall time and this thread's CPU time of the block to stage ``name``."""
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0
            self.cpu_seconds[name] += time.thread_time() - c0


class DenseFace:
    """Dense 3D landmarks from photos.

    model: an .onnx (ONNX Runtime) or .pt file, a runner, or None for the shipped model.
    detector: "default", "haar", "yunet", "mediapipe" or an object with ``.detect``;
    detector_options go to the detector (e.g. ``{"model_path": "yunet.onnx"}``).
    device: "cpu" or "cuda". threads: ONNX Runtime intra-op threads (None: its default)."""

    def __init__(self, model=None, detector="default", device: str = "cpu",
                 config: PredictConfig | None = None, threads: int | None = None,
                 detector_options: dict | None = None):
        from ..landmarks import load_landmark_set
        from .runner import open_runner

        self.config = config or PredictConfig()
        if self.config.passes not in (1, 2):
            raise ConfigError(f"passes must be 1 or 2, got {self.config.passes}")
        self.runner = open_runner(model, threads=threads, device=device)
        mc = self.runner.config
        self.landmark_set = load_landmark_set(mc.landmark_set)
        if self.landmark_set.n_points != mc.num_points:
            raise DenseFaceError(f"the model predicts {mc.num_points} points but its landmark set "
                                 f"'{mc.landmark_set}' has {self.landmark_set.n_points}")
        self.mean_shape = load_mean_shape(self.landmark_set)
        self.roi_factor = self.config.roi_factor or mc.roi_factor
        self._detector_spec = (detector, dict(detector_options or {}))
        self._detector = None

    # ------------------------------------------------------------------ detection
    @property
    def detector(self):
        """The face detector, created on first use (so user boxes need none)."""
        if self._detector is None:
            name, opts = self._detector_spec
            self._detector = create_detector(name, **opts)
        return self._detector

    def detect(self, image: np.ndarray, region: np.ndarray | None = None,
               max_side: int | None = None) -> list[Detection]:
        """Faces in a normalised image (grey or RGB uint8), boxes in its pixels, best first.

        region: only look inside this [x0, y0, x1, y1] box (clipped to the image); the searched
        image is downscaled to ``max_side`` (default ``config.detect_max_side``)."""
        x0 = y0 = 0
        if region is not None:
            h, w = image.shape[:2]
            x0, y0 = (int(max(0, np.floor(v))) for v in region[:2])
            x1, y1 = int(min(w, np.ceil(region[2]))), int(min(h, np.ceil(region[3])))
            if x1 - x0 < 2 or y1 - y0 < 2:
                return []
            image = image[y0:y1, x0:x1]
        view, scale = detection_view(image, max_side or self.config.detect_max_side)
        found = [d.scaled(1.0 / scale) for d in self.detector.detect(view)]
        shift = np.array([x0, y0, x0, y0], np.float64)
        found = [Detection(d.box + shift, d.score,
                           None if d.keypoints is None else d.keypoints + shift[:2], d.label)
                 for d in found]
        return [d for d in found if box_size(d.box) >= self.config.min_face_px]

    def crop_box_of(self, detection: Detection) -> np.ndarray:
        """The training crop for a detection (the detector's calibrated mapping)."""
        return crop_mapping_of(self.detector)(detection.box)

    # ------------------------------------------------------------------ prediction
    def predict(self, image, boxes=None, max_faces: int | None = None, color: str = "rgb",
                timings: Timings | None = None) -> list[Face]:
        """Faces in ``image`` (a path, a numpy array in colour order ``color``, or a PIL image).

        boxes: optional user face boxes [[x0, y0, x1, y1], ...] in image pixels (each read as the
        face's landmark box); max_faces keeps the highest-scoring faces. No face -> []."""
        array, _ = as_image(image, color)
        return self.predict_array(array, boxes=boxes, max_faces=max_faces, timings=timings)

    def predict_array(self, image: np.ndarray, boxes=None, max_faces: int | None = None,
                      timings: Timings | None = None) -> list[Face]:
        """:meth:`predict` for an already normalised (H, W) or (H, W, 3) RGB uint8 array."""
        t = timings or Timings()
        t.images += 1
        if boxes is not None:
            dets = [Detection(b, 1.0, None, "user") for b in validate_boxes(boxes, image.shape)]
            crop_boxes = [roi_box(d.box, self.roi_factor) for d in dets]
        else:
            with t.stage("detect"):
                dets = self.detect(image)
            mapping = crop_mapping_of(self.detector)
            crop_boxes = [mapping(d.box) for d in dets]
        if max_faces is not None:
            dets, crop_boxes = dets[:max_faces], crop_boxes[:max_faces]
        return self.faces_in_crops(image, dets, crop_boxes, t)

    def faces_in_crops(self, image: np.ndarray, dets: list[Detection], crop_boxes,
                       t: Timings) -> list[Face]:
        """Network passes (``config.passes``) from the given first crops -> faces."""
        if not dets:
            return []
        points, used = self.landmarks_in_crops(image, crop_boxes, t)
        for _ in range(self.config.passes - 1):
            used = [self.crop_box_from_landmarks(p) for p in points]
            points, used = self.landmarks_in_crops(image, used, t)
        with t.stage("decode"):  # pose estimation counts as decoding
            return [self.make_face(d.box, d.score, p, b) for d, p, b in zip(dets, points, used)]

    def track(self, image: np.ndarray, previous: list[Face], timings: Timings | None = None) -> list[Face]:
        """One pass per face, cropping from the previous frame's landmarks (video tracking); the
        faces' boxes become their 68 landmarks' bounding boxes, scores are kept."""
        if not previous:
            return []
        t = timings or Timings()
        with t.stage("crop"):
            crop_boxes = [self.crop_box_from_landmarks(f.landmarks68) for f in previous]
        points, used = self.landmarks_in_crops(image, crop_boxes, t)
        with t.stage("decode"):  # a tracked face's box: its predicted 68 points' bounding box
            return [self.make_face(landmark_bbox(p[self.landmark_set.idx68]), f.score, p, b)
                    for f, p, b in zip(previous, points, used)]

    def crop_box_from_landmarks(self, points: np.ndarray) -> np.ndarray:
        """The training crop of a face from its 68 landmarks (3DDFA policy)."""
        return roi_box_from_landmarks(np.asarray(points)[self._subset68(points), :2], self.roi_factor)

    def _subset68(self, points: np.ndarray):
        return self.landmark_set.idx68 if len(points) == self.landmark_set.n_points else slice(None)

    def landmarks_in_crops(self, image: np.ndarray, crop_boxes, timings: Timings):
        """Run the network on square crops (boxes in image pixels) -> (list of (N, 3) image-pixel
        landmarks, the boxes used)."""
        S = self.runner.config.input_size
        with timings.stage("crop"):
            crops, mats = crops_for_boxes(image, crop_boxes, S)
        with timings.stage("network"):
            pred = self.runner.predict_crops(crops)
        with timings.stage("decode"):
            points = [crop_to_image(p, M) for p, M in zip(pred, mats)]
        timings.faces += len(crop_boxes)
        return points, [np.asarray(b, np.float64) for b in crop_boxes]

    def make_face(self, box, score: float, landmarks: np.ndarray, crop_box: np.ndarray) -> Face:
        lm = np.asarray(landmarks, np.float64)
        return Face(np.asarray(box, np.float64), float(score), lm, lm[self.landmark_set.idx68],
                    estimate_pose(lm, self.mean_shape), np.asarray(crop_box, np.float64))


def crops_for_boxes(image: np.ndarray, crop_boxes, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square crops (B, size, size, 3) RGB uint8 and their 2x3 matrices (B, 2, 3) (image px ->
    crop px); outside the image is black."""
    crops, mats = [], []
    for box in crop_boxes:
        crop, M = crop_image(image, np.asarray(box, np.float64), size)
        crops.append(to_rgb(crop))
        mats.append(M)
    return np.stack(crops), np.stack(mats)


def validate_boxes(boxes, image_shape=None, path: str | Path | None = None) -> list[np.ndarray]:
    """User boxes -> list of float [x0, y0, x1, y1]; raises ConfigError when malformed."""
    a = np.asarray(boxes, np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4 or not np.isfinite(a).all():
        raise ConfigError(f"a box must be 4 numbers x0,y0,x1,y1, got {np.asarray(boxes).tolist()}",
                          path=path)
    for b in a:
        if b[2] <= b[0] or b[3] <= b[1]:
            raise ConfigError(f"box {b.tolist()} is empty (needs x1 > x0 and y1 > y0)", path=path)
        if image_shape is not None:
            h, w = image_shape[:2]
            if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
                raise ConfigError(f"box {b.tolist()} lies outside the {w}x{h} image", path=path)
    return list(a)
