"""Experiment 6 (placement): the verdict rule on known inputs, a reduced run end to end, the default run."""

import pytest

from tests.helpers import assert_reproducible_verdict, assert_valid_result
from vizcore.experiments.base import diff_se as gap_se
from vizcore.experiments.base import spread
from vizcore.experiments.placement import EXPERIMENT, LAST, label, late_acc


def measured(per_act: dict[str, tuple[list[float], list[float]]]) -> dict:
    """Return a `measured` dict from per-seed accuracies (before, after) per activation."""
    return {
        a: {"before": spread(b), "after": spread(f), "per_seed": {"before": b, "after": f}}
        for a, (b, f) in per_act.items()
    }


BEFORE_WINS = ([0.970, 0.972, 0.968, 0.971], [0.960, 0.961, 0.959, 0.962])
AFTER_WINS = (BEFORE_WINS[1], BEFORE_WINS[0])
TIE = ([0.970, 0.980, 0.975, 0.972], [0.975, 0.971, 0.978, 0.973])


@pytest.mark.parametrize(
    "per_act, expected",
    [
        ({"relu": BEFORE_WINS, "sigmoid": BEFORE_WINS}, "supported"),
        ({"relu": AFTER_WINS, "sigmoid": AFTER_WINS}, "not supported"),
        ({"relu": AFTER_WINS, "sigmoid": BEFORE_WINS}, "it depends"),
        ({"relu": TIE, "sigmoid": BEFORE_WINS}, "it depends"),
        ({"relu": TIE, "sigmoid": TIE}, "it depends"),
        # a steady 0.3-point gap is beyond the seeds' noise but below the 0.5-point floor
        ({"relu": ([0.973] * 4, [0.970] * 4), "sigmoid": ([0.973] * 4, [0.970] * 4)}, "it depends"),
    ],
)
def test_rule(per_act, expected):
    v = EXPERIMENT.verdict(measured(per_act))
    assert v.label == expected
    b, f = per_act["relu"]
    assert v.numbers["relu_after_minus_before"] == pytest.approx(sum(f) / len(f) - sum(b) / len(b))
    assert v.summary and v.rule


def test_a_gap_beyond_twice_the_standard_error_but_within_the_t_bound_is_noise():
    # before wins by 0.8 points with SE 0.32 (4 seeds, one side steady): 2 x SE = 0.65 passed it; the 95% t
    # bound on 3 df (3.18 x SE = 1.03) does not
    near = ([0.970, 0.980, 0.975, 0.965], [0.9645] * 4)
    v = EXPERIMENT.verdict(measured({"relu": near, "sigmoid": near}))
    assert v.label == "it depends" and "within noise" in v.summary and "95% Student-t" in v.rule
    assert v.numbers["relu_threshold"] == pytest.approx(3.182 * gap_se(spread(near[1]), spread(near[0])), rel=1e-3)


def test_all_within_noise_is_said_plainly():
    v = EXPERIMENT.verdict(measured({"relu": TIE, "sigmoid": TIE}))
    assert "more than the noise" in v.summary


def test_missing_numbers_are_not_a_crash():
    v = EXPERIMENT.verdict(measured({"relu": ([None], [None]), "sigmoid": BEFORE_WINS}))
    assert v.label == "it depends" and v.numbers["relu_threshold"] is None


def test_helpers_on_hand_made_inputs():
    run = {"curves": {"test_acc": [0.1] + [0.5] * 10 + [0.9] * LAST}}
    assert late_acc(run) == pytest.approx(0.9)
    assert late_acc({"curves": {"test_acc": [0.1, None]}}) is None
    # sample std of [0, 1] is sqrt(0.5): SE of a difference with one constant side is sqrt(0.5 / 2) = 0.5
    assert gap_se(spread([0.0, 1.0]), spread([2.0, 2.0])) == pytest.approx(0.5)
    assert gap_se(spread([0.0]), spread([1.0])) == 0.0


def test_end_to_end_on_a_small_budget():
    result = EXPERIMENT.run(budget=0.1, seeds=(0,))
    assert set(result.runs) == {label(a, p) for a in ("relu", "sigmoid") for p in ("before", "after")}
    assert EXPERIMENT.variants(1.0)[-1][0] == label("sigmoid", "after")
    assert_valid_result(EXPERIMENT, result, 2)


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    assert_reproducible_verdict(EXPERIMENT, "it depends")
