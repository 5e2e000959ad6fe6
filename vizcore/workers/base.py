"""What every background worker shares: the thread scaffolding, the server-wide slots, and `Cancelled`.

The server's background work (a Live-lab job, a batch-size sweep, the covariate-shift lab,
an experiment's task) runs in daemon threads built on `Worker`; each takes a slot from
`server_slots()` while it trains, so the server never trains more runs at once than it has
cores for. Nothing here imports Streamlit or torch: a worker never touches `st.*`.
"""

from __future__ import annotations

import threading
from typing import Self

from vizcore.workers import settings


class Cancelled(Exception):
    """Raised inside a worker's work once its cancel event is set; the work done so far is discarded."""


class Slots:
    """A counting semaphore that also says how many jobs are waiting for it."""

    def __init__(self, n: int):
        self.n = max(1, n)
        self._sem = threading.BoundedSemaphore(self.n)
        self._lock = threading.Lock()
        self.busy = 0
        self.waiting = 0

    def acquire(self, timeout: float) -> bool:
        """Return True if a slot was taken within `timeout` seconds."""
        with self._lock:
            self.waiting += 1
        ok = self._sem.acquire(timeout=timeout)
        with self._lock:
            self.waiting -= 1
            self.busy += ok
        return ok

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self.busy -= 1
        self._sem.release()


_server_slots: Slots | None = None
_slots_lock = threading.Lock()


def server_slots() -> Slots:
    """Return the process-wide slots: NORMLAB_MAX_TRAINING, default one per core."""
    global _server_slots
    with _slots_lock:
        if _server_slots is None:
            _server_slots = Slots(settings.max_training())
        return _server_slots


class Worker:
    """One daemon thread running `self._loop()`: `start()` (once), `join()`, `alive`."""

    THREAD_NAME = "normlab-worker"
    _thread: threading.Thread | None = None

    def _loop(self) -> None:  # pragma: no cover - every subclass defines its work
        raise NotImplementedError

    def _thread_name(self) -> str:
        return self.THREAD_NAME

    def start(self) -> Self:
        """Start the worker thread (once); return self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._thread_name(), daemon=True)
            self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to exit; return True if it has (or never started)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        """Return True while the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()
