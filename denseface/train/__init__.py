"""Training: config, loop (DDP via torchrun), validation metrics."""
from .config import DataConfig, OptimConfig, TrainConfig, config_from_dict, load_config

__all__ = ["DataConfig", "OptimConfig", "TrainConfig", "config_from_dict", "load_config", "train"]


def train(cfg: TrainConfig, resume: bool = False):
    from .trainer import train as _train
    return _train(cfg, resume)
