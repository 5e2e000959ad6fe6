"""The server's cache of finished experiments: a Run answered in a moment, saying when its runs trained.

An experiment at its default budget trains 6 to 54 runs: 12 to 160 s on one core, still 6 to 80 s
on the server's two pool workers. Every run is fixed by its config (seed included), so an
experiment run twice on the same code gives the same numbers; the cache keeps each finished
Result under the exact configs it trained (plus the experiment, budget and seeds), and
`warm()` fills it in the background when the server starts. The page says which verdict came
from the cache, when its runs were trained, and offers to train them fresh. The cost
experiment's numbers are timings: a cached one is the timing measured then, as the page says.
Nothing here imports Streamlit: the warm-up thread uses it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vizcore.experiments import Experiment, Result
from vizcore.workers.lifetime import exit_with_parent


@dataclass(frozen=True)
class Cached:
    """A finished experiment: its Result, when it finished (time.time()) and how long it took (s)."""

    result: Result
    finished: float
    seconds: float
    how: str  # WARMED (the server's warm-up) or RUN (a Run on the page)


WARMED, RUN = "warm-up", "run"
TIMED = {"cost"}  # experiments whose numbers are timings: a cached one is the timing measured then
NICE = 19  # the warm-up's processes: lowest priority, so everyone's own runs go first
_cache: dict[str, Cached] = {}
_lock = threading.Lock()


def key(exp: Experiment, budget: float, seeds: Sequence[int] | None = None) -> str:
    """Return the cache key of `exp` at `budget`: its name, budget, seeds and every config it trains."""
    seeds = tuple(seeds) if seeds is not None else exp.seeds
    configs = [[label, cfg.to_dict()] for label, cfg in exp.configs(budget, seeds)]
    return json.dumps([exp.name, budget, list(seeds), configs], sort_keys=True)


def get(exp: Experiment, budget: float) -> Cached | None:
    """Return the cached outcome of `exp` at `budget` (default seeds), or None."""
    with _lock:
        return _cache.get(key(exp, budget))


def put(exp: Experiment, result: Result, seconds: float, how: str = RUN) -> Cached:
    """Keep `result` (finished now, after `seconds`) for `exp` at its budget and seeds; return the entry."""
    entry = Cached(result, time.time(), seconds, how)
    with _lock:
        _cache[key(exp, result.budget, result.seeds)] = entry
    return entry


def clear() -> None:
    """Forget every cached experiment."""
    with _lock:
        _cache.clear()


def run(
    exp: Experiment,
    budget: float,
    progress: Any = None,
    cancel: threading.Event | None = None,
    pool: Any = None,
) -> Result:
    """Return `exp.run(budget)` trained fresh, on `pool`'s workers if given, and keep it in the cache."""
    t0 = time.monotonic()
    workers = pool.workers if pool is not None else 1
    result = exp.run(budget=budget, progress=progress, cancel=cancel, workers=workers, pool=pool)
    put(exp, result, time.monotonic() - t0)
    return result


def _warm_worker(names: Any, budget: float, out: Any, parent: int) -> None:
    """Warm-up process: train each experiment named on `names` (until None) at low priority; put its Result on `out`."""
    import torch

    from vizcore.experiments import get as get_experiment

    exit_with_parent(parent)  # a server that is killed must not leave its warm-up training
    os.nice(NICE)
    torch.set_num_threads(1)
    for name in iter(names.get, None):
        t0 = time.monotonic()
        try:
            result = get_experiment(name).run(budget=budget)
        except Exception:  # a Run on the page trains it again and shows the error
            out.put((name, None, 0.0))
            continue
        out.put((name, result, time.monotonic() - t0))


def warm(
    experiments: Sequence[Experiment],
    budget: float = 1.0,
    processes: int = 2,
    stop: threading.Event | None = None,
) -> list[str]:
    """Train every experiment not cached yet at `budget` and cache it; return the names cached, in order done.

    The runs train in `processes` daemon processes at the lowest priority (nice 19): they use
    cores nobody else wants, so a class's own runs go first, and they end with this process.
    Each experiment trains one run after another, the numbers of a Run on the page. Returns early,
    stopping the processes, once `stop` is set.
    """
    todo = {e.name: e for e in experiments if get(e, budget) is None}
    if not todo:
        return []
    ctx = multiprocessing.get_context("spawn")  # the server runs threads: never fork it
    names, out = ctx.Queue(), ctx.Queue()
    for name in todo:
        names.put(name)
    n = max(1, min(processes, len(todo)))
    for _ in range(n):
        names.put(None)
    workers = [ctx.Process(target=_warm_worker, args=(names, budget, out, os.getpid()), daemon=True) for _ in range(n)]
    for w in workers:
        w.start()
    done: list[str] = []
    try:
        for _ in range(len(todo)):
            while True:
                if stop is not None and stop.is_set():
                    return done
                try:
                    name, result, seconds = out.get(timeout=0.5)
                    break
                except queue.Empty:
                    if not any(w.is_alive() for w in workers):
                        return done
            if result is not None:
                put(todo[name], result, seconds, WARMED)
                done.append(name)
        return done
    finally:
        for w in workers:
            if w.is_alive() and stop is not None and stop.is_set():
                w.terminate()
            w.join(timeout=1.0)
