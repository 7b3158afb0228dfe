"""ONNX export: torch/ONNX parity, dynamic batch, fp16 and int8 copies, the export CLI."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared, need_torch
from denseface.cli.main import main
from denseface.errors import DenseFaceError
from denseface.export.onnx import parity_max_abs_px
from denseface.export.quantize import (convert_fp16, has_config, load_crops, quantize_int8,
                                       variant_path)
from denseface.models.runners import OnnxRunner, TorchRunner, open_runner


def crops(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, size, size, 3)) * 255).astype(np.uint8)


def real_crops(n: int, size: int = 64) -> np.ndarray:
    return load_crops(need_shared("data", "aflw_pl", "val", "images"), size, n)


def test_torch_onnx_parity_below_1e3_px_and_dynamic_batch(small_torch):
    from denseface.models import load_model

    model = load_model(small_torch.pt)
    assert parity_max_abs_px(model, small_torch.onnx, crops(5)) < 1e-3
    onnx_runner = OnnxRunner(small_torch.onnx)
    torch_runner = TorchRunner(model)
    one = onnx_runner.predict_crops(crops(1))
    three = onnx_runner.predict_crops(crops(3))
    np.testing.assert_allclose(three[0], one[0], atol=1e-3)
    assert three.shape == (3, 520, 3) and three.dtype == np.float32
    np.testing.assert_allclose(torch_runner.predict_crops(crops(3)), three, atol=1e-3)


def test_parity_on_real_face_crops(small_torch):
    from denseface.models import load_model

    assert parity_max_abs_px(load_model(small_torch.pt), small_torch.onnx, real_crops(8)) < 1e-3


def test_fp16_copy_keeps_config_and_float32_io(small_models, tmp_path):
    dst = convert_fp16(small_models.mean_onnx, tmp_path / "m.fp16.onnx")
    assert has_config(dst)
    runner = open_runner(dst)
    out = runner.predict_crops(crops(2))
    assert out.dtype == np.float32 and out.shape == (2, 520, 3)
    # the mean-face model outputs its bias: fp16 rounding of values < 1 is < 1e-3 relative
    ref = OnnxRunner(small_models.mean_onnx).predict_crops(crops(2))
    assert np.abs(out - ref).max() < 0.05  # crop pixels (64 px crop)
    rand = convert_fp16(small_models.onnx, tmp_path / "r.fp16.onnx")
    a = OnnxRunner(small_models.onnx).predict_crops(real_crops(4))
    b = OnnxRunner(rand).predict_crops(real_crops(4))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_int8_copies_run_and_track_fp32(small_models, tmp_path, mode):
    calib = real_crops(16) if mode == "static" else None
    dst = quantize_int8(small_models.onnx, tmp_path / f"{mode}.int8.onnx", mode, calib)
    assert has_config(dst)
    assert dst.stat().st_size < 0.5 * small_models.onnx.stat().st_size
    x = real_crops(6)
    a = OnnxRunner(small_models.onnx).predict_crops(x)
    b = OnnxRunner(dst).predict_crops(x)
    assert b.shape == a.shape
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_static_int8_needs_calibration(small_models, tmp_path):
    with pytest.raises(DenseFaceError, match="calibration"):
        quantize_int8(small_models.onnx, tmp_path / "x.onnx", "static", None)


def test_export_cli_writes_fp32_fp16_int8(small_torch, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    rc = main(["export", "--checkpoint", str(small_torch.pt), "--format", "onnx", "--out", str(out),
               "--fp16", "--int8"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "torch vs ONNX max |diff|" in err and "int8 dynamic" in err
    for p in (out, variant_path(out, "fp16"), variant_path(out, "int8")):
        r = open_runner(p)
        assert r.config.input_size == 64 and r.predict_crops(crops(2)).shape == (2, 520, 3)


def test_export_cli_errors(tmp_path, small_torch, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "x.onnx")]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(small_torch.pt), "--out", str(tmp_path / "x.bin")]) == 2
    assert main(["export", "--checkpoint", str(small_torch.pt), "--out", str(tmp_path / "x.onnx"),
                 "--int8", "--int8-mode", "static"]) == 2


def test_the_cli_and_the_model_family_ship_through_one_export(small_torch, tmp_path):
    """export_checkpoint is the one path of `denseface export` and model_family.ship (issue 33:
    two copies down to the parity crops): it checks the expected network before writing, writes
    the fp16 checkpoint beside, and its parity is the CLI's figure on the same seeded crops."""
    import ast
    from pathlib import Path

    from denseface.errors import ConfigError
    from denseface.export.checkpoint import export_checkpoint, parity_crops
    from denseface.models.regressor import load_model

    with pytest.raises(ConfigError, match="is a mobilenetv2_050 at 64 px, not a mobilenetv2_100 at 120 px"):
        export_checkpoint(small_torch.pt, tmp_path / "no.onnx", expect=("mobilenetv2_100", 120))
    assert not (tmp_path / "no.onnx").exists()
    done = export_checkpoint(small_torch.pt, tmp_path / "m.onnx", expect=("mobilenetv2_050", 64),
                             checkpoint_out=tmp_path / "m.pt")
    assert done.parity_px == parity_max_abs_px(load_model(small_torch.pt), done.onnx_path, parity_crops(64)) < 1e-3
    assert load_model(done.checkpoint_path).config == load_model(small_torch.pt).config
    root = Path(__file__).resolve().parents[1]
    for path, function in ((root / "denseface" / "cli" / "export.py", "run_onnx"),
                           (root / "benchmarks" / "model_family.py", "ship")):
        body = next(n for n in ast.parse(path.read_text()).body if getattr(n, "name", "") == function)
        called = {n.func.id for n in ast.walk(body) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "export_checkpoint" in called and "export_onnx" not in called, function


def test_quantisers_accept_fp16_stored_weights(small_torch, tmp_path):
    """A model exported with weights_fp16 (fp16 initializers + Cast) is unfolded first, so
    int8 still quantises its weights (the file shrinks to about a quarter of fp32)."""
    from denseface.export.onnx import export_onnx
    from denseface.models import load_model

    src = export_onnx(load_model(small_torch.pt), tmp_path / "w16.onnx", weights_fp16=True)
    q = quantize_int8(src, tmp_path / "w16.int8.onnx", "dynamic")
    assert q.stat().st_size < 0.35 * small_torch.onnx.stat().st_size
    x = real_crops(4)
    a = OnnxRunner(small_torch.onnx).predict_crops(x)
    assert np.corrcoef(a.ravel(), OnnxRunner(q).predict_crops(x).ravel())[0, 1] > 0.9
    half = convert_fp16(src, tmp_path / "w16.fp16.onnx")
    assert np.corrcoef(a.ravel(), OnnxRunner(half).predict_crops(x).ravel())[0, 1] > 0.999


def test_factored_head_round_trips_through_checkpoint_onnx_and_fine_tuning(tmp_path):
    """factor_head at full rank is the same function; at a low rank it is the truncated SVD
    (the closest weights of that rank); the rank travels in the checkpoint and the ONNX file,
    and expand_head multiplies it back into one linear layer for the trainer."""
    need_torch()
    import torch

    from denseface.export.onnx import export_onnx
    from denseface.models import create_model, load_model, save_checkpoint
    from denseface.models.regressor import LowRankHead, expand_head, factor_head

    torch.manual_seed(0)
    model = create_model("3ddfa_mobilenetv1_050", input_size=64).eval()
    x = torch.rand(2, 3, 64, 64) * 255
    W = model.head.weight.detach().double().numpy()
    with torch.no_grad():
        exact = factor_head(model, min(W.shape) - 1)         # 511 of 512: almost every direction kept
        low = factor_head(model, 8)
        assert (exact(x) - model(x)).abs().max() * 64 < 0.05
        s = np.linalg.svd(W, compute_uv=False)
        Wl = (low.head.up.weight @ low.head.down.weight).double().numpy()
        assert np.linalg.norm(W - Wl) == pytest.approx(np.sqrt((s[8:] ** 2).sum()), rel=1e-4)
        assert isinstance(low.head, LowRankHead) and low.config.head_rank == 8
        save_checkpoint(low, tmp_path / "low.pt")
        back = load_model(tmp_path / "low.pt")
        assert back.config.head_rank == 8 and torch.equal(back(x), low(x))
        full = expand_head(back)
        assert isinstance(full.head, torch.nn.Linear) and full.config.head_rank == 0
        assert (full(x) - low(x)).abs().max() * 64 < 1e-3
    onnx_path = export_onnx(low, tmp_path / "low.onnx")
    assert OnnxRunner(onnx_path).config.head_rank == 8
    assert parity_max_abs_px(low, onnx_path, crops(3)) < 1e-3
    with pytest.raises(DenseFaceError, match="head rank"):
        factor_head(model, 0)
    with pytest.raises(DenseFaceError, match="already factored"):
        factor_head(low, 4)
