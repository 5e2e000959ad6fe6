"""Jobs: a Trainer driven by a background thread, safe to poll from any other thread.

The app gives each browser session its own Job; the page only ever reads
`Job.snapshot()` and sends commands (pause, resume, step, stop). A server-wide
`Slots` semaphore caps how many jobs train at once (about one per core); a job
that nobody has polled for `idle_pause` seconds (NORMLAB_IDLE_PAUSE, 20) pauses and
gives its slot back, and after `idle_stop` seconds (NORMLAB_IDLE_STOP, 180: longer than
Streamlit keeps a closed tab's session, 120) it stops, saves what it has and its
thread exits. Nothing here imports Streamlit: the worker never touches `st.*` or
session state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.workers import settings
from vizcore.workers.base import Slots, Worker, server_slots
from vizcore.workers.watchers import crowded, server_watchers

T = TypeVar("T")
CHUNK_SECONDS = 0.05  # train in ~50 ms chunks: commands and polls are answered that fast
CROWD_CHUNK_SECONDS = 0.25  # a crowded server's paced chunk: its pages poll every 1.2 s anyway
GRID_CROWD_S = 3.0  # a crowded server's decision-boundary refresh (a 1,600-point forward pass each)
MEMO_SIZE = 32  # values a job keeps for its watchers: every chart of the latest snapshots, both views
# Sources (snapshots) a job keeps per chart: the latest, and the one before for a watcher that polled
# just before it. Each value keeps its source alive, and a 600-step run's layers are ~46,000 objects.
MEMO_PER_KEY = 2
SNAPSHOTS_PER_S = 3.0  # a paced run's distributions change at least this often (when its recorder's cadence is slower)


def dense_every(pace: float | None, stride: int) -> int:
    """Return how often a run at `pace` steps/s takes extra snapshots (0: its recorder's `stride` is often enough).

    At 5 steps/s or slower every step is a snapshot (each one can be seen); at 25, every 8th step,
    so each distribution chart changes about 3 times a second instead of every 20 steps (1.25/s).
    """
    if pace is None or pace / stride >= SNAPSHOTS_PER_S:
        return 0
    return max(1, int(pace / SNAPSHOTS_PER_S))


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a Job's state, as `Job.snapshot()` returns it."""

    state: str  # new, waiting, running, paused, idle, done, error
    paused: bool  # the user paused it (an idle job is not paused)
    run: dict  # the run dict so far (the run-file format); the same object until the run moves on
    steps_per_s: float
    boundary: dict | None  # the latest decision grid of a 2-D run, else None
    error: str | None
    notice: str | None  # why the job ended early, in plain words
    saved_id: str | None  # the run store's id once the run is saved
    slots_busy: int  # the server's slots: taken, in all, and jobs waiting for one
    slots_total: int
    slots_waiting: int


class Job(Worker):
    """One run trained by a background thread; `snapshot()` returns a consistent copy."""

    def __init__(
        self,
        cfg: RunConfig,
        store: Any = None,
        slots: Slots | None = None,
        idle_pause: float | None = None,
        idle_stop: float | None = None,
        start_paused: bool = False,
    ):
        self.cfg = cfg
        self.trainer = Trainer(cfg)
        self.store = store
        self.slots = slots if slots is not None else server_slots()
        self.idle_pause = idle_pause if idle_pause is not None else settings.idle_pause()
        self.idle_stop = idle_stop if idle_stop is not None else settings.idle_stop()
        self.max_seconds = settings.max_run_seconds()
        self.notice: str | None = None  # why the job ended early, in plain words
        self.owner: str | None = None  # the session that started it through a JobRegistry
        self.on_end: Callable[[Job], None] | None = None  # called by its thread as it ends
        self.state = "new"  # new, waiting, running, paused, idle, done, error
        self.error: str | None = None
        self.saved_id: str | None = None
        self.steps_per_s = 0.0
        self.boundary: dict | None = None
        self._paused = start_paused
        self.pace: float | None = None  # steps per second a class can follow; None: as fast as it goes
        self._stop = False
        self._step_requests = 0
        self._wake = threading.Event()
        self._progressed = threading.Event()  # set after the first chunk of steps, or at the end
        self._lock = threading.Lock()
        self._last_seen = time.monotonic()
        self._cache: tuple[int, str, dict] | None = None  # (steps_done, status, export)
        # (id(source), id(also), key) -> (source, also, value)
        self._memo: dict[tuple[int, int, tuple], tuple[object, object, Any]] = {}

    # ----- commands (any thread) -----
    def _thread_name(self) -> str:
        return f"normlab-job-{self.cfg.key}"

    def pause(self) -> None:
        """Pause after the current chunk."""
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        """Resume training."""
        self._paused = False
        self.touch()

    def step_once(self, n: int = 1) -> None:
        """Train exactly `n` more steps, then stay paused."""
        self._paused = True
        with self._lock:
            self._step_requests += n
        self.touch()

    def set_pace(self, steps_per_s: float | None) -> None:
        """Train at most `steps_per_s` steps a second from now on (None: as fast as it goes); numbers never change."""
        if steps_per_s is not None and not (0 < steps_per_s <= 1e6):
            raise ValueError(f"pace must be a positive number of steps per second or None, got {steps_per_s!r}")
        self.pace = steps_per_s
        self._wake.set()

    def stop(self) -> None:
        """End the run (status `stopped` unless it already finished); it is saved."""
        self._stop = True
        self._wake.set()

    def wait_progress(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the first trained steps; return True once there are some or the job ended."""
        return self._progressed.wait(timeout)

    def touch(self) -> None:
        """Mark the job as watched (wakes an idle job)."""
        self._last_seen = time.monotonic()
        self._wake.set()

    @property
    def paused(self) -> bool:
        """Return True if the user paused the job."""
        return self._paused

    def memo(self, source: object, key: tuple, build: Callable[[], T], also: object = None) -> T:
        """Return `build()` for `source` (and `also`) and `key`, built once while they are among the latest ones.

        `source` is what the value is built from: a snapshot's run (`snapshot().run`), or a part of it
        that outlives several snapshots, such as its `layers` (the same list until a frame is added);
        `also` a second one (the twin run's layers, for a chart of both). Every session watching this
        job draws the same figures from the same snapshot; in a classroom ten students may watch one
        preset, so they share one build, not ten. Per `key`, only the values of the MEMO_PER_KEY
        latest snapshots are kept.
        """
        slot = (id(source), id(also), key)
        with self._lock:
            hit = self._memo.get(slot)
            if hit is not None and hit[0] is source and hit[1] is also:  # not new objects at reused addresses
                return hit[2]
        value = build()
        with self._lock:
            self._memo.pop(slot, None)  # re-inserted last: the newest
            self._memo[slot] = (source, also, value)
            same_key = [s for s in self._memo if s[2] == key]
            for old in same_key[: max(0, len(same_key) - MEMO_PER_KEY)]:  # older snapshots of this chart
                del self._memo[old]
            while len(self._memo) > MEMO_SIZE:  # the oldest first: their sources are older snapshots
                del self._memo[next(iter(self._memo))]
        return value

    def snapshot(self) -> JobSnapshot:
        """Return the job's state now; marks the job as watched."""
        self.touch()
        t = self.trainer
        key = (t.steps_done, t.status)
        if self._cache is None or self._cache[:2] != key:
            self._cache = (*key, t.export())
        slots = self.slots
        return JobSnapshot(
            state=self.state,
            paused=self._paused,
            run=self._cache[2],
            steps_per_s=self.steps_per_s,
            boundary=self.boundary,
            error=self.error,
            notice=self.notice,
            saved_id=self.saved_id,
            slots_busy=slots.busy,
            slots_total=slots.n,
            slots_waiting=slots.waiting,
        )

    # ----- the worker -----
    def _idle_for(self) -> float:
        return time.monotonic() - self._last_seen

    def _loop(self) -> None:
        torch.set_num_threads(1)
        t = self.trainer
        holding = False
        rate, last_grid = 500.0, 0.0
        # steps the pace allows that were not trained yet, and since when: the first is due at once
        owed, paced_at = 1.0, time.monotonic()
        seen_at, seen_steps = time.monotonic(), t.steps_done
        try:
            while not t.done:
                if self._stop:
                    t.stop()
                    break
                with self._lock:
                    requested = self._step_requests
                idle = self._idle_for()
                if idle > self.idle_stop:
                    self.notice = f"Stopped after {self.idle_stop:.0f} s with nobody watching; the run is saved."
                    t.stop()
                    break
                if t.elapsed > self.max_seconds:
                    self.notice = (
                        f"Stopped at the server's limit of {self.max_seconds:.0f} s of training per run; "
                        "what it learned is saved."
                    )
                    t.stop()
                    break
                if requested == 0 and (self._paused or idle > self.idle_pause):
                    if holding:  # a paused job frees its slot for someone else
                        self.slots.release()
                        holding = False
                    self.state = "paused" if self._paused else "idle"
                    self._wake.wait(timeout=1.0)
                    self._wake.clear()
                    continue
                if not holding:
                    holding = self.slots.acquire(timeout=0.25)
                    if not holding:
                        self.state = "waiting"
                        continue
                self.state = "running"
                pace, now = self.pace, time.monotonic()
                # A crowded server trains paced runs in fewer, larger chunks and without extra snapshots:
                # every wake-up and snapshot costs the one interpreter all its sessions share.
                crowd = crowded(server_watchers().count())
                if requested or pace is None:
                    owed, paced_at = 0.0, now
                else:
                    due = max(1.0, pace * CROWD_CHUNK_SECONDS) if crowd else 1.0
                    owed, paced_at = min(owed + pace * (now - paced_at), max(due, pace * CHUNK_SECONDS)), now
                    if owed < due:  # too early for the next step(s): sleep until due (a command wakes it)
                        if (due - owed) / pace > 0.02:  # a paced run lends its core out while it sleeps
                            self.slots.release()
                            holding = False
                        self._wake.wait(timeout=(due - owed) / pace)
                        self._wake.clear()
                        continue
                t.dense = 1 if requested else 0 if crowd else dense_every(pace, t.recorder.stride)
                if requested:
                    n = requested
                elif pace is None:
                    n = max(1, int(rate * CHUNK_SECONDS))
                else:
                    n = int(owed)
                    owed -= n
                t0 = time.perf_counter()
                done = t.step(n)
                dt = time.perf_counter() - t0
                self._progressed.set()
                if requested:
                    with self._lock:
                        self._step_requests = max(0, self._step_requests - done)
                if done and dt > 0:
                    rate = 0.7 * rate + 0.3 * (done / dt)  # how fast it can go: sizes unpaced chunks
                now = time.monotonic()
                if now - seen_at >= 0.5:  # what a watcher sees: steps per wall-clock second, sleeps included
                    self.steps_per_s = (t.steps_done - seen_steps) / (now - seen_at)
                    seen_at, seen_steps = now, t.steps_done
                if t.data.input_shape == (2,) and time.monotonic() - last_grid > (GRID_CROWD_S if crowd else 0.4):
                    self.boundary = t.decision_grid(40)
                    last_grid = time.monotonic()
        except Exception as e:  # shown on the page; the run so far is still saved
            self.error = f"{type(e).__name__}: {e}"
            t.stop()
        finally:
            if holding:
                self.slots.release()
            self.boundary = t.decision_grid(40) if t.data.input_shape == (2,) else None
            self._save()
            self.state = "error" if self.error else "done"
            self._progressed.set()
            if self.on_end is not None:
                self.on_end(self)

    def _save(self) -> None:
        if self.store is None:
            return
        try:
            self.saved_id = self.store.save(self.trainer.export())
        except Exception as e:
            self.error = self.error or f"could not save the run: {type(e).__name__}: {e}"


class JobRegistry:
    """Jobs in flight on this server, by config: identical configurations train once.

    A session that asks for a configuration another session is already training
    gets that same Job to watch; only its owner may pause or stop it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, tuple[Job, str]] = {}

    def start(self, cfg: RunConfig, owner: str, store: Any = None, start_paused: bool = False) -> tuple[Job, bool]:
        """Return (job, shared): a running job for `cfg` (shared=True) or a new one owned by `owner`."""
        with self._lock:
            found = self._training(cfg.key)
        if found is not None:
            return found[0], found[1] != owner
        # Built outside the lock: a Trainer takes milliseconds to build, seconds on a fresh server
        # (imports, data), and every page run asks this registry who owns its job.
        job = Job(cfg, store=store, start_paused=start_paused)
        with self._lock:
            found = self._training(cfg.key)
            if found is not None:  # another session started the same configuration meanwhile
                return found[0], found[1] != owner
            job.owner, job.on_end = owner, self._forget
            self._jobs[cfg.key] = (job.start(), owner)
            return job, False

    def _forget(self, job: Job) -> None:
        """Drop `job` as its thread ends: its trainer and figures then go with the last session showing it."""
        with self._lock:
            found = self._jobs.get(job.cfg.key)
            if found is not None and found[0] is job:
                del self._jobs[job.cfg.key]

    def _training(self, key: str) -> "tuple[Job, str] | None":
        """Return (job, owner) for `key` if that job is still training, else None (hold the lock)."""
        found = self._jobs.get(key)
        return found if found is not None and found[0].alive and not found[0].trainer.done else None

    def owner(self, job: Job) -> str | None:
        """Return the owner token of `job` (also once it ended), or None if no registry started it."""
        return job.owner

    def running(self) -> int:
        """Return the number of registered jobs whose thread is alive."""
        with self._lock:
            return sum(j.alive for j, _ in self._jobs.values())


_registry = JobRegistry()


def server_jobs() -> JobRegistry:
    """Return the process-wide job registry."""
    return _registry
