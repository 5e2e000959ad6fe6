"""Tasks: any long computation run by a background thread under the server's slot cap.

`Task(fn)` calls `fn(progress, cancel)` in a worker thread once a slot is free;
`progress(done, total, what)` updates what `status()` reports and `cancel` is a
threading.Event the function should check. The page only reads `status()` and
`result`; the worker never touches Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vizcore.workers.base import Cancelled, Slots, Worker, server_slots


@dataclass(frozen=True)
class TaskStatus:
    """What `Task.status()` reports."""

    state: str  # new, waiting, running, done, cancelled, error
    done: int  # progress as the function last reported it: done of total, and on what
    total: int
    what: str
    error: str | None
    elapsed: float  # seconds since the task was made
    slots_busy: int
    slots_total: int


class Task(Worker):
    """A function run once in a background thread; poll `status()`, read `result`."""

    THREAD_NAME = "normlab-task"

    def __init__(self, fn: Callable[[Callable[..., None], threading.Event], Any], slots: Slots | None = None):
        self.fn = fn
        self.slots = slots if slots is not None else server_slots()
        self.cancel = threading.Event()
        self.state = "new"  # new, waiting, running, done, cancelled, error
        self.result: Any = None
        self.error: str | None = None
        self.progress = (0, 0, "")
        self.partial: list[tuple[str, dict]] = []  # (label, run) as each run finishes, for live charts
        self.started = time.monotonic()
        self.cached: Any = None  # for a Task made by `finished`: where its result came from

    @classmethod
    def finished(cls, result: Any, cached: Any = None) -> "Task":
        """Return a Task already done with `result`, computed earlier (no thread, no slot); `cached` says when/how."""
        t = cls(lambda progress, cancel: result)
        t.state, t.result, t.cached = "done", result, cached
        return t

    def stop(self) -> None:
        """Ask the function to stop (it sees `cancel` set)."""
        self.cancel.set()

    def status(self) -> TaskStatus:
        """Return the state, progress (done, total, what), error and seconds elapsed."""
        done, total, what = self.progress
        return TaskStatus(
            state=self.state,
            done=done,
            total=total,
            what=what,
            error=self.error,
            elapsed=time.monotonic() - self.started,
            slots_busy=self.slots.busy,
            slots_total=self.slots.n,
        )

    def _progress(self, done: int, total: int, what: str, run: dict | None = None) -> None:
        self.progress = (done, total, what)
        if run is not None:
            self.partial = [*self.partial, (what, run)]  # a new list: readers never see it change

    def _loop(self) -> None:
        torch.set_num_threads(1)
        self.state = "waiting"
        while not self.slots.acquire(timeout=0.25):
            if self.cancel.is_set():
                self.state = "cancelled"
                return
        try:
            self.state = "running"
            self.result = self.fn(self._progress, self.cancel)
            self.state = "cancelled" if self.cancel.is_set() else "done"
        except Cancelled:
            self.state = "cancelled"
        except Exception as e:  # shown on the page instead of a traceback
            self.error = f"{type(e).__name__}: {e}"
            self.state = "error"
        finally:
            self.slots.release()
