"""Covariate-shift lab's worker: results shape on a small budget, reuse, slots, cancel and an unwatched lab."""

import dataclasses
import threading
import time

import pytest

from vizcore import RunConfig
from vizcore.labs.shift import verdict
from vizcore.workers.base import Cancelled, Slots
from vizcore.workers.shift_lab import ShiftLab, ShiftSnapshot, run_internal, train_external

TINY = RunConfig(depth=3, width=8, steps=40, every=5, eval_every=10, batch_size=32, norm_noise=0.3)


@pytest.fixture(scope="module")
def internal():
    calls = []
    res = run_internal(TINY, every=10, progress=lambda f, m: calls.append((f, m)))
    return res, calls


def test_internal_results_shape(internal):
    res, calls = internal
    assert [r["key"] for r in res["runs"]] == ["none", "norm", "noisy"]
    assert [r["config"]["norm"] for r in res["runs"]] == ["none", "batch", "batch"]
    assert [r["config"]["norm_noise"] for r in res["runs"]] == [0.0, 0.0, 0.3]
    assert res["tap"] == "act" and res["every"] == 10
    for r in res["runs"]:
        assert r["status"] == "completed"
        assert r["gshift"]["steps"] == [0, 10, 20, 30]
        assert len(r["gshift"]["layers"]) == 3 and len(r["drift"]["layers"]) == 3
        for la in r["gshift"]["layers"]:
            assert len(la["l2"]) == len(la["cos"]) == len(la["rel"]) == 4
            assert la["rel"] == [a / b for a, b in zip(la["l2"], la["grad_norm"])]
        assert r["gshift"]["layers"][0]["l2"] == [0.0] * 4  # block 1 has no earlier layers
        # snapshots at 0, 5, ..., 35, compared on the probe 5 steps apart (a tenth of the run, in whole strides)
        assert r["drift"]["lag"] == 5
        for la in r["drift"]["layers"]:
            assert la["steps"] == list(range(5, 40, 5)) and len(la["w1"]) == len(la["steps"])
            assert la["noise_steps"] == list(range(0, 40, 5)) and len(la["noise"]) == 8
        assert r["final_test_acc"] == r["curves"]["test_acc"][-1]
    s = res["summary"]
    assert set(s["gshift"]) == set(s["drift"]) == set(s["acc"]) == {"none", "norm", "noisy"}
    assert s["gshift_ratio"] == pytest.approx(s["gshift"]["norm"] / s["gshift"]["none"])
    assert s["noisy_gap"] == pytest.approx(100 * (s["acc"]["noisy"] - s["acc"]["norm"]))
    assert res["verdict"] == verdict(s) and all(isinstance(v, str) for v in res["verdict"])
    assert f"{s['gshift_ratio']:.2g} times" in res["verdict"][0]
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_cache_reuses_measured_runs(internal):
    cache = {}
    first = run_internal(TINY.replace(norm_noise=0.0), every=10, cache=cache)
    n = len(cache)
    calls = []
    again = run_internal(TINY.replace(norm_noise=0.0), every=10, cache=cache, progress=lambda f, m: calls.append(m))
    assert again["runs"] == first["runs"] and len(cache) == n and calls == []
    res, _ = internal
    assert first["runs"][0]["gshift"] == res["runs"][0]["gshift"]  # reproducible: same config, same numbers


def test_cancel_raises_and_stops_the_lab():
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        run_internal(TINY, every=10, cancel=ev)
    with pytest.raises(Cancelled):
        train_external(TINY, cancel=ev)
    lab = ShiftLab(TINY.replace(steps=20_000, every=100, eval_every=1000), slots=Slots(1)).start()
    try:
        end = time.monotonic() + 30
        while lab.snapshot().progress == 0 and time.monotonic() < end:
            time.sleep(0.02)
        lab.stop()
        assert lab.join(10)
        snap = lab.snapshot()
        assert snap.state == "stopped" and snap.internal is None and snap.error is None
        assert 0 < snap.progress < 0.5
        assert lab.slots.busy == 0
    finally:
        lab.stop()
        lab.join(10)


def test_lab_waits_for_a_slot_then_completes_and_reuses():
    slots = Slots(1)
    assert slots.acquire(1)
    lab = ShiftLab(TINY, slots=slots, every=10).start()
    try:
        time.sleep(0.3)
        assert lab.snapshot().state == "waiting" and lab.snapshot().message == "waiting for a free slot"
        slots.release()
        assert lab.wait(60)
        snap = lab.snapshot()
        assert snap.state == "done" and snap.external_ready and snap.progress == 1.0
        assert [r["key"] for r in snap.internal["runs"]] == ["none", "norm", "noisy"]
        assert slots.busy == 0
        again = ShiftLab(TINY.replace(norm_noise=0.5), reuse=lab, slots=slots, every=10).start()
        assert again.wait(60)
        same = again.snapshot().internal["runs"]
        assert same[:2] == snap.internal["runs"][:2] and same[2]["config"]["norm_noise"] == 0.5
        assert lab.curves(1.0, 0.3)["at"]["shift"] == 0.3
    finally:
        lab.stop()
        lab.join(10)


def test_an_unwatched_lab_stops_and_frees_its_slot():
    slots = Slots(1)
    lab = ShiftLab(TINY.replace(steps=20_000, every=100, eval_every=1000), slots=slots, idle_stop=0.2).start()
    try:
        assert lab.join(30)
        snap = lab.snapshot()
        assert snap.state == "stopped" and snap.message == "stopped: nobody was watching"
        assert slots.busy == 0
    finally:
        lab.stop()
        lab.join(10)


def test_snapshot_is_a_frozen_copy():
    lab = ShiftLab(TINY, slots=Slots(1))
    snap = lab.snapshot()
    assert isinstance(snap, ShiftSnapshot)
    assert (snap.state, snap.progress, snap.internal, snap.external_ready) == ("new", 0.0, None, False)
    assert (snap.slots_busy, snap.slots_total, snap.error) == (0, 1, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.state = "done"
