"""dlib's 68-point shape predictor as a measured peer: a small CLI run in dlib's own venv.

Run with the venv that ``benchmarks/peers_env.sh`` makes (dlib-bin, face_recognition_models);
denseface never imports this file or dlib. Same contract as ``benchmarks/peer_mediapipe.py``
(their CLI, decoding and timing loop: ``benchmarks/peer_common.py``):

    PY=/work/venvs/dlib/bin/python
    $PY benchmarks/peer_dlib.py info
    $PY benchmarks/peer_dlib.py predict --images LIST.txt --out OUT.npz [--boxes BOXES.npy]
        [--max-faces 4] [--upsample 1]
    $PY benchmarks/peer_dlib.py time --images LIST.txt --out OUT.json [--repeats 3] [--warmup 3]

- LIST.txt: one image path per line (decoded with OpenCV, given to dlib as RGB uint8). Every
  coordinate is in image pixels, OpenCV frame (x right, y down, 0-based pixel centres), which is
  dlib's own pixel frame; dlib predicts 2D points, so z is NaN.
- ``predict`` without ``--boxes``: dlib's own detector (``dlib.get_frontal_face_detector()``,
  HOG + linear SVM, the image upsampled ``--upsample`` times as in dlib's examples), then
  ``shape_predictor_68_face_landmarks.dat`` on each detection, best detector score first. With
  ``--boxes BOXES.npy`` (N, 4) [x0, y0, x1, y1]: no detector, the shape predictor runs on that
  rectangle (rounded to whole pixels, dlib's ``rectangle``); a row of NaN skips the image.
  OUT.npz: ``images``, ``found`` (N, K), ``points68`` (N, K, 68, 3) float32 (z NaN), ``boxes``
  (N, K, 4) the rectangles the shape predictor ran on (dlib's detections or the given box), ``ms``,
  ``cpu_ms`` (N,), ``meta`` (JSON string): as peer_mediapipe.py.
- ``time``: per photo, medians over ``--repeats``: ``end_to_end_ms`` (detector + 68 points on
  each detection), ``detect_ms``, ``landmarks_ms`` (the shape predictor on the detections), and
  their process CPU ms.
- Threads: pinned to ``--cpus`` cores (default 1); dlib's detector and shape predictor are
  single-threaded anyway.

The model: dlib's ``shape_predictor_68_face_landmarks.dat`` from the ``face_recognition_models``
wheel (trained by Davis King on the iBUG 300-W training images, which include AFW and HELEN:
on benchmarks/peers.py's 300-W set dlib is measured on its own training images).
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from peer_common import decoded_images, run_worker, time_stages, timed, worker_parser


def predictor_path() -> Path:
    import face_recognition_models
    return Path(face_recognition_models.pose_predictor_model_location())


def meta(settings: dict | None = None) -> dict:
    import dlib
    p = predictor_path()
    return {"peer": "dlib", "dlib": dlib.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
            "shape_predictor": p.name, "shape_predictor_sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "cpus": sorted(os.sched_getaffinity(0)), "settings": settings or {}}


class DlibPeer:
    """dlib's HOG detector + 68-point shape predictor on RGB uint8 images."""

    def __init__(self, upsample: int = 1, max_faces: int = 4):
        import dlib

        self.dlib = dlib
        self.upsample = upsample
        self.max_faces = max_faces
        self.detector = dlib.get_frontal_face_detector()
        self.shape = dlib.shape_predictor(str(predictor_path()))

    def detect(self, rgb: np.ndarray) -> list:
        """dlib rectangles, best detector score first (up to max_faces)."""
        rects, scores, _ = self.detector.run(rgb, self.upsample, 0.0)
        order = np.argsort(-np.asarray(scores, np.float64)) if len(scores) else []
        return [rects[int(i)] for i in order][: self.max_faces]

    def landmarks(self, rgb: np.ndarray, rect) -> np.ndarray:
        """(68, 3) image pixels (z NaN) inside a dlib rectangle."""
        s = self.shape(rgb, rect)
        pts = np.array([(s.part(i).x, s.part(i).y, np.nan) for i in range(68)], np.float64)
        return pts

    def rect(self, box) -> object:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        return self.dlib.rectangle(x0, y0, x1, y1)

    def predict(self, rgb: np.ndarray) -> list[np.ndarray]:
        return [self.landmarks(rgb, r) for r in self.detect(rgb)]

    def locate_and_predict(self, rgb: np.ndarray, box=None) -> tuple[list, list[np.ndarray]]:
        """(rectangles, their (68, 3) points): dlib's detections, or the given box [x0, y0, x1,
        y1] (image pixels) as the one rectangle."""
        rects = self.detect(rgb) if box is None else [self.rect(box)]
        return rects, [self.landmarks(rgb, r) for r in rects]


def predict_images(paths: list[str], boxes: np.ndarray | None, max_faces: int, upsample: int) -> dict:
    """Arrays of the ``predict`` command (see the module docstring)."""
    n, k = len(paths), (1 if boxes is not None else max_faces)
    peer = DlibPeer(upsample, max_faces)
    found = np.zeros((n, k), bool)
    p68 = np.full((n, k, 68, 3), np.nan, np.float32)
    rect_boxes = np.full((n, k, 4), np.nan)
    ms = np.full(n, np.nan)
    cpu = np.full(n, np.nan)
    for i, rgb, box in decoded_images(paths, boxes, "peer_dlib"):
        (rects, faces), ms[i], cpu[i] = timed(peer.locate_and_predict, rgb, box)
        for j, (r, pts) in enumerate(list(zip(rects, faces))[:k]):
            found[i, j] = True
            p68[i, j] = pts
            rect_boxes[i, j] = (r.left(), r.top(), r.right(), r.bottom())
    return {"images": np.array(paths), "found": found, "points68": p68, "boxes": rect_boxes,
            "ms": ms, "cpu_ms": cpu}


def time_photos(paths: list[str], repeats: int = 3, warmup: int = 3, upsample: int = 1,
                max_faces: int = 1) -> dict:
    """Per-photo end-to-end and per-stage times (see the module docstring)."""
    peer = DlibPeer(upsample, max_faces)
    timing = time_stages(paths, repeats, warmup, predict=peer.predict, detect=peer.detect,
                         landmarks=peer.landmarks, warm_up=peer.predict)
    return {**timing, "meta": meta({"repeats": repeats, "warmup": warmup, "upsample": upsample,
                                    "max_faces": max_faces})}


def main(argv: list[str] | None = None) -> int:
    ap = worker_parser(__doc__.split("\n")[0], "--boxes",
                       shared_options=(("--upsample", {"type": int, "default": 1}),))
    a = ap.parse_args(argv)

    def predict(paths: list[str], boxes: np.ndarray | None) -> tuple[dict, dict]:
        settings = {"mode": "box" if boxes is not None else "own detector", "max_faces": a.max_faces,
                    "upsample": a.upsample}
        return predict_images(paths, boxes, a.max_faces, a.upsample), settings

    return run_worker(a, "peer_dlib", meta, 4, predict,
                      lambda paths: time_photos(paths, a.repeats, a.warmup, a.upsample, a.max_faces))


if __name__ == "__main__":
    sys.exit(main())
