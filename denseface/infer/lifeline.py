"""Worker processes that end with the process that started them, so a run killed outright
(``kill -9``: an OOM killer, a job scheduler, ``timeout -s KILL``) leaves no process behind.

Without this, a killed batch's pool workers are re-parented and wait forever on a pipe whose
other end is gone (and ``multiprocessing``'s resource tracker with them, which ends once no
worker holds its pipe)."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

#: linux/prctl.h: ask the kernel for a signal when the parent (the thread that started this
#: process) ends
PR_SET_PDEATHSIG = 1


def exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """End this process when the process ``parent_pid`` (the one that started it) ends.

    Two mechanisms: on Linux the kernel kills this process at once when its parent ends
    (prctl PR_SET_PDEATHSIG with SIGKILL); on every platform a daemon thread checks every
    ``poll_s`` seconds that this process still has that parent and exits (``os._exit``) once it
    was re-parented. A parent that is already gone ends this process here."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):   # no prctl: the watchdog alone
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, poll_s), daemon=True,
                     name="denseface-exit-with-parent").start()


def _watch_parent(parent_pid: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent_pid:
            os._exit(1)
