"""Experiment 9 (regularization): the verdict rule on known inputs, a reduced run end to end, the default run."""

import math

import pytest

from tests.helpers import assert_reproducible_verdict, assert_valid_result
from vizcore.experiments.base import spread
from vizcore.experiments.regularization import BATCHES, EXPERIMENT, TRAIN_SIZE, label_of, paired, t95


def measured(gaps: dict[int, tuple[list[float], list[float]]]) -> dict:
    """Return a `measured` dict from per-seed gaps (no norm, batch norm) per batch size; training accuracy 1."""
    out: dict = {"variants": {}, "batches": {}}
    for b, (g0, g1) in gaps.items():
        for norm, g in (("none", g0), ("batch", g1)):
            out["variants"][label_of(norm, b)] = {
                "train_acc": spread([1.0] * len(g)),
                "test_acc": spread([1 - x for x in g]),
                "gap": spread(g),
            }
        out["batches"][str(b)] = paired(g0, g1)
    return out


WIDE = [0.13, 0.14, 0.12, 0.13, 0.14, 0.12]
BIG_CUT = [0.08, 0.09, 0.08, 0.08, 0.09, 0.07]  # 5 points less on every seed: 38% of the gap
SMALL_CUT = [0.11, 0.12, 0.10, 0.11, 0.12, 0.10]  # 2 points less on every seed: 15% of the gap
NOISY = [0.10, 0.17, 0.09, 0.16, 0.11, 0.15]  # the same mean as WIDE, seeds all over the place


@pytest.mark.parametrize(
    "small, large, label",
    [
        ((WIDE, BIG_CUT), (WIDE, BIG_CUT), "supported"),
        ((WIDE, NOISY), (WIDE, WIDE), "not supported"),
        ((WIDE, BIG_CUT), (WIDE, NOISY), "it depends"),  # only at one batch size
        ((WIDE, SMALL_CUT), (WIDE, SMALL_CUT), "it depends"),  # beyond noise everywhere, but only a little
        ((BIG_CUT, WIDE), (WIDE, WIDE), "not supported"),  # batch norm widens the gap
    ],
)
def test_rule(small, large, label):
    v = EXPERIMENT.verdict(measured({min(BATCHES): small, max(BATCHES): large}))
    assert v.label == label
    assert v.numbers[f"gap_none_b{min(BATCHES)}"] == pytest.approx(sum(small[0]) / len(small[0]))
    assert v.summary and v.rule


def test_rule_says_which_batch_size_gained_more_only_beyond_noise():
    v = EXPERIMENT.verdict(measured({min(BATCHES): (WIDE, SMALL_CUT), max(BATCHES): (WIDE, BIG_CUT)}))
    assert "smaller at batch 8 than at 64 (by 2.8" in v.summary and "the opposite of what" in v.summary
    v = EXPERIMENT.verdict(measured({min(BATCHES): (WIDE, BIG_CUT), max(BATCHES): (WIDE, SMALL_CUT)}))
    assert "larger at batch 8 than at 64" in v.summary and "as the mini-batch-noise" in v.summary
    v = EXPERIMENT.verdict(measured({min(BATCHES): (WIDE, SMALL_CUT), max(BATCHES): (WIDE, SMALL_CUT)}))
    assert "within seed noise: these runs do not show" in v.summary


def test_one_seed_is_never_beyond_noise():
    v = EXPERIMENT.verdict(measured({b: ([0.2], [0.05]) for b in BATCHES}))
    assert v.label == "not supported"
    assert paired([0.2], [0.05]) == {"mean": pytest.approx(0.15), "se": None, "n": 1}
    assert t95(1) == math.inf and t95(6) == pytest.approx(2.571) and t95(100) == pytest.approx(1.984, abs=1e-3)


def test_rule_with_missing_numbers_is_not_a_crash():
    m = measured({b: (WIDE, WIDE) for b in BATCHES})
    m["batches"] = {}
    assert EXPERIMENT.verdict(m).label == "not supported"


def test_variants_overfit_a_small_subset():
    vs = EXPERIMENT.variants(1.0)
    assert vs[-1][0] == label_of("batch", min(BATCHES))  # what "Try it yourself" opens
    assert {cfg.train_size for _, cfg in vs} == {TRAIN_SIZE}
    assert {(cfg.norm, cfg.batch_size) for _, cfg in vs} == {(n, b) for n in ("none", "batch") for b in BATCHES}


def test_end_to_end_on_a_small_budget():
    result = EXPERIMENT.run(budget=0.1, seeds=(0, 1))
    assert set(result.runs) == {label for label, _ in EXPERIMENT.variants(0.1)}
    assert result.measured["batches"][str(min(BATCHES))]["n"] == 2
    assert_valid_result(EXPERIMENT, result, 2)


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    # measured: the gap shrank by 2.3 +- 1.1 points (17% of it) at batch 64, by 1.4 +- 1.5 (within noise) at batch 8
    assert_reproducible_verdict(EXPERIMENT, "it depends")
