"""The batch-size lab's worker: one session's sweep and its batch-norm probe model, in a background thread.

`SweepJob` waits for free server slots (one per worker process it uses), first trains a
batch-norm model of the base config in its own thread (for the batch-statistics panel),
then hands the grid (`vizcore.labs.batch.make_grid`) to `run_many`. The page only reads
`SweepJob.snapshot()`, a `SweepSnapshot`, and sends `cancel()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.labs.batch import EXTRAS
from vizcore.workers import settings
from vizcore.workers.base import Slots, Worker, server_slots
from vizcore.workers.sweep import SweepPool, run_many


@dataclass(frozen=True)
class SweepSnapshot:
    """A consistent copy of a SweepJob's state, as `SweepJob.snapshot()` returns it."""

    state: str  # new, waiting, running, done, cancelled, error
    done: int  # runs finished (store hits included) of `total`
    total: int
    runs: list[dict | None]  # in config order, histograms dropped; None where not finished
    probe: Trainer | None  # the finished batch-norm model of the base config, once trained
    error: str | None
    workers: int  # server slots (and so worker processes) the sweep took
    slots_busy: int
    slots_total: int
    elapsed: float  # seconds since the sweep started (its whole length once it ended)


class _Cancel(threading.Event):
    """A cancel flag that also sets itself once `expired()` is true: checked whenever the sweep reads it."""

    def __init__(self, expired: Callable[[], bool]):
        super().__init__()
        self._expired = expired

    def is_set(self) -> bool:
        """Return True once cancelled (by `set()` or because `expired()` became true)."""
        if not super().is_set() and self._expired():
            self.set()
        return super().is_set()


class SweepJob(Worker):
    """A batch-size sweep and a batch-norm probe model trained by one background thread.

    The worker never touches Streamlit: it holds plain objects and a lock. It takes
    between 1 and `workers` server slots (waiting for the first, state "waiting"), trains
    `probe_cfg` in its own thread (reusing `probe` when it is a finished trainer of that
    config), then runs the grid with `run_many` (`pool` processes, or in this thread when
    `pool` is None), giving every slot back at the end. `cancel()` stops it within 0.25 s
    (the runs that finished are kept). A job nobody polls (`snapshot()`) for `idle_cancel` seconds
    cancels itself (default NORMLAB_IDLE_STOP, 180 s, as the live lab's jobs: longer than
    Streamlit keeps a closed tab's session); what finished is in the store.
    """

    THREAD_NAME = "normlab-batch-sweep"

    def __init__(
        self,
        configs: Sequence[RunConfig],
        *,
        probe_cfg: RunConfig | None = None,
        probe: Trainer | None = None,
        store: Any = None,
        pool: SweepPool | None = None,
        workers: int = 1,
        slots: Slots | None = None,
        idle_cancel: float | None = None,
    ):
        self.configs = list(configs)
        self.probe_cfg, self.store, self.pool = probe_cfg, store, pool
        self.want = max(1, workers if pool is not None else 1)
        self.slots = slots if slots is not None else server_slots()
        self.idle_cancel = idle_cancel if idle_cancel is not None else settings.idle_stop()
        reusable = probe is not None and probe.cfg == probe_cfg and probe.status == "completed"
        self.probe: Trainer | None = probe if reusable else None
        self.state = "new"  # new, waiting, running, done, cancelled, error
        self.error: str | None = None
        self.held = 0
        self.workers_used = 0
        self.started_at: float | None = None
        self.elapsed = 0.0
        self._seen = time.monotonic()
        self._cancel = _Cancel(lambda: time.monotonic() - self._seen > self.idle_cancel)
        self._lock = threading.Lock()
        self._runs: list[dict | None] = [None] * len(self.configs)
        self._done = 0

    def cancel(self) -> None:
        """Stop the sweep: no new run starts, runs under way stop at their next chunk."""
        self._cancel.set()

    def snapshot(self) -> SweepSnapshot:
        """Return the sweep's state now; marks the job as watched."""
        self._seen = time.monotonic()
        with self._lock:
            runs, done = list(self._runs), self._done
        running = self.started_at is not None and self.state in ("running", "waiting")
        return SweepSnapshot(
            state=self.state,
            done=done,
            total=len(self.configs),
            runs=runs,
            probe=self.probe,
            error=self.error,
            workers=self.workers_used,
            slots_busy=self.slots.busy,
            slots_total=self.slots.n,
            elapsed=time.monotonic() - self.started_at if running else self.elapsed,
        )

    # ----- the worker -----
    def _cancelled(self) -> bool:
        return self._cancel.is_set()

    def _on_result(self, i: int, run: dict) -> None:
        with self._lock:
            self._runs[i] = run
            self._done += 1
        self._cancelled()

    def _loop(self) -> None:
        self.started_at = time.monotonic()
        try:
            self.state = "waiting"
            while not self._cancelled() and not self.held:
                self.held += self.slots.acquire(timeout=0.25)
            while self.held and self.held < min(self.want, max(1, len(self.configs))) and self.slots.acquire(0):
                self.held += 1
            self.workers_used = self.held
            if self.held:
                self.state = "running"
                if self.probe is None and self.probe_cfg is not None:
                    t = Trainer(self.probe_cfg)
                    t.run(chunk=50, callback=lambda tr: tr.stop() if self._cancelled() else None)
                    self.probe = t if t.status == "completed" else None
                run_many(
                    self.configs,
                    workers=self.held,
                    on_result=self._on_result,
                    store=self.store,
                    cancel=self._cancel,
                    light=True,
                    pool=self.pool,
                    extras=EXTRAS,
                )
            self.state = "cancelled" if self._cancel.is_set() else "done"
        except Exception as e:  # shown on the page; the runs that finished are kept (a broken pool marks itself)
            self.error = f"{type(e).__name__}: {e}"
            self.state = "error"
        finally:
            for _ in range(self.held):
                self.slots.release()
            self.held = 0
            self.elapsed = time.monotonic() - self.started_at
