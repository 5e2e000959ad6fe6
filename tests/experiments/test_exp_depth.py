"""Experiment 4 (depth): the verdict rule on known inputs, a small end-to-end run, the default verdict."""

import math

import pytest

from tests.helpers import assert_reproducible_verdict, assert_valid_result
from vizcore.experiments import get
from vizcore.experiments.base import spread
from vizcore.experiments.depth import CONTROL, DEPTHS, grad_profile, label, log_ratio, run_accuracy
from vizcore.experiments.depth import EXPERIMENT as EXP


def side(acc_deepest, ratio_deepest):
    """A hand-made side of `measured`: accuracy and first/last gradient ratio at the deepest setting."""
    n = len(DEPTHS)
    lr = math.log10(ratio_deepest) if ratio_deepest is not None else None
    accs = [0.95] * (n - 1) + [acc_deepest]
    return {
        "acc": [{"mean": a, "min": a, "max": a} for a in accs],
        "diverged": [0] * n,
        "n": [3] * n,
        "log_ratio": [{"mean": 0.0}] * (n - 1) + [{"mean": lr}],
        "grad_deepest": [1.0] * DEPTHS[-1],
    }


def measured(plain, bn, control=None):
    m = {"depths": list(DEPTHS), "without BN": plain, "with BN": bn}
    if control is not None:
        m[CONTROL] = {
            "acc": {"mean": control[0]},
            "log_ratio": {"mean": math.log10(control[1])},
            "diverged": 0,
            "n": 3,
            "grad_deepest": [1.0] * DEPTHS[-1],
        }
    return m


@pytest.mark.parametrize(
    "plain, bn, expected",
    [
        ((0.10, 0.04), (0.95, 3.0), "supported"),  # vanishing 25x fixed to 3x, +85 points
        ((0.10, 0.04), (0.95, 20.0), "it depends"),  # trains, but its gradients explode 20x
        ((0.10, 0.04), (0.15, 2.0), "it depends"),  # balanced gradients, but it still does not learn
        ((0.90, 1.3), (0.95, 1.5), "not supported"),  # nothing vanished, and only 5 points better
        ((0.10, 0.001), (0.10, 1e-4), "not supported"),
        ((0.80, 0.5), (0.95, 0.5), "it depends"),  # 15 points better, but there was no vanishing to fix
    ],
)
def test_rule(plain, bn, expected):
    v = EXP.verdict(measured(side(*plain), side(*bn), control=(0.93, 1.25)))
    assert v.label == expected
    assert v.numbers["grad_ratio_without"] == pytest.approx(plain[1])
    assert v.numbers["acc_deepest_with"] == bn[0] and v.numbers["acc_deepest_xavier"] == 0.93
    assert f"depths {', '.join(map(str, DEPTHS))}" in v.summary and v.rule


def test_accuracy_gain_must_exceed_seed_noise():
    plain, bn = side(0.30, 1e-3), side(0.95, 1.2)  # balanced gradients and a 65-point gain: supported
    assert EXP.verdict(measured(plain, bn)).label == "supported"
    for s_ in (plain, bn):  # seeds 0.6 apart (std 0.6 over 3 seeds): the gain is within noise
        s_["acc"][-1].update(std=0.6, n=3)
    assert EXP.verdict(measured(plain, bn)).label == "it depends"


def test_a_gain_beyond_twice_the_standard_error_but_within_the_t_bound_is_noise():
    plain, bn = side(0.10, 0.04), side(0.65, 1.2)
    plain["acc"][-1], bn["acc"][-1] = spread([0.10, 0.10, 0.10]), spread([0.95, 0.35, 0.65])
    # a 55-point gain with SE 17: 2 x SE = 35 passed it; t(2 df) = 4.3 x SE = 75 does not
    v = EXP.verdict(measured(plain, bn))
    assert v.label == "it depends" and "95% Student-t" in v.rule


def test_the_verdict_text_names_the_init_it_rests_on_and_the_xavier_control():
    v = EXP.verdict(measured(side(0.10, 0.04), side(0.95, 3.0), control=(0.937, 1.25)))
    assert v.label == "supported" and v.summary.startswith("With PyTorch's default init")
    assert "rests on the init" in v.summary and "Xavier init the same network reached 93.7%" in v.summary
    assert "PyTorch's default init" in v.rule


def test_summary_wording_and_missing_numbers():
    v = EXP.verdict(measured(side(0.10, 0.04), side(0.95, 3.0), control=(0.93, 1.25)))
    assert "25x smaller than" in v.summary and "3x larger than" in v.summary
    assert "mild explosion" in v.summary and "another cure" in v.summary
    v = EXP.verdict(measured(side(0.10, 0.04), side(0.95, 1.0), control=(0.2, 0.01)))
    assert "explosion" not in v.summary and "another cure" not in v.summary
    v = EXP.verdict(measured(side(0.10, 0.04), side(0.95, 1.0)))  # no control run
    assert v.numbers["acc_deepest_xavier"] is None and "Xavier" not in v.summary
    assert EXP.verdict(measured(side(0.10, None), side(0.95, 1.0))).label == "it depends"


def test_helpers():
    layer = lambda g: {"steps": [0, 300], "grad_norm": [g, 1.0]}  # noqa: E731
    run = {"status": "completed", "curves": {"test_acc": [0.5, 0.9]}, "layers": [layer(0.01), layer(0.5), layer(1.0)]}
    assert grad_profile(run) == [0.01, 0.5, 1.0] and log_ratio(run) == pytest.approx(-2)
    assert run_accuracy(run) == 0.9 and run_accuracy({**run, "status": "diverged"}) == 0.1
    run["layers"][0] = layer(0.0)  # a dead layer has no ratio
    assert log_ratio(run) is None


def test_variants_and_try_it():
    vs = EXP.variants(1.0)
    assert len(vs) == 2 * len(DEPTHS) + 1 and len({lab for lab, _ in vs}) == len(vs)
    lab, cfg = vs[-1]
    assert lab == label("with BN", DEPTHS[-1]) and cfg.norm == "batch" and cfg.depth == DEPTHS[-1]
    control = dict(vs)[label(CONTROL, DEPTHS[-1])]
    assert control.init == "xavier" and control.norm == "none"
    assert {c.activation for _, c in vs} == {"tanh"}
    assert get("depth") is EXP and EXP.try_it()[0] == "compare"


def test_end_to_end_on_a_small_budget():
    result = EXP.run(budget=0.1, seeds=(0,))
    assert set(result.runs) == {lab for lab, _ in EXP.variants(0.1)}
    assert len(result.measured["with BN"]["grad_deepest"]) == DEPTHS[-1]
    assert_valid_result(EXP, result, 3)


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    # the second run in worker processes: they give the same numbers
    assert_reproducible_verdict(EXP, "supported", workers=2)
