"""Experiment 6: where batch norm goes, before or after the activation, on digits."""

from __future__ import annotations

import math
from typing import Any

from vizcore.engine.config import RunConfig
from vizcore.experiments import headlines as words
from vizcore.experiments.base import DIGITS_MLP, Experiment, Paper, Result, Verdict, diff_bound, pct, spread, steps
from vizcore.figures.experiments import band_figure, bar_figure

# tanh is left out for time (half as much again); in trial runs (800 steps, seeds 0-5) its two placements
# were within 0.2 points of each other. It is one click away on Compare.
ACTIVATIONS = ("relu", "sigmoid")
ACT_NAMES = {"relu": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid"}
PLACEMENTS = ("before", "after")
LAST = 5  # evaluation points averaged for "final" accuracy: the last quarter of training (20 points in all)
# A gap must exceed the 95% Student-t bound of the difference over seeds (Welch) and half a point
# (2 of the 360 test digits; a test digit is 0.28 points): smaller differences are noise or too
# small to matter.
MIN_GAP = 0.005
ANSWER = {"before": "yes", "after": "no", "within noise": "neither"}  # grading: "did before beat after?"


def beat(activation: str) -> str:
    """Return the statement graded for `activation` (yes: before won; no: after won; neither: no clear winner)."""
    return f"with {ACT_NAMES[activation]}, batch norm before the activation beat batch norm after it"


def label(activation: str, placement: str) -> str:
    """Return the variant label, e.g. 'ReLU, BN before the activation'."""
    return f"{ACT_NAMES[activation]}, BN {placement} the activation"


def late_acc(run: dict | None) -> float | None:
    """Return the mean test accuracy over the last LAST evaluation points (fewer if the run has fewer), or None."""
    if run is None:
        return None
    vals = [v for v in run["curves"]["test_acc"][1:] if v is not None and math.isfinite(v)]
    tail = vals[-LAST:]
    return sum(tail) / len(tail) if tail else None


class Placement(Experiment):
    number = 6
    name = "placement"
    title = "Where does batch norm go: before or after the activation?"
    claim = (
        "Batch norm goes after the linear transformation and before the activation (Linear -> BN -> "
        "activation). Other articles say it is commonly applied after the activation (Linear -> activation -> "
        "BN). The verdict is about the first: 'not supported' means after the activation won."
    )
    question = (
        "With ReLU and with sigmoid networks, does normalizing before the activation give a better test "
        "accuracy than normalizing after it, by more than the spread between seeds?"
    )
    predictions = {
        "Before the activation is better, whatever the activation": {beat(a): "yes" for a in ACTIVATIONS},
        "After the activation is better, whatever the activation": {beat(a): "no" for a in ACTIVATIONS},
        "It depends: after for ReLU, before for sigmoid": {beat("relu"): "no", beat("sigmoid"): "yes"},
        "No real difference": {beat(a): "neither" for a in ACTIVATIONS},
    }
    expectations = tuple(predictions)
    answer_words = {
        beat(a): {"yes": "yes, before won", "no": "no, after won", "neither": "neither clearly won"}
        for a in ACTIVATIONS
    }
    paper = Paper(
        "Ioffe & Szegedy (2015), Batch Normalization, Section 3.2",
        "They normalize the pre-activation x = Wu + b, arguing it is 'more likely to have a symmetric, non-sparse "
        "distribution' than the layer input; the paper reports no head-to-head comparison. Later benchmarks "
        "report after-ReLU slightly better for ReLU networks, and before better for sigmoid and tanh.",
        "Here: digits, a 4-block mlp of width 64, plain SGD at learning rate 0.1 for 700 steps; accuracy is the "
        "mean of the last 5 of 20 test evaluations, 4 seeds per variant; tanh is left out for time.",
    )
    seeds = (0, 1, 2, 3)  # the gaps are fractions of a point: a fourth seed makes the noise estimate usable
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        n = steps(700, budget)
        base = DIGITS_MLP.replace(steps=n, every=max(1, n // 8), eval_every=max(1, n // 20))
        # Sigmoid last: "Try it yourself" opens BN after a sigmoid, to vary the placement on Compare.
        return [(label(a, p), base.replace(activation=a, placement=p)) for a in ACTIVATIONS for p in PLACEMENTS]

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for a in ACTIVATIONS:
            entry = {p: spread([late_acc(r) for r in runs.get(label(a, p), [])]) for p in PLACEMENTS}
            if entry["before"]["n"] or entry["after"]["n"]:
                entry["per_seed"] = {p: [late_acc(r) for r in runs.get(label(a, p), [])] for p in PLACEMENTS}
                out[a] = entry
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        winners: dict[str, str] = {}
        numbers: dict[str, float | None] = {}
        for a, entry in measured.items():
            b, f = entry["before"], entry["after"]
            numbers[f"{a}_before"], numbers[f"{a}_after"] = b["mean"], f["mean"]
            if b["mean"] is None or f["mean"] is None:
                winners[a] = "unknown"
                numbers[f"{a}_after_minus_before"] = numbers[f"{a}_threshold"] = None
                continue
            d = f["mean"] - b["mean"]
            threshold = max(MIN_GAP, diff_bound(f, b))
            numbers[f"{a}_after_minus_before"], numbers[f"{a}_threshold"] = d, threshold
            winners[a] = "after" if d > threshold else "before" if -d > threshold else "within noise"
        found = set(winners.values())
        label_ = "supported" if found == {"before"} else "not supported" if found == {"after"} else "it depends"
        rule = (
            f"For each activation, the gap is the mean accuracy (last {LAST} test evaluations, averaged over "
            "seeds) with BN after the activation minus with BN before it. It counts if it exceeds both the 95% "
            f"Student-t bound of that difference over seeds (Welch; 4 seeds a side) and {MIN_GAP * 100:.1f} points. "
            "Supported if 'before' wins for every "
            "activation; not supported if 'after' wins for every activation; it depends otherwise (the winner "
            "differs by activation, or a gap is within noise)."
        )
        parts = []
        for a, w in winners.items():
            b, f = numbers[f"{a}_before"], numbers[f"{a}_after"]
            verdict_a = {
                "before": "before wins",
                "after": "after wins",
                "within noise": "within noise",
                "unknown": "no numbers",
            }[w]
            th = numbers[f"{a}_threshold"]
            parts.append(
                f"{ACT_NAMES[a]}: before {pct(b)}, after {pct(f)} ({verdict_a}"
                + (f"; a gap must exceed {th * 100:.1f} points)" if th is not None else ")")
            )
        if label_ == "supported":
            head = "Batch norm before the activation beat after it for every activation."
        elif label_ == "not supported":
            head = "Batch norm after the activation beat before it for every activation."
        elif found == {"within noise"}:
            head = "For no activation did one placement beat the other by more than the noise."
        elif "within noise" not in found and "unknown" not in found:
            head = "The better placement differs by activation."
        else:
            head = "Neither placement won for every activation."
        summary = f"{head} Test accuracy by placement. " + "; ".join(parts) + "."
        gaps = {a: numbers[f"{a}_after_minus_before"] for a in winners}
        found = {beat(a): ANSWER.get(w) for a, w in winners.items()}
        return Verdict(label_, summary, numbers, rule, words.placement(winners, gaps, ACT_NAMES), found)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured
        groups = {f"BN {p} the activation": {ACT_NAMES[a]: m[a][p]["mean"] for a in m} for p in PLACEMENTS}
        errors = {f"BN {p} the activation": {ACT_NAMES[a]: m[a][p]["std"] for a in m} for p in PLACEMENTS}
        bars = bar_figure(
            groups,
            f"Test accuracy (mean of the last {LAST} evaluations; bars: seed mean, whiskers: seed std)",
            "test accuracy",
            errors,
            zoom=(0.0, 1.0),
        )
        return [
            (
                bars,
                "The axis starts at 0, so each bar's length is its accuracy. Compare the two bars of each activation "
                "against their whiskers: a gap smaller than the seed-to-seed spread is not evidence for either "
                "placement.",
            ),
            (
                band_figure(
                    result.runs,
                    "test_acc",
                    "Test accuracy during training (band: min to max over seeds)",
                    "test accuracy",
                ),
                "Placement can change how fast a network learns as well as where it ends; look at both.",
            ),
        ]


EXPERIMENT = Placement()
