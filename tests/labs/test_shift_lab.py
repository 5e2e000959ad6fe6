"""Covariate-shift lab: the plans, the verdict rule, the summary and the external-shift curves.
The training and the lab's worker: tests/workers/test_shift_lab.py."""

import math

import pytest

from vizcore import RunConfig
from vizcore.labs.shift import (
    ONE_SEED,
    external_configs,
    external_curves,
    internal_configs,
    next_input_tap,
    summarize,
    verdict,
    with_point,
)
from vizcore.workers.shift_lab import train_external

TINY = RunConfig(depth=3, width=8, steps=40, every=5, eval_every=10, batch_size=32, norm_noise=0.3)


def test_plans_and_tap():
    assert [k for k, _, _ in internal_configs(TINY.replace(norm_noise=0.0))] == ["none", "norm"]
    with pytest.raises(ValueError, match="choose a normalization"):
        internal_configs(TINY.replace(norm="none", norm_noise=0.0))
    ext = external_configs(TINY.replace(width=12, groups=8, shift=1.0))
    assert [c.norm for _, _, c in ext] == ["none", "batch", "layer", "group"]
    assert ext[3][2].groups == 4 and all(c.shift == 0 and c.norm_noise == 0 for _, _, c in ext)
    # 8 groups of a width-8 mlp would be one unit each (always 0 after norm): the largest proper divisor instead
    assert external_configs(TINY.replace(width=8, groups=8))[3][2].groups == 4
    assert next_input_tap(TINY) == "act"
    assert next_input_tap(TINY.replace(placement="after")) == "norm"
    assert next_input_tap(TINY.replace(norm="none", norm_noise=0.0, placement="after")) == "act"


def _summary(g_none, g_norm, acc_norm=0.95, acc_noisy=0.94, d_none=0.04, d_norm=0.02):
    return {
        "labels": {"none": "no normalization", "norm": "batch norm", "noisy": "noisy batch norm (0.3)"},
        "gshift": {"none": g_none, "norm": g_norm},
        "drift": {"none": d_none, "norm": d_norm},
        "noise": {"none": 0.01, "norm": 0.01},
        "lag": 60,
        "noise_ratio": d_norm / 0.01,
        "acc": {"none": 0.9, "norm": acc_norm, "noisy": acc_noisy},
        "gshift_ratio": g_norm / g_none if g_norm is not None and g_none else None,
        "drift_ratio": d_norm / d_none,
        "noisy_drift_ratio": 1.5,
        "noisy_gap": 100 * (acc_noisy - acc_norm) if acc_noisy is not None else None,
    }


def test_verdict_rule_on_known_inputs():
    v = verdict(_summary(0.2, 0.5))
    assert "**2.5 times**" in v[0] and "did **not** reduce" in v[0] and "raised it" in v[0]
    assert "moved **less**" in v[1] and "0.5 times" in v[1] and "same fixed probe examples" in v[1]
    assert "over 60 steps" in v[1] and "2 times how far one training batch" in v[1]
    assert "disagree" in v[1] and "disagree" not in verdict(_summary(0.2, 0.21))[1]
    assert "within 2 points (1.0 below)" in v[2] and "about as well" in v[2] and "moved 1.5 times" in v[2]
    assert "90.0% without normalization, 95.0% with batch norm" in v[3]
    assert "about the same" in verdict(_summary(0.2, 0.21))[0]
    low = verdict(_summary(0.4, 0.1))[0]
    assert "**0.25 times**" in low and "**did** reduce" in low and "unlike" in low
    far = verdict(_summary(0.2, 0.5, acc_norm=0.95, acc_noisy=0.80))[2]
    assert "15.0 points below, more than 2" in far and "hurt" in far
    assert "did better" in verdict(_summary(0.2, 0.5, acc_norm=0.80, acc_noisy=0.95))[2]
    assert "within 20 points" in verdict(_summary(0.2, 0.5, acc_noisy=0.80), tolerance=20)[2]
    assert "could not be compared" in verdict(_summary(0.2, None))[0]
    assert "no final test accuracy" in verdict(_summary(0.2, 0.5, acc_noisy=None))[2]


def test_every_one_seed_comparison_carries_the_same_caveat_whichever_way_it_goes():
    # A result that agreed with Santurkar et al. was stated flatly; only a disagreeing one said "one seed".
    agrees = verdict(_summary(0.2, 0.5))  # gradient shift raised, noisy norm within 2 points
    disagrees = verdict(_summary(0.4, 0.1, acc_norm=0.95, acc_noisy=0.80))  # lowered, noisy 15 points below
    better = verdict(_summary(0.2, 0.21, acc_norm=0.80, acc_noisy=0.95))  # about the same, noisy 15 above
    for v in (agrees, disagrees, better):
        assert v[0].endswith(ONE_SEED + ".") and v[2].endswith(ONE_SEED + "."), v
    assert "one seed" in ONE_SEED and "either way" in ONE_SEED


def test_summary_uses_blocks_after_the_first_and_skips_nulls():
    def rec(key, rels, typical, noise):
        return {
            "key": key,
            "label": key,
            "final_test_acc": 0.5,
            "gshift": {"layers": [{"rel": [0.0, 0.0]}] + [{"rel": r} for r in rels]},
            "drift": {"lag": 60, "layers": [{"typical": d, "noise_median": e} for d, e in zip(typical, noise)]},
        }

    s = summarize(
        [rec("none", [[0.1, None], [0.3, 0.5]], [1.0, 2.0], [0.1, 0.1]), rec("norm", [[0.6]], [None, 4.0], [0.5, 0.3])]
    )
    assert s["gshift"] == {"none": 0.3, "norm": 0.6} and s["gshift_ratio"] == pytest.approx(2.0)
    assert s["drift"] == {"none": 1.5, "norm": 4.0} and s["noisy_gap"] is None and s["lag"] == 60
    assert s["noise"] == {"none": pytest.approx(0.1), "norm": pytest.approx(0.4)}
    assert s["noise_ratio"] == pytest.approx(10.0)


def test_external_curves_and_recomputed_statistics_undo_a_constant_shift():
    models = train_external(TINY)
    assert [k for k, _, _ in models] == ["none", "batch", "layer", "group"]
    shifts = [-2.0, 0.0, 1.5]
    c = external_curves(models, 2.0, shifts)
    assert c["scale"] == 2.0 and c["shifts"] == shifts
    keys = [s["key"] for s in c["series"]]
    assert keys == ["none", "batch", "batch_recomputed", "layer", "group"]
    assert all(len(s["acc"]) == 3 and all(0 <= a <= 1 for a in s["acc"]) for s in c["series"])
    rec = c["series"][2]["acc"]
    assert max(rec) - min(rec) < 1e-6, "Linear -> BN with recomputed statistics: a shift changes nothing"
    p = with_point(c, models, 0.5)
    assert p["shifts"] == [-2.0, 0.0, 0.5, 1.5]
    assert all(s["acc"][2] == p["at"]["acc"][s["key"]] for s in p["series"])
    assert all(math.isfinite(v) for v in p["at"]["acc"].values())
    assert with_point(c, models, 0.0)["shifts"] == shifts
