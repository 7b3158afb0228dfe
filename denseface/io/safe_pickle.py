"""Read the few small pickles of the 3DMM files without running code from them.

``param_whitening.pkl`` (BFM folder) and ``param_mean_std_62d_120x120.pkl`` (3DDFA-V2) hold
dicts of numpy arrays. :func:`load_arrays_pickle` unpickles with a whitelist: numpy's array
reconstruction and plain containers only. Anything else (a crafted ``os.system`` reduce, any
class) is refused with a one-line DenseFaceError and nothing is executed.
"""
from __future__ import annotations

import pickle
from pathlib import Path

from ..errors import DenseFaceError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "frozenset"), ("collections", "OrderedDict"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def load_arrays_pickle(path: str | Path) -> object:
    """Unpickle a file that may only hold numpy arrays, numbers, strings and containers."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _ArraysOnly(f, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise DenseFaceError(f"unsafe or corrupt pickle ({e}); only numpy arrays and plain "
                             "containers are allowed", path=path) from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DenseFaceError(f"cannot read pickle ({type(e).__name__})", path=path) from None
