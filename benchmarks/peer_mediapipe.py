"""MediaPipe Face Mesh as a measured peer: a small CLI run in MediaPipe's own venv.

Run with the venv that ``benchmarks/peers_env.sh`` makes (mediapipe==0.10.21 needs numpy < 2);
denseface never imports this file or MediaPipe. Used by ``benchmarks/peers.py`` and by anyone who
needs MediaPipe's points or times on the same images as denseface's. Its CLI, decoding and
timing loop are shared with ``benchmarks/peer_dlib.py`` (``benchmarks/peer_common.py``).

    PY=/work/venvs/mediapipe/bin/python
    $PY benchmarks/peer_mediapipe.py info
    $PY benchmarks/peer_mediapipe.py predict --images LIST.txt --out OUT.npz [--rois ROIS.npy]
        [--max-faces 4] [--keep-468]
    $PY benchmarks/peer_mediapipe.py time --images LIST.txt --out OUT.json [--repeats 3]
        [--warmup 3] [--max-faces 1]
    $PY benchmarks/peer_mediapipe.py video --videos LIST.txt --out OUT.npz [--max-faces 2]

Contract
- LIST.txt: one image path per line (decoded with OpenCV, given to MediaPipe as RGB uint8).
- Every coordinate in and out is in image pixels of that image, OpenCV frame (x right, y down,
  0-based pixel centres). MediaPipe's normalised x, y (0..1 over the image extent) become
  ``x * width - 0.5``, ``y * height - 0.5``; its z (smaller = nearer the camera, scaled like x)
  becomes ``-z * width`` (towards the viewer, like denseface).
- ``predict`` without ``--rois``: MediaPipe's own pipeline, the legacy Face Mesh solution
  (``mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=K,
  refine_landmarks=False)``: BlazeFace short-range detector, then the 468-point model).
  With ``--rois ROIS.npy`` (N, 5) float [cx, cy, width, height, rotation_rad] in image pixels:
  no detector; the landmark subgraph ``FaceLandmarkCpu`` (face_landmark.tflite) runs on that
  rotated rectangle (MediaPipe's ROI: it is squared on its longer side by the caller's choice;
  rotation counter-clockwise in radians, MediaPipe's convention) and its face-presence flag
  decides "found". A row of NaN skips that image.
  OUT.npz: ``images`` (N,) str; ``found`` (N, K) bool; ``points68`` (N, K, 68, 3) float32 (NaN
  where not found); ``rois`` (N, K, 5) the ROI that MediaPipe's own landmarks -> ROI rule gives
  from each face's 468 points (``face_landmark_landmarks_to_roi``: their box x 1.5, squared on
  the longer side, rotated by points 33 and 263, the outer eye corners; what its tracking feeds
  the next frame); ``points468`` (N, K, 468, 3) with ``--keep-468``; ``ms`` (N,) wall ms of the
  MediaPipe call per image (decoding excluded); ``cpu_ms`` (N,) process CPU ms (all threads);
  ``meta`` a JSON string (versions, model sha256, mapping source, settings).
- ``time``: per photo, medians over ``--repeats`` after ``--warmup`` untimed calls (on the first
  photo): ``end_to_end_ms`` (the Face Mesh solution, BlazeFace + 468 points, what a user runs),
  ``detect_ms`` (the BlazeFace subgraph ``FaceDetectionShortRangeCpu`` alone) and
  ``landmarks_ms`` (``FaceLandmarkCpu`` on the ROIs that MediaPipe derives from those
  detections: 1.5 x the box, square on the longer side, rotated by the eye keypoints), plus
  process CPU ms of each. Faces: up to ``--max-faces``. OUT.json: {"per_photo": [{"image",
  "faces", "end_to_end_ms", "end_to_end_cpu_ms", "detect_ms", "detect_cpu_ms", "landmarks_ms",
  "landmarks_cpu_ms"}], "median": {...}, "meta": {...}}.
- ``video``: each video of LIST.txt (one path per line, read with OpenCV, every frame) through
  the Face Mesh solution in video mode (``static_image_mode=False``: BlazeFace until a face is
  found, then each frame's ROI from the previous frame's 468 points, MediaPipe's own tracking),
  a fresh solution per video. OUT.npz: ``videos`` (V,) str; ``frames`` (V,) frames decoded;
  ``found`` (V, T, K) bool; ``points68`` (V, T, K, 68, 3) float32 (T the longest video, NaN
  past a video's end or where not found); ``checksums`` (V, T) int64, the sum of each decoded
  frame's bytes (the caller checks it decoded the same frames); ``ms`` (V, T) wall ms per frame;
  ``meta``.
- Threads: the process is pinned to ``--cpus`` cores (default 1, the first it may use:
  ``os.sched_setaffinity``), so MediaPipe's internal threads (graph executor, XNNPACK) share
  one core; CPU ms counts every thread.
- Python use (inside the venv): ``FaceMeshPeer(max_faces).predict(rgb)``,
  ``FaceMeshPeer(...).landmarks_in_roi(rgb, roi)``, ``time_photos(paths, repeats, warmup)``.

The 68 points: MediaPipe's 468 have no iBUG-68 subset; :data:`MP_TO_IBUG68` maps each of the 68
to one MediaPipe index or the mean of two, following Peizhi Yan's public correspondence table
(github PeizhiYan/Mediapipe_2_Dlib_Landmarks, mediapipe2dlib/mp2dlib.py at commit
db9e81e2bd432eaee4de90135cc1ad77d19c7db4). Jaw points on MediaPipe's mesh follow the face
outline it was trained for, not iBUG's jaw annotation, so jaw errors are part of the figure.
"""
from __future__ import annotations

import hashlib
import math
import os
import sys
from pathlib import Path

import cv2
import numpy as np

# read_rgb is re-exported: bench_e2e.py --mediapipe-serve imports it from here with FaceMeshPeer.
from peer_common import (decoded_images, pin_cpus, read_list, read_rgb, run_worker, time_stages,  # noqa: F401
                         timed, worker_parser)

#: iBUG 68 (0-based order) -> MediaPipe Face Mesh indices; two indices = their mean.
#: Source: PeizhiYan/Mediapipe_2_Dlib_Landmarks (see the module docstring).
MP_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,),
    (365,), (397, 288), (361,), (323,), (454,), (356,),
    # brows 17-26
    (70,), (63,), (105,), (66,), (107,), (336,), (296,), (334,), (293,), (300,),
    # nose 27-35
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    # eyes 36-47
    (33,), (160,), (158,), (133,), (153,), (144,), (362,), (385,), (387,), (263,), (373,), (380,),
    # outer mouth 48-59
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner mouth 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
MAPPING_SOURCE = ("PeizhiYan/Mediapipe_2_Dlib_Landmarks (GitHub), mediapipe2dlib/mp2dlib.py, "
                  "commit db9e81e2bd432eaee4de90135cc1ad77d19c7db4")

_LANDMARK_GRAPH = """
input_stream: "image"
input_stream: "roi"
output_stream: "landmarks"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
}
"""
_DETECTION_GRAPH = """
input_stream: "image"
output_stream: "detections"
node {
  calculator: "FaceDetectionShortRangeCpu"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections"
}
"""


def to_ibug68(points468: np.ndarray) -> np.ndarray:
    """(..., 468, D) MediaPipe points -> (..., 68, D) iBUG order (same frame)."""
    pairs = np.array([(m[0], m[-1]) for m in MP_TO_IBUG68])
    return 0.5 * (points468[..., pairs[:, 0], :] + points468[..., pairs[:, 1], :])


def _mp_root() -> str:
    import mediapipe
    return os.path.dirname(os.path.dirname(mediapipe.__file__))


def model_files() -> dict:
    """The two .tflite files MediaPipe's wheel ships, with their sha256."""
    root = Path(_mp_root()) / "mediapipe" / "modules"
    out = {}
    for rel in ("face_detection/face_detection_short_range.tflite", "face_landmark/face_landmark.tflite"):
        p = root / rel
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


def meta(settings: dict | None = None) -> dict:
    import mediapipe
    return {"peer": "mediapipe", "mediapipe": mediapipe.__version__, "numpy": np.__version__,
            "opencv": cv2.__version__, "models_sha256": model_files(),
            "mapping_468_to_68": MAPPING_SOURCE, "cpus": sorted(os.sched_getaffinity(0)),
            "settings": settings or {}}


def _points_px(landmark_list, width: int, height: int) -> np.ndarray:
    """MediaPipe NormalizedLandmarkList -> (468, 3) OpenCV image pixels, z towards the viewer."""
    a = np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], np.float64)
    return np.stack([a[:, 0] * width - 0.5, a[:, 1] * height - 0.5, -a[:, 2] * width], 1)


def roi_from_box(box, eye_right_subject=None, eye_left_subject=None, scale: float = 1.5) -> np.ndarray:
    """MediaPipe's detection -> ROI rule on a face box [x0, y0, x1, y1] (image pixels): the box
    enlarged ``scale`` times, squared on its longer side, rotated so that the subject's right eye
    (image left) and left eye lie level (no rotation without eyes). Returns [cx, cy, w, h, rot]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    side = scale * max(x1 - x0, y1 - y0)
    rot = 0.0
    if eye_right_subject is not None and eye_left_subject is not None:
        (ax, ay), (bx, by) = eye_right_subject[:2], eye_left_subject[:2]
        rot = -math.atan2(-(by - ay), bx - ax)
        rot = rot - 2 * math.pi * math.floor((rot + math.pi) / (2 * math.pi))
    return np.array([cx, cy, side, side, rot])


def roi_from_points(points468: np.ndarray) -> np.ndarray:
    """MediaPipe's landmarks -> ROI rule on (468, >=2) image-pixel points: [cx, cy, w, h, rot]."""
    p = np.asarray(points468, np.float64)[:, :2]
    return roi_from_box(np.concatenate([p.min(0), p.max(0)]), p[33], p[263])


class FaceMeshPeer:
    """MediaPipe Face Mesh: own pipeline (:meth:`predict`) and the landmark model on a given ROI
    (:meth:`landmarks_in_roi`), plus BlazeFace alone (:meth:`detect`). RGB uint8 inputs."""

    def __init__(self, max_faces: int = 1, min_detection_confidence: float = 0.5):
        import mediapipe as mp
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.python._framework_bindings import calculator_graph, resource_util

        self.max_faces = max_faces
        self.solution = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=max_faces, refine_landmarks=False,
            min_detection_confidence=min_detection_confidence)
        resource_util.set_resource_dir(_mp_root())
        self._graphs = {}
        for name, text in (("landmarks", _LANDMARK_GRAPH), ("detections", _DETECTION_GRAPH)):
            cfg = text_format.Parse(text, calculator_pb2.CalculatorGraphConfig())
            g = calculator_graph.CalculatorGraph(graph_config=cfg)
            box: list = []
            g.observe_output_stream(name, lambda s, p, box=box: box.append(p))
            g.start_run()
            self._graphs[name] = (g, box)
        self._ts = 0

    def close(self) -> None:
        self.solution.close()
        for g, _ in self._graphs.values():
            g.close()

    def predict(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Own pipeline -> list of (468, 3) image-pixel arrays (up to max_faces)."""
        h, w = rgb.shape[:2]
        res = self.solution.process(rgb)
        return [_points_px(f, w, h) for f in (res.multi_face_landmarks or [])]

    def _run(self, name: str, inputs: dict):
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import image_frame

        g, box = self._graphs[name]
        box.clear()
        self._ts += 1
        for stream, value in inputs.items():
            if stream == "image":
                pkt = packet_creator.create_image_frame(data=value, image_format=image_frame.ImageFormat.SRGB)
            else:
                pkt = packet_creator.create_proto(value)
            g.add_packet_to_input_stream(stream, pkt.at(self._ts))
        g.wait_until_idle()
        return box[-1] if box else None

    def landmarks_in_roi(self, rgb: np.ndarray, roi) -> np.ndarray | None:
        """The 468-point model on ROI [cx, cy, w, h, rotation_rad] (image pixels) -> (468, 3)
        image pixels, or None when its face-presence flag says no face."""
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python import packet_getter

        h, w = rgb.shape[:2]
        cx, cy, rw, rh, rot = (float(v) for v in roi)
        rect = rect_pb2.NormalizedRect(x_center=(cx + 0.5) / w, y_center=(cy + 0.5) / h,
                                       width=rw / w, height=rh / h, rotation=rot)
        pkt = self._run("landmarks", {"image": rgb, "roi": rect})
        return None if pkt is None else _points_px(packet_getter.get_proto(pkt), w, h)

    def detect(self, rgb: np.ndarray) -> list[np.ndarray]:
        """BlazeFace short-range alone -> MediaPipe ROIs [cx, cy, w, h, rot] (image pixels) of
        the best ``max_faces`` detections (MediaPipe's rule, :func:`roi_from_box`)."""
        from mediapipe.python import packet_getter

        h, w = rgb.shape[:2]
        pkt = self._run("detections", {"image": rgb})
        dets = [] if pkt is None else packet_getter.get_proto_list(pkt)
        dets = sorted(dets, key=lambda d: -max(d.score or [0.0]))[: self.max_faces]
        rois = []
        for d in dets:
            bb = d.location_data.relative_bounding_box
            box = (bb.xmin * w - 0.5, bb.ymin * h - 0.5, (bb.xmin + bb.width) * w - 0.5,
                   (bb.ymin + bb.height) * h - 0.5)
            kp = d.location_data.relative_keypoints
            eyes = ((kp[0].x * w, kp[0].y * h), (kp[1].x * w, kp[1].y * h)) if len(kp) >= 2 else (None, None)
            rois.append(roi_from_box(box, *eyes))
        return rois

    def faces(self, rgb: np.ndarray, roi=None) -> list[np.ndarray]:
        """(468, 3) image-pixel arrays: the own pipeline's (:meth:`predict`), or with ``roi``
        [cx, cy, w, h, rotation_rad] the landmark model's on it (none when it sees no face)."""
        if roi is None:
            return self.predict(rgb)
        one = self.landmarks_in_roi(rgb, roi)
        return [] if one is None else [one]

    def warm_up(self, rgb: np.ndarray) -> None:
        """One untimed call of every stage: the own pipeline, BlazeFace, the landmark model on
        its ROIs (on the whole image when it finds none)."""
        self.predict(rgb)
        for roi in self.detect(rgb) or [roi_from_box((0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1), scale=1.0)]:
            self.landmarks_in_roi(rgb, roi)


def predict_images(paths: list[str], rois: np.ndarray | None, max_faces: int,
                   keep_468: bool = False) -> dict:
    """Arrays of the ``predict`` command (see the module docstring)."""
    n, k = len(paths), (1 if rois is not None else max_faces)
    peer = FaceMeshPeer(max_faces=max_faces)
    found = np.zeros((n, k), bool)
    p68 = np.full((n, k, 68, 3), np.nan, np.float32)
    p468 = np.full((n, k, 468, 3), np.nan, np.float32) if keep_468 else None
    rois_out = np.full((n, k, 5), np.nan)
    ms = np.full(n, np.nan)
    cpu = np.full(n, np.nan)
    for i, rgb, roi in decoded_images(paths, rois, "peer_mediapipe"):
        faces, ms[i], cpu[i] = timed(peer.faces, rgb, roi)
        for j, pts in enumerate(faces[:k]):
            found[i, j] = True
            p68[i, j] = to_ibug68(pts)
            rois_out[i, j] = roi_from_points(pts)
            if p468 is not None:
                p468[i, j] = pts
    peer.close()
    out = {"images": np.array(paths), "found": found, "points68": p68, "rois": rois_out,
           "ms": ms, "cpu_ms": cpu}
    if p468 is not None:
        out["points468"] = p468
    return out


def time_photos(paths: list[str], repeats: int = 3, warmup: int = 3, max_faces: int = 1) -> dict:
    """Per-photo end-to-end and per-stage times (see the module docstring)."""
    peer = FaceMeshPeer(max_faces=max_faces)
    timing = time_stages(paths, repeats, warmup, predict=peer.predict, detect=peer.detect,
                         landmarks=peer.landmarks_in_roi, warm_up=peer.warm_up)
    peer.close()
    return {**timing, "meta": meta({"repeats": repeats, "warmup": warmup, "max_faces": max_faces})}


def video_frames(path: str):
    """Yield every frame of a video as RGB uint8 (OpenCV's decoder)."""
    cap = cv2.VideoCapture(path)
    try:
        while True:
            ok, bgr = cap.read()
            if not ok or bgr is None:
                return
            yield np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()


def track_video(path: str, max_faces: int) -> dict:
    """One video through a fresh Face Mesh solution in video mode: per-frame arrays."""
    import mediapipe as mp

    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=max_faces,
                                           refine_landmarks=False)
    found, p68, sums, ms = [], [], [], []
    for rgb in video_frames(path):
        h, w = rgb.shape[:2]
        sums.append(int(rgb.sum(dtype=np.int64)))
        res, wall, _ = timed(mesh.process, rgb)
        ms.append(wall)
        f = np.zeros(max_faces, bool)
        p = np.full((max_faces, 68, 3), np.nan, np.float32)
        for k, lm in enumerate((res.multi_face_landmarks or [])[:max_faces]):
            f[k], p[k] = True, to_ibug68(_points_px(lm, w, h))
        found.append(f)
        p68.append(p)
    mesh.close()
    if not sums:
        print(f"peer_mediapipe: {path}: no frame decodes", file=sys.stderr)
    return {"found": found, "points68": p68, "checksums": sums, "ms": ms}


def track_videos(paths: list[str], max_faces: int) -> dict:
    """Arrays of the ``video`` command (see the module docstring)."""
    runs = [track_video(p, max_faces) for p in paths]
    n, t_max = len(paths), max([len(r["ms"]) for r in runs] + [1])
    out = {"videos": np.array(paths), "frames": np.array([len(r["ms"]) for r in runs]),
           "found": np.zeros((n, t_max, max_faces), bool),
           "points68": np.full((n, t_max, max_faces, 68, 3), np.nan, np.float32),
           "checksums": np.zeros((n, t_max), np.int64), "ms": np.full((n, t_max), np.nan)}
    for v, r in enumerate(runs):
        for key in ("found", "points68", "checksums", "ms"):
            if r[key]:
                out[key][v, : len(r[key])] = np.array(r[key])
    return out


def video_main(argv: list[str]) -> int:
    """The ``video`` command (its own parser: the shared CLI of peer_common has images only)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="peer_mediapipe.py video", description="Face Mesh in video mode")
    ap.add_argument("--videos", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-faces", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1, help="pin to this many cores (0: no pinning)")
    a = ap.parse_args(argv)
    pin_cpus(a.cpus)
    arrays = track_videos(read_list(a.videos), a.max_faces)
    settings = {"mode": "video (static_image_mode=False)", "max_faces": a.max_faces}
    np.savez_compressed(a.out, **arrays, meta=np.array(json.dumps(meta(settings))))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["video"]:
        return video_main(argv[1:])
    ap = worker_parser(__doc__.split("\n")[0], "--rois",
                       predict_options=(("--keep-468", {"action": "store_true"}),))
    a = ap.parse_args(argv)

    def predict(paths: list[str], rois: np.ndarray | None) -> tuple[dict, dict]:
        settings = {"mode": "roi" if rois is not None else "own detector", "max_faces": a.max_faces}
        return predict_images(paths, rois, a.max_faces, a.keep_468), settings

    return run_worker(a, "peer_mediapipe", meta, 5, predict,
                      lambda paths: time_photos(paths, a.repeats, a.warmup, a.max_faces))


if __name__ == "__main__":
    sys.exit(main())
