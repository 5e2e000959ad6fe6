"""Sweeps: worker processes give the numbers of an in-process run, in input order; store hits are
not trained again; cancel stops the sweep; a broken pool is marked and the shared one replaced."""

import threading

import joblib
import pytest

from tests.helpers import comparable
from vizcore import RunConfig, Trainer
from vizcore.runs.store import RunStore
from vizcore.workers import sweep as sweep_mod
from vizcore.workers.sweep import SweepPool, run_many, strip_hist

SMALL = dict(dataset="moons", depth=2, width=8, batch_size=32, steps=60, every=10, eval_every=20)


@pytest.fixture(scope="module")
def configs() -> list[RunConfig]:
    base = RunConfig(**SMALL)
    return [
        base,
        base.replace(norm="layer", seed=1),
        base.replace(norm="none", batch_size=8),
        base.replace(norm="batch", placement="after", seed=2),
    ]


@pytest.fixture(scope="module")
def references(configs) -> list[dict]:
    return [comparable(Trainer(c).run()) for c in configs]


@pytest.fixture(scope="module")
def pool():
    """One pool of two worker processes for the module: a worker takes seconds to start."""
    with SweepPool(2) as pool:
        yield pool


def no_training(monkeypatch) -> None:
    """Make every way of training fail: a sweep that still returns trained nothing."""

    def fail(*args, **kwargs):
        raise AssertionError("a run was trained")

    monkeypatch.setattr(sweep_mod, "_train", fail)
    monkeypatch.setattr(sweep_mod, "ProcessPoolExecutor", fail)
    monkeypatch.setattr(sweep_mod, "_run_joblib", fail)


class CountingStore(RunStore):
    def __init__(self, root):
        super().__init__(root)
        self.hits = self.saves = 0

    def find(self, cfg):
        run = super().find(cfg)
        self.hits += run is not None
        return run

    def save(self, run):
        self.saves += 1
        return super().save(run)


def test_pool_matches_in_process_keeps_order_and_fills_store(configs, references, tmp_path, monkeypatch, pool):
    # Without pool=, run_many starts a SweepPool of `workers` processes for the call; lend it the module's.
    started = []

    class Borrowed:
        def __init__(self, n):
            started.append(n)

        def __enter__(self):
            return pool

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(sweep_mod, "SweepPool", Borrowed)
    store = CountingStore(tmp_path)
    seen: list[tuple[int, int]] = []
    runs = run_many(configs, workers=2, store=store, on_result=lambda i, run: seen.append((i, threading.get_ident())))
    assert started == [2]
    assert [comparable(r) for r in runs] == references  # same numbers as Trainer(cfg).run() here
    assert [r["config"] for r in runs] == [c.to_dict() for c in configs]
    assert sorted(i for i, _ in seen) == list(range(len(configs)))
    assert {t for _, t in seen} == {threading.get_ident()}  # on_result runs in the calling thread
    assert (store.hits, store.saves) == (0, len(configs))
    assert all(c.key in store for c in configs)

    # Second sweep: every config is a store hit, so nothing may train.
    no_training(monkeypatch)
    seen.clear()
    again = run_many(configs, workers=2, store=store, on_result=lambda i, run: seen.append((i, 0)))
    assert (store.hits, store.saves) == (len(configs), len(configs))  # nothing trained, nothing saved
    assert [comparable(r) for r in again] == references
    assert sorted(i for i, _ in seen) == list(range(len(configs)))


def test_in_process_light_keeps_full_runs_in_store(configs, references, tmp_path):
    store = RunStore(tmp_path)
    runs = run_many(configs[:2], workers=1, light=True, store=store)
    for run, ref in zip(runs, references, strict=False):
        assert all("hist" not in tap for layer in run["layers"] for tap in layer["taps"].values())
        assert comparable(run) == comparable(strip_hist(ref))
        assert comparable(store.get(RunConfig.from_dict(run["config"]).key)) == ref
    assert "hist" in references[0]["layers"][0]["taps"]["linear"]  # strip_hist copies, never mutates


def test_joblib_backend_follows_the_callers_backend(configs, references):
    # The caller picks joblib's backend (on a cluster: "dask" or "ray"); threads here keep the test fast.
    with joblib.parallel_config(backend="threading"):
        runs = run_many(configs, workers=2, backend="joblib", light=True)
    assert [comparable(r) for r in runs] == [comparable(strip_hist(r)) for r in references]
    with pytest.raises(ValueError, match="backend"):
        run_many(configs, backend="threads")


def test_cancel_before_start_trains_nothing(configs, monkeypatch):
    no_training(monkeypatch)
    cancel = threading.Event()
    cancel.set()
    assert run_many(configs, workers=2, cancel=cancel) == [None] * len(configs)


def test_cancel_in_process_keeps_what_finished(configs, references):
    cancel = threading.Event()
    runs = run_many(configs, workers=1, cancel=cancel, on_result=lambda i, run: cancel.set())
    assert comparable(runs[0]) == references[0]
    assert runs[1:] == [None] * (len(configs) - 1)


def test_cancel_stops_running_and_queued_runs_and_the_pool_lives_on(configs, references, pool):
    # Long enough that a run cannot finish between the first result and the stop signal.
    long = [RunConfig(**{**SMALL, "steps": 1000, "seed": s}) for s in range(6)]
    cancel = threading.Event()
    seen = []

    def first(i, run):
        seen.append(i)
        cancel.set()

    runs = run_many(long, pool=pool, cancel=cancel, on_result=first)
    finished = [i for i, r in enumerate(runs) if r is not None]
    assert seen and set(seen) == set(finished)
    assert 1 <= len(finished) <= 2  # the first, and at most the other run already under way
    assert all(runs[i]["status"] == "completed" for i in finished)
    # The cancel flag belonged to that sweep: the next one on the same pool runs in full.
    again = run_many(configs[:3], pool=pool, workers=2)
    assert [comparable(r) for r in again] == references[:3]


def test_extras_are_computed_on_the_finished_trainer_in_any_worker(configs, references, tmp_path, monkeypatch, pool):
    from vizcore.measures.batch import train_eval_gap

    cfgs = configs[:2]  # batch norm, layer norm
    expected = []
    for c in cfgs:
        t = Trainer(c)
        t.run()
        expected.append(train_eval_gap(t))
    assert expected[0]["has_batch_norm"] and not expected[1]["has_batch_norm"]
    diverging = RunConfig(**{**SMALL, "norm": "none", "lr": 1e4})

    # In process; a stored run without the extra is trained again (same numbers) and replaced.
    store = CountingStore(tmp_path)
    store.save(references[0])
    runs = run_many([*cfgs, diverging], workers=1, store=store, extras="train_eval_gap", light=True)
    assert [r["extras"]["train_eval_gap"] for r in runs[:2]] == expected
    assert runs[2]["status"] == "diverged" and runs[2]["extras"] == {"train_eval_gap": None}
    assert comparable({k: v for k, v in runs[0].items() if k != "extras"}) == comparable(strip_hist(references[0]))
    assert store.saves == 1 + 3
    assert store.get(cfgs[0].key)["extras"]["train_eval_gap"] == expected[0]

    # In worker processes: the same numbers come back inside the run dicts.
    pooled = run_many(cfgs, pool=pool, extras=["train_eval_gap"])
    assert [r["extras"]["train_eval_gap"] for r in pooled] == expected

    # Stored runs that carry the extra are reused; without `extras` nothing changes.
    no_training(monkeypatch)
    hits = run_many([*cfgs, diverging], workers=2, store=store, extras="train_eval_gap")
    assert [r["extras"]["train_eval_gap"] for r in hits[:2]] == expected
    assert "extras" not in references[0]
    with pytest.raises(ValueError, match="extras"):
        run_many(cfgs, extras="nope")


def test_sweep_limits_name_the_limit():
    from vizcore.workers.settings import MAX_SWEEP_RUNS
    from vizcore.workers.sweep import sweep_limit_error

    small = [RunConfig(steps=100)] * 3
    assert sweep_limit_error(small) is None
    assert str(MAX_SWEEP_RUNS) in sweep_limit_error([RunConfig(steps=10)] * (MAX_SWEEP_RUNS + 1))
    assert "training steps" in sweep_limit_error([RunConfig(steps=200_000)] * 6)


def test_a_pool_that_loses_a_worker_is_marked_broken(configs):
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    pool = SweepPool(1)  # no worker process starts before the first submit
    try:

        def died(*args, **kwargs):
            f = Future()
            f.set_exception(BrokenProcessPool("a worker process died"))
            return f

        pool._submit = died
        assert not pool.broken
        with pytest.raises(BrokenProcessPool):
            run_many(configs[:1], pool=pool)
        assert pool.broken
    finally:
        pool.close()


def test_the_shared_pool_is_made_once_replaced_when_broken_and_off_without_processes(monkeypatch):
    made = []

    class Fake:
        def __init__(self, workers):
            self.workers, self.broken, self.closed = workers, False, False
            made.append(self)

        def close(self, wait=True):
            self.closed = True

    monkeypatch.setattr(sweep_mod, "SweepPool", Fake)
    monkeypatch.setattr(sweep_mod, "_shared", None)
    monkeypatch.setenv("NORMLAB_SWEEP_PROCESSES", "1")
    first = sweep_mod.shared_pool()
    assert sweep_mod.shared_pool() is first and first.workers == sweep_mod.pool_workers()
    first.broken = True
    second = sweep_mod.shared_pool()
    assert second is not first and first.closed and not second.closed and len(made) == 2
    monkeypatch.setenv("NORMLAB_SWEEP_PROCESSES", "0")
    assert sweep_mod.shared_pool() is None  # sweeps then train in their own thread
