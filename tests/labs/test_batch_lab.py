"""Batch-size lab: the grid, aggregation with bands (against hand-computed values), the verdict rule on
known inputs, plain-words sentences, and a reduced sweep end to end in a background job (in process)."""

import math
import os
import threading

import pytest

from vizcore import RunConfig
from vizcore.labs import batch as lab
from vizcore.runs.store import RunStore
from vizcore.workers.jobs import Slots

TINY = RunConfig(dataset="digits", depth=2, width=8, groups=2, batch_size=16, steps=20, every=10, eval_every=10)


def row(norm, b, acc, seed=0, status="completed", **more):
    return {
        "norm": norm,
        "batch_size": b,
        "seed": seed,
        "steps": 100,
        "lr": 0.1,
        "final_test_acc": acc,
        "status": status,
        **more,
    }


def table(spec: dict, stds: dict | None = None) -> list[dict]:
    """An aggregate-like table from {norm: {batch: mean}} with optional {(norm, batch): std}."""
    stds = stds or {}
    out = []
    for norm, cells in spec.items():
        for b, mean in cells.items():
            sd = stds.get((norm, b), 0.0)
            out.append(
                {
                    "norm": norm,
                    "batch_size": b,
                    "mean": mean,
                    "std": sd,
                    "n": 3 if sd else 1,
                    "diverged": 0,
                    "lo": mean - sd,
                    "hi": mean + sd,
                }
            )
    return out


# ----------------------------------------------------------------- grid


def test_make_grid_scales_lr_and_seeds_and_skips_invalid():
    base = TINY.replace(lr=0.2, seed=7)
    cfgs, skipped = lab.make_grid(base, [16, 2, 2], ["batch", "instance", "layer"], n_seeds=2)
    assert [(c.norm, c.batch_size, c.seed) for c in cfgs[:4]] == [
        ("batch", 2, 7),
        ("batch", 2, 8),
        ("batch", 16, 7),
        ("batch", 16, 8),
    ]
    assert len(cfgs) == 2 * 2 * 2  # instance norm on an mlp is left out
    assert {ch["norm"] for ch, _ in skipped} == {"instance"}
    by = {(c.norm, c.batch_size): c for c in cfgs}
    assert by[("batch", 2)].lr == pytest.approx(0.2 * 2 / 16)
    assert by[("layer", 16)].lr == pytest.approx(0.2)
    assert by[("batch", 2)].steps == 20 * 16 // 2  # equal samples
    assert by[("batch", 2)].eval_every == 80  # the cadence scales with the steps
    fixed, _ = lab.make_grid(base, [2, 16], ["layer"], budget="steps", scale_lr=False)
    assert {(c.steps, c.lr) for c in fixed} == {(20, 0.2)}
    assert "instance" in lab.norm_options(TINY.replace(model="cnn", groups=2))
    assert "instance" not in lab.norm_options(TINY)
    assert lab.probe_config(TINY.replace(norm="layer")).norm == "batch"
    assert lab.probe_config(TINY.replace(norm="layer", batch_size=1)) is None


# ----------------------------------------------------------------- aggregation


def test_aggregate_means_stds_and_bands_by_hand():
    rows = [
        row("group", 2, 0.6, seed=1),
        row("batch", 8, 0.9),
        row("batch", 2, 0.5, seed=0),
        row("batch", 2, 1.0, seed=2),
        row("batch", 2, 0.6, seed=1, status="diverged"),
        row("batch", 4, None, status="cancelled"),  # no finished value: no cell
        row("group", 2, None, seed=0, status="cancelled"),
    ]
    t = lab.aggregate(rows)
    assert [(r["norm"], r["batch_size"]) for r in t] == [("group", 2), ("batch", 2), ("batch", 8)]
    cell = t[1]
    # values 0.5, 0.6, 1.0 (in seed order): mean 0.7, sum of squares .04 + .01 + .09 = .14, var .14 / 2
    assert cell["values"] == [0.5, 0.6, 1.0]
    assert cell["mean"] == pytest.approx(0.7)
    assert cell["std"] == pytest.approx(math.sqrt(0.07))
    assert (cell["min"], cell["max"], cell["lo"], cell["hi"]) == (0.5, 1.0, 0.5, 1.0)
    assert (cell["n"], cell["runs"], cell["diverged"]) == (3, 3, 1)
    assert t[0]["n"] == 1 and t[0]["runs"] == 2 and t[0]["std"] == 0.0
    std = lab.aggregate(rows, band="std")[1]
    assert std["lo"] == pytest.approx(0.7 - math.sqrt(0.07)) and std["hi"] == pytest.approx(0.7 + math.sqrt(0.07))
    assert [r["norm"] for r in lab.aggregate(rows, norms=["group"])] == ["group"]
    assert lab.aggregate([row("batch", 2, 0.5, test_gap=0.25)], "test_gap")[0]["mean"] == 0.25
    with pytest.raises(ValueError, match="band"):
        lab.aggregate(rows, band="iqr")


def test_summarize_adds_lr_and_the_train_eval_gap():
    cfgs = [TINY, TINY.replace(norm="layer")]
    gap = {"test_eval_acc": 0.9, "test_train_mode_acc": 0.8, "test_gap": 0.1}
    runs = [
        {
            "status": "completed",
            "curves": {"test_acc": [0.1, 0.9], "train_acc": [0.2, 0.95]},
            "extras": {"train_eval_gap": gap},
        },
        None,
    ]
    rows = lab.summarize(cfgs, runs)
    assert rows[0]["final_test_acc"] == 0.9 and rows[0]["lr"] == TINY.lr
    assert (rows[0]["test_eval_acc"], rows[0]["test_train_mode_acc"], rows[0]["test_gap"]) == (0.9, 0.8, 0.1)
    assert rows[1]["status"] == "cancelled" and rows[1]["test_gap"] is None


# ----------------------------------------------------------------- verdict


def test_verdict_batch_norm_worse_with_the_numbers():
    t = table(
        {
            "batch": {2: 0.40, 8: 0.90, 128: 0.97},
            "group": {2: 0.93, 128: 0.94},
            "layer": {2: 0.95, 128: 0.96},
            "none": {2: 0.2, 128: 0.8},
        }
    )
    v = lab.verdict(t)
    assert v["kind"] == "bn_worse" and (v["b_small"], v["b_large"]) == (2, 128)
    assert v["drops"]["batch"]["drop"] == pytest.approx(0.57)
    assert v["reference"] in ("group", "layer") and v["excess"] == pytest.approx(0.56)
    assert "none" not in v["drops"]  # no norm is not a batch-free normalizer
    assert "batch norm lost 57.0 points (97.0% → 40.0%)" in v["text"]
    assert "group norm lost 1.0 point (94.0% → 93.0%)" in v["text"]
    assert "Wu & He" in v["text"] and "One seed" in v["text"]


def test_verdict_similar_and_better_and_noise_margin():
    similar = lab.verdict(table({"batch": {4: 0.95, 64: 0.96}, "group": {4: 0.94, 64: 0.955}}))
    assert similar["kind"] == "similar" and "does not show" in similar["text"]
    assert similar["threshold"] == lab.MIN_MARGIN
    better = lab.verdict(table({"batch": {4: 0.97, 64: 0.96}, "layer": {4: 0.80, 64: 0.95}}))
    assert better["kind"] == "bn_better" and "opposite" in better["text"]
    # A 10-point excess is within twice the seed-to-seed noise here: not called a difference.
    noisy = table(
        {"batch": {2: 0.80, 64: 0.90}, "group": {2: 0.90, 64: 0.90}},
        stds={("batch", 2): 0.06, ("batch", 64): 0.0, ("group", 2): 0.0, ("group", 64): 0.0},
    )
    v = lab.verdict(noisy)
    assert v["threshold"] == pytest.approx(0.12) and v["kind"] == "similar"


def test_verdict_needs_batch_norm_a_batch_free_norm_and_two_common_batches():
    assert lab.verdict([])["kind"] == "insufficient"
    assert lab.verdict(table({"batch": {2: 0.5, 64: 0.9}, "none": {2: 0.5, 64: 0.9}}))["kind"] == "insufficient"
    assert lab.verdict(table({"group": {2: 0.5, 64: 0.9}}))["kind"] == "insufficient"
    one = lab.verdict(table({"batch": {2: 0.5, 64: 0.9}, "group": {4: 0.9, 64: 0.9}}))
    assert one["kind"] == "insufficient" and "fewer than two" in one["text"]
    # Only the batch sizes every compared norm has count: 4 and 64 here (batch norm has no 1).
    v = lab.verdict(table({"batch": {4: 0.6, 64: 0.9}, "layer": {1: 0.2, 4: 0.9, 64: 0.9}}))
    assert (v["b_small"], v["b_large"], v["kind"]) == (4, 64, "bn_worse")


def test_gap_and_deviation_sentences():
    ev = table({"batch": {2: 0.46, 64: 0.97}})
    low = table({"batch": {2: 0.30, 64: 0.97}})
    assert "not what costs" in lab.gap_sentence(ev, low) and "46.0%" in lab.gap_sentence(ev, low)
    assert "mismatch" in lab.gap_sentence(low, ev)
    assert "agree within" in lab.gap_sentence(ev, ev)
    assert lab.gap_sentence(ev, []) == ""
    dev = {
        "batch_size": 4,
        "layer": 0,
        "values_per_unit": 4,
        "summary": {"z_std": 0.5, "var_ratio_median": 0.6, "var_ratio_p10": 0.1, "var_ratio_p90": 1.5},
        "theory": {"z_std": 0.5},
    }
    s = lab.deviation_sentence(dev)
    assert s.startswith("At batch 4, a typical batch mean is off by 0.50 standard deviations") and "0.60 times" in s
    assert "nothing to measure" in lab.deviation_sentence({**dev, "summary": {**dev["summary"], "z_std": math.nan}})


# ----------------------------------------------------------------- the job, end to end


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
    job = lab.SweepJob(cfgs, probe_cfg=lab.probe_config(TINY), store=store, slots=slots, workers=2).start()
    try:
        assert job.join(120)
        snap = job.snapshot()
        assert (snap["state"], snap["error"], snap["done"], snap["total"]) == ("done", None, 4, 4)
        assert snap["workers"] == 1  # without a pool the sweep trains in its own thread: one slot
        assert slots.busy == 0
        probe = snap["probe"]
        assert probe is not None and probe.cfg == TINY.replace(norm="batch") and probe.status == "completed"
        rows = lab.summarize(cfgs, snap["runs"])
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
        again = lab.SweepJob(cfgs, probe_cfg=probe.cfg, probe=probe, store=store, slots=slots).start()
        assert again.join(60) and again.snapshot()["probe"] is probe
        assert [r["curves"] for r in again.snapshot()["runs"]] == [r["curves"] for r in snap["runs"]]
    finally:
        job.cancel()
        job.join(30)


def test_job_waits_for_a_slot_and_cancel_stops_it(tmp_path):
    slots = Slots(1)
    assert slots.acquire(1)  # someone else trains
    long = [TINY.replace(steps=200_000, seed=s) for s in range(2)]
    job = lab.SweepJob(long, store=RunStore(tmp_path), slots=slots).start()
    try:
        wait(lambda: job.snapshot()["state"] == "waiting")
        slots.release()
        wait(lambda: job.snapshot()["state"] == "running")
        job.cancel()
        assert job.join(30)
        snap = job.snapshot()
        assert snap["state"] == "cancelled" and snap["done"] == 0 and snap["runs"] == [None, None]
        assert slots.busy == 0
        # Cancelled while waiting: never trains, still gives nothing back it did not take.
        assert slots.acquire(1)
        waiting = lab.SweepJob(long, slots=slots).start()
        wait(lambda: waiting.snapshot()["state"] == "waiting")
        waiting.cancel()
        assert waiting.join(10) and waiting.snapshot()["state"] == "cancelled" and slots.busy == 1
        slots.release()
    finally:
        job.cancel()
        job.join(30)


def test_pool_workers_follow_the_server_cap(monkeypatch):
    monkeypatch.setenv("NORMLAB_SWEEP_PROCESSES", "0")
    assert not lab.use_processes()
    monkeypatch.delenv("NORMLAB_SWEEP_PROCESSES")
    assert lab.use_processes()
    assert 1 <= lab.pool_workers() <= (os.cpu_count() or 1)


def test_sweep_in_worker_processes_takes_one_slot_per_worker(tmp_path):
    """The one test here with real worker processes (each takes seconds to start)."""
    from vizcore.workers.sweep import SweepPool

    cfgs, _ = lab.make_grid(TINY, [4, 16], ["batch", "layer"], n_seeds=1)
    with SweepPool(2) as pool:
        capped = Slots(1)
        job = lab.SweepJob(cfgs[:2], pool=pool, workers=pool.workers, slots=capped).start()
        assert job.join(120)
        first = job.snapshot()
        assert (first["state"], first["workers"], capped.busy) == ("done", 1, 0)  # the cap wins over the pool
        slots = Slots(3)
        job = lab.SweepJob(cfgs, pool=pool, workers=pool.workers, slots=slots, store=RunStore(tmp_path)).start()
        assert job.join(120)
        snap = job.snapshot()
        assert (snap["state"], snap["error"], snap["workers"], slots.busy) == ("done", None, 2, 0)
    rows = lab.summarize(cfgs, snap["runs"])
    assert all(r["test_eval_acc"] is not None for r in rows)  # computed in the workers
    # A config determines its run, whichever worker trains it (all but the wall-clock time).
    assert [(r["curves"], r["extras"]) for r in snap["runs"][:2]] == [(r["curves"], r["extras"]) for r in first["runs"]]


def test_an_unwatched_sweep_cancels_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("NORMLAB_IDLE_STOP", "0.3")
    job = lab.SweepJob([TINY.replace(steps=200_000)], store=RunStore(tmp_path), slots=Slots(1))
    assert job.idle_cancel == 0.3
    job.start()
    try:
        assert job.join(30)  # nobody called snapshot(): cancelled at the next chunk after 0.3 s
        assert job.state == "cancelled"
    finally:
        job.cancel()
        job.join(30)
