"""Freed memory goes back to the system: malloc_trim really releases it, and the trimmer only trims when quiet."""

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

from tests.helpers import wait_for
from vizcore.workers import memory

MB = 1 << 20


def test_trim_gives_back_what_free_kept():
    # In a fresh interpreter: 200 MB in heap-sized blocks, all freed but the last (so free() cannot
    # shrink the heap's top): the memory stays resident until malloc_trim hands it back.
    code = textwrap.dedent(
        """
        import ctypes, os
        from vizcore.workers import memory
        def rss_bytes():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        blocks = [libc.malloc(100 * 1024) for _ in range(2000)]
        for b in blocks:
            ctypes.memset(b, 1, 100 * 1024)
        before = rss_bytes()
        for b in blocks[:-1]:
            libc.free(b)
        freed = rss_bytes()
        released = memory.trim()
        print(before, freed, rss_bytes(), released)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, freed, trimmed, released = out.split()
    before, freed, trimmed = int(before), int(freed), int(trimmed)
    assert freed > before - 20 * MB  # free() alone kept it
    assert released == "True" and trimmed < freed - 150 * MB  # malloc_trim gave it back


def test_arenas_can_be_capped():
    assert memory.limit_arenas() is True  # glibc, as on the machines the app runs on


def logged(log: list, value: Callable[[], object], returns: object) -> Callable[[], object]:
    """Return a stand-in that logs (calling thread, value()) and returns `returns`."""
    return lambda: log.append((threading.current_thread(), value())) or returns


def by(log: list, thread: threading.Thread) -> list:
    """Return the values `thread` logged: an app test's server may have its own trimmer running in this process."""
    return [v for t, v in log if t is thread]


def test_the_trimmer_trims_only_while_quiet(monkeypatch):
    trims, asked, quiet, stop = [], [], threading.Event(), threading.Event()

    def is_quiet() -> bool:
        asked.append(quiet.is_set())
        return quiet.is_set()

    monkeypatch.setattr(memory, "trim", logged(trims, lambda: len(asked), True))
    thread = memory.start_trimmer(is_quiet, period_s=0.01, stop=stop)
    try:
        wait_for(lambda: len(asked) >= 5)  # while something trains: asked, never trimmed
        assert by(trims, thread) == []
        quiet.set()
        wait_for(lambda: len(by(trims, thread)) >= 2)  # quiet: once a period, with what a closed session freed since
        assert all(asked[n - 1] for n in by(trims, thread))  # each trim right after a quiet answer
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_what_release_dropped_is_collected_before_the_trim(monkeypatch):
    calls, stop = [], threading.Event()
    monkeypatch.setattr(memory, "trim", logged(calls, lambda: "trim", True))
    monkeypatch.setattr(memory.gc, "collect", logged(calls, lambda: "collect", 0))
    released = iter([True, False])
    thread = memory.start_trimmer(lambda: True, lambda: next(released, False), period_s=0.01, stop=stop)
    try:
        wait_for(lambda: len(by(calls, thread)) >= 4)
    finally:
        stop.set()
        thread.join(10)
    assert by(calls, thread)[:4] == ["collect", "trim", "trim", "trim"]  # a full collection only when sessions went


def test_a_failing_release_does_not_stop_the_trimming(monkeypatch):
    trims, stop = [], threading.Event()
    monkeypatch.setattr(memory, "trim", logged(trims, lambda: 1, True))

    def release() -> bool:
        raise AttributeError("a mock runtime has no session manager")

    thread = memory.start_trimmer(lambda: True, release, period_s=0.01, stop=stop)
    try:
        wait_for(lambda: len(by(trims, thread)) >= 3)
    finally:
        stop.set()
        thread.join(10)
