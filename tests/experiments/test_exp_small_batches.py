"""Experiment 5 (small batches): the verdict rule on known inputs, a reduced run end to end, the default run."""

import pytest

from tests.helpers import assert_reproducible_verdict, assert_valid_result
from vizcore.experiments.base import diff_se as drop_se
from vizcore.experiments.base import spread
from vizcore.experiments.small_batches import BATCH_SIZES, EXPERIMENT, label


def measured(accs: dict[str, tuple[list[float], list[float]]], gap: bool = True) -> dict:
    """Return a `measured` dict with per-seed accuracies (small batch, big batch) for each norm."""
    norms = {}
    for norm, (small, big) in accs.items():
        entry = {"test_acc": [spread(small), spread(big)]}
        if norm == "batch" and gap:
            for key in ("test_eval_acc", "test_train_mode_acc", "test_gap", "train_train_mode_acc"):
                entry[key] = [spread([0.5, 0.5]), spread([0.9, 0.9])]
        norms[norm] = entry
    return {"batch_sizes": [2, 64], "norms": norms}


STEADY = ([0.94, 0.95, 0.93], [0.94, 0.94, 0.95])


@pytest.mark.parametrize(
    "accs, expected",
    [
        ({"batch": ([0.40, 0.45, 0.50], [0.95, 0.96, 0.94]), "group": STEADY, "layer": STEADY}, "supported"),
        (
            {
                "batch": ([0.40, 0.45, 0.50], [0.95, 0.96, 0.94]),
                "group": STEADY,
                "layer": ([0.80, 0.82, 0.81], [0.95, 0.94, 0.95]),
            },
            "it depends",
        ),
        ({"batch": STEADY, "group": STEADY, "layer": STEADY}, "not supported"),
        # a 4-point drop, but the seeds disagree by more than that: within noise
        ({"batch": ([0.99, 0.80, 0.90], [0.95, 0.94, 0.92]), "group": STEADY, "layer": STEADY}, "not supported"),
        # a steady drop of 2 points is beyond noise but below the 3-point threshold
        ({"batch": ([0.93, 0.93, 0.93], [0.95, 0.95, 0.95]), "group": STEADY, "layer": STEADY}, "not supported"),
    ],
)
def test_rule(accs, expected):
    v = EXPERIMENT.verdict(measured(accs))
    assert v.label == expected
    assert v.numbers["drop_batch"] == pytest.approx(sum(accs["batch"][1]) / 3 - sum(accs["batch"][0]) / 3)
    assert v.summary and v.rule


def test_rule_with_one_seed_uses_the_fixed_threshold_only():
    v = EXPERIMENT.verdict(
        measured({"batch": ([0.5], [0.9]), "group": ([0.9], [0.9]), "layer": ([0.9], [0.9])}, gap=False)
    )
    assert v.label == "supported"
    assert drop_se(spread([0.5]), spread([0.9])) == 0.0


def test_rule_without_batch_norm_numbers_is_not_a_crash():
    m = measured({"batch": ([None], [None]), "group": STEADY, "layer": STEADY}, gap=False)
    assert EXPERIMENT.verdict(m).label == "not supported"


def test_variants_share_the_sample_budget_and_scale_the_learning_rate():
    vs = EXPERIMENT.variants(1.0)
    assert len(vs) == 3 * len(BATCH_SIZES)
    assert vs[-1][0] == label("batch", 2)  # what "Try it yourself" opens
    for _, cfg in vs:
        assert cfg.steps * cfg.batch_size == 2048
        assert cfg.lr == pytest.approx(0.4 * cfg.batch_size / 64)


def test_end_to_end_on_a_small_budget():
    result = EXPERIMENT.run(budget=0.1, seeds=(0,))
    assert set(result.runs) == {label(n, b) for n in ("batch", "group", "layer") for b in BATCH_SIZES}
    assert all(r["extras"]["train_eval_gap"]["has_batch_norm"] for r in result.runs[label("batch", 2)])
    assert "extras" not in result.runs[label("group", 2)][0]
    assert_valid_result(EXPERIMENT, result, 3)


@pytest.mark.slow
def test_default_budget_verdict_is_reproducible():
    assert_reproducible_verdict(EXPERIMENT, "supported")
