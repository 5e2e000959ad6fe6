"""The covariate-shift lab's worker: part 1's measured runs and part 2's four models, trained in one thread.

`measure`, `run_internal` and `train_external` train what `vizcore.labs.shift` plans (they check a
cancel event and raise `Cancelled`); `ShiftLab` runs both parts in one background thread per
browser session, holding only plain Python objects. The page reads `snapshot()`, a
`ShiftSnapshot`, and sends `stop()`. Trained models are reused by config (`reuse=` the previous
lab), so changing only the noise retrains only the noisy run.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.labs.shift import (
    MEASUREMENTS,
    external_configs,
    external_curves,
    internal_configs,
    next_input_tap,
    summarize,
    verdict,
    with_point,
)
from vizcore.measures.drift import probe_drift
from vizcore.measures.shift import gradient_shift
from vizcore.runs.queries import final
from vizcore.workers import settings
from vizcore.workers.base import Cancelled, Slots, Worker, server_slots

CACHE_SIZE = 16  # trained models kept per session

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class ShiftSnapshot:
    """A consistent copy of a ShiftLab's state, as `ShiftLab.snapshot()` returns it."""

    state: str  # new, waiting, running, done, stopped, error
    progress: float  # of both parts, in [0, 1]
    message: str  # what the worker is doing, in words
    internal: dict[str, Any] | None  # part 1's `run_internal` result, once measured
    external_ready: bool  # part 2's models are trained: `ShiftLab.curves` answers
    error: str | None
    slots_busy: int
    slots_total: int


def _check(cancel: "threading.Event | None") -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def measure(
    trainer: Trainer,
    every: int,
    cancel: "threading.Event | None" = None,
    on_steps: "Callable[[int], None] | None" = None,
    chunk: int = 100,
) -> dict[str, Any]:
    """Train `trainer` to the end under `gradient_shift`, measuring every `every` steps.

    Trains in chunks of at most `chunk` steps, checking `cancel` and calling `on_steps(n)` between.

    Returns {"config", "status", "final_test_acc", "curves": {step, test_acc}, "tap",
    "drift": {"lag", "layers": [measures.drift.probe_drift of the next layer's input, per block, as dicts]},
    "gshift": gradient_shift with "rel" = l2 / ||G|| added per layer}. Raises Cancelled.
    """
    gs: dict[str, Any] = {"steps": [], "layers": []}
    while not trainer.done:
        _check(cancel)
        before = trainer.steps_done
        part = gradient_shift(trainer, min(every, chunk), every)  # measures when a multiple of `every` is due
        if not gs["layers"]:
            gs["layers"] = [{"name": la["name"], "l2": [], "cos": [], "grad_norm": []} for la in part["layers"]]
        gs["steps"] += part["steps"]
        for acc, la in zip(gs["layers"], part["layers"]):
            for k in ("l2", "cos", "grad_norm"):
                acc[k] += la[k]
        if on_steps is not None:
            on_steps(trainer.steps_done - before)
        if trainer.steps_done == before:
            break
    for la in gs["layers"]:
        la["rel"] = [l2 / g if l2 is not None and g else None for l2, g in zip(la["l2"], la["grad_norm"])]
    run = trainer.export()
    tap = next_input_tap(trainer.cfg)
    blocks = probe_drift(run, tap)
    drift = {"lag": blocks[0].lag if blocks else 0, "layers": [dataclasses.asdict(b) for b in blocks]}
    return {
        "config": run["config"],
        "status": run["status"],
        "final_test_acc": final(run),
        "curves": {"step": run["curves"]["step"], "test_acc": run["curves"]["test_acc"]},
        "tap": tap,
        "drift": drift,
        "gshift": gs,
    }


def run_internal(
    base: RunConfig,
    every: "int | None" = None,
    progress: "ProgressFn | None" = None,
    cancel: "threading.Event | None" = None,
    cache: "dict | None" = None,
) -> dict[str, Any]:
    """Train and measure part 1's runs; return {"tap", "every", "runs": [record...], "summary", "verdict"}.

    Each record is `measure(...)` plus "key" and "label". `every` defaults to steps // MEASUREMENTS.
    `cache` (config key -> {"trainer", "measured"}) is read and filled, so a run measured before is
    reused. `progress(fraction, message)` is called as steps are done. Raises Cancelled.
    """
    plan = internal_configs(base)
    every = every or max(1, base.steps // MEASUREMENTS)
    cache = {} if cache is None else cache
    ck = {key: f"{cfg.key}/m{every}" for key, _, cfg in plan}
    total = sum(cfg.steps for key, _, cfg in plan if ck[key] not in cache) or 1
    done = 0
    runs = []
    for key, label, cfg in plan:
        if ck[key] not in cache:
            _check(cancel)
            trainer = Trainer(cfg)

            def on_steps(n: int, label: str = label) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(done / total, f"measuring {label}")

            rec = measure(trainer, every, cancel, on_steps)
            cache[ck[key]] = {"trainer": trainer, "measured": rec}
            cache[cfg.key] = {"trainer": trainer, "measured": None}
        runs.append({"key": key, "label": label, **cache[ck[key]]["measured"]})
    summary = summarize(runs)
    return {"tap": runs[1]["tap"], "every": every, "runs": runs, "summary": summary, "verdict": verdict(summary)}


def train_external(
    base: RunConfig,
    progress: "ProgressFn | None" = None,
    cancel: "threading.Event | None" = None,
    cache: "dict | None" = None,
    chunk: int = 50,
) -> list[tuple[str, str, Trainer]]:
    """Train (or reuse from `cache`) part 2's four models; return [(key, label, trainer)]. Raises Cancelled."""
    plan = external_configs(base)
    cache = {} if cache is None else cache
    total = sum(cfg.steps for _, _, cfg in plan if cfg.key not in cache) or 1
    done, out = 0, []
    for key, label, cfg in plan:
        if cfg.key not in cache:
            t = Trainer(cfg)
            while not t.done:
                _check(cancel)
                done += t.step(chunk)
                if progress is not None:
                    progress(done / total, f"training {label}")
            cache[cfg.key] = {"trainer": t, "measured": None}
        out.append((key, label, cache[cfg.key]["trainer"]))
    return out


class ShiftLab(Worker):
    """Both parts in one background thread; `snapshot()` is safe from any thread.

    The worker takes one server slot (`server_slots()`) while it trains, trains part 1 then
    part 2, and publishes its state as a `ShiftSnapshot` swapped under a lock. If nobody calls `snapshot()` for
    `idle_stop` seconds (the tab was closed), it stops and frees its slot. Construction validates
    the configurations (ValueError/ConfigError) before any thread starts.
    """

    THREAD_NAME = "normlab-shift-lab"

    def __init__(
        self,
        base: RunConfig,
        reuse: "ShiftLab | None" = None,
        slots: "Slots | None" = None,
        every: "int | None" = None,
        idle_stop: float = settings.SHIFT_LAB_IDLE_STOP,
    ):
        self.base = base
        self.idle_stop = idle_stop
        self._last_seen = time.monotonic()
        self.every = every
        self.plan = internal_configs(base) + external_configs(base)  # validates
        self.slots = slots if slots is not None else server_slots()
        self.cache: dict[str, dict] = dict(reuse.finished_cache()) if reuse is not None else {}
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._state = ShiftSnapshot(
            state="new",
            progress=0.0,
            message="starting",
            internal=None,
            external_ready=False,
            error=None,
            slots_busy=0,
            slots_total=self.slots.n,
        )
        self._models: list[tuple[str, str, Trainer]] = []
        self._curves: dict[float, dict] = {}

    def stop(self) -> None:
        """Ask the worker to stop after the current chunk."""
        self.cancel.set()

    def snapshot(self) -> ShiftSnapshot:
        """Return the lab's state now; marks the lab as watched."""
        self._last_seen = time.monotonic()
        with self._lock:
            state = self._state
        return replace(state, slots_busy=self.slots.busy, slots_total=self.slots.n)

    def finished_cache(self) -> dict[str, dict]:
        """Return the trained models (and measurements) this lab holds, newest last, at most CACHE_SIZE."""
        with self._lock:
            items = list(self.cache.copy().items())  # dict.copy is atomic: safe while the worker adds
        return dict([(k, v) for k, v in items if v["trainer"].done][-CACHE_SIZE:])

    def curves(self, scale: float, shift: float) -> "dict[str, Any] | None":
        """Return part 2's `external_curves` at `scale` with the point at `shift`, or None until trained."""
        with self._lock:
            if not self._state.external_ready:
                return None
            models = list(self._models)
            key = round(float(scale), 6)
            if key not in self._curves:
                self._curves = {key: external_curves(models, key)}  # one scale kept: memory stays flat
            return with_point(self._curves[key], models, float(shift))

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **kw)

    def _progress(self, part: int, share: float) -> ProgressFn:
        def report(fraction: float, message: str) -> None:
            self._watched()
            self._set(state="running", progress=min(1.0, (part + fraction) * share), message=message)

        return report

    def _watched(self) -> None:
        """Cancel (raising Cancelled at the next check) if nobody has looked for `idle_stop` seconds."""
        if time.monotonic() - self._last_seen > self.idle_stop:
            self.cancel.set()

    def _loop(self) -> None:
        torch.set_num_threads(1)
        holding = False
        try:
            self._set(state="waiting", message="waiting for a free slot")
            while not (holding := self.slots.acquire(timeout=0.25)):
                self._watched()
                _check(self.cancel)
            self._set(state="running", message="starting")
            internal = run_internal(self.base, self.every, self._progress(0, 0.5), self.cancel, self.cache)
            self._set(internal=internal)
            models = train_external(self.base, self._progress(1, 0.5), self.cancel, self.cache)
            with self._lock:
                self._models = models
                self._state = replace(self._state, external_ready=True, state="done", progress=1.0, message="done")
        except Cancelled:
            idle = time.monotonic() - self._last_seen > self.idle_stop
            self._set(state="stopped", message="stopped: nobody was watching" if idle else "stopped")
        except Exception as e:
            self._set(state="error", error=f"{type(e).__name__}: {e}", message="error")
        finally:
            if holding:
                self.slots.release()
            self._prune()

    def _prune(self) -> None:
        with self._lock:
            keep = list(self.cache.items())[-CACHE_SIZE:]
            self.cache = dict(keep)

    def wait(self, timeout: float = 60.0, poll: float = 0.05) -> bool:
        """Block until the worker exits or `timeout` passes; return True if it exited (for tests and scripts)."""
        end = time.monotonic() + timeout
        while self.alive and time.monotonic() < end:
            time.sleep(poll)
        return not self.alive
