"""The DenseFace API: image -> faces with 520 dense 3D landmarks, the 68 subset and head pose.

Pipeline per image (all coordinates image pixels, x right, y down, z towards the viewer on the
same pixel scale):

1. detect faces on a copy downscaled to ``cascade_side``, and on one downscaled to
   ``detect_max_side`` unless the first found exactly one large face (boxes scaled back), or
   take the user's boxes;
2. map each box to the square training crop (the detector's calibrated BoxToCrop; a user box
   is read as a landmark box and enlarged by 3DDFA's policy);
3. crop to ``input_size`` and run the network (ONNX Runtime by default; no torch);
4. decode crop pixels to image pixels (``crop_to_image``);
5. second pass (``passes=2``): re-crop with ``roi_box_from_landmarks`` of the predicted 68
   points, exactly the training crop policy, and predict again.

Beside this module: the validated options (:mod:`.config`), the network on crops and the stage
timings (:mod:`.crops`), the :class:`~denseface.infer.face.Face` it returns (:mod:`.face`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, DenseFaceError, check_whole_number
from ..geometry.boxes import box_size, landmark_bbox, main_face_order, roi_box, roi_box_from_landmarks
from ..geometry.visibility import face_visibility
from ..landmarks.visibility import visibility_thresholds
from ..io.images import as_image, detection_view
from ..models.runners import LANDMARKS68_300W, POINTS, UNCERTAINTY
from .config import (TTA_MODES, PredictConfig, as_predict_config, check_max_faces, check_tta,
                     validate_boxes)
from .crops import STAGES, Timings, run_crop_outputs, run_crops
from .detectors import Detection, create_detector, crop_mapping_of
from .eyes import open_eye_stage
from .face import Face
from .pose import Pose, estimate_pose

#: The API, with the parts that live beside it (config, crops, face) importable from here too.
__all__ = ["DenseFace", "Face", "FaceCropper", "ModelSpec", "PredictConfig", "STAGES", "TTA_MODES",
           "Timings", "as_predict_config", "check_max_faces", "check_tta", "run_crop_outputs",
           "run_crops", "validate_boxes"]


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
        image is downscaled to ``max_side``. Without either, the cascade of the config: first
        on a copy downscaled to ``cascade_side`` (made from the image in two cheap steps,
        :func:`~denseface.io.images.detection_view` ``fast``), then on the ``detect_max_side``
        copy (made only then) unless the first found exactly one face of at least
        ``cascade_min_face_px`` there."""
        c = self.config
        if region is None and max_side is None:
            longer = max(image.shape[:2])
            if c.cascade_side and c.cascade_side < (min(longer, c.detect_max_side) if c.detect_max_side else longer):
                small, factor = detection_view(image, c.cascade_side, fast=True)
                found = self._found_in(small, factor)
                if len(found) == 1 and box_size(found[0].box) * factor >= c.cascade_min_face_px:
                    return found
            return self._found_in(*detection_view(image, c.detect_max_side))
        x0 = y0 = 0
        if region is not None:
            h, w = image.shape[:2]
            x0, y0 = (int(max(0, np.floor(v))) for v in region[:2])
            x1, y1 = int(min(w, np.ceil(region[2]))), int(min(h, np.ceil(region[3])))
            if x1 - x0 < 2 or y1 - y0 < 2:
                return []
            image = image[y0:y1, x0:x1]
        view, scale = detection_view(image, max_side or c.detect_max_side)
        return self._found_in(view, scale, x0, y0)

    def _found_in(self, view: np.ndarray, scale: float, x0: int = 0, y0: int = 0) -> list[Detection]:
        """The detector's faces in ``view``, a copy of the image (or of its region at x0, y0)
        downscaled by ``scale``, in image pixels; faces under ``min_face_px`` dropped."""
        shift = np.array([x0, y0, x0, y0], np.float64)
        found = []
        for d in self.detector.detect(view):
            d = d.scaled(1.0 / scale)
            found.append(Detection(d.box + shift, d.score,
                                   None if d.keypoints is None else d.keypoints + shift[:2], d.label))
        return [d for d in found if box_size(d.box) >= self.config.min_face_px]

    def crop_box_of(self, detection: Detection) -> np.ndarray:
        """The training crop for a detection (the detector's calibrated mapping)."""
        return crop_mapping_of(self.detector)(detection.box)

    def first_crops(self, image: np.ndarray, boxes=None, max_faces: int | None = None,
                    timings: Timings | None = None) -> tuple[list[Detection], list[np.ndarray]]:
        """The faces to predict and their first-pass crop boxes: the user's boxes (read as
        landmark boxes, 3DDFA's policy, in the given order) or the detector's (its calibrated
        mapping), best score first; with ``max_faces`` the detector's faces are the main ones, in
        :func:`denseface.geometry.boxes.main_face_order` (largest and most central first)."""
        t = timings or Timings()
        if boxes is not None:
            dets = [Detection(b, 1.0, None, "user") for b in validate_boxes(boxes, image.shape)]
            crops = [roi_box(d.box, self.roi_factor) for d in dets]
        else:
            with t.stage("detect"):
                dets = self.detect(image)
            crops = [self.crop_box_of(d) for d in dets]
        if max_faces is not None and boxes is None:   # the main faces, main face first
            keep = main_face_order(np.array([d.box for d in dets]), image.shape)[:max_faces]
            dets, crops = [dets[i] for i in keep], [crops[i] for i in keep]
        elif max_faces is not None:
            dets, crops = dets[:max_faces], crops[:max_faces]
        return dets, crops

    def crop_from_landmarks(self, points: np.ndarray) -> np.ndarray:
        """The training crop of a face from its predicted points (N, >=2) or 68 points."""
        p = np.asarray(points)
        p68 = p[self.idx68] if len(p) != 68 else p
        return roi_box_from_landmarks(p68[:, :2], self.roi_factor)


class DenseFace:
    """Dense 3D landmarks from photos.

    model: a registry name (``denseface models``), an .onnx (ONNX Runtime) or .pt file, a runner,
    or None for the package default. detector: "default" (see docs/detectors.md), a backend
    name or a FaceDetector object; detector_options go to the backend (e.g.
    ``{"score_threshold": 0.7}``). device: "cpu" or "cuda". config: a PredictConfig or a mapping
    of its fields (``{"passes": 1}``). threads: ONNX Runtime intra-op
    threads and the detector's threads (default 1: on one photo the fastest on the 2-core
    development machine, docs/predict.md "Threads"; None: the libraries' own defaults, all
    cores; for many photos use processes, ``--workers``). bfm: the Basel Face Model folder
    (or a loaded denseface.mesh.BFM) for full meshes (``mesh="full"``); never shipped, so it is
    read from this path, else from the shared data folder ($DENSEFACE_SHARED)."""

    def __init__(self, model=None, detector="default", device: str = "cpu",
                 config: PredictConfig | Mapping | None = None, threads: int | None = 1,
                 detector_options: dict | None = None, bfm=None):
        from ..geometry.meshes import outward_triangles
        from ..models.runners import landmark_set_of, open_runner

        self.config = as_predict_config(config)
        if threads is not None:
            check_whole_number("threads", threads, 1)
        self.runner = open_runner(model, threads=threads, device=device)
        mc = self.runner.config
        self.landmark_set = landmark_set_of(self.runner)
        self.mean_shape = self.landmark_set.mean_shape
        #: the set's triangles wound outward (for meshes written in the export frame)
        self.mesh_triangles = outward_triangles(self.mean_shape, self.landmark_set.triangles)
        #: Face.visibility's per-point thresholds (min_nz, tolerance): denseface.landmarks.visibility
        self.visibility_thresholds = visibility_thresholds(self.landmark_set)
        self.roi_factor = self.config.roi_factor or mc.roi_factor
        opts = {**({"threads": threads} if threads is not None else {}), **(detector_options or {})}
        factory = detector if hasattr(detector, "detect") else (lambda: create_detector(detector, **opts))
        self.cropper = FaceCropper(factory, self.config, self.landmark_set.idx68, self.roi_factor)
        #: the flip permutation when every crop is averaged with its mirror (config.tta)
        self.tta_flip = self.landmark_set.flip if self.config.tta == "flip" else None
        self._bfm_spec, self._fitter = bfm, None
        #: the eye stage (denseface.infer.eyes), or None: off, or no human-convention head
        self.eye_stage = open_eye_stage(self.config.eyes, self.runner, self.landmark_set, threads)

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
                raise DenseFaceError(f"full meshes and expressions need the Basel Face Model (never shipped): pass "
                                     f"bfm=PATH (--bfm) or set DENSEFACE_SHARED ({e})") from None
            try:
                self._fitter = point_fitter(bfm, self.landmark_set)
            except ValueError as e:   # e.g. no param_whitening.pkl: the fit's prior needs the scales
                raise DenseFaceError(f"cannot fit this Basel Face Model ({e})", path=bfm.source or None) from None
            #: the BFM's triangles wound outward (for full meshes in the export frame)
            self.full_mesh_triangles = outward_triangles(bfm.mean, bfm.triangles)
        return self._fitter

    def full_mesh(self, face: Face) -> np.ndarray:
        """The full BFM mesh (53215, 3) fitted to a face's landmarks, in the same image-pixel frame
        (about 3 ms per face on one thread)."""
        return self.mesh_fitter.fit_mesh(face.landmarks)[0]

    @property
    def expression_fitter(self):
        """The fit ``Face.expression`` comes from (denseface.mesh.point_fit.EXPRESSION_FIT: stiffer
        priors than the full mesh's fit), on the same BFM."""
        from ..mesh.point_fit import EXPRESSION_FIT, point_fitter

        return point_fitter(self.mesh_fitter.bfm, self.landmark_set, EXPRESSION_FIT)

    def with_fits(self, faces: list[Face], mesh: str | None = None) -> list[Face]:
        """``faces`` with the BFM fitted to their points where asked for: ``Face.mesh`` with
        mesh="full", ``Face.expression`` with ``config.expression`` (each its own fit,
        :attr:`mesh_fitter`, :attr:`expression_fitter`); a face whose points are not all finite
        is left as it is."""
        if mesh not in (None, "points", "full"):
            raise ConfigError(f"mesh must be None, 'points' or 'full', got {mesh!r}")
        full = mesh == "full"
        if not (full or self.config.expression):
            return faces
        from dataclasses import replace

        out = []
        for f in faces:
            if not np.isfinite(f.landmarks).all():
                out.append(f)
                continue
            if full:
                f = replace(f, mesh=self.full_mesh(f))
            if self.config.expression:
                f = replace(f, expression=self.expression_fitter.fit(f.landmarks).fit.expression)
            out.append(f)
        return out

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
        face's landmark box); max_faces keeps that many main faces (largest and most central
        first: :func:`denseface.geometry.boxes.main_face_order`; without it every face, best
        detector score first); mesh="full" also fits
        the full BFM mesh to each face (``Face.mesh``; its expression coefficients:
        ``config.expression``). No face -> []."""
        max_faces = check_max_faces(max_faces)
        array, _ = as_image(image, color)
        return self.predict_array(array, boxes=boxes, max_faces=max_faces, timings=timings, mesh=mesh)

    def predict_array(self, image: np.ndarray, boxes=None, max_faces: int | None = None,
                      timings: Timings | None = None, mesh: str | None = None) -> list[Face]:
        """:meth:`predict` for an already normalised (H, W) or (H, W, 3) RGB uint8 array."""
        t = timings or Timings()
        t.images += 1
        dets, crop_boxes = self.cropper.first_crops(image, boxes, check_max_faces(max_faces), t)
        return self.with_fits(self.faces_in_crops(image, dets, crop_boxes, t), mesh)

    def predict_many(self, images, batch_size: int = 16, boxes=None, max_faces: int | None = None,
                     color: str = "rgb", errors: str = "raise", mesh: str | None = None):
        """Yield the faces of each image of ``images`` (any iterable of paths, arrays or PIL
        images), in order, as soon as its batch is done; the network sees the crops of up to
        ``batch_size`` images per call. errors="yield" yields a bad item's DenseFaceError in its
        place instead of raising it; mesh as in :meth:`predict`."""
        check_whole_number("batch_size", batch_size, 1)
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
        outputs, used = self.run_passes(images, crops, t)
        k = 0
        for item in batch:
            if isinstance(item, DenseFaceError):
                yield item
                continue
            _, dets, _ = item
            yield self.with_fits([self.make_face(d.box, d.score, _row(outputs, k + j), used[k + j])
                                   for j, d in enumerate(dets)], mesh)
            k += len(dets)

    def run_passes(self, images: list, crop_boxes: list, t: Timings | None = None,
                   passes: int | None = None):
        """``passes`` (None: ``config.passes``) network passes over (image, crop box) pairs ->
        (the last pass's outputs by name, as :func:`run_crop_outputs`, then the eye stage, and
        the boxes it used); every pass after the first crops from the previous one's points.
        Flip averaging (``config.tta``) runs on the last pass only: an earlier pass only places
        the next crop, which the mirror does not improve (aflw_pl val, docs/predict.md), at half
        the cost. The one pass loop of prediction and of the benchmarks (denseface.eval)."""
        t = t or Timings()
        passes = passes or self.config.passes
        used = [np.asarray(b, np.float64) for b in crop_boxes]
        outputs = self._run(images, used, t, flip=passes == 1)
        for k in range(passes - 1):
            used = [self.crop_box_from_landmarks(p) for p in outputs[POINTS]]
            outputs = self._run(images, used, t, flip=k == passes - 2)
        return self._read_eyes(images, outputs, t), used

    def _read_eyes(self, images: list, outputs: dict[str, np.ndarray], t: Timings) -> dict[str, np.ndarray]:
        """The eye stage over the faces' last outputs (unchanged without one)."""
        if self.eye_stage is None or not len(images):
            return outputs
        with t.stage("eyes"):
            return self.eye_stage.read(images, outputs)

    def _run(self, images: list, crop_boxes: list, t: Timings, flip: bool = True) -> dict[str, np.ndarray]:
        """One network pass over (image, crop box) pairs, the crops' mirrors in the same batch
        when ``flip`` and ``config.tta`` is "flip"."""
        out = run_crop_outputs(self.runner, images, crop_boxes, t, self.tta_flip if flip else None)
        t.faces += len(crop_boxes)
        return out

    def faces_in_crops(self, image: np.ndarray, dets: list[Detection], crop_boxes,
                       t: Timings) -> list[Face]:
        """Network passes (``config.passes``) from the given first crops -> faces."""
        if not dets:
            return []
        outputs, used = self.run_passes([image] * len(dets), list(crop_boxes), t)
        with t.stage("decode"):  # pose estimation counts as decoding
            return [self.make_face(d.box, d.score, _row(outputs, i), b)
                    for i, (d, b) in enumerate(zip(dets, used))]

    def track(self, image: np.ndarray, previous: list[Face], timings: Timings | None = None,
              pose: bool = True) -> list[Face]:
        """One pass per face, cropping from the previous frame's landmarks (video tracking); the
        faces' boxes become their 68 landmarks' bounding boxes, scores are kept. pose=False leaves
        the head pose NaN (for a caller that computes it from smoothed points)."""
        if not previous:
            return []
        t = timings or Timings()
        crop_boxes = [self.crop_box_from_landmarks(f.landmarks68) for f in previous]
        outputs = self._read_eyes([image] * len(previous), self._run([image] * len(previous), crop_boxes, t), t)
        idx68 = self.landmark_set.idx68
        with t.stage("decode"):  # a tracked face's box: its predicted 68 points' bounding box
            return [self.make_face(landmark_bbox(outputs[POINTS][i][idx68]), f.score, _row(outputs, i), b, pose)
                    for i, (f, b) in enumerate(zip(previous, crop_boxes))]

    def landmarks_in_crops(self, image: np.ndarray, crop_boxes, timings: Timings | None = None):
        """Run the network on square crops of one image (boxes in image pixels) -> (list of
        (N, 3) image-pixel landmarks, the boxes used)."""
        t = timings or Timings()
        points = self._run([image] * len(crop_boxes), list(crop_boxes), t)[POINTS]
        return list(points), [np.asarray(b, np.float64) for b in crop_boxes]

    def make_face(self, box, score: float, outputs: dict[str, np.ndarray] | np.ndarray,
                  crop_box: np.ndarray, pose: bool = True) -> Face:
        """A Face from one face's network outputs (image pixels by name, or just its (N, 3)
        landmarks); pose=False leaves its head pose NaN."""
        if not isinstance(outputs, Mapping):
            outputs = {POINTS: outputs}
        lm = np.asarray(outputs[POINTS], np.float64)
        visible = face_visibility(lm, self.mesh_triangles, *self.visibility_thresholds)
        human, sigma = outputs.get(LANDMARKS68_300W), outputs.get(UNCERTAINTY)
        idx68 = self.landmark_set.idx68
        return Face(np.asarray(box, np.float64), float(score), lm, lm[idx68],
                    estimate_pose(lm, self.mean_shape) if pose else Pose(*[float("nan")] * 3),
                    np.asarray(crop_box, np.float64),
                    visibility=visible, visibility68=visible[self.landmark_set.idx68],
                    landmarks68_300w=None if human is None else np.asarray(human, np.float64),
                    uncertainty=None if sigma is None else np.asarray(sigma, np.float64),
                    uncertainty68=None if sigma is None else np.asarray(sigma, np.float64)[idx68])


@dataclass(frozen=True)
class ModelSpec:
    """The arguments of a :class:`DenseFace`, picklable (names, paths and plain options), so
    that a worker process builds its own (denseface.infer.pool, ray_data). model: a registry
    name or a file path (None: the default); detector: a backend name; threads: ONNX Runtime
    and detector threads (None: the libraries' defaults; worker processes take 1)."""

    model: str | None = None
    detector: str = "default"
    device: str = "cpu"
    config: PredictConfig = field(default_factory=PredictConfig)
    threads: int | None = 1
    detector_options: dict = field(default_factory=dict)
    bfm: str | None = None

    def build(self) -> DenseFace:
        return DenseFace(self.model, detector=self.detector, device=self.device, config=self.config,
                         threads=self.threads, detector_options=dict(self.detector_options),
                         bfm=self.bfm)


def _row(outputs: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Face ``i``'s entry of every output."""
    return {k: v[i] for k, v in outputs.items()}
