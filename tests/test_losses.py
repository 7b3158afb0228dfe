import math

import numpy as np
import pytest

from conftest import need_torch

need_torch(module=True)
import torch  # noqa: E402

from denseface.errors import ConfigError
from denseface.losses import LossConfig, PixelMSE, WingLoss, build_loss


def test_wing_matches_formula_in_reference_pixels():
    wing = WingLoss(w=15, epsilon=3, ref_size=256)
    for px in (0.5, 3.0, 14.9, 15.0, 40.0):
        pred = torch.tensor([[[px / 256, 0.0, 0.0]]])
        got = wing(pred, torch.zeros_like(pred)).item() * 3  # mean over 3 coords, 2 are zero
        C = 15 - 15 * math.log(1 + 15 / 3)
        want = 15 * math.log(1 + px / 3) if px < 15 else px - C
        assert got == pytest.approx(want, rel=1e-5)


def test_wing_is_continuous_at_w():
    wing = WingLoss(15, 3, 256)
    a = wing(torch.tensor([[[14.999 / 256, 0, 0]]]), torch.zeros(1, 1, 3)).item()
    b = wing(torch.tensor([[[15.001 / 256, 0, 0]]]), torch.zeros(1, 1, 3)).item()
    assert abs(a - b) < 1e-3


def test_hybrid_is_weighted_sum_with_mse_on_68_subset():
    idx68 = np.arange(68) * 2
    loss = build_loss(LossConfig(), idx68)
    pred = torch.randn(2, 520, 3) * 0.05
    target = torch.zeros_like(pred)
    want = 1.5 * WingLoss()(pred, target) + 0.5 * PixelMSE(256, torch.as_tensor(idx68))(pred, target)
    assert loss(pred, target).item() == pytest.approx(want.item(), rel=1e-6)
    # points outside the 68 subset do not reach the MSE term
    pred2 = pred.clone()
    pred2[:, 1] += 1.0
    mse = PixelMSE(256, torch.as_tensor(idx68))
    assert mse(pred2, target).item() == pytest.approx(mse(pred, target).item())


@pytest.mark.parametrize("name", ["wing", "l1", "l2", "wing+l2", "hybrid"])
def test_every_named_loss_is_zero_at_target_and_positive_elsewhere(name):
    loss = build_loss(LossConfig(name=name), np.arange(68))
    t = torch.rand(2, 520, 3)
    assert loss(t, t).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(t + 0.01, t).item() > 0


def test_unknown_loss_is_a_config_error():
    with pytest.raises(ConfigError, match="loss.name"):
        build_loss(LossConfig(name="huber"), np.arange(68))
