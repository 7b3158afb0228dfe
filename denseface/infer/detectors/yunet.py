"""``"yunet"``: YuNet (Shiqi Yu's group, MIT), the first choice of ``"default"``.

The model file ships **inside the package**: ``data/face_detection_yunet_2026may.onnx`` of the
OpenCV Zoo (229,738 bytes, MIT, licence and source in ``data/LICENSE_yunet.txt`` and
``data/SOURCE_yunet.md``), vendored because no registry package ships it (the project allows
that for a file under 1 MB with a permissive licence, docs/detectors.md); its sha256 is checked
when the detector loads. ``model_path=`` (``--detector-model``) runs another YuNet file instead
(e.g. an older OpenCV Zoo release), unchecked.

Runtimes (``runtime=``): ``"onnxruntime"`` runs the network with ONNX Runtime (already the
network's runtime; about 2.5x faster than OpenCV's DNN module on one thread, measured in
docs/detectors.md) and decodes its outputs as OpenCV's ``FaceDetectorYN`` does (below);
``"opencv"`` runs ``cv2.FaceDetectorYN`` itself; ``"auto"`` (default) takes ONNX Runtime when the
file's input size is dynamic (the vendored file's is) and OpenCV otherwise (older files have a
fixed input size that only OpenCV's DNN module ignores).

Decoding (per stride s in 8, 16, 32, one anchor per cell (row r, column c) of the input padded
with black to multiples of 32 at the bottom and right): score = sqrt(clip(cls, 0, 1) *
clip(obj, 0, 1)); box centre = ((c, r) + bbox[:2]) * s, size = exp(bbox[2:]) * s; keypoints =
((c, r) + kps) * s; then non-maximum suppression (IoU ``nms_threshold``).

Frames: boxes ``[x0, y0, x1, y1]`` float image pixels (x right, y down) and 5 keypoints (right
eye, left eye, nose tip, right and left mouth corner) in the same pixels.

Threads: ONNX Runtime's intra-op threads (``threads``; None: its default, every core) with
the onnxruntime runtime; OpenCV's thread pool (set around the call and restored) with opencv.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...errors import ConfigError, first_line
from .base import (Detection, DetectorBackend, DetectorUnavailable, _check_rgb, check_sha256,
                   opencv_threads, register_detector, sorted_by_score)

#: The vendored OpenCV Zoo file and its sha256 (data/SOURCE_yunet.md).
MODEL_FILE = Path(__file__).with_name("data") / "face_detection_yunet_2026may.onnx"
MODEL_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
STRIDES = (8, 16, 32)
RUNTIMES = ("auto", "onnxruntime", "opencv")


@dataclass
class YuNetConfig:
    """score_threshold: keep faces with score >= this (chosen on non-test photos,
    docs/detectors.md). threads: ONNX Runtime intra-op threads, or OpenCV threads with the
    opencv runtime (None: the library's default). model_path: a YuNet ONNX file ("" = the
    vendored OpenCV Zoo file, sha256 checked). runtime: "auto", "onnxruntime" or "opencv" (see
    the module). nms_threshold: IoU above which the lower-scoring of two boxes is dropped;
    top_k: at most this many faces."""

    score_threshold: float = 0.5
    threads: int | None = None
    model_path: str = ""
    runtime: str = "auto"
    nms_threshold: float = 0.3
    top_k: int = 5000


@register_detector("yunet", priority=10)
class YuNetDetector(DetectorBackend):
    """YuNet through ONNX Runtime (or OpenCV's FaceDetectorYN); 5 keypoints per face."""

    Config = YuNetConfig

    def load(self) -> None:
        c = self.config
        if c.runtime not in RUNTIMES:
            raise ConfigError(f"the 'yunet' detector's runtime must be one of {', '.join(RUNTIMES)}, "
                              f"got {c.runtime!r}")
        if c.model_path:
            path = Path(c.model_path)
            if not path.is_file():
                raise DetectorUnavailable("YuNet model file does not exist", path=path)
        else:
            path = MODEL_FILE
            if not path.is_file():
                raise DetectorUnavailable("the package's YuNet file is missing (reinstall denseface)",
                                          path=path)
            check_sha256(self.name, path, MODEL_SHA256, "reinstall denseface")
        self.model_path = path
        self._lock = threading.Lock()  # the opencv runtime: one input size and forward pass at a time
        self.session = None
        if c.runtime != "opencv":
            self.session = _ort_session(path, c.threads)
            dynamic = not all(isinstance(d, int) for d in self.session.get_inputs()[0].shape[2:])
            if not dynamic:
                if c.runtime == "onnxruntime":
                    raise ConfigError("this YuNet file has a fixed input size: use runtime='opencv'",
                                      path=path)
                self.session = None
        if self.session is None:
            try:
                self.net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), float(c.score_threshold),
                                                     c.nms_threshold, c.top_k)
            except cv2.error as e:
                raise DetectorUnavailable(f"cannot load the YuNet model ({str(e).strip().splitlines()[-1]})",
                                          path=path) from None
        self.runtime = "onnxruntime" if self.session is not None else "opencv"

    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        image_rgb = _check_rgb(image_rgb)
        rows = self._detect_onnxruntime(image_rgb) if self.session is not None else self._detect_opencv(image_rgb)
        out = []
        for f in rows:
            x, y, bw, bh = (float(v) for v in f[:4])
            out.append(Detection(np.array([x, y, x + bw, y + bh]), float(f[14]),
                                 np.asarray(f[4:14], np.float64).reshape(5, 2), self.name))
        return sorted_by_score(out, self.config.score_threshold)

    def _detect_opencv(self, image_rgb: np.ndarray) -> np.ndarray:
        h, w = image_rgb.shape[:2]
        with self._lock, opencv_threads(self.config.threads):
            self.net.setInputSize((w, h))
            _, faces = self.net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        return np.zeros((0, 15)) if faces is None else np.asarray(faces, np.float64)

    def _detect_onnxruntime(self, image_rgb: np.ndarray) -> np.ndarray:
        """Rows like FaceDetectorYN's: x, y, w, h, 5 keypoints (x, y), score."""
        c = self.config
        h, w = image_rgb.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = input_blob(image_rgb, ph, pw)
        outputs = dict(zip(self._output_names, self.session.run(self._output_names, {self._input: blob})))
        rows = np.concatenate([decode_stride(outputs, s, pw // s, c.score_threshold) for s in STRIDES])
        if len(rows) <= 1:
            return rows
        # OpenCV's NMSBoxes on the x, y, w, h rows: the kept indices, best score first (base.nms)
        keep = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), 0.0, c.nms_threshold)
        return rows[np.asarray(keep, np.int64).reshape(-1)[: c.top_k]]

    @functools.cached_property
    def _input(self) -> str:
        return self.session.get_inputs()[0].name

    @functools.cached_property
    def _output_names(self) -> list[str]:
        return [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES]


def input_blob(image_rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """YuNet's input: (1, 3, height, width) float32 BGR 0..255, the image at the top left and
    black padding at the bottom and right (what ``cv2.dnn.blobFromImage`` of the padded image
    gives, in one conversion instead of a padded copy, a channel swap and a transpose)."""
    h, w = image_rgb.shape[:2]
    blob = np.zeros((1, 3, height, width), np.float32)
    np.copyto(blob[0, :, :h, :w], image_rgb[:, :, ::-1].transpose(2, 0, 1), casting="unsafe")
    return blob


def decode_stride(outputs: dict, stride: int, cols: int, score_threshold: float) -> np.ndarray:
    """The faces of one stride with score >= ``score_threshold`` as (K, 15) rows: x, y, w, h of
    the box (input pixels), 5 keypoints (x, y), score = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1)).
    ``cols`` = padded input width / stride; anchor i sits in cell (row i // cols, column i % cols).
    Only the anchors whose raw ``cls * obj`` reaches the squared threshold can score enough (the
    clipped product of two positive numbers is at most their product), so the exact score is
    computed for those alone."""
    cls, obj = outputs[f"cls_{stride}"].reshape(-1), outputs[f"obj_{stride}"].reshape(-1)
    t = float(score_threshold)
    idx = np.flatnonzero(cls * obj >= t * t) if t > 0 else np.arange(len(cls))
    score = np.sqrt(np.clip(cls[idx], 0.0, 1.0) * np.clip(obj[idx], 0.0, 1.0)).astype(np.float64)
    idx, score = idx[score >= t], score[score >= t]
    if not len(idx):
        return np.zeros((0, 15))
    cell = np.stack([idx % cols, idx // cols], 1).astype(np.float64)          # (K, 2) column, row
    bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[idx].astype(np.float64)
    kps = outputs[f"kps_{stride}"].reshape(-1, 10)[idx].astype(np.float64).reshape(-1, 5, 2)
    centre = (cell + bbox[:, :2]) * stride
    size = np.exp(bbox[:, 2:]) * stride
    points = (kps + cell[:, None, :]) * stride
    return np.concatenate([centre - size / 2, size, points.reshape(-1, 10), score[:, None]], 1)


def _ort_session(path: Path, threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL   # bench_ort_options.py
    if threads is not None:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own types for a bad file
        raise DetectorUnavailable(f"cannot load the YuNet model ({first_line(e)})", path=path) from None
