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
from ..io.images import as_image, detection_view, to_rgb
from .pose import Pose, estimate_pose

STAGES = ("detect", "crop", "network", "decode")


@dataclass
class Face:
    """One face. box [x0, y0, x1, y1] (detector or user box) and its score; landmarks (N, 3)
    and landmarks68 (68, 3) in image pixels with z on the same scale (towards the viewer);
    pose in degrees (see denseface.infer.pose); crop_box: the square crop the last pass used;
    mesh: the full BFM mesh (53215, 3) fitted to the landmarks, same frame, when asked for
    (``mesh="full"``; not part of the JSON form)."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    landmarks68: np.ndarray
    pose: Pose
    crop_box: np.ndarray
    mesh: np.ndarray | None = None

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
    for detection only; crops are always taken from the full-resolution image; 0 = never).
    passes: 1 = crop from the detector box only, 2 = also re-crop from the predicted landmarks.
    min_face_px: detections whose box is smaller (image px, mean side) are dropped.
    roi_factor: crop side / longer side of the 68-point box (None: the model's own)."""

    detect_max_side: int = 640
    passes: int = 2
    min_face_px: float = 16.0
    roi_factor: float | None = None

    def __post_init__(self) -> None:
        _check_int("detect_max_side", self.detect_max_side, 0)
        if self.passes not in (1, 2) or isinstance(self.passes, bool):
            raise ConfigError(f"passes must be 1 or 2, got {self.passes!r}")
        if not _is_number(self.min_face_px) or self.min_face_px < 0:
            raise ConfigError(f"min_face_px must be a number >= 0, got {self.min_face_px!r}")
        if self.roi_factor is not None and (not _is_number(self.roi_factor) or self.roi_factor <= 0):
            raise ConfigError(f"roi_factor must be a number > 0 or None, got {self.roi_factor!r}")


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)


def _check_int(name: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {v!r}")
    return int(v)


def check_max_faces(max_faces) -> int | None:
    """None (all faces) or a whole number >= 1; ConfigError otherwise."""
    return None if max_faces is None else _check_int("max_faces", max_faces, 1)


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


class FaceCropper:
    """Where the network looks: face detection and the crop policy, exactly as ``predict`` runs
    them (evaluation in detector mode uses this same object).

    detector: a FaceDetector (denseface.infer.detectors) or a zero-argument factory for one
    (created on first use, so user boxes need none). idx68: positions of the 68 landmarks among
    the model's points; roi_factor: the crop policy's factor (denseface.geometry.boxes)."""

    def __init__(self, detector, config: PredictConfig, idx68: np.ndarray, roi_factor: float):
        self._detector = None if callable(detector) and not hasattr(detector, "detect") else detector
        self._factory = detector if self._detector is None else None
        self.config, self.idx68, self.roi_factor = config, np.asarray(idx68), float(roi_factor)

    @property
    def detector(self):
        if self._detector is None:
            self._detector = self._factory()
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

    def first_crops(self, image: np.ndarray, boxes=None, max_faces: int | None = None,
                    timings: Timings | None = None) -> tuple[list[Detection], list[np.ndarray]]:
        """The faces to predict and their first-pass crop boxes: the user's boxes (read as
        landmark boxes, 3DDFA's policy) or the detector's (its calibrated mapping), best first."""
        t = timings or Timings()
        if boxes is not None:
            dets = [Detection(b, 1.0, None, "user") for b in validate_boxes(boxes, image.shape)]
            crops = [roi_box(d.box, self.roi_factor) for d in dets]
        else:
            with t.stage("detect"):
                dets = self.detect(image)
            crops = [self.crop_box_of(d) for d in dets]
        if max_faces is not None:
            dets, crops = dets[:max_faces], crops[:max_faces]
        return dets, crops

    def crop_from_landmarks(self, points: np.ndarray) -> np.ndarray:
        """The training crop of a face from its predicted points (N, >=2) or 68 points."""
        p = np.asarray(points)
        p68 = p[self.idx68] if len(p) != 68 else p
        return roi_box_from_landmarks(p68[:, :2], self.roi_factor)


def run_crops(runner, images, crop_boxes, timings: Timings | None = None) -> np.ndarray:
    """Crop, run, decode: (B, N, 3) image-pixel landmarks for B (image, crop box) pairs, in one
    network call. images: one (H, W[, 3]) uint8 image per box (the same array may repeat)."""
    t = timings or Timings()
    S = runner.config.input_size
    if len(crop_boxes) == 0:
        return np.zeros((0, runner.config.num_points, 3))
    with t.stage("crop"):
        cut = [crop_image(image, np.asarray(box, np.float64), S) for image, box in zip(images, crop_boxes)]
        crops = np.stack([to_rgb(c) for c, _ in cut])
    with t.stage("network"):
        pred = runner.predict_crops(crops)
    with t.stage("decode"):
        return np.stack([crop_to_image(p, M) for p, (_, M) in zip(pred, cut)])


class DenseFace:
    """Dense 3D landmarks from photos.

    model: a registry name (``denseface models``), an .onnx (ONNX Runtime) or .pt file, a runner,
    or None for the package default. detector: "default" (see docs/detectors.md), a backend
    name or a FaceDetector object; detector_options go to the backend (e.g.
    ``{"score_threshold": 0.7}``). device: "cpu" or "cuda". threads: ONNX Runtime intra-op
    threads and the detector's threads (None: their defaults). bfm: the Basel Face Model folder
    (or a loaded denseface.mesh.BFM) for full meshes (``mesh="full"``); never shipped, so it is
    read from this path, else from the shared data folder ($DENSEFACE_SHARED)."""

    def __init__(self, model=None, detector="default", device: str = "cpu",
                 config: PredictConfig | None = None, threads: int | None = None,
                 detector_options: dict | None = None, bfm=None):
        from ..geometry.meshes import outward_triangles
        from ..landmarks import load_landmark_set
        from ..models.runners import open_runner

        self.config = config or PredictConfig()
        if threads is not None:
            _check_int("threads", threads, 1)
        self.runner = open_runner(model, threads=threads, device=device)
        mc = self.runner.config
        self.landmark_set = load_landmark_set(mc.landmark_set)
        if self.landmark_set.n_points != mc.num_points:
            raise DenseFaceError(f"the model predicts {mc.num_points} points but its landmark set "
                                 f"'{mc.landmark_set}' has {self.landmark_set.n_points}")
        self.mean_shape = self.landmark_set.mean_shape
        #: the set's triangles wound outward (for meshes written in the export frame)
        self.mesh_triangles = outward_triangles(self.mean_shape, self.landmark_set.triangles)
        self.roi_factor = self.config.roi_factor or mc.roi_factor
        opts = {**({"threads": threads} if threads is not None else {}), **(detector_options or {})}
        factory = detector if hasattr(detector, "detect") else (lambda: create_detector(detector, **opts))
        self.cropper = FaceCropper(factory, self.config, self.landmark_set.idx68, self.roi_factor)
        self._bfm_spec, self._fitter = bfm, None

    # ------------------------------------------------------------------ full meshes
    @property
    def mesh_fitter(self):
        """The BFM fit to the 520 points (denseface.mesh.point_fit), loaded on first use."""
        if self._fitter is None:
            from ..geometry.meshes import outward_triangles
            from ..mesh import BFM, load_bfm
            from ..mesh.point_fit import point_fitter

            spec = self._bfm_spec
            try:
                bfm = spec if isinstance(spec, BFM) else load_bfm(spec)
            except DenseFaceError as e:
                raise DenseFaceError(f"full meshes need the Basel Face Model (never shipped): pass "
                                     f"bfm=PATH (--bfm) or set DENSEFACE_SHARED ({e})") from None
            self._fitter = point_fitter(bfm, self.landmark_set)
            #: the BFM's triangles wound outward (for full meshes in the export frame)
            self.full_mesh_triangles = outward_triangles(bfm.mean, bfm.triangles)
        return self._fitter

    def full_mesh(self, face: Face) -> np.ndarray:
        """The full BFM mesh (53215, 3) fitted to a face's landmarks, in the same image-pixel frame
        (about 3 ms per face on one thread)."""
        return self.mesh_fitter.fit_mesh(face.landmarks)[0]

    def _with_mesh(self, faces: list[Face], mesh: str | None) -> list[Face]:
        if mesh not in (None, "points", "full"):
            raise ConfigError(f"mesh must be None, 'points' or 'full', got {mesh!r}")
        if mesh != "full":
            return faces
        from dataclasses import replace

        return [replace(f, mesh=self.full_mesh(f)) if np.isfinite(f.landmarks).all() else f for f in faces]

    @property
    def detector(self):
        """The face detector, created on first use (so user boxes need none)."""
        return self.cropper.detector

    def detect(self, image: np.ndarray, region: np.ndarray | None = None,
               max_side: int | None = None) -> list[Detection]:
        """See :meth:`FaceCropper.detect`."""
        return self.cropper.detect(image, region, max_side)

    def crop_box_of(self, detection: Detection) -> np.ndarray:
        return self.cropper.crop_box_of(detection)

    def crop_box_from_landmarks(self, points: np.ndarray) -> np.ndarray:
        """The training crop of a face from its landmarks (3DDFA policy)."""
        return self.cropper.crop_from_landmarks(points)

    # ------------------------------------------------------------------ prediction
    def predict(self, image, boxes=None, max_faces: int | None = None, color: str = "rgb",
                timings: Timings | None = None, mesh: str | None = None) -> list[Face]:
        """Faces in ``image`` (a path, a numpy array in colour order ``color``, or a PIL image).

        boxes: optional user face boxes [[x0, y0, x1, y1], ...] in image pixels (each read as the
        face's landmark box); max_faces keeps the highest-scoring faces; mesh="full" also fits
        the full BFM mesh to each face (``Face.mesh``). No face -> []."""
        max_faces = check_max_faces(max_faces)
        array, _ = as_image(image, color)
        return self.predict_array(array, boxes=boxes, max_faces=max_faces, timings=timings, mesh=mesh)

    def predict_array(self, image: np.ndarray, boxes=None, max_faces: int | None = None,
                      timings: Timings | None = None, mesh: str | None = None) -> list[Face]:
        """:meth:`predict` for an already normalised (H, W) or (H, W, 3) RGB uint8 array."""
        t = timings or Timings()
        t.images += 1
        dets, crop_boxes = self.cropper.first_crops(image, boxes, check_max_faces(max_faces), t)
        return self._with_mesh(self.faces_in_crops(image, dets, crop_boxes, t), mesh)

    def predict_many(self, images, batch_size: int = 16, boxes=None, max_faces: int | None = None,
                     color: str = "rgb", errors: str = "raise", mesh: str | None = None):
        """Yield the faces of each image of ``images`` (any iterable of paths, arrays or PIL
        images), in order, as soon as its batch is done; the network sees the crops of up to
        ``batch_size`` images per call. errors="yield" yields a bad item's DenseFaceError in its
        place instead of raising it; mesh as in :meth:`predict`."""
        _check_int("batch_size", batch_size, 1)
        if errors not in ("raise", "yield"):
            raise ConfigError(f"errors must be 'raise' or 'yield', got {errors!r}")
        max_faces = check_max_faces(max_faces)
        batch: list = []
        for item in images:
            try:
                array, _ = as_image(item, color)
                dets, crops = self.cropper.first_crops(array, boxes, max_faces)
                batch.append((array, dets, crops))
            except DenseFaceError as e:
                if errors == "raise":
                    raise
                batch.append(e)
            if len(batch) == batch_size:
                yield from self._finish_batch(batch, mesh)
                batch = []
        if batch:
            yield from self._finish_batch(batch, mesh)

    def _finish_batch(self, batch: list, mesh: str | None):
        jobs = [b for b in batch if not isinstance(b, DenseFaceError)]
        images = [img for img, dets, _ in jobs for _ in dets]
        crops = [c for _, _, cs in jobs for c in cs]
        t = Timings()
        points, used = self._passes(images, crops, t)
        k = 0
        for item in batch:
            if isinstance(item, DenseFaceError):
                yield item
                continue
            _, dets, _ = item
            yield self._with_mesh([self.make_face(d.box, d.score, points[k + j], used[k + j])
                                   for j, d in enumerate(dets)], mesh)
            k += len(dets)

    def _passes(self, images: list, crop_boxes: list, t: Timings):
        """``config.passes`` network passes over (image, crop box) pairs -> (points, boxes used)."""
        points = self._run(images, crop_boxes, t)
        used = [np.asarray(b, np.float64) for b in crop_boxes]
        for _ in range(self.config.passes - 1):
            used = [self.crop_box_from_landmarks(p) for p in points]
            points = self._run(images, used, t)
        return points, used

    def _run(self, images: list, crop_boxes: list, t: Timings) -> np.ndarray:
        out = run_crops(self.runner, images, crop_boxes, t)
        t.faces += len(crop_boxes)
        return out

    def faces_in_crops(self, image: np.ndarray, dets: list[Detection], crop_boxes,
                       t: Timings) -> list[Face]:
        """Network passes (``config.passes``) from the given first crops -> faces."""
        if not dets:
            return []
        points, used = self._passes([image] * len(dets), list(crop_boxes), t)
        with t.stage("decode"):  # pose estimation counts as decoding
            return [self.make_face(d.box, d.score, p, b) for d, p, b in zip(dets, points, used)]

    def track(self, image: np.ndarray, previous: list[Face], timings: Timings | None = None) -> list[Face]:
        """One pass per face, cropping from the previous frame's landmarks (video tracking); the
        faces' boxes become their 68 landmarks' bounding boxes, scores are kept."""
        if not previous:
            return []
        t = timings or Timings()
        crop_boxes = [self.crop_box_from_landmarks(f.landmarks68) for f in previous]
        points = self._run([image] * len(previous), crop_boxes, t)
        with t.stage("decode"):  # a tracked face's box: its predicted 68 points' bounding box
            return [self.make_face(landmark_bbox(p[self.landmark_set.idx68]), f.score, p, b)
                    for f, p, b in zip(previous, points, crop_boxes)]

    def landmarks_in_crops(self, image: np.ndarray, crop_boxes, timings: Timings | None = None):
        """Run the network on square crops of one image (boxes in image pixels) -> (list of
        (N, 3) image-pixel landmarks, the boxes used)."""
        t = timings or Timings()
        points = self._run([image] * len(crop_boxes), list(crop_boxes), t)
        return list(points), [np.asarray(b, np.float64) for b in crop_boxes]

    def make_face(self, box, score: float, landmarks: np.ndarray, crop_box: np.ndarray) -> Face:
        lm = np.asarray(landmarks, np.float64)
        return Face(np.asarray(box, np.float64), float(score), lm, lm[self.landmark_set.idx68],
                    estimate_pose(lm, self.mean_shape), np.asarray(crop_box, np.float64))


def validate_boxes(boxes, image_shape=None, path: str | Path | None = None) -> list[np.ndarray]:
    """User boxes -> list of float [x0, y0, x1, y1]; raises ConfigError when malformed."""
    try:
        if isinstance(boxes, (str, bytes)):
            raise ValueError
        a = np.asarray(boxes, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"a box must be 4 numbers x0,y0,x1,y1, got {boxes!r}", path=path) from None
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4 or not np.isfinite(a).all():
        raise ConfigError(f"a box must be 4 numbers x0,y0,x1,y1, got {a.tolist()}", path=path)
    for b in a:
        if b[2] <= b[0] or b[3] <= b[1]:
            raise ConfigError(f"box {b.tolist()} is empty (needs x1 > x0 and y1 > y0)", path=path)
        if image_shape is not None:
            h, w = image_shape[:2]
            if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
                raise ConfigError(f"box {b.tolist()} lies outside the {w}x{h} image", path=path)
    return list(a)
