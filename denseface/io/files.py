"""Atomic file output that never follows planted links, and the output-folder check.

Every file denseface writes goes through :func:`atomic_output`: the content goes to a fresh
temporary file created beside the target with ``O_CREAT | O_EXCL`` (``tempfile.mkstemp``, so a
planted file or symlink of that name is never opened), which is then renamed over the target
(``os.replace``). A symlink at the target name is replaced by the file, never followed, and a
reader sees either the old complete file or the new one. New files get the normal mode
(0666 minus the umask), not mkstemp's 0600.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import OutputError

#: Longest file name (bytes) of the output files, temp prefix and suffix included, below the
#: 255-byte limit of common file systems.
MAX_NAME_BYTES = 255
_TMP_EXTRA = len(".") + 8 + len(".tmp")   # mkstemp: "." + name + 8 random characters + ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fail(path: Path, e: OSError) -> OutputError:
    return OutputError(f"cannot write ({e.strerror or e})", path=path)


@contextmanager
def atomic_output(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; write the file there (any writer: numpy,
    torch, onnx, open(), a video writer). On normal exit it is renamed over ``path``; on an
    exception it is removed and ``path`` is left as it was. OSErrors become one-line
    OutputErrors. ``keep_suffix``: the temporary name ends like ``path`` (for writers that
    choose the format by extension)."""
    path = Path(path)
    suffix = ".tmp" + (path.suffix if keep_suffix else "")
    room = MAX_NAME_BYTES - _TMP_EXTRA - len(suffix.encode()) + len(".tmp")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + truncate_utf8(path.name, room),
                                   suffix=suffix)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as e:
        raise _fail(path, e) from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as e:
        _discard(tmp)
        raise _fail(path, e) from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return path


def ensure_out_dir(out_dir: str | Path) -> Path:
    """Create the output folder and check it is writable (with an exclusive temporary file, so a
    planted name cannot redirect the probe); OutputError otherwise."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the output folder ({e.strerror or e})", path=out) from None
    if not out.is_dir():
        raise OutputError("output path exists and is not a folder", path=out)
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".denseface_write_test_")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"cannot write in the output folder ({e.strerror or e})", path=out) from None
    return out


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file (read in 1 MiB chunks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``max_bytes``."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", errors="ignore")
