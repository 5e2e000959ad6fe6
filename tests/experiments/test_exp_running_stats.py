"""Experiment 7 (running statistics): the verdict rule on known inputs, a reduced run end to end, the default run."""

import json
import math

import pytest

from tests.helpers import assert_reproducible_verdict
from vizcore.engine import runfile
from vizcore.engine.config import RunConfig
from vizcore.experiments.base import spread
from vizcore.experiments.running_stats import EXPERIMENT, checkpoints, label, paired_se, train_with_checkpoints


def measured(gains: dict[float, list[float]], early: float = 0.2) -> dict:
    """Return a `measured` dict: per momentum, per-seed final gains (precise minus EMA); one early checkpoint."""
    out = {}
    for m, g in gains.items():
        ema = [0.95 - x for x in g]
        out[label(m)] = {
            "momentum": m,
            "steps": [10, 1000],
            "ema_acc": [spread([0.5]), spread(ema)],
            "precise_acc": [spread([0.5 + early]), spread([0.95] * len(g))],
            "gain": [spread([early]), spread(g)],
            "final_gains": g,
        }
    return {"momenta": out, "precise_spread_across_momenta": 0.0}


NONE = [0.001, -0.002, 0.0]
CLEAR = [0.02, 0.025, 0.03]


@pytest.mark.parametrize(
    "gains, expected",
    [
        ({0.01: NONE, 0.1: NONE, 0.5: NONE}, "supported"),
        ({0.01: CLEAR, 0.1: CLEAR, 0.5: CLEAR}, "not supported"),
        ({0.01: NONE, 0.1: NONE, 0.5: CLEAR}, "it depends"),
        # a 1-point mean gain, but the seeds disagree wildly: within noise
        ({0.01: [0.05, -0.03, 0.01], 0.1: NONE, 0.5: NONE}, "supported"),
        # steady, but below the half-point floor
        ({0.01: [0.004] * 3, 0.1: NONE, 0.5: NONE}, "supported"),
    ],
)
def test_rule(gains, expected):
    v = EXPERIMENT.verdict(measured(gains))
    assert v.label == expected
    assert v.numbers["gain_final_m0.5"] == pytest.approx(sum(gains[0.5]) / 3)
    assert v.numbers["largest_gain_during_training"] == pytest.approx(0.2) and v.numbers["at_step"] == 10
    assert v.summary and v.rule


def test_helpers():
    assert checkpoints(1000) == [10, 25, 50, 100, 200, 400, 700, 1000]
    assert checkpoints(20) == [1, 2, 4, 8, 14, 20]
    assert paired_se([0.1]) == 0.0 and paired_se([0.0, 1.0]) == pytest.approx(0.5)


def test_momentum_changes_only_the_running_averages():
    cfg = RunConfig(dataset="digits", depth=2, width=16, norm="batch", steps=30, every=30, eval_every=10)
    a = train_with_checkpoints(cfg.replace(momentum=0.01))["extras"]["running_stats"]
    b = train_with_checkpoints(cfg.replace(momentum=0.5))["extras"]["running_stats"]
    assert a["precise_acc"] == b["precise_acc"] and a["steps"] == b["steps"] == checkpoints(30)
    assert a["ema_acc"] != b["ema_acc"]


def test_end_to_end_on_a_small_budget():
    result = EXPERIMENT.run(budget=0.1, seeds=(0,))
    assert set(result.runs) == {label(m) for m in (0.01, 0.1, 0.5)}
    assert EXPERIMENT.variants(1.0)[-1][1].momentum == 0.01
    assert result.verdict.label in ("supported", "not supported", "it depends")
    assert result.measured["precise_spread_across_momenta"] == 0
    for k, v in result.verdict.numbers.items():
        assert v is None or math.isfinite(v), k
    json.loads(runfile.dumps(result.to_dict()))
    figs = EXPERIMENT.figures(result)
    assert len(figs) == 2 and all(caption for _, caption in figs)
    for fig, _ in figs:
        fig.to_json()


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    assert_reproducible_verdict(EXPERIMENT, "supported")
