"""Batch-size lab: the grid, aggregation with bands (against hand-computed values), the verdict rule on
known inputs, plain-words sentences. The sweep's worker: tests/workers/test_batch_sweep.py."""

import math

import pytest

from vizcore import RunConfig
from vizcore.labs import batch as lab

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
