"""The batch-size grid and its step arithmetic; one summary row per run."""

import pytest

from vizcore import RunConfig, Trainer
from vizcore.engine.config import MAX_STEPS
from vizcore.labs.grid import batch_size_grid, summarize_sweep

SMALL = dict(dataset="moons", depth=2, width=8, batch_size=32, steps=60, every=10, eval_every=20)


def test_grid_sizes_and_steps():
    base = RunConfig(**SMALL)
    by_steps = batch_size_grid(base, [2, 8, 64], ["batch", "layer"], [0, 1, 2], "steps")
    assert len(by_steps) == 2 * 3 * 3
    assert {c.steps for c in by_steps} == {base.steps}
    assert [(c.norm, c.batch_size, c.seed) for c in by_steps[:4]] == [
        ("batch", 2, 0),
        ("batch", 2, 1),
        ("batch", 2, 2),
        ("batch", 8, 0),
    ]
    by_samples = batch_size_grid(base, [2, 8, 64], ["batch"], [0], "samples")
    assert [(c.batch_size, c.steps) for c in by_samples] == [(2, 960), (8, 240), (64, 30)]
    assert all(c.steps * c.batch_size == base.steps * base.batch_size for c in by_samples)
    # at least one step; never more than the config limit
    assert batch_size_grid(base.replace(steps=1), [64], ["layer"], [0], "samples")[0].steps == 1
    huge = batch_size_grid(base.replace(steps=MAX_STEPS), [1], ["layer"], [0], "samples")
    assert huge[0].steps == MAX_STEPS
    scaled = batch_size_grid(base, [8], ["layer"], [0], "samples", scale_cadence=True)[0]
    assert (scaled.every, scaled.eval_every) == (40, 80)
    with pytest.raises(ValueError, match="budget"):
        batch_size_grid(base, [8], ["layer"], [0], "epochs")


def test_grid_skips_invalid_combinations():
    base = RunConfig(**{**SMALL, "groups": 3})  # 3 does not divide width 8
    skipped: list = []
    grid = batch_size_grid(base, [1, 4, 2048], ["batch", "group", "layer", "instance"], [0, 1], "steps", skipped)
    # batch norm at 1, group norm (groups), a batch above 1,000 training points, instance norm on an mlp
    assert {(c.norm, c.batch_size) for c in grid} == {("batch", 4), ("layer", 1), ("layer", 4)}
    assert len(grid) == 3 * 2
    assert len(skipped) == 4 * 3 * 2 - len(grid)
    reasons = {(changes["norm"], changes["batch_size"]): reason for changes, reason in skipped}
    assert reasons[("batch", 1)].startswith("batch_size")
    assert reasons[("group", 4)].startswith("groups")
    assert "larger than the training set" in reasons[("layer", 2048)]
    # noisy norm on the base: norm "none" still gets a valid config (without the noise)
    noisy = batch_size_grid(base.replace(norm_noise=0.5), [4], ["none", "layer"], [0], "steps")
    assert [(c.norm, c.norm_noise) for c in noisy] == [("none", 0.0), ("layer", 0.5)]


def test_summarize_sweep():
    base = RunConfig(**SMALL)
    configs = [base, base.replace(norm="layer", seed=1), base.replace(norm="none", batch_size=8)]
    references = [Trainer(configs[0]).run()]
    runs = [references[0], None]
    rows = summarize_sweep(configs[:2], runs)
    assert rows[0] == {
        "norm": "batch",
        "batch_size": 32,
        "seed": 0,
        "steps": 60,
        "final_test_acc": references[0]["curves"]["test_acc"][-1],
        "final_train_acc": references[0]["curves"]["train_acc"][-1],
        "status": "completed",
    }
    assert rows[1]["status"] == "cancelled" and rows[1]["final_test_acc"] is None
    with pytest.raises(ValueError):
        summarize_sweep(configs, runs)
