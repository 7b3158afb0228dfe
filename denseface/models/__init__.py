"""Models: the timm-backbone regressor and the target codec."""
from .codec import ModelConfig, crop_to_image, decode_points, encode_points

__all__ = ["ModelConfig", "crop_to_image", "decode_points", "encode_points",
           "create_model", "load_model", "save_checkpoint", "DenseRegressor"]


def __getattr__(name):  # torch is imported only when a torch model is asked for
    if name in ("create_model", "load_model", "save_checkpoint", "DenseRegressor"):
        from . import regressor
        return getattr(regressor, name)
    raise AttributeError(name)
