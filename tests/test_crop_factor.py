"""The model's crop factor, not a hard-coded sqrt(2), sizes what is drawn (issue 33): a face's
size is its crop-box side divided by the factor its crops were made with."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest


@pytest.fixture(scope="module")
def mean_model(small_models):
    from denseface.infer.api import DenseFace, PredictConfig

    return DenseFace(small_models.mean_onnx, config=PredictConfig(tta="none"))


def test_drawing_sizes_faces_by_the_crop_factor(mean_model):
    from denseface.infer.draw import DrawStyle, draw_faces

    image = np.zeros((240, 240, 3), np.uint8)
    face = mean_model.predict(image, boxes=[[70, 60, 170, 180]])[0]
    style = DrawStyle(mesh=False, box=False)
    side = face.crop_box[2] - face.crop_box[0]
    wider = replace(face, crop_box=face.crop_box + np.array([-1.0, -1.0, 1.0, 1.0]) * side / 4)
    # the same face cut with a 1.5x wider crop, drawn with that crop's factor: the same marks
    base = draw_faces(image, [face], style=style, roi_factor=mean_model.roi_factor)
    same = draw_faces(image, [wider], style=style, roi_factor=1.5 * mean_model.roi_factor)
    np.testing.assert_array_equal(base, same)
    # read with the default factor, the wider crop draws a bigger face (longer axes, bigger dots)
    assert (draw_faces(image, [wider], style=style) != base).any()
