"""Trainer: learns, resumes exactly after a kill, runs DDP on 2 CPU processes, bad input."""
from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import need_shared, need_torch
from denseface.errors import ConfigError

need_torch(module=True)    # the trainer's config imports the losses, which are torch modules
from denseface.train import config_from_dict, load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.yaml"


def _rows(run: Path) -> list[dict]:
    with open(run / "log.csv") as f:
        return list(csv.DictReader(f))


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "denseface.cli.main", "train", *args]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    need_shared("data", "aflw_pl", "train")
    from denseface.train import train
    out = tmp_path_factory.mktemp("tiny")
    cfg = load_config(TINY, {"out_dir": str(out), "epochs": 4, "threads": 2})
    train(cfg)
    return out


def test_small_run_learns(tiny_run):
    """200 samples, 4 epochs: train loss falls >= 2x and val NME68 by >= 15%."""
    rows = _rows(tiny_run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    loss = [float(r["train_loss"]) for r in rows]
    nme = [float(r["val_nme68"]) for r in rows]
    assert loss[-1] < loss[0] / 2, loss
    assert nme[-1] < 0.85 * nme[0], nme
    assert (tiny_run / "best.pt").exists() and (tiny_run / "last.pt").exists()


def test_best_checkpoint_carries_its_preprocessing(tiny_run):
    import torch
    from denseface.models.regressor import load_model
    m = load_model(tiny_run / "best.pt")
    assert m.config.input_size == 64 and m.config.landmark_set == "dense520"
    assert m.config.channel_order == "RGB" and m.config.backbone == "mobilenetv2_050"
    ck = torch.load(tiny_run / "best.pt", weights_only=True)  # no pickled code
    assert "config" in ck


def test_last_and_best_are_written_by_one_writer(tiny_run):
    """last.pt is best.pt's layout (config, state_dict, meta; save_checkpoint) plus the resume
    state, so load_model reads either (issue 33: last.pt was written by hand, without meta)."""
    from denseface.models.checkpoints import read_torch_file
    from denseface.models.regressor import load_model
    from denseface.train.trainer import RESUME_KEYS

    last, best = read_torch_file(tiny_run / "last.pt"), read_torch_file(tiny_run / "best.pt")
    assert set(best) == {"config", "state_dict", "meta"}
    assert set(last) == set(best) | set(RESUME_KEYS) and last["config"] == best["config"]
    assert load_model(tiny_run / "last.pt").config == load_model(tiny_run / "best.pt").config


def _stderr_event(proc: subprocess.Popen, text: str) -> threading.Event:
    """An event set once ``text`` appears on the process's stderr (read to its end by a thread,
    so the process never blocks on a full pipe)."""
    seen, event = b"", threading.Event()

    def read() -> None:
        nonlocal seen
        while chunk := os.read(proc.stderr.fileno(), 65536):
            seen = seen[-4096:] + chunk
            if text.encode() in seen:
                event.set()

    threading.Thread(target=read, daemon=True).start()
    return event


def test_kill_mid_epoch_then_resume_loses_no_epoch(tmp_path):
    need_shared("data", "aflw_pl", "train")
    out = tmp_path / "run"
    args = ["--config", str(TINY), "--set", f"out_dir={out}", "epochs=4", "data.limit_train=600",
            "threads=1"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(_cmd(*args), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    in_epoch3 = _stderr_event(proc, "epoch 3/4")   # epoch 3's progress bar: epochs 1-2 are saved
    try:
        assert in_epoch3.wait(timeout=240), "the run never started epoch 3"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = len(_rows(out))
    assert 2 <= done < 4, "the run should have been killed during epoch 3"
    r = subprocess.run(_cmd(*args, "--resume"), cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [int(x["epoch"]) for x in _rows(out)] == [1, 2, 3, 4]

    # exact resume: the same weights as an uninterrupted run of the same config
    ref = tmp_path / "ref"
    ref_args = [a.replace(str(out), str(ref)) for a in args]
    r = subprocess.run(_cmd(*ref_args), cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    import torch
    a = torch.load(out / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(ref / "last.pt", weights_only=True)["state_dict"]
    diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert diff < 1e-4, diff


def test_ddp_two_cpu_processes(tmp_path):
    need_shared("data", "aflw_pl", "train")
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29533", "-m", "denseface", "train", "--config", str(TINY),
           "--set", f"out_dir={out}", "epochs=2", "threads=1"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = _rows(out)
    assert [int(x["epoch"]) for x in rows] == [1, 2]
    assert all(int(x["world_size"]) == 2 for x in rows)
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])


def test_corrupt_image_is_skipped_and_reported(tmp_path, bfm, landmark_set, capsys):
    src = need_shared("data", "aflw_pl", "val")
    from denseface.data.dataset import load_split
    from denseface.mesh.readers import read_fit_table
    t = read_fit_table(src).subset(np.arange(12))
    (tmp_path / "images").mkdir()
    for n in t.names:
        shutil.copy(src / "images" / n, tmp_path / "images" / n)
    (tmp_path / "images" / t.names[3]).write_bytes(b"\xff\xd8 not a jpeg")
    (tmp_path / "images" / t.names[5]).unlink()
    t.save(tmp_path / "labels.npz")
    split = load_split(tmp_path, bfm, landmark_set)
    assert len(split.names) == 10 and len(split.skipped) == 2
    err = capsys.readouterr().err
    assert t.names[3] in err and t.names[5] in err


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="optim.lrr"):
        config_from_dict({"optim": {"lrr": 1}})
    with pytest.raises(ConfigError, match="epochs"):
        config_from_dict({"epochs": "many"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_cli_reports_user_errors_in_one_line(tmp_path):
    need_shared("data", "aflw_pl", "train")  # the trainer loads the BFM and data before the model
    bad = tmp_path / "c.yaml"
    bad.write_text("backbone: not_a_backbone\nepochs: 1\n")
    r = subprocess.run(_cmd("--config", str(bad), "--set", f"out_dir={tmp_path / 'o'}",
                            "data.limit_train=40", "data.limit_val=20"),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 or r.returncode == 3
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert lines and "not_a_backbone" in lines[-1] and "Traceback" not in r.stderr
    r = subprocess.run(_cmd("--config", str(TINY), "--set", f"data.train_dir={tmp_path / 'nope'}"),
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 3 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_pretrained_backbone_loads_from_a_local_timm_checkpoint(tmp_path):
    import timm
    import torch

    from denseface.errors import DenseFaceError
    from denseface.models import create_model
    ref = timm.create_model("mobilenetv2_050", num_classes=1000)
    torch.save(ref.state_dict(), tmp_path / "imagenet.pth")
    m = create_model("mobilenetv2_050", 520, 64, pretrained=tmp_path / "imagenet.pth")
    w_ref = ref.state_dict()["conv_stem.weight"]
    assert torch.equal(m.net.state_dict()["conv_stem.weight"], w_ref)
    assert m.net.get_classifier().out_features == 520 * 3  # the head is ours, not ImageNet's
    with pytest.raises(DenseFaceError, match="does not exist"):
        create_model("mobilenetv2_050", 520, 64, pretrained=tmp_path / "missing.pth")


def test_init_from_checkpoint_starts_where_it_left(tiny_run, tmp_path):
    """Fine-tuning from best.pt starts at its val NME, not from scratch."""
    from denseface.train import train
    best = [float(r["val_nme68"]) for r in _rows(tiny_run) if r["is_best"] == "True"][-1]
    cfg = load_config(TINY, {"out_dir": str(tmp_path / "ft"), "epochs": 1, "threads": 2,
                             "init_from": str(tiny_run / "best.pt"), "optim.lr": 1e-5,
                             "optim.warmup_epochs": 0})
    train(cfg)
    first = float(_rows(tmp_path / "ft")[0]["val_nme68"])
    assert abs(first - best) < 0.15 * best, (first, best)
    with pytest.raises(ConfigError, match="init_from"):
        train(load_config(TINY, {"out_dir": str(tmp_path / "x"), "backbone": "resnet18",
                                 "init_from": str(tiny_run / "best.pt")}))
