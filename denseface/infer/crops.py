"""The network on square crops: crop, run, decode (with flip averaging), and the seconds each
stage of a prediction takes (:class:`Timings`). Coordinates: image pixels (x right, y down, z
towards the viewer on the same scale) in and out; crop pixels in between."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..geometry.crop import crop_image
from ..io.images import to_rgb
from ..landmarks.ibug68 import FLIP_68
from ..models.codec import crop_to_image, unmirror_crop_points
from ..models.runners import LANDMARKS68_300W, POINTS, UNCERTAINTY

#: The stages of a prediction, timed by :class:`Timings`.
STAGES = ("detect", "crop", "network", "eyes", "decode")


@dataclass
class Timings:
    """Seconds per stage (wall and calling-thread CPU time), summed over calls; ``faces`` counts
    the faces processed (once per pass), ``images`` the images. ``cpu=False`` keeps wall time
    only (reading a thread's CPU clock is a system call: the video tracker's own timings skip it)."""

    seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    cpu_seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    faces: int = 0
    images: int = 0
    cpu: bool = True

    @contextmanager
    def stage(self, name: str):
        """Add the wall time and (with ``cpu``) this thread's CPU time of the block to stage ``name``."""
        t0, c0 = time.perf_counter(), time.thread_time() if self.cpu else 0.0
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0
            if self.cpu:
                self.cpu_seconds[name] += time.thread_time() - c0


def run_crops(runner, images, crop_boxes, timings: Timings | None = None,
              flip: np.ndarray | None = None) -> np.ndarray:
    """Crop, run, decode: (B, N, 3) image-pixel landmarks for B (image, crop box) pairs, in one
    network call. images: one (H, W[, 3]) uint8 image per box (the same array may repeat).
    flip: the landmark set's flip permutation to average each crop's prediction with its
    mirror image's in the same call (flip test-time averaging); None runs the crops alone."""
    return run_crop_outputs(runner, images, crop_boxes, timings, flip)[POINTS]


def run_crop_outputs(runner, images, crop_boxes, timings: Timings | None = None,
                     flip: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`run_crops` for every output of the network, in image pixels by name:
    ``"points"`` (B, N, 3); from models with the second head, ``"landmarks68_300w"``
    (B, 68, 2) (mirrored through the iBUG flip when averaging); from models with the uncertainty
    head, ``"uncertainty"`` (B, N), each point's sigma in image pixels (a mirror's sigmas
    permuted through ``flip`` and averaged)."""
    t = timings or Timings()
    S = runner.config.input_size
    outputs = getattr(runner, "predict_outputs", None) or (lambda c: {POINTS: runner.predict_crops(c)})
    if len(crop_boxes) == 0:
        return {POINTS: np.zeros((0, runner.config.num_points, 3))}
    B = len(crop_boxes)
    with t.stage("crop"):   # the crops, then their mirrors, written into one batch (no stacking copies)
        batch = np.empty((2 * B if flip is not None else B, S, S, 3), np.uint8)
        Ms = []
        for i, (image, box) in enumerate(zip(images, crop_boxes)):
            crop, M = crop_image(image, np.asarray(box, np.float64), S)
            batch[i] = to_rgb(crop)
            Ms.append(M)
        if flip is not None:
            batch[B:] = batch[:B, :, ::-1]
    with t.stage("network"):   # one network call for the crops and their mirrors
        pred = outputs(batch)
        if flip is not None:
            perms, scales = {POINTS: flip, LANDMARKS68_300W: FLIP_68}, np.array([M[0, 0] for M in Ms])
            pred = {k: 0.5 * (v[:B] + (v[B:][:, flip] if k == UNCERTAINTY
                                       else unmirror_crop_points(v[B:], perms[k], S, scales)))
                    for k, v in pred.items()}
    with t.stage("decode"):
        return {k: (v / np.array([_scale(M) for M in Ms])[:, None] if k == UNCERTAINTY
                    else np.stack([crop_to_image(p, M) for p, M in zip(v, Ms)])) for k, v in pred.items()}


def _scale(M: np.ndarray) -> float:
    """Crop pixels per image pixel of a similarity crop matrix (2, 3)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(M, np.float64)[:, :2]))))
