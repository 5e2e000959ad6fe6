"""Experiment 2 (learning-rate): the verdict rule on known inputs, a small end-to-end run, the default verdict."""

import pytest

from tests.helpers import assert_reproducible_verdict, assert_valid_result
from vizcore.experiments import get
from vizcore.experiments.learning_rate import EXPERIMENT as EXP
from vizcore.experiments.learning_rate import LRS, label, largest_training_lr, run_accuracy
from vizcore.runs.queries import steps_to_reach


def side(accs, t90s, diverged=None):
    """A hand-made side of `measured`: mean accuracy and mean steps-to-90% per rate of LRS."""
    return {
        "acc": [{"mean": a, "min": a, "max": a} for a in accs],
        "steps_to_90": [{"mean": t} for t in t90s],
        "diverged": diverged or [0] * len(LRS),
        "reached_90": [3] * len(LRS),
        "n": [3] * len(LRS),
    }


def measured(plain, bn):
    return {"lrs": list(LRS), "steps": 300, "without BN": plain, "with BN": bn}


#               0.01  0.03  0.1   0.3   1     3     10
PLAIN_ACC = [0.86, 0.94, 0.96, 0.97, 0.44, 0.10, 0.10]
PLAIN_T90 = [300, 180, 67, 47, 300, 300, 300]


@pytest.mark.parametrize(
    "bn_acc, bn_t90, expected",
    [
        # trains up to 3 (10x higher) and reaches 90% in 27 vs 47 steps: both hold
        ([0.81, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 27, 27, 40, 300], "supported"),
        # trains up to 3 but is no faster at its best rate
        ([0.81, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 47, 47, 60, 300], "it depends"),
        # faster (37 <= 0.8 * 47) but trains at no higher rate
        ([0.81, 0.93, 0.96, 0.97, 0.30, 0.10, 0.10], [300, 213, 73, 37, 300, 300, 300], "it depends"),
        # same largest rate, same speed
        ([0.86, 0.94, 0.96, 0.97, 0.50, 0.10, 0.10], [300, 180, 67, 47, 300, 300, 300], "not supported"),
        # one grid step higher (1 = 3.3x of 0.3) is "much higher"; 37.6 = exactly 80% of 47 is "faster"
        ([0.81, 0.93, 0.96, 0.97, 0.90, 0.20, 0.10], [300, 213, 73, 37.6, 40, 300, 300], "supported"),
    ],
)
def test_rule(bn_acc, bn_t90, expected):
    v = EXP.verdict(measured(side(PLAIN_ACC, PLAIN_T90), side(bn_acc, bn_t90)))
    assert v.label == expected
    assert v.numbers["largest_lr_without"] == 0.3
    assert v.numbers["gap_at_smallest"] == pytest.approx(bn_acc[0] - PLAIN_ACC[0])
    assert "smallest rate (0.01)" in v.summary and v.rule


def test_one_grid_step_from_0_1_to_0_3_is_much_higher():
    # 3 * 0.1 > 0.3 in floating point: a ratio test missed this step of the grid (found in review)
    plain = side([0.86, 0.94, 0.96, 0.50, 0.10, 0.10, 0.10], [300, 180, 67, 300, 300, 300, 300])
    bn = side([0.86, 0.94, 0.96, 0.97, 0.50, 0.10, 0.10], [300, 180, 67, 40, 300, 300, 300])
    v = EXP.verdict(measured(plain, bn))
    assert (v.numbers["largest_lr_without"], v.numbers["largest_lr_with"]) == (0.1, 0.3)
    assert v.label == "supported"  # one grid step higher, and 40 <= 0.8 * 67 steps


def test_faster_must_exceed_seed_noise():
    bn_acc, bn_t90 = [0.81, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 27, 27, 40, 300]
    plain, bn = side(PLAIN_ACC, PLAIN_T90), side(bn_acc, bn_t90)
    assert EXP.verdict(measured(plain, bn)).label == "supported"  # 27 vs 47 steps, no spread known
    for t in plain["steps_to_90"] + bn["steps_to_90"]:  # seeds 25 steps apart: 20 fewer steps is noise
        t.update(std=25.0, n=3)
    assert EXP.verdict(measured(plain, bn)).label == "it depends"


def test_rule_when_the_plain_network_never_trains_and_bjorck_wording():
    never = side([0.1] * 7, [300] * 7, diverged=[0, 0, 0, 0, 3, 3, 3])
    bn = side([0.12, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 27, 27, 40, 300])
    v = EXP.verdict(measured(never, bn))
    assert v.label == "supported" and v.numbers["largest_lr_without"] is None and "no rate at all" in v.summary
    # within 3 points at the smallest rate: "helps little", Bjorck et al.'s finding
    v = EXP.verdict(measured(side(PLAIN_ACC, PLAIN_T90), side([0.87] + [0.97] * 6, [300, 60, 30, 27, 27, 27, 27])))
    assert "helps little" in v.summary
    assert EXP.verdict(measured(side([None] * 7, [None] * 7), side([None] * 7, [None] * 7))).label == "not supported"


def test_helpers():
    assert largest_training_lr([0.1, 1, 10], [0.9, 0.79, 0.85]) == 10  # the largest, even past a dip
    assert largest_training_lr([0.1, 1], [None, 0.5]) is None
    run = {"status": "diverged", "curves": {"step": [0, 20], "test_acc": [0.1, 0.95]}}
    assert run_accuracy(run) == 0.1 and steps_to_reach(run, 0.9) == 20
    assert run_accuracy({**run, "status": "completed"}) == 0.95


def test_variants_and_try_it():
    vs = EXP.variants(1.0)
    assert len(vs) == 2 * len(LRS) and len({lab for lab, _ in vs}) == len(vs)
    lab, cfg = vs[-1]
    assert lab == label("with BN", 1.0) and cfg.norm == "batch" and cfg.lr == 1.0
    assert {c.norm for _, c in vs} == {"none", "batch"} and {c.init for _, c in vs} == {"he"}
    assert get("learning-rate") is EXP and EXP.try_it()[0] == "compare"


def test_end_to_end_on_a_small_budget():
    result = EXP.run(budget=0.1, seeds=(0,))
    assert set(result.runs) == {lab for lab, _ in EXP.variants(0.1)}
    assert_valid_result(EXP, result, 2)


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    # the second run in worker processes: they give the same numbers
    assert_reproducible_verdict(EXP, "supported", workers=2)
