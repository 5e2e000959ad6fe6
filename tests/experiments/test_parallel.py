"""Experiments on the process pool: the same numbers and verdicts as one run after another in the calling
thread (the page until 2026-12-05), partial runs as they finish, Cancel stops the pool's runs, and the
server's cache of finished experiments."""

import json
import threading
import time

import pytest

from vizcore.experiments import Cancelled, all_experiments, get
from vizcore.ui import experiment_cache as cache
from vizcore.workers.sweep import SweepPool

BUDGET = 0.02  # every run at its floor of 20 steps (a few hundred at most): the machinery, not the science
SEEDS = (0, 1)
TIMED = {"cost"}  # its numbers are timings: never equal twice


@pytest.fixture(scope="module")
def pool():
    with SweepPool(2) as p:
        p.warm()
        yield p


def numbers(result) -> str:
    """Return everything a Result measured and decided, as comparable text."""
    return json.dumps([result.measured, result.verdict.numbers, result.verdict.label, result.runs], sort_keys=True)


def strip_elapsed(result):
    for runs in result.runs.values():
        for r in runs:
            r.pop("elapsed_s", None)
    return result


@pytest.mark.parametrize("name", [e.name for e in all_experiments() if e.name not in TIMED])
def test_pool_gives_the_numbers_of_serial_runs(name, pool):
    exp = get(name)
    serial = strip_elapsed(exp.run(budget=BUDGET, seeds=SEEDS))
    seen = []
    parallel = strip_elapsed(
        exp.run(budget=BUDGET, seeds=SEEDS, workers=2, pool=pool, progress=lambda *a: seen.append(a))
    )
    assert numbers(parallel) == numbers(serial)
    assert parallel.verdict == serial.verdict
    finished = [a for a in seen if len(a) == 4]  # (done, total, label, run): a run for the partial chart
    assert len(finished) == sum(len(v) for v in serial.runs.values())
    assert [a[0] for a in finished] == list(range(1, len(finished) + 1))


@pytest.mark.parametrize("name", ["santurkar", "ioffe-fig1"])
def test_cancel_stops_an_experiment_on_the_pool(name, pool):
    exp = get(name)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        exp.run(budget=1.0, workers=2, pool=pool, cancel=cancel)
    assert time.monotonic() - t0 < 20  # a full run takes far longer: the pool's runs stopped
    assert get("depth").run(budget=BUDGET, seeds=(0,), workers=2, pool=pool).verdict.label  # the pool still works


def test_cache_keeps_results_by_exact_configs():
    cache.clear()
    exp, other = get("depth"), get("santurkar")
    assert cache.get(exp, BUDGET) is None
    # the warm-up trains in low-priority processes, one run after another: the numbers of a serial Run
    assert sorted(cache.warm([exp, other], budget=BUDGET, processes=2)) == ["depth", "santurkar"]
    hit = cache.get(exp, BUDGET)
    assert hit is not None and hit.result.name == "depth" and hit.seconds > 0 and hit.how == cache.WARMED
    assert hit.finished <= time.time()
    assert cache.warm([exp], budget=BUDGET) == []  # cached: not trained again
    assert cache.get(exp, 2 * BUDGET) is None  # another budget is another set of configs
    assert cache.key(exp, BUDGET) != cache.key(exp, BUDGET, seeds=(0, 1))
    for e in (exp, other):
        fresh = strip_elapsed(e.run(budget=BUDGET))
        assert numbers(strip_elapsed(cache.get(e, BUDGET).result)) == numbers(fresh)  # what a fresh Run gives
    cache.clear()


def test_a_stopped_warm_up_ends_its_processes():
    cache.clear()
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    assert cache.warm([get("running-stats")], budget=1.0, stop=stop) == []
    assert time.monotonic() - t0 < 30  # a full running-stats takes minutes
    assert cache.get(get("running-stats"), 1.0) is None
