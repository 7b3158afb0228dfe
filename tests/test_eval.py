"""Evaluation harness: 3DDFA crop boxes, the AFLW2000-3D and AFLW-21 pipelines (small subsets),
detector mode, reports, CED, cost, the loss ablation, bad input (the metrics themselves:
tests/test_metrics.py)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import need_modules, need_shared, need_torch
from denseface.errors import DenseFaceError
from denseface.metrics import bbox_size, nme_2d, yaw_bin

ROOT = Path(__file__).resolve().parents[1]

SUBSET = 40


# -- 3DDFA protocol data --------------------------------------------------------------------

def test_crop_boxes_match_3ddfa_roi_boxes():
    """Our crop boxes from pt3d_68 reproduce AFLW2000-3D_crop.roi_box.npy for all 2000 images.
    The boxes are clipped to [1, 450]: 3DDFA's arrays use MATLAB's 1-based pixel frame."""
    from denseface.eval.datasets import benchmark_roi_box

    cfg = need_shared("data", "3ddfa_test_configs")
    pts = np.load(cfg / "AFLW2000-3D.pts68.npy")
    ref = np.load(cfg / "AFLW2000-3D_crop.roi_box.npy").astype(np.float64)
    ours = np.stack([benchmark_roi_box(p[:2].T, 450, 450) for p in pts])
    assert np.abs(ours - ref).max() <= 1.0
    assert (ours == ref).mean() > 0.99
    assert ref[:, :2].min() == 1.0 and ref[:, 2:].max() == 450.0     # 1-based clipping


def test_protocol_order_and_yaw_bins():
    from denseface.eval.datasets import AFLW2000_BIN_COUNTS

    cfg = need_shared("data", "3ddfa_test_configs")
    data = need_shared("data", "aflw2000_3d")
    listed = (cfg / "AFLW2000-3D_crop.list").read_text().split()
    assert listed == sorted(p.name for p in data.glob("*.jpg"))
    counts = tuple(np.bincount(yaw_bin(np.load(cfg / "AFLW2000-3D.pose.npy")), minlength=3))
    assert counts == AFLW2000_BIN_COUNTS


@pytest.fixture(scope="module")
def aflw2000():
    from denseface.eval.datasets import load_aflw2000

    return load_aflw2000(need_shared("data", "aflw2000_3d"), need_shared("data", "3ddfa_test_configs"),
                         limit=SUBSET)


def test_loader_frames(aflw2000):
    cfg = need_shared("data", "3ddfa_test_configs")
    assert len(aflw2000) == SUBSET and len(set(yaw_bin(aflw2000.yaw))) == 3
    raw = np.load(cfg / "AFLW2000-3D.pts68.npy")[aflw2000.indices].transpose(0, 2, 1)
    np.testing.assert_allclose(aflw2000.pts68[..., :2], raw[..., :2] - 1.0, atol=1e-3)  # OpenCV frame
    np.testing.assert_allclose(aflw2000.pts68[..., 2], raw[..., 2], atol=1e-3)
    ref = np.load(cfg / "AFLW2000-3D_crop.roi_box.npy")[aflw2000.indices]
    np.testing.assert_array_equal(aflw2000.boxes, ref - 1.0)


# -- pipelines -------------------------------------------------------------------------------

def _image_key(image: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(image).tobytes()).hexdigest()


def make_oracle(data):
    """A callable model that returns the ground truth of the image it is given (by content)."""
    from denseface.io.images import read_image, to_rgb

    table = {_image_key(to_rgb(read_image(p))): gt for p, gt in zip(data.image_paths, data.pts68)}
    seen = []

    def oracle68(image, box):
        seen.append(np.asarray(box))
        return table[_image_key(image)]

    oracle68.seen = seen
    return oracle68


@pytest.fixture(scope="module")
def oracle(aflw2000):
    return make_oracle(aflw2000)


def _cfg(limit=SUBSET, **kw):
    from denseface.eval.aflw2000 import Aflw2000Config
    from denseface.eval.predictions import RunConfig

    return Aflw2000Config(limit=limit, run=RunConfig(batch=16, progress=False), **kw)


def test_oracle_scores_zero_and_shift_scores_known(oracle, aflw2000, tmp_path):
    from denseface.eval.aflw2000 import evaluate_aflw2000
    from denseface.eval.predictors import CallablePredictor
    from denseface.eval.report import REPORT_KEYS, read_report, write_result

    oracle.seen.clear()
    res = evaluate_aflw2000(CallablePredictor(oracle), _cfg())
    assert res.report["n"] == SUBSET
    assert res.report["nme_bins"] == [0.0, 0.0, 0.0] and res.report["nme_3d_balanced"] == 0.0
    assert res.report["nme_reannotated_balanced"] > 0.5          # different annotations
    np.testing.assert_array_equal(np.stack(oracle.seen), aflw2000.boxes)   # 3DDFA boxes, OpenCV frame

    def shifted(image, box):
        return oracle(image, box) + np.array([2.0, 0.0, 0.0])

    res = evaluate_aflw2000(CallablePredictor(shifted, "shifted"), _cfg())
    np.testing.assert_allclose(res.columns["nme"], 200.0 / bbox_size(aflw2000.pts68), rtol=1e-9)
    np.testing.assert_allclose(res.columns["dx_px"], 2.0)
    out = write_result(res, tmp_path / "r")
    report = json.loads((out / "report.json").read_text())
    assert tuple(report) == REPORT_KEYS
    _, cols = read_report(out / "report.json")
    np.testing.assert_allclose(cols["nme"], res.columns["nme"], rtol=1e-5)
    assert "2.86" in (out / "report.md").read_text()


@pytest.fixture(scope="module")
def small_onnx(small_models):
    return small_models.onnx


def test_onnx_and_torch_models_through_the_pipeline(small_torch, aflw2000, tmp_path):
    small_onnx = small_torch.onnx
    from denseface.geometry.crop import crop_image
    from denseface.eval.aflw2000 import evaluate_aflw2000
    from denseface.eval.ced import ced_from_reports
    from denseface.io.images import read_image, to_rgb
    from denseface.eval.predictors import open_predictor
    from denseface.eval.report import write_result
    from denseface.models.runners import OnnxRunner
    from denseface.landmarks import load_landmark_set
    from denseface.models import crop_to_image

    res = evaluate_aflw2000(open_predictor(small_onnx, tta="none"), _cfg())
    assert res.report["model"] == "small.onnx" and np.isfinite(res.columns["nme"]).all()
    # one image by hand: crop, run, take the 68 subset, map back, score (one crop: no flip)
    i = 7
    crop, M = crop_image(to_rgb(read_image(aflw2000.image_paths[i])), aflw2000.boxes[i], 64)
    pts = OnnxRunner(small_onnx).predict_crops(crop[None])[0, load_landmark_set().idx68]
    expect = nme_2d(crop_to_image(pts, M), aflw2000.pts68[i])
    assert res.columns["nme"][i] == pytest.approx(expect, rel=1e-4)

    res_pt = evaluate_aflw2000(open_predictor(small_onnx.with_suffix(".pt"), tta="none"), _cfg())
    np.testing.assert_allclose(res_pt.columns["nme"], res.columns["nme"], rtol=1e-3)

    write_result(res, tmp_path / "onnx")
    write_result(res_pt, tmp_path / "torch")
    png = ced_from_reports([tmp_path / "onnx" / "report.json", tmp_path / "torch"], tmp_path / "ced.png",
                           max_nme=300)
    assert png.stat().st_size > 1000


def test_detector_mode_two_passes():
    """Detector mode with OpenCV's Haar backend on 12 images and a ground-truth oracle: every
    detected face scores 0 and its final crop is the training crop of the first pass's points."""
    from denseface.geometry.boxes import roi_box_from_landmarks
    from denseface.eval.aflw2000 import evaluate_aflw2000
    from denseface.eval.datasets import load_aflw2000
    from denseface.eval.predictors import CallablePredictor
    from denseface.infer.detectors import create_detector

    n = 12
    aflw2000 = load_aflw2000(need_shared("data", "aflw2000_3d"),
                             need_shared("data", "3ddfa_test_configs"), limit=n)
    res = evaluate_aflw2000(CallablePredictor(make_oracle(aflw2000)), _cfg(limit=n),
                            detector=create_detector("haar"), detector_name="haar")
    det = res.columns["detected"]
    d = res.details
    assert det.sum() >= n // 2
    assert d["n_undetected"] == n - det.sum() == len(d["undetected"])
    assert d["box_policy"]["scale"] > 1.0          # the detector's calibrated crop mapping
    assert res.report["n"] == det.sum() and "haar" in res.report["protocol"]
    np.testing.assert_allclose(res.columns["nme"][det], 0.0, atol=1e-9)
    assert np.isnan(res.columns["nme"][~det]).all()
    # the final crop comes from the first pass's landmarks (here: the ground truth)
    final = np.stack([res.columns[k] for k in ("box_x0", "box_y0", "box_x1", "box_y1")], 1)[det]
    expect = np.stack([roi_box_from_landmarks(p) for p in aflw2000.pts68[det]])
    np.testing.assert_allclose(final, expect, atol=1e-9)


def test_detector_mode_runs_predicts_own_passes():
    """Detector mode predicts exactly what ``DenseFace.predict`` gives for the same face: its
    cropper, the model's crop factor, its pass loop (flip averaging on the last pass only, the
    eye stage after it). Before the one pass loop, the evaluation flip-averaged and ran the eye
    stage on every pass, so its points differed from predict's."""
    from denseface.eval.aflw2000 import evaluate_aflw2000
    from denseface.eval.calibration import match_detection
    from denseface.eval.datasets import load_aflw2000
    from denseface.eval.predictors import open_predictor
    from denseface.infer.api import DenseFace
    from denseface.infer.detectors import create_detector
    from denseface.io.images import read_image, to_rgb

    n = 6
    data = load_aflw2000(need_shared("data", "aflw2000_3d"), need_shared("data", "3ddfa_test_configs"), limit=n)
    predictor = open_predictor(None, threads=1, tta="flip")
    res = evaluate_aflw2000(predictor, _cfg(limit=n), detector=create_detector("default", threads=1),
                            detector_name="default")
    df = DenseFace(threads=1)
    assert predictor.roi_factor == df.roi_factor == df.runner.config.roi_factor
    pred = res.arrays["pred68"]
    checked = 0
    for i in np.flatnonzero(res.columns["detected"]):
        faces = df.predict(to_rgb(read_image(data.image_paths[i])))
        face = match_detection([(f.box, f.score) for f in faces], data.pts68[i], rule="score")
        mine = next(f for f in faces if f.score == face.score)
        np.testing.assert_allclose(pred[i], mine.landmarks68, atol=1e-3)
        checked += 1
    assert checked >= n // 2


def test_box_policy_and_matching():
    from denseface.eval.calibration import match_detection
    from denseface.geometry.boxes import fit_box_to_crop
    from denseface.infer.detectors import BoxToCrop, Detection

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (20, 2))
    wh = rng.uniform(50, 150, (20, 1))
    det = np.concatenate([xy, xy + wh], 1)
    truth = BoxToCrop(1.4, 0.05, 0.2)
    fitted = fit_box_to_crop(det, np.stack([truth(b) for b in det]))
    assert (fitted.scale, fitted.shift_x, fitted.shift_y) == pytest.approx((1.4, 0.05, 0.2))
    # the benchmarks' rule: the highest score among the centres inside the face's box
    dets = [((0, 0, 10, 10), 0.99), ((100, 100, 150, 150), 0.5), ((110, 100, 160, 150), 0.7)]
    corners = np.array([[90, 90], [170, 170]])
    hit = match_detection(dets, corners, rule="score")
    assert hit.score == 0.7 and tuple(hit.box) == (110, 100, 160, 150)
    assert match_detection(dets, corners + 210, rule="score") is None
    objs = [Detection(np.array(b, float), s) for b, s in dets]
    assert match_detection(objs, corners, rule="score").score == 0.7
    # the calibration rule on the same faces: the closest centre of a similar size
    assert match_detection(objs, corners).score == 0.5
    with pytest.raises(ValueError, match="rule must be one of"):
        match_detection(objs, corners, rule="iou")


def test_aflw21_protocol_subset(small_onnx):
    from denseface.eval.aflw import AflwConfig, evaluate_aflw
    from denseface.eval.datasets import load_aflw_protocol, roi_normaliser
    from denseface.eval.predictions import RunConfig
    from denseface.eval.predictors import open_predictor

    proto = load_aflw_protocol(need_shared("data", "3ddfa_test_configs"))
    assert len(proto) == 21080 and not proto.visible.all()
    assert np.isnan(proto.pts21[~proto.visible]).all()
    assert roi_normaliser(np.array([[0.0, 0.0, 200.0, 200.0]]))[0] == pytest.approx(200 / np.sqrt(2))
    res = evaluate_aflw(open_predictor(small_onnx), AflwConfig(limit=12, run=RunConfig(progress=False)))
    assert res.report["n"] == 12 and "12 of 21080" in res.report["protocol"]
    assert res.report["nme_3d_balanced"] is None and np.isfinite(res.report["nme_all"])


# -- command line and bad input ----------------------------------------------------------------

def test_cli_aflw2000_and_ced(small_onnx, tmp_path, capsys):
    need_modules("matplotlib")
    from denseface.cli.main import main

    need_shared("data", "aflw2000_3d")
    out = tmp_path / "eval"
    assert main(["eval", "aflw2000", "--model", str(small_onnx), "--out", str(out), "--limit", "8",
                 "--no-progress"]) == 0
    assert {"report.json", "per_image.csv", "report.md"} <= {p.name for p in out.iterdir()}
    assert main(["eval", "ced", str(out / "report.json"), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").is_file()


def test_bad_input_gives_one_clear_error(small_onnx, tmp_path, capsys):
    need_torch()
    from denseface.cli.main import main
    from denseface.eval.datasets import load_aflw2000
    from denseface.eval.predictors import open_predictor
    from denseface.export.onnx import export_onnx
    from denseface.models import create_model

    data = need_shared("data", "aflw2000_3d")
    cfgs = need_shared("data", "3ddfa_test_configs")
    with pytest.raises(DenseFaceError, match="does not exist"):
        load_aflw2000(tmp_path / "nope", cfgs)
    with pytest.raises(DenseFaceError, match="no .jpg images"):
        load_aflw2000(tmp_path, cfgs)
    part = tmp_path / "part"
    part.mkdir()
    for name in ("image00002.jpg", "image00002.mat", "image00004.jpg"):
        shutil.copy(data / name, part / name)
    with pytest.raises(DenseFaceError, match="do not match AFLW2000-3D_crop.list"):
        load_aflw2000(part, cfgs)
    configs = tmp_path / "configs"
    shutil.copytree(cfgs, configs)
    (configs / "AFLW2000-3D-Reannotated.pts68.npy").unlink()
    with pytest.raises(DenseFaceError, match="missing protocol file AFLW2000-3D-Reannotated.pts68.npy"):
        load_aflw2000(data, configs)
    odd = create_model("mobilenetv2_050", input_size=64, landmark_set="no_such_set")
    with pytest.raises(DenseFaceError, match="no 68-point"):
        open_predictor(export_onnx(odd, tmp_path / "odd.onnx"))
    capsys.readouterr()
    rc = main(["eval", "aflw2000", "--data", str(tmp_path / "nope"), "--model", str(small_onnx),
               "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1 and "does not exist" in err[0] and "Traceback" not in err[0]


def test_unreadable_image_is_skipped_and_reported(small_onnx, tmp_path, capsys):
    """A corrupt image is skipped and listed; the others are scored; exit code 5."""
    from denseface.cli.main import main

    data = need_shared("data", "aflw2000_3d")
    copy = tmp_path / "aflw2000"
    copy.mkdir()
    for f in data.iterdir():
        if f.suffix in (".jpg", ".mat"):
            (copy / f.name).symlink_to(f)
    (copy / "image00002.jpg").unlink()                      # the first image is in every subset
    (copy / "image00002.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    rc = main(["eval", "aflw2000", "--data", str(copy), "--model", str(small_onnx), "--out", str(out),
               "--limit", "6", "--no-progress"])
    assert rc == 5 and "image00002.jpg" in capsys.readouterr().err
    details = json.loads((out / "details.json").read_text())
    assert details["n_failed"] == 1 and list(details["failed"]) == ["image00002.jpg"]
    assert json.loads((out / "report.json").read_text())["n"] == 5


# -- cost table and ablation config ----------------------------------------------------------------

def test_macs_of_a_known_layer_and_cost_table():
    need_torch()
    import torch

    from denseface.eval.cost import CostConfig, CostRow, cost_markdown, params_and_macs, torch_latency_ms

    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False))
    params, macs = params_and_macs(conv, 16)
    assert params == 8 * 3 * 9 and macs == 8 * 3 * 9 * 16 * 16
    fastest, median = torch_latency_ms(conv, 16, 1, warmup=1, repeats=3)
    assert 0 < fastest <= median
    cfg = CostConfig(backbones=("mobilenetv2_100",), sizes=(256,))
    row = CostRow("mobilenetv2_100", 256, 4.22, 0.393, {"torch/1": (10.0, 11.0), "onnxruntime/1": (5.0, 5.5),
                                                        "torch/2": (6.0, 7.0), "onnxruntime/2": (3.0, 3.5)})
    md = cost_markdown([row], cfg)
    assert "| mobilenetv2_100 | 256 | 4.22 | 0.393 | 10.0 / 11.0 | 6.0 / 7.0 | 5.0 / 5.5 | 3.0 / 3.5 |" in md
    assert "| mobilenetv2_100 | 4.18 | 4.22 |" in md          # beside the paper's row


def test_ablation_runs_share_one_budget():
    need_torch()
    from denseface.errors import ConfigError
    from denseface.eval.ablation import AblationConfig, train_config_for

    cfg = AblationConfig(out_dir="runs/x", epochs=2, limit_train=100, limit_val=10)
    runs = [train_config_for(cfg, loss) for loss in cfg.losses]
    assert [r.loss.name for r in runs] == ["wing", "l2", "wing+l2"]
    assert len({r.out_dir for r in runs}) == 3
    for r in runs:
        assert (r.epochs, r.data.limit_train, r.data.limit_val, r.seed) == (2, 100, 10, runs[0].seed)
    with pytest.raises(ConfigError):
        train_config_for(cfg, "nonsense")


def test_ablation_end_to_end_writes_report_logs_and_skips_finished_losses(tmp_path):
    need_torch()
    need_shared("data", "aflw_pl", "train")
    need_shared("data", "aflw2000_3d")
    from denseface.eval.ablation import AblationConfig, run_ablation

    cfg = AblationConfig(out_dir=str(tmp_path / "runs"), report_dir=str(tmp_path / "report"),
                         losses=("l2", "hybrid"), base_config=str(ROOT / "configs" / "tiny.yaml"),
                         epochs=1, limit_train=64, limit_val=32, max_steps_per_epoch=2, eval_limit=30,
                         device="cpu")
    md = run_ablation(cfg, progress=False)
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| L2 (`l2`)") or line.startswith("| WL+L2(68)")]
    assert len(rows) == 2 and all("nan" not in r for r in rows)
    assert "Best on val:" in text
    for name in ("ced_aflw2000.png", "ced_aflw21.png", "log_l2.csv", "log_hybrid.csv"):
        assert (tmp_path / "report" / name).stat().st_size > 0, name
    log = tmp_path / "runs" / "l2" / "log.csv"
    stamp = log.stat().st_mtime_ns
    run_ablation(cfg, progress=False)                 # finished losses are not trained again
    assert log.stat().st_mtime_ns == stamp


def test_a_benchmark_is_one_registered_class(tmp_path, monkeypatch, capsys):
    """`denseface eval <name>` comes from the registry: a Benchmark registered anywhere (here,
    in this test) is a sub-command, its result written by the one writer; the shipped ones are
    listed by the registry, none by hand."""
    import json

    from denseface.cli.main import main
    from denseface.eval import protocol
    from denseface.eval.protocol import Benchmark, benchmarks, register_benchmark
    from denseface.eval.report import BenchmarkResult

    assert {"aflw2000", "aflw", "dense", "pose", "w300"} <= set(benchmarks())
    monkeypatch.setattr(protocol, "_REGISTRY", dict(protocol._REGISTRY))

    @register_benchmark
    class Constant(Benchmark):
        name, help = "constant", "a benchmark that scores nothing"

        def add_arguments(self, parser) -> None:
            parser.add_argument("--out", required=True)

        def run(self, args) -> BenchmarkResult:
            return BenchmarkResult({"model": "none", "n": 2}, {"nme": [1.0, 2.0]}, "# constant\n",
                                   summary=["constant: 2 images"])

    with pytest.raises(ValueError, match="a name of its own"):
        register_benchmark(Constant)
    assert main(["eval", "constant", "--out", str(tmp_path / "c")]) == 0
    assert "constant: 2 images" in capsys.readouterr().out
    assert json.loads((tmp_path / "c" / "report.json").read_text()) == {"model": "none", "n": 2}
    assert (tmp_path / "c" / "per_image.csv").read_text().split() == ["nme", "1", "2"]
    assert not (tmp_path / "c" / "details.json").exists()
