"""Experiment 8: what does batch norm really fix? Santurkar et al. (2018) on digits.

Three measurements on the same runs (no norm, batch norm, "noisy" batch norm):

(a) training accuracy, and how much each layer's input distribution moves per step
    (the injected noise makes it move a lot);
(b) Santurkar et al.'s gradient measure of internal covariate shift, ||G - G'||
    (`measures.shift.gradient_shift`);
(c) how smooth the loss is along the gradient (`measures.shift.smoothness`).

The measures need the live trainer, so `train` is overridden: each run is trained here
(in this process), and the measures are stored in the run dict under `measures`.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.experiments import headlines as words
from vizcore.experiments.base import (
    DIGITS_MLP,
    Cancelled,
    Experiment,
    Paper,
    Result,
    Verdict,
    bound,
    diff_bound,
    equivalent,
    mean_finite,
    pct,
    spread,
    steps,
    welch,
)
from vizcore.experiments.grading import CLAIM, CLAIM_ANSWER, yes_no
from vizcore.figures.experiments import band_figure, bar_figure
from vizcore.measures.shift import gradient_shift, input_shift, smoothness, unit_stats
from vizcore.runs.queries import finite_values
from vizcore.workers.sweep import Job, strip_hist

NOISE = 1.0  # noisy BN: each unit scaled by U(1, 2) and shifted by U(-1, 1), redrawn every step: the shift is
# as large as the unit's own spread after batch norm (std 1), so the next layer's input keeps jumping
MEASURE_EVERY = 20  # steps between measurement points: 20 points in a 400-step run, cheap next to training
TAIL = 3  # final training accuracy = mean of the last 3 curve points (60 steps): one point is one 20-batch window
STEP_SIZES = (0.05, 0.1, 0.2, 0.4)  # Santurkar et al.'s range of steps along the gradient, in weight units

# Thresholds of the rule (why these values: see `verdict`).
HELPS = 0.10
AS_WELL = 0.01  # noisy BN "trains as well" as BN: run-average training accuracy within 1 point (equivalence test)
LARGE = 5.0
LOWER = 0.8

NO, BN, NOISY = "no norm", "batch norm", "noisy batch norm"
NOISY_WORSE = "noisy batch norm trained clearly worse than batch norm"
LOWERS = "batch norm lowered the gradient measure of internal covariate shift"


def tail_mean(run: dict, key: str = "train_acc", k: int = TAIL) -> float | None:
    """Return the mean of the last `k` finite values of `curves[key]`, or None if there are none."""
    vals = finite_values(run["curves"].get(key))
    return float(np.mean(vals[-k:])) if vals else None


def run_mean(run: dict, key: str = "train_acc") -> float | None:
    """Return the mean of `curves[key]` over the whole run (the area under the curve per step), or None.

    Each curve point averages the training batches since the previous point, and points are
    evenly spaced, so this is (up to a shorter last window) the mean over every training batch:
    it rewards reaching a level sooner as well as the level reached.
    """
    return mean_finite(run["curves"].get(key, []))


def measure_run(cfg: RunConfig, every: int = MEASURE_EVERY, cancel: threading.Event | None = None) -> dict:
    """Train `cfg` to the end, measuring at every `every`-th step; return the run dict with `measures` added.

    At each measurement point t: the input shift from step t to t+1 (`input_shift`, on the
    run's fixed probe examples, normalized with their own statistics as in training),
    Santurkar's gradient shift at step t (`gradient_shift`) and the smoothness along the
    gradient at step t+1 (`smoothness`); the measures never change the run. `measures`
    holds `steps` (t), `input_shift`, `grad_l2`, `grad_rel` (||G - G'|| / ||G||) and
    `grad_cos`, each one value per point (mean over blocks; blocks 2 onward for the gradient
    shift, since block 1 has no earlier layer), `grad_norm` (of all blocks' weights together)
    and `loss_range`, `grad_change`, `beta` from `smoothness`. Histograms are dropped from the run dict.
    """
    if every < 2:
        raise ValueError(f"every must be at least 2 (two steps are measured), got {every}")
    trainer = Trainer(cfg)
    m: dict[str, list] = {
        k: []
        for k in (
            "steps",
            "input_shift",
            "grad_l2",
            "grad_rel",
            "grad_cos",
            "grad_norm",
            "loss_range",
            "grad_change",
            "beta",
        )
    }
    while not trainer.done:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        t = trainer.steps_done
        # the same probe examples before and after one step: only the weights differ (a run without a
        # probe falls back to the next training batch, measured twice)
        x = trainer.probe_x if trainer.probe_x is not None else trainer.peek_batch()[0]
        before = unit_stats(trainer, x)
        g = gradient_shift(trainer, 1, every=1)
        if trainer.done:  # the last step: no step t+1 left to compare with
            break
        shift = input_shift(before, unit_stats(trainer, x))
        s = smoothness(trainer, STEP_SIZES, every=1, steps=1)
        m["steps"].append(t)
        m["input_shift"].append(mean_finite(shift))
        later = g["layers"][1:]
        m["grad_l2"].append(mean_finite([layer["l2"][0] for layer in later]))
        m["grad_rel"].append(mean_finite([_ratio(layer["l2"][0], layer["grad_norm"][0]) for layer in later]))
        m["grad_cos"].append(mean_finite([layer["cos"][0] for layer in later]))
        norms = [layer["grad_norm"][0] for layer in g["layers"]]
        m["grad_norm"].append(math.sqrt(sum(n * n for n in norms)) if None not in norms else None)
        for key, src in (("loss_range", "loss_range"), ("grad_change", "grad_change_max"), ("beta", "beta")):
            m[key].append(s[src][0] if s[src] else None)
        trainer.step(every - 2)
    run = strip_hist(trainer.export())
    run["measures"] = m
    return run


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def _measure_figure(runs: dict[str, list[dict]], key: str, title: str, ytitle: str) -> Any:
    """Return `band_figure` of measure `key` over the measured steps (mean over seeds, min-max band)."""
    curves = {
        label: [{"curves": {"step": r["measures"]["steps"], key: r["measures"][key]}} for r in rs]
        for label, rs in runs.items()
    }
    return band_figure(curves, key, title, ytitle)


class Santurkar(Experiment):
    number = 8
    name = "santurkar"
    title = "What does batch norm really fix? (Santurkar et al. 2018)"
    claim = (
        "Batch normalization works by reducing internal covariate shift: it keeps the distribution of each "
        "layer's inputs from changing while the earlier layers learn."
    )
    question = (
        "If we inject noise after every batch norm that makes each layer's inputs jump at every step, does "
        "the network still train about as well? Does batch norm lower Santurkar et al.'s gradient measure of "
        "internal covariate shift? And does it make the loss smoother along the gradient?"
    )
    predictions = {
        "Noisy batch norm trains badly, and batch norm lowers internal covariate shift": {
            NOISY_WORSE: "yes",
            LOWERS: "yes",
        },
        "Noisy batch norm trains fine and batch norm does not lower the shift: the benefit is something else": {
            NOISY_WORSE: "no",
            LOWERS: "no",
        },
        "Mixed: one of the two holds": {CLAIM: "neither"},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Santurkar, Tsipras, Ilyas & Madry (2018), How Does Batch Normalization Help Optimization?, Figures 2-4",
        "VGG on CIFAR-10: batch norm with random, non-zero-mean, changing noise injected after each BN layer trains "
        "about as fast and as accurately as plain batch norm, both ahead of the network without it (Fig. 2); "
        "measured as the change of a layer's gradient when the earlier layers update, internal covariate shift is "
        "similar or even larger with batch norm, in VGG and in a 25-layer deep linear network (Fig. 3); with batch "
        "norm the loss and the gradient change far less along the gradient direction (Fig. 4). The paper shows "
        "curves, not single numbers.",
        "Here: digits (8x8 images), a 5-layer relu MLP of width 64 for 400 steps of SGD, not VGG on CIFAR-10 for "
        "thousands of steps; the noise is this app's (scale U(1, 2), shift U(-1, 1) per unit, redrawn every step); "
        "accuracy is the training accuracy, measured with the noise on, because the test pass drops the noise.",
    )
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        # Default PyTorch init and depth 5: deep enough that the plain network trains clearly slower at lr 0.1
        # (vanishing signal), so there is a batch-norm benefit to explain; at depth 6 it barely trains at all.
        base = DIGITS_MLP.replace(depth=5, steps=steps(400, budget), every=50, eval_every=20)
        return [
            (NO, base.replace(norm="none")),
            (BN, base.replace(norm="batch")),
            (NOISY, base.replace(norm="batch", norm_noise=NOISE)),
        ]

    def job(self) -> Job:
        """Return `measure_run` (the measures need the live trainer: each run is
        measured where it trains, in a pool worker or this thread)."""
        return measure_run

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, rs in runs.items():
            ms = [r["measures"] for r in rs]
            out[label] = {
                "train_acc": spread([tail_mean(r) for r in rs]),
                "train_acc_avg": spread([run_mean(r) for r in rs]),
                "train_loss": spread([tail_mean(r, "train_loss") for r in rs]),
                "test_acc": spread([tail_mean(r, "test_acc") for r in rs]),
                **{
                    k: spread([mean_finite(m[k]) for m in ms])
                    for k in (
                        "input_shift",
                        "grad_l2",
                        "grad_rel",
                        "grad_cos",
                        "grad_norm",
                        "loss_range",
                        "grad_change",
                        "beta",
                    )
                },
            }
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        def mean(label: str, key: str) -> float | None:
            return measured[label][key]["mean"]

        a_no, a_bn, a_noisy = (mean(k, "train_acc_avg") for k in (NO, BN, NOISY))
        f_no, f_bn, f_noisy = (mean(k, "train_acc") for k in (NO, BN, NOISY))
        sh_no, sh_bn, sh_noisy = (mean(k, "input_shift") for k in (NO, BN, NOISY))
        g_no, g_bn = mean(NO, "grad_l2"), mean(BN, "grad_l2")
        r_no, r_bn = mean(NO, "grad_rel"), mean(BN, "grad_rel")
        c_no, c_bn = mean(NO, "grad_cos"), mean(BN, "grad_cos")
        b_no, b_bn = mean(NO, "beta"), mean(BN, "beta")
        n_no, n_bn = mean(NO, "grad_norm"), mean(BN, "grad_norm")
        noisy_avg, bn_avg = measured[NOISY]["train_acc_avg"], measured[BN]["train_acc_avg"]
        gap = a_noisy - a_bn if a_noisy is not None and a_bn is not None else None
        se, df = welch(noisy_avg, bn_avg)
        gap_bound = bound(se, df)  # None with one seed a side: the noise is unknown
        numbers: dict[str, float | None] = {"noisy_minus_bn": gap, "noisy_minus_bn_bound": gap_bound}
        for tag, lab in (("none", NO), ("bn", BN), ("noisy", NOISY)):
            for key, name in (("train_acc_avg", "avg_train_acc"), ("train_acc", "final_train_acc")):
                numbers[f"{name}_{tag}"] = mean(lab, key)
            numbers[f"input_shift_{tag}"] = mean(lab, "input_shift")
            if lab != NOISY:
                for key, name in (("grad_l2", "grad_shift"), ("grad_rel", "grad_shift_rel")):
                    numbers[f"{name}_{tag}"] = mean(lab, key)
                for key in ("grad_cos", "beta", "grad_norm"):
                    numbers[f"{key}_{tag}"] = mean(lab, key)
        rule = (
            f"Training accuracy is averaged over the whole run (so speed counts, not only the end point). BN "
            f"must first help: at least {HELPS * 100:.0f} points above the plain network and beyond the 95% "
            "Student-t bound of that difference over seeds (Welch), else it depends. Noisy BN is compared with "
            f"BN directly: it 'trains as well' if two one-sided t tests at 5% each put the difference within "
            f"{AS_WELL * 100:.0f} point (its 90% t-interval inside +-{AS_WELL * 100:.0f}); it 'trains worse' if "
            f"it is lower by more than {AS_WELL * 100:.0f} point and beyond the 95% t bound. Its layer inputs "
            f"must also move at least {LARGE:.0f}x as much per step as both others', or the noise test is void: "
            f"it depends. BN 'lowers internal covariate shift' if its gradient shift ||G - G'|| is at most "
            f"{LOWER:.0%} of the plain network's and lower beyond the 95% t bound. Not supported if noisy BN "
            "trains as well and BN does not lower the gradient shift; supported if noisy BN trains worse and BN "
            "lowers it; it depends otherwise. Smoothness is reported, not used: it tests the alternative "
            "explanation, not the claim."
        )
        needed = (a_no, a_bn, a_noisy, sh_no, sh_bn, sh_noisy, g_no, g_bn)
        if gap is None or any(v is None for v in needed):
            missing = "Some runs did not produce the numbers the rule needs (diverged or too short)."
            return Verdict("it depends", missing, numbers, rule)
        # HELPS = 10 points: beyond the seed spread of the plain network's run-average accuracy (its min-to-max
        # range over 3 seeds is up to ~14 points, std ~6); without a real benefit there is nothing to explain.
        helps = a_bn - a_no >= max(HELPS, diff_bound(bn_avg, measured[NO]["train_acc_avg"]))
        # Noisy BN against BN itself, not against its gain over the plain network: that gain is inflated by a
        # plain network its init cripples, so a share of it allowed a loss of many points to pass as "as well".
        as_well = equivalent(gap, se, df, AS_WELL)
        worse = gap_bound is not None and -gap > max(AS_WELL, gap_bound)
        # LARGE = 5x: the injected shift must dwarf the drift of an ordinary network, or the test shows nothing.
        large = sh_noisy >= LARGE * max(sh_no, sh_bn)
        # LOWER = 80%: the claim predicts a clear reduction; a fifth less is the smallest that counts, since BN's own
        # gradient shift varies by about +-17% between seeds here (the plain network's by more).
        lower = g_bn <= LOWER * g_no and g_no - g_bn > diff_bound(measured[NO]["grad_l2"], measured[BN]["grad_l2"])
        # Without a large injected shift the noise test says nothing either way: it must not count as
        # "noisy BN trains badly", which would be evidence for the claim.
        if not helps or not large:
            label = "it depends"
        elif as_well and not lower:
            label = "not supported"
        elif worse and lower:
            label = "supported"
        else:
            label = "it depends"
        summary = words.santurkar_test(label, helps, large, as_well, worse, lower, LARGE, AS_WELL) + (
            f" Averaged over the run, training accuracy was {pct(a_bn)} with BN, {pct(a_noisy)} with noisy BN "
            f"and {pct(a_no)} without norm (final: {pct(f_bn)}, {pct(f_noisy)}, {pct(f_no)}): noisy BN was "
            f"{_points(gap, gap_bound)} BN"
        )
        if noisy_avg.get("max") is not None and bn_avg.get("min") is not None and noisy_avg["max"] < bn_avg["min"]:
            summary += " (lower in every seed)"
        summary += (
            f" and {100 * (a_noisy - a_no):.0f} points above the network without norm. Noisy BN's layer inputs "
            f"moved {sh_noisy:.2f} std per step against {sh_bn:.4f} with BN and "
            f"{sh_no:.3f} without norm. BN's figure is |change of beta| / gamma by construction: on a batch, a "
            "batch-norm unit's output has mean beta and std gamma, so it only says how far the learned shift "
            f"moved. BN's gradient shift ||G - G'|| was {_times(g_bn, g_no)} the plain network's ({g_bn:.3g} vs "
            f"{g_no:.3g}; relative to ||G||: {_fmt(r_bn)} vs {_fmt(r_no)}; cosine {_fmt(c_bn)} vs {_fmt(c_no)})."
        )
        if None not in (b_no, b_bn, n_no, n_bn):
            summary += f" {words.smoothness(b_bn, b_no)}" + (
                f" Along the gradient (steps of 0.05 to 0.4 x g, Santurkar's protocol) BN's gradients were "
                f"{_compare(n_bn, n_no, '')}, so these steps are not equal distances: per unit distance moved, "
                f"the gradient changed {b_bn:.3g} vs {b_no:.3g} (effective beta-smoothness, "
                f"{_compare(b_bn, b_no)}). The loss range along those steps is not compared: BN's loss is near "
                "zero for most of the run, which alone keeps its range small."
            )
        valid = helps and large  # otherwise the noise test is void and these runs grade no prediction
        found = {
            CLAIM: CLAIM_ANSWER[label] if valid else None,
            NOISY_WORSE: ("yes" if worse else "no" if as_well else "neither") if valid else None,
            LOWERS: yes_no(lower) if valid else None,
        }
        head = words.santurkar(label, helps, large, as_well, worse, lower)
        return Verdict(label, summary, numbers, rule, head, found)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        runs, m = result.runs, result.measured
        shift = bar_figure(
            {label: {"input shift per step": m[label]["input_shift"]["mean"]} for label in m},
            "How far each layer's input moves in one step, in its own std (log scale)",
            "mean |change of unit mean| / std",
            errors={label: {"input shift per step": m[label]["input_shift"]["std"]} for label in m},
        )
        shift.update_yaxes(type="log")
        return [
            (
                band_figure(
                    runs, "train_acc", "Training accuracy, noise on (band: min to max over seeds)", "training accuracy"
                ),
                "Santurkar's Figure 2: does noisy BN track BN, or fall back towards the network without norm?",
            ),
            (
                shift,
                f"Internal covariate shift as Ioffe & Szegedy describe it; the rule needs noisy BN's bar at least "
                f"{LARGE:.0f}x the others'.",
            ),
            (
                _measure_figure(runs, "grad_l2", "Gradient shift ||G - G'|| (blocks 2 on)", "||G - G'||"),
                "Santurkar's Figure 3: how much a layer's gradient changes when only the earlier layers update.",
            ),
            (
                _measure_figure(
                    runs, "loss_range", "Loss range along the gradient (steps 0.05 to 0.4 x g)", "max - min loss"
                ),
                "Santurkar's Figure 4a, not normalized: BN's loss is near zero for most of the run, which alone "
                "narrows its range, so the verdict does not compare these lines.",
            ),
            (
                _measure_figure(
                    runs,
                    "beta",
                    "Effective beta-smoothness: gradient change per distance",
                    "max ||g(W - eta g) - g(W)|| / (eta ||g||)",
                ),
                "Santurkar's Figure 4c: lower means a more predictable gradient per unit distance moved.",
            ),
        ]


def _points(gap: float, bound: float | None) -> str:
    """Return a signed accuracy difference in words, with its 95% bound if known: '2.5 +- 0.8 points below'."""
    pm = f" +- {100 * bound:.1f}" if bound is not None else ""
    return f"{100 * abs(gap):.1f}{pm} points {'below' if gap < 0 else 'above'}"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _compare(bn: float, other: float, suffix: str = " with BN") -> str:
    """Return how `bn` compares with `other` in words: 'N.Nx smaller with BN' or 'N.Nx larger with BN'."""
    if bn <= 0 or other <= 0:
        return f"{bn:.3g} vs {other:.3g}{suffix}"
    return f"{other / bn:.1f}x smaller{suffix}" if bn < other else f"{bn / other:.1f}x larger{suffix}"


def _times(a: float, b: float) -> str:
    """Return 'N.NNx' for a / b (with a guard for b = 0)."""
    return f"{a / b:.2f}x" if b > 0 else "infinitely many times"


EXPERIMENT = Santurkar()
