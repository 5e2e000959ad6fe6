"""Give freed memory back to the system once a server is quiet again.

After a class left, glibc's malloc kept almost everything its runs had freed: the server's RSS
stayed at its peak (bench/classroom.py, 30 sessions: 501 MB before, 1,229 MB after, 97% of the
growth kept, with every job and session gone). Each thread can get its own malloc arena (up to
8 per core), and Streamlit starts a thread for every script run, so freed memory is scattered
over many arenas that each keep theirs. Here: fewer arenas, and `malloc_trim` when nothing
trains. Neither exists outside glibc; there both are no-ops.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
from collections.abc import Callable

M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)
ARENAS = 2  # one per core on the machines this runs on: threads share them instead of keeping 16
PERIOD_S = 5.0


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc (musl, macOS, Windows)
        return None


def limit_arenas(n: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at `n` for the rest of the process; return True if glibc took it."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, n))


def trim() -> bool:
    """Return freed heap memory to the system; return True if glibc released any."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


def rss_bytes() -> int:
    """Return this process's resident set size in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def start_trimmer(
    quiet: Callable[[], bool],
    release: Callable[[], bool] | None = None,
    period_s: float = PERIOD_S,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Start a daemon thread that, every `period_s` s while `quiet()`, frees what it can and trims; return it.

    `release()` drops what the server no longer needs (closed sessions) and says whether it dropped
    anything: then a full garbage collection runs first, since sessions hold reference cycles. It
    runs for the life of the process, or until `stop` is set.
    """
    stop = stop or threading.Event()

    def loop() -> None:
        while not stop.wait(period_s):
            if not quiet():
                continue
            try:
                if release is not None and release():
                    gc.collect()
            except Exception:  # freeing is best effort: the trimming goes on
                pass
            trim()

    thread = threading.Thread(target=loop, name="normlab-trim-memory", daemon=True)
    thread.start()
    return thread
