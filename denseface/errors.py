"""One exception type for every user-facing problem.

Anything a user can cause (a wrong path, a corrupt file, a broken config) raises
:class:`DenseFaceError`. The CLI prints ``str(err)`` on one line and exits with
``err.exit_code``; batch tools catch it per item, report it and go on.
"""
from __future__ import annotations

import numbers
import unicodedata
from pathlib import Path

# Documented exit codes of the ``denseface`` command.
EXIT_OK = 0
EXIT_USAGE = 2          # bad arguments or config
EXIT_INPUT = 3          # a missing, unreadable or corrupt input file
EXIT_OUTPUT = 4         # the output location cannot be written
EXIT_PARTIAL = 5        # a batch finished but some items were skipped


def printable(text: str) -> str:
    """``text`` with control characters (newlines, ANSI escapes, ...) and lone surrogates of
    undecodable file names written as Python escapes, so a message stays on one line and cannot
    drive the terminal."""
    out = []
    for ch in str(text):
        cat = unicodedata.category(ch)
        if cat[0] == "C" and ch != " ":      # Cc control, Cf format, Cs surrogate, Co, Cn
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                       if cat != "Cs" else f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def first_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, at most ``limit`` characters ("" when empty):
    a library's multi-line message as part of one of ours."""
    return (str(e).strip().splitlines() or [""])[0][:limit]


class DenseFaceError(Exception):
    """A problem with user input, reported as ``"<path>: <problem>"`` on one line (control
    characters in either part are escaped, see :func:`printable`)."""

    exit_code = EXIT_INPUT

    def __init__(self, problem: str, path: str | Path | None = None, exit_code: int | None = None):
        self.problem = printable(problem)
        self.path = None if path is None else printable(str(path))
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


class ConfigError(DenseFaceError):
    """A broken config file, an unknown key or an invalid value."""

    exit_code = EXIT_USAGE


class OutputError(DenseFaceError):
    """The output folder or file cannot be written."""

    exit_code = EXIT_OUTPUT


def check_whole_number(name: str, value, minimum: int, none: str | None = None) -> int | None:
    """``value`` as an int when it is a whole number >= ``minimum`` (Python or numpy integers;
    True/False refused), else a ConfigError naming ``name``. ``none``: None is allowed too and
    means this (said in the message), e.g. ``"library default"``."""
    if value is None and none is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        allowed = f" or None ({none})" if none is not None else ""
        raise ConfigError(f"{name} must be a whole number >= {minimum}{allowed}, got {value!r}")
    return int(value)
