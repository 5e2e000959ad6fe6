"""Experiment 3 (init-scale): the verdict rule on known inputs, a small end-to-end run, the default verdict."""

import json
import math

import pytest

from tests.helpers import assert_reproducible_verdict
from vizcore.engine import runfile
from vizcore.experiments import get
from vizcore.experiments.init_scale import EXPERIMENT as EXP
from vizcore.experiments.init_scale import SCALES, accuracy_range, label, run_accuracy, step0


def side(accs):
    """A hand-made side of `measured`: mean accuracy per init scale of SCALES."""
    n = len(SCALES)
    return {
        "acc": [{"mean": a, "min": a, "max": a} for a in accs],
        "diverged": [0] * n,
        "n": [3] * n,
        "act_std0": [[1.0] * 4] * n,
        "grad0": [[1.0] * 4] * n,
    }


def measured(plain, bn, ln=None):
    m = {"scales": list(SCALES), "no norm": side(plain), "batch norm": side(bn)}
    if ln is not None:
        m["layer norm"] = side(ln)
    return m


#        0.01  0.1   0.3   1     3     10
PLAIN = [0.10, 0.10, 0.30, 0.96, 0.10, 0.10]  # range 86 points


@pytest.mark.parametrize(
    "bn, expected",
    [
        ([0.97, 0.97, 0.98, 0.97, 0.90, 0.80], "supported"),  # range 18: <= half of 86 and 68 points smaller
        ([0.50, 0.60, 0.90, 0.97, 0.60, 0.40], "it depends"),  # range 57: 29 points smaller, but more than half
        ([0.10, 0.10, 0.40, 0.97, 0.20, 0.15], "not supported"),  # range 87: no smaller
        ([0.14, 0.20, 0.50, 0.97, 0.30, 0.20], "not supported"),  # range 83: 3 points smaller is noise
    ],
)
def test_rule(bn, expected):
    v = EXP.verdict(measured(PLAIN, bn, ln=[0.7, 0.97, 0.97, 0.96, 0.9, 0.8]))
    assert v.label == expected
    assert v.numbers["spread_no_norm"] == pytest.approx(0.86)
    assert v.numbers["spread_batch_norm"] == pytest.approx(max(bn) - min(bn))
    assert v.numbers["spread_layer_norm"] == pytest.approx(0.27)
    assert "plain 10%, 10%, 30%, 96%, 10%, 10%" in v.summary and v.rule


def test_rule_thresholds_and_missing_numbers():
    # exactly half the plain range (values exact in binary): supported
    assert EXP.verdict(measured([0.25] + [0.75] * 5, [0.5] + [0.75] * 5)).label == "supported"
    # 5 to 10 points smaller: it depends (not clearly beyond noise)
    assert EXP.verdict(measured([0.2] + [0.9] * 5, [0.28] + [0.9] * 5)).label == "it depends"
    v = EXP.verdict(measured([None] * 6, [0.9] * 6))
    assert v.label == "it depends" and v.numbers["spread_layer_norm"] is None
    # batch norm's weakest scale is named, and no cause: every layer was scaled at once
    v = EXP.verdict(measured(PLAIN, [0.97, 0.97, 0.98, 0.97, 0.90, 0.80]))
    assert "lowest accuracy was at scale 10 (80.0%)" in v.summary and "do not show which layer" in v.summary
    assert v.summary.startswith("Batch norm made the final accuracy much less sensitive")


def test_the_summary_blames_no_layer():
    # Measured with BN: hidden x10 and output x1 gave 82.7%, hidden x1 and output x10 96.2%: the output
    # layer's logits are not the cause, and runs that scale every layer at once cannot name one.
    for bn in ([0.97, 0.97, 0.98, 0.97, 0.90, 0.80], [0.60, 0.97, 0.98, 0.97, 0.97, 0.97]):
        s = EXP.verdict(measured(PLAIN, bn)).summary
        assert "logits" not in s and "output layer is not normalized" not in s and "because" not in s


def test_helpers():
    assert accuracy_range([0.2, 0.9, 0.5]) == pytest.approx(0.7) and accuracy_range([0.2, None]) is None
    run = {
        "status": "diverged",
        "curves": {"test_acc": [0.5]},
        "layers": [
            {"steps": [0, 300], "taps": {"act": {"std": [2.0, 3.0]}}, "grad_norm": [0.5, 0.1]},
            {"steps": [300], "taps": {"act": {"std": [1.0]}}, "grad_norm": [0.2]},
        ],
    }
    assert run_accuracy(run) == 0.1
    assert step0(run, "act_std") == [2.0, None] and step0(run, "grad") == [0.5, None]


def test_variants_and_try_it():
    vs = EXP.variants(1.0)
    assert len(vs) == 3 * len(SCALES) and len({lab for lab, _ in vs}) == len(vs)
    lab, cfg = vs[-1]
    assert lab == label("batch norm", 3.0) and cfg.norm == "batch" and cfg.init_scale == 3.0
    assert {c.init for _, c in vs} == {"he"} and {c.norm for _, c in vs} == {"none", "batch", "layer"}
    assert get("init-scale") is EXP and EXP.try_it()[0] == "compare"


def test_end_to_end_on_a_small_budget():
    result = EXP.run(budget=0.1, seeds=(0,))
    assert set(result.runs) == {lab for lab, _ in EXP.variants(0.1)}
    assert result.verdict.label in ("supported", "not supported", "it depends")
    assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in result.verdict.numbers.values())
    m = result.measured
    assert len(m["no norm"]["act_std0"]) == len(SCALES) and len(m["no norm"]["act_std0"][0]) == 4
    json.loads(runfile.dumps(result.to_dict()))
    figs = EXP.figures(result)
    assert len(figs) == 3 and all(caption for _, caption in figs)
    for fig, _ in figs:
        fig.to_json()


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    # the second run in worker processes: they give the same numbers
    assert_reproducible_verdict(EXP, "supported", workers=2)
