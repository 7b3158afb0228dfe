"""The eye stage: the eyelids read again from eye patches of the original image.

At 120 px a face's eye is about 20 pixels wide and the pooled feature of the main network barely
tells an open eye from a closed one. After the last pass, each eye is cut from the photo itself
(denseface.geometry.eye_patch: corners level, the left eye mirrored) around the human-convention
eye points, and a small network (denseface.models.eye_net, its own ONNX file with its config
inside) gives the six eye points again. They replace the eye points of ``landmarks68_300w``; the
same displacement (less for an eye turned away: :func:`foreshortening_gate`) moves the eye points
of the N dense points (and so ``landmarks68``), and every other dense point follows by the smooth
field the training targets use (denseface.data.human_targets.propagation_weights), so the mesh
closes its eyes too.

Frames: image pixels (x right, y down); z is not changed.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..data.human_targets import eye_sigma, propagation_weights
from ..errors import DenseFaceError
from ..geometry.eye_patch import EYE_INDICES, eye_matrices, from_patch
from ..io.images import to_rgb

#: The ONNX metadata key holding the eye stage's config (JSON).
CONFIG_KEY = "denseface_eye_config"


def cut_eye_patches(image: np.ndarray, points68: np.ndarray, width: int, height: int,
                    width_factor: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """The two eye patches (2, height, width, 3) RGB of one face around its 68 points (right eye,
    left eye mirrored) and their matrices (denseface.geometry.eye_patch); the border repeated; a
    grey image (H, W) gives grey RGB patches."""
    mats = eye_matrices(points68, width, height, width_factor)
    patches = np.stack([cv2.warpAffine(image, M, (width, height), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE) for M in mats])
    return (to_rgb(patches.reshape(-1, width)).reshape(2, height, width, 3) if image.ndim == 2
            else patches), mats


#: Eye width, as a share of the wider eye's, below which the dense points keep their eye (0) and
#: above which they take the eye stage's whole displacement (1), linear between: a turned-away
#: eye is read poorly from its narrow patch, and moving the dense points there cost more 3D
#: agreement than it gained (aflw_pl val, docs/predict.md).
GATE_RANGE = (0.75, 0.95)


def foreshortening_gate(points68: np.ndarray, lo: float = GATE_RANGE[0], hi: float = GATE_RANGE[1]) -> np.ndarray:
    """(F, 2) weight in [0, 1] per eye (right, left) of F faces' 68 points: its width (corner to
    corner) relative to the wider eye's, mapped linearly from ``lo`` (0) to ``hi`` (1)."""
    p = np.asarray(points68, np.float64)[..., :2]
    w = np.stack([np.linalg.norm(p[:, idx[3]] - p[:, idx[0]], axis=-1) for idx in EYE_INDICES], 1)
    return np.clip((w / np.maximum(w.max(1, keepdims=True), 1e-9) - lo) / (hi - lo), 0.0, 1.0)


def dense_spread(landmark_set) -> np.ndarray:
    """(N, 68) weights that spread displacements of a landmark set's 68 subset to its N points
    (denseface.data.human_targets.propagation_weights, the eye-width sigma)."""
    ms, idx = landmark_set.mean_shape, landmark_set.idx68
    return propagation_weights(ms, idx, eye_sigma(ms, idx))


def eye_spread(landmark_set) -> np.ndarray:
    """(N, 12) columns of :func:`dense_spread` for the eye points (iBUG 36-47): how the eye
    stage's displacements move the N points (also exported for the browser, denseface.export.web)."""
    return dense_spread(landmark_set)[:, np.concatenate(EYE_INDICES)]


class EyeStage:
    """An eye-stage ONNX file, run with ONNX Runtime (``threads`` intra-op threads), for faces of
    a landmark set (its 68 subset and mean shape place the dense points' displacement)."""

    def __init__(self, path: str | Path, landmark_set, threads: int = 0):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            meta = self.session.get_modelmeta().custom_metadata_map
            self.config = json.loads(meta[CONFIG_KEY])
        except Exception as e:     # onnxruntime raises its own types for a bad file
            raise DenseFaceError(f"not an eye-stage ONNX file ({type(e).__name__})", path=path) from None
        self.input = self.session.get_inputs()[0].name
        self.spread_eyes = eye_spread(landmark_set)      # (N, 12): only the eyes move

    def patches(self, image: np.ndarray, points68: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """The two eye patches (2, H, W, 3) of one face and their matrices."""
        c = self.config
        return cut_eye_patches(image, points68, c["width"], c["height"], c["width_factor"])

    def eye_points(self, images: list[np.ndarray], points68: np.ndarray) -> np.ndarray:
        """(F, 12, 2) image pixels: the eye points (iBUG 36-47) of F faces, read from their
        images (one per face) around the given 68 points (F, 68, >=2)."""
        if not len(images):
            return np.zeros((0, 12, 2))
        cut = [self.patches(img, p) for img, p in zip(images, points68)]
        x = np.concatenate([pt for pt, _ in cut]).astype(np.float32).transpose(0, 3, 1, 2)
        out = self.session.run(None, {self.input: np.ascontiguousarray(x)})[0].reshape(len(images), 2, 6, 2)
        return np.stack([np.concatenate([from_patch(out[f, k], mats[k], k == 1) for k in range(2)])
                         for f, (_, mats) in enumerate(cut)])

    def refine(self, images: list[np.ndarray], points: np.ndarray,
               points_300w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(points (F, N, 3), points_300w (F, 68, 2)) with the eyes read again: the human
        convention's eye points replaced, the dense points moved by the same displacement, times
        each eye's :func:`foreshortening_gate`."""
        eyes = np.concatenate(EYE_INDICES)
        new = self.eye_points(images, points_300w)
        disp = new - points_300w[:, eyes, :2]
        p300 = np.array(points_300w, np.float64, copy=True)
        p300[:, eyes] = new
        gate = np.repeat(foreshortening_gate(points_300w), 6, axis=1)[..., None]     # (F, 12, 1)
        dense = np.array(points, np.float64, copy=True)
        dense[..., :2] += self.spread_eyes @ (disp * gate)          # (N, 12) @ (F, 12, 2)
        return dense, p300

    def read(self, images: list[np.ndarray], outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """F faces' network outputs by name (image pixels, denseface.infer.crops.run_crop_outputs),
        one image per face, with :meth:`refine` applied to the points and the second head's."""
        from ..models.runners import LANDMARKS68_300W, POINTS
        points, human = self.refine(images, outputs[POINTS], outputs[LANDMARKS68_300W])
        return {**outputs, POINTS: points, LANDMARKS68_300W: human}


#: The shipped eye stage (trained by ``denseface train --config configs/eyes_v1.yaml``).
SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "eyes_v1.onnx"


def open_eye_stage(enabled: bool, runner, landmark_set, threads: int | None = 1) -> EyeStage | None:
    """The shipped eye stage for a runner, or None when it is off (``enabled`` False), the model
    has no human-convention head (the stage reads its eye points) or the file is not installed."""
    from ..models.runners import LANDMARKS68_300W, output_names
    if not enabled or LANDMARKS68_300W not in output_names(runner.config) or not SHIPPED.is_file():
        return None
    return EyeStage(SHIPPED, landmark_set, threads=threads or 0)
