"""Training configuration: one dataclass, read from YAML. Unknown keys are errors."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..data.augment import AugmentConfig
from ..errors import ConfigError
from ..losses import LossConfig


@dataclass
class DataConfig:
    """Split folders in the aflw_pl layout; ``train_labels`` overrides train/labels.npz
    (e.g. refined labels). Paths default to the shared aflw_pl set."""

    train_dir: str = ""
    val_dir: str = ""
    train_labels: str = ""
    val_labels: str = ""
    bfm: str = ""
    landmark_set: str = "dense520"
    limit_train: int = 0      # 0 = all
    limit_val: int = 0
    flip_double: bool = True  # every sample twice per epoch, once flipped
    workers: int = 1
    on_device: bool = False   # keep decoded crops on the device and augment there (GPU)


@dataclass
class OptimConfig:
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"  # cosine | poly
    poly_power: float = 0.9
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01


@dataclass
class TrainConfig:
    out_dir: str = "runs/default"
    backbone: str = "mobilenetv2_100"
    input_size: int = 120
    pretrained: str = ""      # backbone weights: "imagenet" (installed package), "teacher" (3DDFA-V2
                              # mb05 from teacher_dir), or a timm-layout state dict path
    teacher_dir: str = ""     # folder of mb05_120x120.pth; "" = shared models/3ddfa_v2_mb05
    head_init: str = "random"  # random | ridge (closed form on the train split's frozen features)
    ridge_lambda: float = 0.01
    freeze_bn: bool = False   # keep BatchNorm statistics of the initialisation (BN layers in eval mode)
    init_from: str = ""       # a denseface checkpoint (best.pt) to start from, head included (fine-tuning)
    epochs: int = 30
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"      # auto | cpu | cuda
    amp: str = "auto"         # auto | off | bf16 | fp16 ; auto = bf16 on CUDA, off on CPU
    select_metric: str = "nme21"   # val metric choosing best.pt: nme21 (human points) | nme68 (labels)
    threads: int = 0          # torch CPU threads, 0 = default
    max_steps_per_epoch: int = 0   # 0 = full epoch (for smoke tests)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, val in values.items():
        name = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"unknown config key '{name}' (known: {', '.join(fields)})")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), val, name + ".")
            continue
        try:
            if isinstance(default, bool):
                if not isinstance(val, bool):
                    raise TypeError
            elif isinstance(default, tuple):
                val = tuple(float(v) for v in val)
                if len(val) != len(default):
                    raise TypeError
            elif isinstance(default, (int, float)) and not isinstance(default, bool):
                val = type(default)(val)
            elif isinstance(default, str):
                val = "" if val is None else str(val)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{name}': invalid value {val!r} "
                              f"(expected {type(default).__name__})") from None
        kwargs[key] = val
    return cls(**kwargs)


def config_from_dict(d: dict) -> TrainConfig:
    cfg = _build(TrainConfig, d or {}, "")
    if cfg.optim.optimizer not in ("adamw", "sgd"):
        raise ConfigError(f"config key 'optim.optimizer': unknown '{cfg.optim.optimizer}' (adamw|sgd)")
    if cfg.optim.schedule not in ("cosine", "poly"):
        raise ConfigError(f"config key 'optim.schedule': unknown '{cfg.optim.schedule}' (cosine|poly)")
    if cfg.select_metric not in ("nme21", "nme68"):
        raise ConfigError(f"config key 'select_metric': unknown '{cfg.select_metric}' (nme21|nme68)")
    if cfg.head_init not in ("random", "ridge"):
        raise ConfigError(f"config key 'head_init': unknown '{cfg.head_init}' (random|ridge)")
    if cfg.amp not in ("auto", "off", "bf16", "fp16"):
        raise ConfigError(f"config key 'amp': unknown '{cfg.amp}' (auto|off|bf16|fp16)")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.input_size < 32:
        raise ConfigError("config keys 'epochs', 'batch_size' must be >= 1 and 'input_size' >= 32")
    return cfg


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError("config file does not exist", path=path)
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"invalid YAML{where}", path=path) from None
    if not isinstance(d, dict):
        raise ConfigError("config must be a YAML mapping", path=path)
    for k, v in (overrides or {}).items():
        node = d
        *parents, last = k.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    try:
        return config_from_dict(d)
    except ConfigError as e:
        raise ConfigError(e.problem, path=path) from None
