"""Experiment 9: does batch norm regularize? Train/test gap on 200 digits, with and without it, at two batch sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from vizcore.engine.config import RunConfig
from vizcore.experiments import headlines as words
from vizcore.experiments.base import (
    CONFIDENCE,
    DIGITS_MLP,
    Experiment,
    Paper,
    Result,
    Verdict,
    spread,
    steps,
    t_critical,
)
from vizcore.experiments.grading import CLAIM_ANSWER
from vizcore.figures.experiments import band_figure, bar_figure

TRAIN_SIZE = 200  # about 20 digits a class: a network of 4 x 64 fits them perfectly, so it can overfit
BATCHES = (64, 8)  # the default batch and a small one: batch statistics of 8 examples are far noisier
SUBSTANTIAL = 0.25  # share of the no-norm gap batch norm must remove to count as a remedy (see `verdict`)
MIN_EFFECT = 0.01  # a gap change under 1 point (under 4 of the 360 test digits) does not count, however steady
SHRINKS = "batch norm shrank the train-test gap substantially at every batch size"
MORE_SMALL = "it shrank the gap more at the small batch"


def label_of(norm: str, batch: int) -> str:
    """Return the variant label for `norm` ("none" or "batch") at batch size `batch`."""
    return f"{'batch norm' if norm == 'batch' else 'no norm'}, batch {batch}"


def t95(n: int) -> float:
    """Return the two-sided 95% Student t quantile for a mean of `n` paired differences (inf below 2)."""
    return math.inf if n < 2 else t_critical(n - 1, CONFIDENCE)


def accuracies(run: dict) -> tuple[float | None, float | None]:
    """Return (training accuracy, test accuracy) of a finished run, both in eval mode (running statistics).

    Both come from `measures.batch.train_eval_gap` (`run["extras"]`): the training accuracy is
    measured like the test accuracy, on the whole training subset, not in train mode, where
    batch norm's own batch noise would lower it and so shrink its gap for free.
    """
    g = (run.get("extras") or {}).get("train_eval_gap")
    if not g:
        return None, None
    return g["train_eval_acc"], g["test_eval_acc"]


def paired(gaps_none: Sequence[float | None], gaps_bn: Sequence[float | None]) -> dict[str, float | None]:
    """Return the mean and standard error of gap(no norm) - gap(BN) over seeds run by both, and their count.

    Same seed = same initial Linear weights (norm layers draw nothing) and same batch order,
    so the difference per seed removes most of the seed-to-seed noise.
    """
    d = np.array([a - b for a, b in zip(gaps_none, gaps_bn) if a is not None and b is not None], dtype=float)
    if d.size == 0:
        return {"mean": None, "se": None, "n": 0}
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else None
    return {"mean": float(d.mean()), "se": se, "n": int(d.size)}


class Regularization(Experiment):
    number = 9
    name = "regularization"
    title = "Regularization: does batch norm reduce overfitting?"
    claim = (
        "Batch normalization acts as a regularizer: the noise of mini-batch statistics reduces overfitting and "
        "the need for dropout."
    )
    question = (
        f"On only {TRAIN_SIZE} training digits, which a network fits perfectly, does batch norm shrink the gap "
        f"between training and test accuracy by more than the seed-to-seed noise, at batch {BATCHES[0]} and "
        f"at batch {BATCHES[1]} (where batch statistics are noisier)? (This app has no dropout, so the "
        "dropout part is not tested.)"
    )
    predictions = {
        "Batch norm clearly shrinks the gap, most at small batches": {SHRINKS: "yes", MORE_SMALL: "yes"},
        "It shrinks the gap, but only a little": {SHRINKS: "neither"},
        "No real difference": {SHRINKS: "no"},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Ioffe & Szegedy (2015), Batch Normalization, Sections 3.4 and 4.2",
        "The paper says batch norm 'acts as a regularizer, in some cases eliminating the need for Dropout', because "
        "a training example is seen together with the other examples of its mini-batch. The evidence is indirect: the "
        "batch-normalized Inception trained with dropout removed (and other changes at once: higher learning rate, "
        "less L2 weight decay, less distortion) and reached 74.8% single-crop top-1 validation accuracy vs 72.2% for "
        "the original; no experiment isolates the regularizing effect.",
        f"Here: {TRAIN_SIZE} digits (8x8 images) instead of ImageNet, a 4 x 64 relu MLP, plain SGD, no dropout or "
        "weight decay in either network, one change at a time (batch norm on or off), several seeds.",
    )
    seeds = (0, 1, 2, 3, 4, 5)  # the effect is a point or two: fewer seeds cannot tell it from noise
    extras = "train_eval_gap"  # eval-mode train and test accuracy, computed by the worker on the finished trainer
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        # 500 steps: the slower network (no norm) reaches 100% training accuracy by ~400 steps, so both end
        # fully overfit (the summary reports the lowest training accuracy); eval_every=50 gives the test curves
        # enough points.
        base = DIGITS_MLP.replace(train_size=TRAIN_SIZE, steps=steps(500, budget), every=100, eval_every=50)
        return [
            (label_of(norm, b), base.replace(norm=norm, batch_size=b)) for b in BATCHES for norm in ("none", "batch")
        ]

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        out: dict[str, Any] = {"variants": {}, "batches": {}}
        gaps: dict[str, list[float | None]] = {}
        for label, rs in runs.items():
            acc = [accuracies(r) if r is not None else (None, None) for r in rs]
            gaps[label] = [tr - te if tr is not None and te is not None else None for tr, te in acc]
            out["variants"][label] = {
                "train_acc": spread([a[0] for a in acc]),
                "test_acc": spread([a[1] for a in acc]),
                "gap": spread(gaps[label]),
            }
        for b in BATCHES:
            none, bn = label_of("none", b), label_of("batch", b)
            if none in gaps and bn in gaps:
                out["batches"][str(b)] = paired(gaps[none], gaps[bn])
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        rule = (
            f"For each batch size, the train-test gap (both accuracies in eval mode) is compared seed by seed "
            f"(same seed: same initial weights and batches). Batch norm shrinks the gap if the mean paired "
            f"reduction is at least {MIN_EFFECT * 100:.0f} point and beyond seed noise (more than t(95%) x its "
            f"standard error), substantially if by at least {SUBSTANTIAL:.0%} of the gap without it. Supported "
            "if it shrinks the gap substantially at every batch size; not supported if it shrinks it at none; "
            "it depends otherwise (only a little, or not at every batch size)."
        )
        v = measured["variants"]

        def get(norm: str, b: int, key: str) -> float | None:
            return v.get(label_of(norm, b), {}).get(key, {}).get("mean")

        numbers: dict[str, float | None] = {}
        shrinks: dict[int, bool] = {}
        substantial: dict[int, bool] = {}
        widened: set[int] = set()
        missing: set[int] = set()
        more_small: str | None = None  # the reduction larger at the small batch: yes / no / neither (within noise)
        parts = []
        for b in BATCHES:
            p = measured["batches"].get(str(b), {"mean": None, "se": None, "n": 0})
            gap0, gap1 = get("none", b, "gap"), get("batch", b, "gap")
            te0, te1 = get("none", b, "test_acc"), get("batch", b, "test_acc")
            m, se = p["mean"], p["se"]
            numbers.update(
                {
                    f"gap_none_b{b}": gap0,
                    f"gap_bn_b{b}": gap1,
                    f"gap_reduction_b{b}": m,
                    f"gap_reduction_se_b{b}": se,
                    f"test_acc_none_b{b}": te0,
                    f"test_acc_bn_b{b}": te1,
                }
            )
            # Beyond noise: the 95% t-interval of the paired mean excludes 0 (one seed: never beyond noise),
            # and the effect is large enough to matter (MIN_EFFECT).
            noise = t95(p["n"]) * se if se is not None else math.inf
            shrinks[b] = m is not None and m >= MIN_EFFECT and m > noise
            # SUBSTANTIAL: the articles offer batch norm as a substitute for dropout, i.e. as a remedy for
            # overfitting; removing less than a quarter of the gap leaves most of the overfitting in place.
            substantial[b] = shrinks[b] and gap0 is not None and gap0 > 0 and m >= SUBSTANTIAL * gap0
            if m is None or None in (gap0, gap1, te0, te1):
                missing.add(b)
                parts.append(f"at batch {b}: no numbers")
                continue
            widens = -m >= MIN_EFFECT and -m > noise
            if widens:
                widened.add(b)
            what = "BN shrank it" if shrinks[b] else "BN widened it" if widens else "within seed noise"
            pm = f" +- {100 * noise:.1f}" if math.isfinite(noise) else ""
            share = f", {m / gap0:.0%} of it" if gap0 > 0 else ""
            parts.append(
                f"at batch {b} the gap was {100 * gap1:.1f} points with BN vs {100 * gap0:.1f} without "
                f"(a reduction of {100 * m:.1f}{pm} points{share}: {what}; test accuracy "
                f"{100 * te1:.1f}% vs {100 * te0:.1f}%)"
            )
        train = [get(n, b, "train_acc") for n in ("none", "batch") for b in BATCHES]
        lowest = min((t for t in train if t is not None), default=None)
        numbers["lowest_train_acc"] = lowest
        if all(substantial.values()):
            label = "supported"
        elif not any(shrinks.values()):
            label = "not supported"
        else:
            label = "it depends"
        summary = (
            (
                f"Every network fit its {TRAIN_SIZE} training digits to at least {100 * lowest:.1f}% (eval mode); "
                if lowest is not None
                else ""
            )
            + "; ".join(parts)
            + "."
        )
        # The mini-batch-noise explanation predicts a larger reduction at the small batch. Judge the difference
        # of the two reductions against the same seed noise (the two standard errors combined).
        small, large = min(BATCHES), max(BATCHES)
        r_small, r_large = numbers[f"gap_reduction_b{small}"], numbers[f"gap_reduction_b{large}"]
        se_small, se_large = numbers[f"gap_reduction_se_b{small}"], numbers[f"gap_reduction_se_b{large}"]
        if any(shrinks.values()) and None not in (r_small, r_large, se_small, se_large):
            n = min(measured["batches"][str(b)]["n"] for b in BATCHES)
            diff, noise = r_small - r_large, t95(n) * math.hypot(se_small, se_large)
            more_small = "neither" if abs(diff) <= noise else "yes" if diff > 0 else "no"
            if abs(diff) > noise:
                more = "larger" if diff > 0 else "smaller"
                summary += (
                    f" The reduction was {more} at batch {small} than at {large} (by {100 * abs(diff):.1f} "
                    f"+- {100 * noise:.1f} points), {'as' if diff > 0 else 'the opposite of what'} the "
                    "mini-batch-noise explanation predicts."
                )
            else:
                summary += (
                    f" The reductions at batch {small} and {large} differ by {100 * diff:+.1f} +- "
                    f"{100 * noise:.1f} points, within seed noise: these runs do not show the noisier "
                    "small batches regularizing more."
                )
        states = {
            b: "substantially" if substantial[b] else "a little" if shrinks[b] else "not clearly" for b in BATCHES
        }
        states.update({b: "widened" for b in widened} | {b: "no numbers" for b in missing})
        found = {SHRINKS: CLAIM_ANSWER[label], MORE_SMALL: more_small}
        return Verdict(label, summary, numbers, rule, words.regularization(states), found)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        v = result.measured["variants"]
        groups = {
            norm: {f"batch {b}": v.get(label_of(norm, b), {}).get("gap", {}).get("mean") for b in BATCHES}
            for norm in ("none", "batch")
        }
        errors = {
            norm: {f"batch {b}": v.get(label_of(norm, b), {}).get("gap", {}).get("std") for b in BATCHES}
            for norm in ("none", "batch")
        }
        names = {"none": "no norm", "batch": "batch norm"}
        gap = bar_figure(
            {names[k]: g for k, g in groups.items()},
            "Training minus test accuracy (error bars: std over seeds)",
            "train - test accuracy",
            errors={names[k]: e for k, e in errors.items()},
        )
        return [
            (gap, "The overfitting gap: a regularizer should make the batch-norm bars clearly shorter."),
            (
                band_figure(result.runs, "test_acc", "Test accuracy (band: min to max over seeds)", "test accuracy"),
                "Both networks fit the 200 training digits; what differs, if anything, is how well they generalize.",
            ),
        ]


EXPERIMENT = Regularization()
