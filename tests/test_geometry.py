"""denseface.geometry (layer 1): the crop and its pixel conventions, boxes and the one
box-to-crop policy, rotations in 3DDFA's Euler convention, similarity fits, mesh winding and the
export frame; each checked on inputs whose answer is known."""
import cv2
import numpy as np
import pytest

from denseface.geometry.boxes import (BoxToCrop, box_iou, box_size, fit_box_to_crop, landmark_bbox,
                                      main_face_order, roi_box, roi_box_from_landmarks)
from denseface.geometry.crop import crop_image, crop_matrix, points_from_crop, points_to_crop
from denseface.geometry.meshes import outward_triangles, to_export_frame, triangle_normals
from denseface.geometry.rotations import euler_3ddfa, rotation_3ddfa, similarity_fit
from denseface.models.codec import crop_to_image


# -- crops ----------------------------------------------------------------------------------
def test_crop_image_equals_cv2_resize_of_the_box():
    """Crops look exactly like 3DDFA's crop + cv2.resize (how aflw_pl's images were made)."""
    img = (np.random.default_rng(0).random((300, 300, 3)) * 255).astype(np.uint8)
    crop, M = crop_image(img, np.array([30.0, 40.0, 270.0, 280.0]), 120)
    ref = cv2.resize(img[40:280, 30:270], (120, 120), interpolation=cv2.INTER_LINEAR)
    assert np.abs(crop.astype(int) - ref.astype(int))[1:-1, 1:-1].max() <= 1
    np.testing.assert_allclose(M, crop_matrix([30, 40, 270, 280], 120))


def test_points_map_by_the_label_convention_and_back():
    box = np.array([10.0, 20.0, 210.0, 220.0])
    M = crop_matrix(box, 100)
    p = np.array([[110.0, 120.0, 40.0]])
    q = p.copy()
    q[:, :2] = (p[:, :2] - box[:2]) * 0.5
    q[:, 2] *= 0.5
    np.testing.assert_allclose(crop_to_image(q, M), p)


def test_roi_box_is_square_sqrt2_times_the_landmark_box():
    pts = np.array([[0.0, 0.0], [100.0, 60.0]])
    b = roi_box_from_landmarks(pts)
    assert np.isclose(b[2] - b[0], np.sqrt(2) * 100) and np.isclose(b[3] - b[1], np.sqrt(2) * 100)
    assert np.allclose(0.5 * (b[:2] + b[2:]), [50, 30])


def test_points_to_crop_and_back_are_inverse():
    boxes = np.array([[10.0, 20.0, 210.0, 220.0], [-30.0, 5.0, 90.0, 245.0]])   # 2nd: clipped, 120 x 240
    p = np.array([[[110.0, 120.0]], [[0.0, 65.0]]])
    q = points_to_crop(p, boxes, 120)
    np.testing.assert_allclose(q[:, 0], [[60.0, 60.0], [30.0, 30.0]])   # per axis: (p - x0y0) * 120 / (w, h)
    np.testing.assert_allclose(points_from_crop(q, boxes, 120), p)


# -- boxes ----------------------------------------------------------------------------------
def test_box_measures():
    assert box_size([0, 0, 10, 30]) == 20.0
    np.testing.assert_allclose(landmark_bbox([[3, 9], [1, 4], [7, 5]]), [1, 4, 7, 9])
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    np.testing.assert_allclose(roi_box([0, 0, 10, 4], factor=2.0), [-5, -8, 15, 12])


def test_main_face_order_prefers_large_central_faces():
    """insightface's max_num rule: area - 2 x squared centre offset; ties keep their order."""
    shape = (100, 200, 3)                                  # centre (100, 50)
    boxes = np.array([[0, 0, 20, 20],                      # small, far: 400 - 2 * (90^2 + 40^2)
                      [80, 30, 120, 70],                   # 40 x 40 at the centre: 1600
                      [150, 20, 210, 80]])                 # 60 x 60, 80 px right: 3600 - 12800
    np.testing.assert_array_equal(main_face_order(boxes, shape), [1, 2, 0])
    np.testing.assert_array_equal(main_face_order(np.array([[90, 40, 110, 60]] * 2), shape), [0, 1])


def test_box_to_crop_and_its_fit_are_inverse():
    mapping = BoxToCrop(scale=1.5, shift_x=0.1, shift_y=-0.2)
    np.testing.assert_allclose(mapping([0, 0, 100, 100]), [-15, -45, 135, 105])
    boxes = np.array([[0, 0, 100, 100], [50, 20, 90, 80], [10, 10, 30, 50]], np.float64)
    assert fit_box_to_crop(boxes, np.stack([mapping(b) for b in boxes])) == mapping


# -- rotations and similarity fits ----------------------------------------------------------
def test_3ddfa_euler_angles_round_trip_and_signs():
    angles = (0.2, -0.7, 0.4)
    R = rotation_3ddfa(*angles)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(euler_3ddfa(R), angles, atol=1e-12)
    # yaw alone: Ry's transpose, so a point on +x (model frame) moves towards +z for yaw > 0
    np.testing.assert_allclose(rotation_3ddfa(0, np.pi / 2, 0) @ [1.0, 0, 0], [0, 0, 1.0], atol=1e-12)


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3))
    R, s, t = rotation_3ddfa(0.3, 0.5, -0.2), 2.5, np.array([10.0, -4.0, 7.0])
    s2, R2, t2 = similarity_fit(src, s * src @ R.T + t)
    assert s2 == pytest.approx(s)
    np.testing.assert_allclose(R2, R, atol=1e-10)
    np.testing.assert_allclose(t2, t, atol=1e-10)


# -- meshes ---------------------------------------------------------------------------------
def test_outward_winding_and_export_frame():
    """A tetrahedron-like cap in front of the head centre: every triangle is turned to face
    away from it; the export frame flips y only."""
    v = np.array([[0.0, 1.0, 0.0], [-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    tris = np.array([[0, 1, 3], [1, 3, 2], [2, 0, 3]])     # mixed windings
    out = outward_triangles(v, tris)
    centre = v.mean(0) - np.array([0.0, 0.0, 0.5 * np.ptp(v[:, 1])])
    assert (((v[out].mean(1) - centre) * triangle_normals(v, out)).sum(1) > 0).all()
    assert {tuple(sorted(t)) for t in out} == {tuple(sorted(t)) for t in tris}
    np.testing.assert_array_equal(to_export_frame(v), v * [1, -1, 1])


def test_rotation_3ddfa_is_scipys_intrinsic_xyz_with_flipped_signs():
    """The numpy rotation equals scipy's ``Rotation.from_euler("XYZ", -angles)`` (the definition
    3DDFA's convention was written against), so dropping scipy changed nothing."""
    pytest.importorskip("scipy")
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    for angles in rng.uniform(-np.pi, np.pi, (50, 3)):
        assert np.allclose(rotation_3ddfa(*angles), Rotation.from_euler("XYZ", -angles).as_matrix(), atol=1e-12)
