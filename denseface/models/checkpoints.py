"""Reading torch checkpoint files safely: tensors and plain containers only, one-line errors.

``torch.load(weights_only=True)`` refuses pickled code, but its message runs over several lines
and advises ``weights_only=False``, which would run the file's code. :func:`read_torch_file`
reports every problem in one line instead, without that advice.

The checkpoint layout (one for all denseface files): ``{"config": ModelConfig JSON,
"state_dict": {name: tensor}, "meta": {...}}``; the trainer's ``last.pt`` adds the optimiser,
scheduler, scaler and RNG states and the run history beside them.
"""
from __future__ import annotations

import pickle
from pathlib import Path

from ..errors import DenseFaceError


def read_torch_file(path: str | Path, what: str = "checkpoint") -> dict:
    """The dict stored in a torch file (weights_only); DenseFaceError naming the file otherwise."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DenseFaceError(f"{what} file does not exist", path=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise DenseFaceError(f"refused to load this {what}: it holds Python objects other than "
                             "tensors and plain containers (loading it could run code)", path=path) from None
    except Exception as e:
        raise DenseFaceError(f"not a readable {what} ({type(e).__name__})", path=path) from None
    if not isinstance(obj, dict):
        raise DenseFaceError(f"not a {what}: holds a {type(obj).__name__}, not a dict", path=path)
    return obj
