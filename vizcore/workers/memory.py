"""Give freed memory back to the system once a server is quiet again.

After a class left, the server's RSS stayed near its peak (bench/classroom.py, 30 sessions: 501 MB
before, 1,229 MB after). Part was still referenced (closed sessions and their downloads, which the
`release` hook given to `start_trimmer` drops); part glibc's malloc kept: each thread can get its
own arena (up to 8 per core) and Streamlit starts a thread for every script run. Here: fewer
arenas, and `malloc_trim` when nothing trains (neither exists outside glibc; there both are
no-ops). What stays after that (1.12-1.17x) is pymalloc's arenas, which Python frees only when
empty: docs/performance.md.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import threading
from collections.abc import Callable

M_ARENA_MAX = -8  # mallopt's parameter number (glibc's malloc.h)
ARENAS = 2  # one per core on the machines this runs on: threads share them instead of keeping 16
PERIOD_S = 5.0


@functools.cache
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
