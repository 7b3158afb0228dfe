"""The training loop: plain PyTorch, DDP through torchrun (gloo on CPU, NCCL on GPU).

Run ``denseface train --config FILE`` (one process) or
``torchrun --nproc_per_node K -m denseface train --config FILE`` (K processes, any number of
nodes). Every epoch: validation on the val split (rank 0), ``last.pt`` written atomically
(model, optimiser, schedule, RNG, history), ``best.pt`` when the chosen val metric improves,
and a row in ``log.csv``. ``--resume`` continues after the last completed epoch.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from ..data.dataset import LandmarkDataset, WeightedDataset, load_split
from ..errors import ConfigError, DenseFaceError
from ..io.files import atomic_output
from ..models.checkpoints import read_torch_file
from ..landmarks import load_landmark_set
from ..losses import WeightedPointsLoss, build_loss
from ..mesh.bfm import load_bfm
from ..models.regressor import DenseRegressor, create_model
from ..paths import shared_path
from .config import TrainConfig
from .validation import evaluate, evaluate_extra, memory_format


def _is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    return dist.get_rank() if _is_dist() else 0


def _setup_distributed(device: torch.device) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not _is_dist():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key 'device': cuda requested but no GPU is available")
    return torch.device(cfg.device)


def _amp_dtype(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "off" or (cfg.amp == "auto" and device.type == "cpu"):
        return None
    if cfg.amp == "fp16":
        return torch.float16
    return torch.bfloat16


def lr_factor(step: int, total: int, warmup: int, schedule: str, power: float, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine or poly decay to ``min_ratio``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    decay = 0.5 * (1 + math.cos(math.pi * t)) if schedule == "cosine" else (1 - t) ** power
    return min_ratio + (1 - min_ratio) * decay


def _data_paths(cfg: TrainConfig) -> tuple[Path, Path]:
    tr = Path(cfg.data.train_dir) if cfg.data.train_dir else shared_path("data", "aflw_pl", "train")
    va = Path(cfg.data.val_dir) if cfg.data.val_dir else shared_path("data", "aflw_pl", "val")
    for p, key in ((tr, "data.train_dir"), (va, "data.val_dir")):
        if not p.is_dir():
            raise DenseFaceError(f"data folder of '{key}' does not exist", path=p)
    return tr, va


class EpochConcat(torch.utils.data.ConcatDataset):
    """A ConcatDataset that passes ``set_epoch`` on to its parts."""

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            d.set_epoch(epoch)


def add_head_300w(model: DenseRegressor) -> None:
    """Give ``model`` a second head (config.head_300w) in place, if it has none."""
    import dataclasses
    if model.head_300w is None:
        model.config = dataclasses.replace(model.config, head_300w=True)
        model.head_300w = torch.nn.Linear(model.config.num_points * 3, 68 * 2)


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.device = _device(cfg)
        _setup_distributed(self.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rank, self.world = _rank(), (dist.get_world_size() if _is_dist() else 1)
        self.out = Path(cfg.out_dir)
        torch.manual_seed(cfg.seed)
        self.lset = load_landmark_set(cfg.data.landmark_set)
        # the model first: a bad initialisation fails before minutes of data loading
        self.model: DenseRegressor = create_model(cfg.backbone, self.lset.n_points, cfg.input_size,
                                                  self.lset.name, cfg.pretrained or None,
                                                  teacher_dir=cfg.teacher_dir or None).to(self.device)
        if self.rank == 0 and self.model.pretrained_note:
            print(f"denseface: backbone from {self.model.pretrained_note}", file=sys.stderr)
        if cfg.init_from:
            self._start_from(cfg.init_from)
        elif cfg.extra.sources:
            add_head_300w(self.model)
        self.memory_format = memory_format(cfg.channels_last)
        self.model.to(memory_format=self.memory_format)
        bfm = load_bfm(cfg.data.bfm or None)
        tr, va = _data_paths(cfg)
        self.train_split = load_split(tr, bfm, self.lset, cfg.data.train_labels or None,
                                      cfg.data.limit_train or None)
        self.val_split = load_split(va, bfm, self.lset, cfg.data.val_labels or None,
                                    cfg.data.limit_val or None)
        self.extra_val = {}
        if cfg.extra.sources:
            if self.world > 1:
                raise ConfigError("config key 'extra.sources' trains on one process only")
            self.loss_fn = WeightedPointsLoss(cfg.loss, self.lset.idx68, cfg.extra.head_300w_weight).to(self.device)
        else:
            self.loss_fn = build_loss(cfg.loss, self.lset.idx68).to(self.device)
        self._make_loader()
        o = cfg.optim
        params = self._param_groups(o.lr)
        if o.optimizer == "adamw":
            self.opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        else:
            self.opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                                       nesterov=True)
        self.steps_per_epoch = len(self.loader)
        if cfg.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_steps_per_epoch)
        total = cfg.epochs * self.steps_per_epoch
        warm = int(o.warmup_epochs * self.steps_per_epoch)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, total, warm, o.schedule, o.poly_power, o.min_lr_ratio))
        self.ddp_model = self.model
        if self.world > 1:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.amp = _amp_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler(enabled=self.amp == torch.float16)
        self.start_epoch, self.best, self.history = 0, math.inf, []

    def _start_from(self, path: str) -> None:
        """Load the weights of the model at ``path`` (config key ``init_from``): its factored head
        multiplied out, its 300-W map kept when the second head trains too, else left out."""
        from ..models.regressor import expand_head, load_model

        cfg = self.cfg
        src = expand_head(load_model(path))     # a shipped model's factored head, multiplied out
        if (src.config.backbone, src.config.num_points) != (cfg.backbone, self.lset.n_points):
            raise ConfigError(f"config key 'init_from': {path} is a {src.config.backbone} "
                              f"with {src.config.num_points} points, the config asks for "
                              f"{cfg.backbone} with {self.lset.n_points}")
        state = src.state_dict()
        if cfg.extra.sources:     # the second head trains too: start from the source's map
            add_head_300w(self.model)
            self.model.load_state_dict(state, strict=src.head_300w is not None)
            return
        if src.head_300w is not None and self.rank == 0:   # a map of the old points: refit it
            print(f"denseface: {path}'s 300-W map is left out (refit it for the new "
                  "points: denseface export --head-300w)", file=sys.stderr)
        self.model.load_state_dict({k: v for k, v in state.items() if not k.startswith("head_300w.")})

    def _param_groups(self, lr: float) -> list[dict]:
        """The trained parameters; the second head (a linear map of 1,560 correlated inputs, where
        Adam's per-weight steps add up) at ``extra.head_300w_lr_scale`` times the rate."""
        head = self.model.head_300w
        head_ids = {id(p) for p in head.parameters()} if head is not None else set()
        rest = [p for p in self.model.parameters() if p.requires_grad and id(p) not in head_ids]
        groups = [{"params": rest, "lr": lr}]
        if head_ids:
            groups.append({"params": list(head.parameters()), "lr": lr * self.cfg.extra.head_300w_lr_scale})
        return groups

    def _make_loader(self) -> None:
        cfg = self.cfg
        if cfg.data.on_device:
            from ..data.device_augment import DeviceBatcher
            if self.world > 1:
                raise ConfigError("config key 'data.on_device' supports one process per device only")
            self.loader = DeviceBatcher(self.train_split, self.lset.flip, cfg.input_size, cfg.augment,
                                        cfg.batch_size, self.device, cfg.seed, cfg.data.flip_double)
            self.sampler = None
            return
        self.dataset = LandmarkDataset(self.train_split, self.lset.flip, cfg.input_size, cfg.augment,
                                       cfg.data.flip_double, cfg.seed)
        if cfg.extra.sources:
            self.dataset = self._with_extra(self.dataset)
        self.sampler = torch.utils.data.DistributedSampler(
            self.dataset, shuffle=True, seed=cfg.seed, drop_last=True) if self.world > 1 else None
        # the shuffle is re-seeded every epoch (seed + epoch), so a resumed run sees exactly
        # the batches an uninterrupted one would
        self.shuffle_gen = torch.Generator()
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=cfg.batch_size, shuffle=self.sampler is None, sampler=self.sampler,
            num_workers=cfg.data.workers, drop_last=True, generator=self.shuffle_gen,
            persistent_workers=cfg.data.workers > 0, pin_memory=self.device.type == "cuda")

    def _with_extra(self, base: LandmarkDataset):
        """The 3D-labelled set with the extra sources beside it (their held-out parts kept for
        validation in ``self.extra_val``)."""
        from .extra_targets import extra_training_sets

        parts, self.extra_val = extra_training_sets(self.cfg, self.lset, self.out, self.rank == 0)
        return EpochConcat([WeightedDataset(base), *parts])

    # -- checkpoints -------------------------------------------------------------------
    def _save(self, epoch: int) -> None:
        from ..models.regressor import save_checkpoint

        self.out.mkdir(parents=True, exist_ok=True)
        resume_state = {
            "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": epoch, "best": self.best,
            "history": json.dumps(self.history), "train_config": json.dumps(self.cfg.to_dict()),
            "torch_rng": torch.get_rng_state(),
        }
        save_checkpoint(self.model, self.out / "last.pt", resume_state=resume_state)
        if self.history and self.history[-1].get("is_best"):
            save_checkpoint(self.model, self.out / "best.pt", epoch=epoch, val=self.history[-1],
                            train_config=self.cfg.to_dict())
        self._write_log()

    def _write_log(self) -> None:
        if not self.history:
            return
        keys = list(self.history[0].keys())
        with atomic_output(self.out / "log.csv") as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.history)

    def resume(self, checkpoint: dict | None = None) -> None:
        """Continue from ``out_dir/last.pt`` (``checkpoint``: that file already read by
        :func:`read_resume_checkpoint`)."""
        path = self.out / "last.pt"
        if checkpoint is None and not path.exists():
            if self.rank == 0:
                print(f"denseface: no checkpoint at {path}; starting fresh", file=sys.stderr)
            return
        st = checkpoint if checkpoint is not None else read_resume_checkpoint(path)
        try:
            self.model.load_state_dict(st["state_dict"])
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])
            self.scaler.load_state_dict(st["scaler"])
            torch.set_rng_state(st["torch_rng"])
            self.start_epoch, self.best = int(st["epoch"]) + 1, float(st["best"])
            self.history = json.loads(st["history"])
            saved_cfg = json.loads(st["train_config"])
        except Exception as e:
            raise DenseFaceError(f"cannot resume: the checkpoint does not fit this config "
                                 f"({type(e).__name__})", path=path) from None
        changed = changed_keys(saved_cfg, self.cfg.to_dict())
        if changed and self.rank == 0:
            print(f"denseface: resuming {path} with changed config keys (the run goes on with the new "
                  f"values, so it is no longer an exact continuation): {'; '.join(changed)}",
                  file=sys.stderr)

    def _initialise(self) -> None:
        """Before the first epoch: the closed-form head (``head_init: ridge``), every rank
        computing the same fit. When it was fitted or the run starts from ``init_from``, the
        starting model's val scores are history row 0, and it is best.pt until an epoch beats it."""
        from .head_init import fit_ridge_head

        cfg, t0, notes = self.cfg, time.time(), []
        if cfg.head_init == "ridge":
            st = fit_ridge_head(self.model, self.train_split, self.lset.flip, cfg.ridge_lambda)
            notes.append(f"ridge head on {st['samples']} crops ({st['features']} features, train "
                         f"RMSE {st['rmse_px']:.2f} px)")
        self.model.to(self.device)
        if self.rank != 0 or not (notes or cfg.init_from):
            return
        row = self._validation_row(0, float("nan"), 0.0, 0.0)
        row["is_best"], self.best = True, row.pop("_metric")
        self.history.append(row)
        from ..models.regressor import save_checkpoint
        self.out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(self.model, self.out / "best.pt", epoch=-1, val=self.history[-1],
                        train_config=cfg.to_dict())
        self._write_log()
        print("; ".join(notes or [f"from {cfg.init_from}"]) + f" ({time.time() - t0:.0f} s): "
              + _scores_text(row), file=sys.stderr, flush=True)

    def _validation_row(self, epoch: int, loss: float, lr: float, ips: float) -> dict:
        """A log row with the val scores; ``_metric``: the value of ``select_metric``."""
        cfg = self.cfg
        val = evaluate(self.model, self.val_split, self.lset.idx68, self.device,
                       channels_last=cfg.channels_last)
        row = {"epoch": epoch, "train_loss": round(loss, 5) if loss == loss else loss, "lr": lr,
               "img_per_s": round(ips, 1), "world_size": self.world,
               "val_nme68": round(val["nme68"], 4), "val_nme21": round(val.get("nme21", float("nan")), 4)}
        if self.extra_val:
            extra = evaluate_extra(self.model, self.extra_val.get("human68"), self.extra_val.get("closed_eyes"),
                                   self.lset.idx68, self.device)
            row.update({f"val_{k}": round(v, 4) for k, v in extra.items()})
            val.update(extra)
        row["_metric"] = val.get(cfg.select_metric, val["nme68"])   # nme68 without human points
        return row

    # -- loop --------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> tuple[float, float]:
        from tqdm import tqdm

        self.ddp_model.train()
        if self.cfg.freeze_bn:   # keep the initialisation's BatchNorm statistics
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        for obj in (self.sampler, getattr(self, "dataset", None), self.loader):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        if hasattr(self, "shuffle_gen"):
            self.shuffle_gen.manual_seed(self.cfg.seed * 100003 + epoch)
        total, n, t0 = 0.0, 0, time.time()
        bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
                   disable=self.rank != 0, leave=False, file=sys.stderr, mininterval=2.0)
        for step, batch in enumerate(self.loader):
            if step >= self.steps_per_epoch:
                break
            x = batch[0].to(self.device, non_blocking=True).float().contiguous(memory_format=self.memory_format)
            targets = [t.to(self.device, non_blocking=True) for t in batch[1:]]
            with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
                if self.extra_val:     # (points, weights, second-head points, weights)
                    pred, pred_300w = self.model.forward_both(x)
                else:
                    pred = self.ddp_model(x)
            if self.extra_val:
                loss = self.loss_fn(pred.float(), targets[0], targets[1], pred_300w.float(), *targets[2:])
            else:
                loss = self.loss_fn(pred.float(), targets[0])
            if not torch.isfinite(loss):
                raise DenseFaceError(f"loss became {loss.item()} at epoch {epoch + 1} step {step}; "
                                     "lower optim.lr")
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            total += loss.item()
            n += 1
            bar.update(1)
            bar.set_postfix(loss=f"{total / n:.3f}", lr=f"{self.sched.get_last_lr()[0]:.2e}")
        bar.close()
        return total / max(n, 1), n * self.cfg.batch_size * self.world / (time.time() - t0)

    def fit(self) -> Path:
        cfg = self.cfg
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
        if self.start_epoch == 0:
            self._initialise()
        for epoch in range(self.start_epoch, cfg.epochs):
            loss, ips = self.train_epoch(epoch)
            if self.rank == 0:
                row = self._validation_row(epoch + 1, loss, self.sched.get_last_lr()[0], ips)
                metric = row.pop("_metric")
                row["is_best"] = metric < self.best
                self.best = min(self.best, metric)
                self.history.append(row)
                self._save(epoch)
                print(f"epoch {epoch + 1}/{cfg.epochs}: loss {loss:.4f}, {ips:.0f} img/s, "
                      + _scores_text(row) + (" (best)" if row["is_best"] else ""),
                      file=sys.stderr, flush=True)
            if _is_dist():
                dist.barrier()
        return self.out


def _scores_text(row: dict) -> str:
    return f"val NME68 {row['val_nme68']:.3f}%, NME21 {row['val_nme21']:.3f}%"


#: What a trainer checkpoint (last.pt) must hold to be resumed.
RESUME_KEYS = ("state_dict", "optimizer", "scheduler", "scaler", "torch_rng", "epoch", "best",
               "history", "train_config")


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'key old -> new' for every config value that differs (nested keys dotted)."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, f"{prefix}{k}.")
        elif (list(a) if isinstance(a, (list, tuple)) else a) != (list(b) if isinstance(b, (list, tuple)) else b):
            out.append(f"{prefix}{k} {a!r} -> {b!r}")
    return out


def read_resume_checkpoint(path: Path) -> dict:
    """A trainer checkpoint (last.pt) with every key a resume needs; DenseFaceError otherwise."""
    st = read_torch_file(path, "training checkpoint")
    missing = [k for k in RESUME_KEYS if k not in st]
    if missing:
        raise DenseFaceError(f"cannot resume: the checkpoint lacks {', '.join(missing)} (is it "
                             "a trainer's last.pt? use init_from to start from a model)", path=path)
    return st


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train (or resume) and return the run folder (best.pt, last.pt, log.csv). A checkpoint that
    cannot be resumed is reported before the model and the data are loaded."""
    last = Path(cfg.out_dir) / "last.pt"
    checkpoint = read_resume_checkpoint(last) if resume and last.exists() else None
    trainer = Trainer(cfg)
    if resume:
        trainer.resume(checkpoint)
    try:
        return trainer.fit()
    finally:
        if _is_dist():
            dist.destroy_process_group()
