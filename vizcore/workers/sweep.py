"""Sweeps: train many configs at once, one worker process per core.

    >>> from vizcore import RunConfig
    >>> from vizcore.workers.sweep import batch_size_grid, run_many, summarize_sweep   # the grid: labs.grid
    >>> configs = batch_size_grid(RunConfig(steps=500), [2, 8, 64], ["batch", "layer"], [0, 1], "samples")
    >>> runs = run_many(configs, light=True)           # input order; None for runs cut short by `cancel`
    >>> rows = summarize_sweep(configs, runs)         # one row per run, ready for a table or a plot

A config fully determines its run, so a run trained in a worker process has exactly
the numbers of `Trainer(cfg).run()` in this process (every worker trains on one
thread, as `Trainer.step` does). Workers get configs as plain dicts and return run
dicts: nothing but JSON-like data crosses a process boundary.

Backends. `backend="process"` (default): a ProcessPoolExecutor with the "spawn" start
method (a fresh interpreter per worker, safe to start from a threaded server such as
Streamlit, where forking is not). Without `pool=`, `workers=1` (or a single run left to
train) trains in the calling thread. A worker takes seconds to start (it imports torch),
so callers that sweep often keep a `SweepPool` and pass it as `pool=`; the server keeps
one, `shared_pool()`, for every session's sweeps and experiments. `backend="joblib"`
hands the runs to `joblib.Parallel`, so the same sweep runs on a cluster: choose joblib's
backend on the caller's side (`with joblib.parallel_config(backend="dask"): run_many(configs,
backend="joblib")`, or "ray"); without one, joblib's local "loky" pool. With joblib,
`workers=None` means all the backend offers; the cluster's workers need vizcore importable.

Run store and cancelling. With `store`, configs the store already holds (`store.find(cfg)`)
are not trained again, and fresh runs are saved by the calling process (workers never
touch the store). `cancel` (a threading.Event) stops the sweep: no new run starts, pool
workers stop their current run at the next 50-step chunk and the sweep returns None for
every run that did not reach its end. The process backend notices `cancel` within 0.1 s;
the joblib backend when the next run finishes (queued runs are then dropped).

Extras. What needs the trained network (its weights, its running statistics) is computed
in the worker, on the finished Trainer: `run_many(..., extras="train_eval_gap")` (names
from `EXTRAS`) puts `run["extras"] = {"train_eval_gap": {...}}` into every completed run
(None for a diverged one). Names, not functions, cross the process boundary. Extras travel
with the run into the store; a stored run that lacks a requested extra is trained again
(the same numbers plus the extra). A `job` (a module-level function, imported by name in
the worker) replaces plain training for runs measured while they train.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import SimpleNamespace
from typing import Any, Literal

import torch

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.labs.grid import batch_size_grid, summarize_sweep
from vizcore.workers import settings
from vizcore.workers.base import server_slots
from vizcore.workers.lifetime import exit_with_parent
from vizcore.workers.settings import MAX_SWEEP_RUNS, MAX_SWEEP_STEPS

# The grid is a plan (labs.grid); experiments, which may not import labs, take it from here with the sweep.
__all__ = [
    "EXTRAS",
    "MAX_SWEEP_RUNS",
    "MAX_SWEEP_STEPS",
    "SweepPool",
    "batch_size_grid",
    "extra_names",
    "pool_workers",
    "run_many",
    "shared_pool",
    "strip_hist",
    "summarize_sweep",
    "sweep_limit_error",
]

CHUNK = 50  # steps between cancel checks inside a run; chunking never changes the numbers
POLL_S = 0.1  # how often the calling thread looks at `cancel` while workers train
REUSABLE = ("completed", "diverged")  # runs that reached their end (what the store keeps)

OnResult = Callable[[int, dict], Any]
Job = Callable[..., dict]  # job(cfg, cancel=...) -> run dict: a module-level function, so workers can import it


def _train_eval_gap(trainer: Trainer) -> dict[str, Any]:
    from vizcore.measures.batch import train_eval_gap

    return train_eval_gap(trainer)


# name -> function of the finished Trainer returning a JSON-ready dict (see "Extras" above)
EXTRAS: dict[str, Callable[[Trainer], dict[str, Any]]] = {"train_eval_gap": _train_eval_gap}

_FLAGS: Any = None  # in a pool worker: the pool's shared cancel flags, one byte per sweep slot


# ----- worker side (module level, so "spawn" workers can import it) -----
def _init_worker(flags: Any, parent: int) -> None:
    global _FLAGS
    _FLAGS = flags
    torch.set_num_threads(1)  # one core per run: concurrent runs scale, results reproduce
    exit_with_parent(parent)  # a killed server's workers would otherwise wait for work forever


def strip_hist(run: dict) -> dict:
    """Return a copy of `run` without the histograms of `layers[*].taps` and `.probe` (their bulk; summaries stay)."""

    def light(taps: dict) -> dict:
        return {name: {k: v for k, v in tap.items() if k != "hist"} for name, tap in taps.items()}

    layers = [
        {**layer, **{part: light(layer[part]) for part in ("taps", "probe") if part in layer}}
        for layer in run.get("layers", [])
    ]
    return {**run, "layers": layers}


def extra_names(extras: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return `extras` as a tuple of names from EXTRAS (None gives ()); raise ValueError for an unknown name."""
    if extras is None:
        return ()
    names = (extras,) if isinstance(extras, str) else tuple(extras)
    unknown = [n for n in names if n not in EXTRAS]
    if unknown:
        raise ValueError(f"unknown extras {unknown}; known: {', '.join(EXTRAS)}")
    return names


def _train(
    cfg: RunConfig, should_stop: Callable[[], bool] | None = None, extras: tuple[str, ...] = (), job: Job | None = None
) -> dict:
    if job is not None:  # `cancel.is_set()` asks whether the sweep was cancelled, in a thread or a worker
        return job(cfg, cancel=SimpleNamespace(is_set=should_stop or (lambda: False)))

    def check(trainer: Trainer) -> None:
        if should_stop is not None and should_stop():
            trainer.stop()

    trainer = Trainer(cfg)
    run = trainer.run(chunk=CHUNK, callback=check)
    if extras and trainer.status in REUSABLE:
        ok = trainer.status == "completed"
        run["extras"] = {name: EXTRAS[name](trainer) if ok else None for name in extras}
    return run


def _pool_job(cfg: dict, light: bool, slot: int, extras: tuple[str, ...] = (), job: Job | None = None) -> dict:
    """Pool worker: return the run dict of config `cfg` (a dict); stopped early once its sweep's flag is set."""
    flags = _FLAGS
    run = _train(RunConfig.from_dict(cfg), lambda: flags[slot] != 0, extras, job)
    return strip_hist(run) if light else run


def _joblib_job(
    i: int, cfg: dict, light: bool, extras: tuple[str, ...] = (), job: Job | None = None
) -> tuple[int, dict]:
    """joblib worker: return (i, run dict of config `cfg`)."""
    torch.set_num_threads(1)
    run = _train(RunConfig.from_dict(cfg), extras=extras, job=job)
    return i, strip_hist(run) if light else run


def _warm_job(k: int) -> int:
    """Pool worker: import and load what the first run would (the datasets, a tiny run); return `k`."""
    from vizcore.engine import data
    from vizcore.engine.config import DATASETS

    for name in DATASETS:
        data.load(name)
    Trainer(RunConfig(depth=1, width=4, steps=2, probe_size=0)).run()
    return k


# ----- caller side -----
class SweepPool:
    """A reusable pool of worker processes for `run_many`; safe to share between threads and sweeps.

    Starting a worker costs seconds (a fresh interpreter imports torch), so a server that
    runs sweeps often keeps one pool (e.g. in `st.cache_resource`) and passes it as
    `run_many(..., pool=pool)`; without one, `run_many` starts and stops a pool per call.
    Each sweep gets a cancel slot (a byte in shared memory the workers read between chunks), so
    cancelling one sweep never stops another. After a worker dies (BrokenProcessPool) the pool is
    unusable and `broken` is True: close it and make a new one (`shared_pool()` does).
    """

    def __init__(self, workers: int | None = None, start_method: str = "spawn", max_sweeps: int = 64):
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        ctx = multiprocessing.get_context(start_method)
        # Shared memory reaches workers only at their start (initargs), hence one array for all sweeps.
        self._flags = ctx.RawArray("b", max_sweeps)
        self._free = list(range(max_sweeps))
        self._slots = threading.Condition()
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self._flags, os.getpid())
        )
        self.broken = False

    def __enter__(self) -> "SweepPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, wait: bool = True) -> None:
        """Stop every sweep's runs at their next chunk and shut the worker processes down."""
        for k in range(len(self._flags)):
            self._flags[k] = 1
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def _acquire(self) -> int:
        with self._slots:
            self._slots.wait_for(lambda: self._free)
            slot = self._free.pop()
        self._flags[slot] = 0
        return slot

    def _release(self, slot: int) -> None:
        with self._slots:
            self._free.append(slot)
            self._slots.notify()

    def _submit(
        self, cfg: RunConfig, light: bool, slot: int, extras: tuple[str, ...] = (), job: Job | None = None
    ) -> Future:
        return self._executor.submit(_pool_job, cfg.to_dict(), light, slot, extras, job)

    def warm(self) -> None:
        """Start every worker process and pay its imports and data loading now; return when all are ready."""
        futures = [self._executor.submit(_warm_job, k) for k in range(self.workers)]
        wait(futures)


def pool_workers() -> int:
    """Return how many worker processes the shared pool has: the server's slot cap, at most one per core."""
    return max(1, min(server_slots().n, os.cpu_count() or 1))


_shared: SweepPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> SweepPool | None:
    """Return the server's pool of worker processes, or None if NORMLAB_SWEEP_PROCESSES=0 (train in the thread).

    Every session shares it: a worker takes seconds to start. Made on first use; a pool that
    lost a worker process is shut down and replaced by a fresh one.
    """
    global _shared
    if not settings.sweep_processes():
        return None
    with _shared_lock:
        if _shared is not None and _shared.broken:
            _shared.close(wait=False)
            _shared = None
        if _shared is None:
            _shared = SweepPool(pool_workers())
        return _shared


def run_many(
    configs: Sequence[RunConfig],
    workers: int | None = None,
    on_result: OnResult | None = None,
    store: Any = None,
    cancel: threading.Event | None = None,
    *,
    light: bool = False,
    backend: Literal["process", "joblib"] = "process",
    pool: SweepPool | None = None,
    extras: str | Sequence[str] | None = None,
    job: Job | None = None,
) -> list[dict | None]:
    """Train every config; return their run dicts in input order (None where `cancel` cut a run short).

    `on_result(i, run)` is called in the calling thread as run i becomes available
    (store hits first, then trained runs as they finish). `store` is a
    `vizcore.store.RunStore` (or anything with `find(cfg)` and `save(run)`): hits are
    reused, fresh completed or diverged runs saved. `light=True` drops the histograms
    from the returned runs (the store still gets full runs). `pool`: a SweepPool to
    train in (reused across calls); `workers` then limits how many of its processes
    this sweep uses at once. A worker's exception is raised here after this sweep's
    other runs are stopped. `extras`: names from EXTRAS computed in the worker on the
    finished Trainer, returned as `run["extras"][name]` (see "Extras" above). `job`: a module-level
    function `job(cfg, cancel=...)` returning the run dict, used instead of training `cfg` plainly (for
    runs measured while they train); `cancel.is_set()` tells it its sweep was cancelled.
    """
    if backend not in ("process", "joblib"):
        raise ValueError(f"backend must be 'process' or 'joblib', got {backend!r}")
    names = extra_names(extras)
    if job is not None and names:
        raise ValueError("extras are computed on a plainly trained run: a job computes its own")
    cfgs = [c if isinstance(c, RunConfig) else RunConfig.from_dict(c) for c in configs]
    results: list[dict | None] = [None] * len(cfgs)

    def deliver(i: int, run: dict, fresh: bool) -> None:
        if run["status"] not in REUSABLE:  # stopped by `cancel`: not a result
            return
        if fresh and store is not None:
            store.save(run)
        results[i] = strip_hist(run) if light else run
        if on_result is not None:
            on_result(i, results[i])

    todo: list[int] = []
    for i, cfg in enumerate(cfgs):
        hit = store.find(cfg) if store is not None else None
        if hit is not None and any(name not in (hit.get("extras") or {}) for name in names):
            hit = None  # trained again for the extras it lacks (same numbers)
        if hit is not None:
            deliver(i, hit, fresh=False)
        else:
            todo.append(i)
    if not todo or (cancel is not None and cancel.is_set()):
        return results
    # Workers may drop the histograms themselves, unless the store needs the full run.
    worker_light = light and store is None
    if backend == "joblib":
        _run_joblib(cfgs, todo, workers, worker_light, cancel, deliver, names, job)
        return results
    if pool is not None:
        n = min(workers if workers is not None else pool.workers, pool.workers, len(todo))
        _run_pool(pool, cfgs, todo, max(1, n), worker_light, cancel, deliver, names, job)
        return results
    n = max(1, min(workers if workers is not None else (os.cpu_count() or 1), len(todo)))
    if n == 1:
        for i in todo:
            if cancel is not None and cancel.is_set():
                break
            torch.set_num_threads(1)  # what Trainer.step does anyway
            deliver(i, _train(cfgs[i], cancel.is_set if cancel is not None else None, names, job), fresh=True)
        return results
    with SweepPool(n) as own:
        _run_pool(own, cfgs, todo, n, worker_light, cancel, deliver, names, job)
    return results


def _run_pool(
    pool: SweepPool,
    cfgs: list[RunConfig],
    todo: list[int],
    n: int,
    light: bool,
    cancel: threading.Event | None,
    deliver: Callable[[int, dict, bool], None],
    extras: tuple[str, ...] = (),
    job: Job | None = None,
) -> None:
    # At most n runs in the pool at a time: the sweep's share of a pool other sweeps may use.
    queue = deque(todo)
    in_flight: dict[Future, int] = {}
    slot = pool._acquire()

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    try:
        while queue or in_flight:
            while queue and len(in_flight) < n and not cancelled():
                i = queue.popleft()
                in_flight[pool._submit(cfgs[i], light, slot, extras, job)] = i
            if cancelled():
                break
            done, _ = wait(in_flight, timeout=POLL_S if cancel is not None else None, return_when=FIRST_COMPLETED)
            for f in sorted(done, key=in_flight.__getitem__):
                deliver(in_flight.pop(f), f.result(), True)
    except BrokenProcessPool:
        pool.broken = True
        raise
    finally:
        if in_flight:  # cancelled, or an error: stop this sweep's runs at their next chunk
            pool._flags[slot] = 1
            for f in in_flight:
                f.cancel()
            wait(in_flight)
        pool._release(slot)
    # Runs that reached their end while the sweep wound down still count.
    for f in sorted(in_flight, key=in_flight.__getitem__):
        if not f.cancelled() and f.exception() is None:
            deliver(in_flight[f], f.result(), True)


def _run_joblib(
    cfgs: list[RunConfig],
    todo: list[int],
    workers: int | None,
    light: bool,
    cancel: threading.Event | None,
    deliver: Callable[[int, dict, bool], None],
    extras: tuple[str, ...] = (),
    job: Job | None = None,
) -> None:
    import joblib

    parallel = joblib.Parallel(n_jobs=workers if workers is not None else -1, return_as="generator_unordered")
    results = parallel(joblib.delayed(_joblib_job)(i, cfgs[i].to_dict(), light, extras, job) for i in todo)
    try:
        for i, run in results:
            deliver(i, run, True)
            if cancel is not None and cancel.is_set():
                break
    finally:
        results.close()  # drops the runs not started yet


def sweep_limit_error(configs: Sequence[RunConfig]) -> str | None:
    """Return a message if a sweep is too big for a shared server (naming the limit), else None."""
    steps = sum(c.steps for c in configs)
    if len(configs) > MAX_SWEEP_RUNS:
        return (
            f"{len(configs)} runs is more than this server allows in one sweep ({MAX_SWEEP_RUNS}); "
            "drop a seed or a batch size"
        )
    if steps > MAX_SWEEP_STEPS:
        return (
            f"{steps:,} training steps is more than this server allows in one sweep ({MAX_SWEEP_STEPS:,}); "
            "lower the steps, the seeds or the batch sizes"
        )
    return None
