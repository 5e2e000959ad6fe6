"""Experiment 5 (small batches): the verdict rule on known inputs, a reduced run end to end, the default run."""

import pytest

from tests.helpers import assert_reproducible_verdict, assert_valid_result
from vizcore.experiments.base import spread
from vizcore.experiments.small_batches import BATCH_SIZES, EXPERIMENT, label


def measured(accs: dict[str, tuple[list[float], list[float]]], gap: bool = True, at4: dict | None = None) -> dict:
    """Return a `measured` dict with per-seed accuracies (small batch, big batch) for each norm.

    Without `at4` the sizes are [2, 64]; with it (per-seed accuracies at batch 4 per norm), [2, 4, 64].
    """
    norms = {}
    for norm, (small, big) in accs.items():
        cells = [spread(small)] + ([spread(at4[norm])] if at4 else []) + [spread(big)]
        entry = {"test_acc": cells}
        if norm == "batch" and gap:
            for key in ("test_eval_acc", "test_train_mode_acc", "test_gap", "train_train_mode_acc"):
                entry[key] = [spread([0.5, 0.5])] + ([spread([0.8, 0.8])] if at4 else []) + [spread([0.9, 0.9])]
        norms[norm] = entry
    return {"batch_sizes": [2, 4, 64] if at4 else [2, 64], "norms": norms}


STEADY = ([0.94, 0.95, 0.93], [0.94, 0.94, 0.95])
HURT = ([0.40, 0.45, 0.50], [0.95, 0.96, 0.94])


@pytest.mark.parametrize(
    "accs, expected",
    [
        ({"batch": HURT, "group": STEADY, "layer": STEADY}, "supported"),
        ({"batch": HURT, "group": STEADY, "layer": ([0.80, 0.82, 0.81], [0.95, 0.94, 0.95])}, "it depends"),
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
    assert v.numbers["drop_batch_b2"] == pytest.approx(sum(accs["batch"][1]) / 3 - sum(accs["batch"][0]) / 3)
    assert v.summary and v.rule and "95% Student-t" in v.rule


def test_a_drop_beyond_twice_the_standard_error_but_within_the_t_bound_is_noise():
    # 6 points down, seeds 3 points apart at batch 2 (SE 1.7): 2 x SE = 3.5 passed it; t(2 df) = 4.3 x SE = 7.5 does not
    accs = {"batch": ([0.86, 0.92, 0.89], [0.95, 0.95, 0.95]), "group": STEADY, "layer": STEADY}
    assert EXPERIMENT.verdict(measured(accs)).label == "not supported"


def test_verdict_at_batch_4_as_well_as_batch_2():
    accs = {"batch": HURT, "group": STEADY, "layer": STEADY}
    hurt4 = {"batch": [0.90, 0.905, 0.91], "group": [0.94, 0.95, 0.94], "layer": [0.95, 0.94, 0.94]}
    v = EXPERIMENT.verdict(measured(accs, at4=hurt4))
    assert v.label == "supported" and "at batch 4 and batch 2" in v.summary
    assert v.numbers["drop_batch_b4"] == pytest.approx(0.95 - 0.905) and "acc_batch_4" in v.numbers
    assert "beta - gamma or beta + gamma" in v.summary  # batch 2 destroys information: said so
    # hurt at batch 2 only: the two small batches disagree, and the verdict says which is which
    fine4 = {**hurt4, "batch": [0.95, 0.94, 0.95]}
    v = EXPERIMENT.verdict(measured(accs, at4=fine4))
    assert v.label == "it depends"
    assert "at batch 4 batch norm was not clearly hurt; at batch 2 batch norm alone was hurt" in v.summary


def test_rule_with_one_seed_uses_the_fixed_threshold_only():
    v = EXPERIMENT.verdict(
        measured({"batch": ([0.5], [0.9]), "group": ([0.9], [0.9]), "layer": ([0.9], [0.9])}, gap=False)
    )
    assert v.label == "supported"


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
