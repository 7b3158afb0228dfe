"""Keypoint metadata of the 68-point iBUG layout and the AFLW 21-point layout, as data."""
from __future__ import annotations

import numpy as np

#: 0-based groups of the 68 iBUG landmarks.
GROUPS_68: dict[str, range] = {
    "jaw": range(0, 17), "brow": range(17, 27), "nose": range(27, 36),
    "eye": range(36, 48), "lips": range(48, 68),
}

#: Left-right flip of the 68 points: point i of a flipped face is point FLIP_68[i].
FLIP_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65],
    dtype=np.int64)

#: AFLW-21 names in AFLW's order.
AFLW21_NAMES = (
    "brow_left_outer", "brow_left_centre", "brow_left_inner", "brow_right_inner",
    "brow_right_centre", "brow_right_outer", "eye_left_outer", "eye_left_centre",
    "eye_left_inner", "eye_right_inner", "eye_right_centre", "eye_right_outer",
    "ear_left", "nose_left", "nose_tip", "nose_right", "ear_right",
    "mouth_left", "mouth_centre", "mouth_right", "chin",
)

#: The 3DDFA benchmark's 68 -> 21 mapping (0-based); each AFLW point averages these.
AFLW21_FROM_68: tuple[tuple[int, ...], ...] = (
    (17,), (19,), (21,), (22,), (24,), (26,), (36,), tuple(range(36, 42)), (39,), (42,),
    tuple(range(42, 48)), (45,), (2,), (31,), (30,), (35,), (14,), (48,),
    tuple(range(60, 68)), (54,), (8,),
)


def aflw21_from_68(points68: np.ndarray) -> np.ndarray:
    """(..., 68, D) -> (..., 21, D) by the 3DDFA mapping (averages where it lists several)."""
    return np.stack([points68[..., list(ids), :].mean(-2) for ids in AFLW21_FROM_68], -2)
