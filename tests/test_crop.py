"""Crop policy and the crop's pixel conventions."""
import cv2
import numpy as np

from denseface.geometry.boxes import roi_box_from_landmarks
from denseface.geometry.crop import crop_image, crop_matrix
from denseface.models.codec import crop_to_image


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
