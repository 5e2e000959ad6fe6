"""The batch-size lab's worker: a reduced sweep end to end in a background job (in process and in worker
processes), slots, cancel, and an unwatched sweep cancelling itself."""

import dataclasses
import threading

import pytest

from vizcore import RunConfig
from vizcore.labs import batch as lab
from vizcore.runs.store import RunStore
from vizcore.workers.base import Slots
from vizcore.workers.batch_sweep import SweepJob, SweepSnapshot
from vizcore.workers.sweep import SweepPool

TINY = RunConfig(dataset="digits", depth=2, width=8, groups=2, batch_size=16, steps=20, every=10, eval_every=10)


def wait(cond, timeout=60.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        done.wait(0.05)
    raise AssertionError("timed out")


def test_reduced_sweep_end_to_end_in_process(tmp_path):
    cfgs, _ = lab.make_grid(TINY, [2, 16], ["batch", "group"], n_seeds=1)
    slots = Slots(2)
    store = RunStore(tmp_path)
    job = SweepJob(cfgs, probe_cfg=lab.probe_config(TINY), store=store, slots=slots, workers=2).start()
    try:
        assert job.join(120)
        snap = job.snapshot()
        assert (snap.state, snap.error, snap.done, snap.total) == ("done", None, 4, 4)
        assert snap.workers == 1  # without a pool the sweep trains in its own thread: one slot
        assert slots.busy == 0
        probe = snap.probe
        assert probe is not None and probe.cfg == TINY.replace(norm="batch") and probe.status == "completed"
        rows = lab.summarize(cfgs, snap.runs)
        assert all(r["status"] == "completed" for r in rows)
        bn = [r for r in rows if r["norm"] == "batch"]
        assert all(r["test_eval_acc"] == pytest.approx(r["final_test_acc"]) for r in bn)
        assert all(r["test_gap"] == pytest.approx(r["test_eval_acc"] - r["test_train_mode_acc"]) for r in bn)
        t = lab.aggregate(rows)
        assert [(r["norm"], r["batch_size"], r["steps"]) for r in t] == [
            ("batch", 2, 160),
            ("batch", 16, 20),
            ("group", 2, 160),
            ("group", 16, 20),
        ]
        v = lab.verdict(t)
        assert v["kind"] in ("bn_worse", "similar", "bn_better") and "batch 16 to batch 2" in v["text"]
        assert all(c.key in store for c in cfgs)
        # Again: every run is a store hit (with its extras); the finished probe is reused.
        again = SweepJob(cfgs, probe_cfg=probe.cfg, probe=probe, store=store, slots=slots).start()
        assert again.join(60) and again.snapshot().probe is probe
        assert [r["curves"] for r in again.snapshot().runs] == [r["curves"] for r in snap.runs]
    finally:
        job.cancel()
        job.join(30)


def test_job_waits_for_a_slot_and_cancel_stops_it(tmp_path):
    slots = Slots(1)
    assert slots.acquire(1)  # someone else trains
    long = [TINY.replace(steps=200_000, seed=s) for s in range(2)]
    job = SweepJob(long, store=RunStore(tmp_path), slots=slots).start()
    try:
        wait(lambda: job.snapshot().state == "waiting")
        slots.release()
        wait(lambda: job.snapshot().state == "running")
        job.cancel()
        assert job.join(30)
        snap = job.snapshot()
        assert snap.state == "cancelled" and snap.done == 0 and snap.runs == [None, None]
        assert slots.busy == 0
        # Cancelled while waiting: never trains, still gives nothing back it did not take.
        assert slots.acquire(1)
        waiting = SweepJob(long, slots=slots).start()
        wait(lambda: waiting.snapshot().state == "waiting")
        waiting.cancel()
        assert waiting.join(10) and waiting.snapshot().state == "cancelled" and slots.busy == 1
        slots.release()
    finally:
        job.cancel()
        job.join(30)


def test_sweep_in_worker_processes_takes_one_slot_per_worker(tmp_path):
    """The one test here with real worker processes (each takes seconds to start)."""
    cfgs, _ = lab.make_grid(TINY, [4, 16], ["batch", "layer"], n_seeds=1)
    with SweepPool(2) as pool:
        capped = Slots(1)
        job = SweepJob(cfgs[:2], pool=pool, workers=pool.workers, slots=capped).start()
        assert job.join(120)
        first = job.snapshot()
        assert (first.state, first.workers, capped.busy) == ("done", 1, 0)  # the cap wins over the pool
        slots = Slots(3)
        job = SweepJob(cfgs, pool=pool, workers=pool.workers, slots=slots, store=RunStore(tmp_path)).start()
        assert job.join(120)
        snap = job.snapshot()
        assert (snap.state, snap.error, snap.workers, slots.busy) == ("done", None, 2, 0)
    rows = lab.summarize(cfgs, snap.runs)
    assert all(r["test_eval_acc"] is not None for r in rows)  # computed in the workers
    # A config determines its run, whichever worker trains it (all but the wall-clock time).
    assert [(r["curves"], r["extras"]) for r in snap.runs[:2]] == [(r["curves"], r["extras"]) for r in first.runs]


def test_an_unwatched_sweep_cancels_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_IDLE_STOP", "0.3")
    job = SweepJob([TINY.replace(steps=200_000)], store=RunStore(tmp_path), slots=Slots(1))
    assert job.idle_cancel == 0.3
    job.start()
    try:
        assert job.join(30)  # nobody called snapshot(): cancelled at the next chunk after 0.3 s
        assert job.state == "cancelled"
    finally:
        job.cancel()
        job.join(30)


def test_snapshot_is_a_frozen_copy():
    job = SweepJob([TINY], slots=Slots(1))
    snap = job.snapshot()
    assert isinstance(snap, SweepSnapshot)
    assert (snap.state, snap.done, snap.total, snap.runs, snap.probe, snap.elapsed) == ("new", 0, 1, [None], None, 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.state = "done"
