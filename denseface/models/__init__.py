"""Models: the timm-backbone regressor and the target codec (both imported on first use, so
``denseface.models.registry`` stays light: ``denseface models`` imports no numpy)."""
_CODEC = ("ModelConfig", "crop_to_image", "decode_points", "encode_points")
_TORCH = ("create_model", "load_model", "save_checkpoint", "DenseRegressor")
__all__ = [*_CODEC, *_TORCH]


def __getattr__(name):  # torch is imported only when a torch model is asked for
    if name in _CODEC:
        from . import codec
        return getattr(codec, name)
    if name in _TORCH:
        from . import regressor
        return getattr(regressor, name)
    raise AttributeError(name)
