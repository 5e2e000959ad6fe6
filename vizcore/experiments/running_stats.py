"""Experiment 7: batch norm's running statistics at inference, and "precise BN" (Wu & Johnson 2021), on digits.

In train mode batch norm normalizes with the batch's own statistics and never reads its
running averages, so runs that differ only in the averages' momentum train the very
same weights (same seed, same batches). Any difference in their test accuracy comes
from the running averages alone; recomputing the statistics over the training set
("precise BN") gives every momentum the same network, and the same accuracy.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.experiments.base import (
    DIGITS_MLP,
    Cancelled,
    Experiment,
    Paper,
    Progress,
    Result,
    Verdict,
    columns,
    pct,
    spread,
    steps,
)
from vizcore.figures.experiments import sweep_figure
from vizcore.measures.batch import accuracy, recompute_bn_stats
from vizcore.workers.sweep import strip_hist

MOMENTA = (0.01, 0.1, 0.5)  # PyTorch's convention: running = (1 - m) * running + m * batch; 0.1 is its default
DEFAULT_MOMENTUM = 0.1
# Checkpoints as fractions of training, log-spaced: the lag of a slow average shows early on.
CHECKPOINTS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
# Precise BN "beats" the running averages if its gain exceeds twice the standard error of the
# per-seed gains (paired: the same network evaluated both ways) and half a point (2 of the 360
# test digits; one digit is 0.28 points): smaller gains are noise or too small to matter.
MIN_GAIN = 0.005


def label(momentum: float) -> str:
    """Return the variant label for `momentum`, e.g. 'momentum 0.1'."""
    return f"momentum {momentum:g}"


def checkpoints(total: int) -> list[int]:
    """Return the distinct steps (at least 1, ending at `total`) where both kinds of statistics are evaluated."""
    return sorted({max(1, min(total, int(round(f * total)))) for f in CHECKPOINTS} | {total})


def paired_se(gains: Sequence[float | None]) -> float:
    """Return the standard error of the mean of `gains` (sample std, ddof 1); 0 with fewer than 2 values."""
    v = [g for g in gains if g is not None and math.isfinite(g)]
    if len(v) < 2:
        return 0.0
    mean = sum(v) / len(v)
    return math.sqrt(sum((g - mean) ** 2 for g in v) / (len(v) - 1) / len(v))


def train_with_checkpoints(cfg: RunConfig, cancel: threading.Event | None = None) -> dict:
    """Return the light run dict of `cfg`, with `run["extras"]["running_stats"]` measured at each checkpoint.

    That entry holds `steps`, `ema_acc` (test accuracy in eval mode, i.e. with the running
    averages) and `precise_acc` (test accuracy after `recompute_bn_stats` over the whole
    training set, on a copy: the trainer's running averages are untouched). A run that
    diverges stops there; a cancelled run returns what it has.
    """
    trainer = Trainer(cfg)
    d = trainer.data
    rec: dict[str, list] = {"steps": [], "ema_acc": [], "precise_acc": []}
    for c in checkpoints(cfg.steps):
        while trainer.steps_done < c and not trainer.done:
            if cancel is not None and cancel.is_set():
                trainer.stop()
                break
            trainer.step(min(50, c - trainer.steps_done))  # 50-step chunks: a cancel is noticed quickly
        if trainer.steps_done < c:
            break
        rec["steps"].append(c)
        rec["ema_acc"].append(trainer.evaluate(d.x_test, d.y_test)[1])
        rec["precise_acc"].append(accuracy(recompute_bn_stats(trainer, d.x_train), d.x_test, d.y_test))
    run = strip_hist(trainer.export())
    run["extras"] = {"running_stats": rec}
    return run


class RunningStats(Experiment):
    number = 7
    name = "running-stats"
    title = "Running statistics: what batch norm uses at test time"
    # That eval mode uses the running averages is a fact of the implementation, not a finding: what can
    # hold or fail here is the claim's unstated half, that those averages serve as well as the network's
    # true statistics. The verdict is about that half.
    claim = (
        "At inference batch norm does not use the statistics of the test batch: it uses moving averages of the "
        "means and variances gathered during training, and they serve as well as the finished network's "
        "own statistics."
    )
    question = (
        "That eval mode uses the moving averages is how PyTorch implements batch norm (Ioffe & Szegedy's "
        "Algorithm 2 uses population statistics; their Section 3.1 suggests moving averages to track a "
        "model while it trains), so the verdict is about the second half. "
        "The moving averages stand in for the statistics of the finished network. Are they as good as "
        "statistics recomputed over the whole training set with the final weights ('precise BN'), for a slow "
        "(0.01), the default (0.1) and a fast (0.5) momentum?"
    )
    expectations = (
        "The moving averages are as good as recomputed statistics",
        "Recomputed statistics are clearly better",
        "It depends on the momentum",
    )
    paper = Paper(
        "Wu & Johnson (2021), Rethinking 'Batch' in BatchNorm, Section 3",
        "ResNet-50 on ImageNet: the moving averages (EMA) can lag the weights, most visibly with a large batch "
        "and learning rate, giving unstable and lower validation accuracy during training; 'PreciseBN', "
        "population statistics recomputed over some thousands of training images with the weights frozen, "
        "gives stable, higher accuracy. (The comparison is shown as curves; no table values are quoted here.)",
        "Here: digits, a 4-block mlp of width 64, batch 64, plain SGD at learning rate 0.1 for 1,000 steps; "
        "precise BN uses all 1,437 training digits; test accuracy measured at 8 checkpoints.",
    )
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        n = steps(1000, budget)
        base = DIGITS_MLP.replace(steps=n, every=n, eval_every=max(1, n // 40))
        # The slow average last: "Try it yourself" opens it, to vary the momentum on Compare.
        order = (DEFAULT_MOMENTUM, 0.5, 0.01)
        return [(label(m), base.replace(momentum=m)) for m in order]

    def train(
        self,
        budget: float,
        seeds: Sequence[int] | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int = 1,
        pool: Any = None,
    ) -> dict[str, list[dict]]:
        """Return {label: [run dict per seed]}, each with `extras.running_stats` (see train_with_checkpoints).

        The checkpoints need the live Trainer, so runs train one after another in the
        calling thread (`workers` and `pool` are not used).
        """
        pairs = self.configs(budget, seeds)
        total = len(pairs)
        if progress:
            progress(0, total, "starting")
        out: dict[str, list[dict]] = {}
        for i, (lab, cfg) in enumerate(pairs):
            run = train_with_checkpoints(cfg, cancel)
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            out.setdefault(lab, []).append(run)
            if progress:
                progress(i + 1, total, lab)
        return out

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        out: dict[str, Any] = {"momenta": {}}
        precise_by_seed: dict[int, list[list[float]]] = {}
        for lab, rs in runs.items():
            recs = [r["extras"]["running_stats"] for r in rs]
            n = min(len(rec["steps"]) for rec in recs)
            if n == 0:
                continue
            cols = {k: [[rec[k][j] for rec in recs] for j in range(n)] for k in ("ema_acc", "precise_acc")}
            gains = [[p - e for p, e in zip(cols["precise_acc"][j], cols["ema_acc"][j])] for j in range(n)]
            out["momenta"][lab] = {
                "momentum": rs[0]["config"]["momentum"],
                "steps": recs[0]["steps"][:n],
                "ema_acc": [spread(c) for c in cols["ema_acc"]],
                "precise_acc": [spread(c) for c in cols["precise_acc"]],
                "gain": [spread(g) for g in gains],
                "final_gains": gains[-1],
            }
            for r, rec in zip(rs, recs):
                precise_by_seed.setdefault(r["config"]["seed"], []).append(rec["precise_acc"][:n])
        # The weights do not depend on the momentum, so precise BN must agree across momenta for a seed.
        diffs = [
            abs(a - b) for group in precise_by_seed.values() for other in group[1:] for a, b in zip(group[0], other)
        ]
        out["precise_spread_across_momenta"] = max(diffs) if diffs else None
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        beats: dict[float, bool] = {}
        numbers: dict[str, float | None] = {}
        for entry in _by_momentum(measured):
            m = entry["momentum"]
            g = entry["gain"][-1]["mean"]
            threshold = max(MIN_GAIN, 2 * paired_se(entry["final_gains"]))
            beats[m] = g is not None and g > threshold
            numbers[f"ema_final_m{m:g}"] = entry["ema_acc"][-1]["mean"]
            numbers[f"precise_final_m{m:g}"] = entry["precise_acc"][-1]["mean"]
            numbers[f"gain_final_m{m:g}"] = g
            numbers[f"threshold_m{m:g}"] = threshold
        early = self._largest_early_gain(measured)
        if early is not None:
            numbers["largest_gain_during_training"] = early[0]
            numbers["at_step"] = float(early[1])
            numbers["at_momentum"] = early[2]
        numbers["precise_spread_across_momenta"] = measured.get("precise_spread_across_momenta")
        won = [m for m, b in beats.items() if b]
        label_ = "supported" if not won else "not supported" if len(won) == len(beats) else "it depends"
        rule = (
            "At the end of training, for each momentum, the gain is the test accuracy with statistics recomputed "
            "over the training set minus with the running averages, averaged over seeds. Precise BN beats the "
            "running averages if the gain exceeds both twice the standard error of the per-seed gains (with 3 "
            "seeds a lenient test, about 80% two-sided) and "
            f"{MIN_GAIN * 100:.1f} points. Supported if it beats them for no momentum; not supported if for "
            "every momentum; it depends if for some."
        )
        return Verdict(label_, self._summary(measured, beats, early), numbers, rule)

    @staticmethod
    def _largest_early_gain(measured: dict[str, Any]) -> tuple[float, int, float] | None:
        """Return (mean gain, step, momentum) of the largest mean gain before the last checkpoint, or None."""
        best = None
        for entry in measured["momenta"].values():
            for s, g in zip(entry["steps"][:-1], entry["gain"][:-1]):
                if g["mean"] is not None and (best is None or g["mean"] > best[0]):
                    best = (g["mean"], s, entry["momentum"])
        return best

    def _summary(
        self, measured: dict[str, Any], beats: dict[float, bool], early: tuple[float, int, float] | None
    ) -> str:
        parts = []
        for entry in _by_momentum(measured):
            m = entry["momentum"]
            parts.append(
                f"momentum {m:g}: {pct(entry['ema_acc'][-1]['mean'])} with running averages, "
                f"{pct(entry['precise_acc'][-1]['mean'])} recomputed"
                + (" (precise BN better beyond noise)" if beats[m] else "")
            )
        text = "At the end of training, test accuracy " + "; ".join(parts) + "."
        if early is not None and early[0] > MIN_GAIN:
            text += (
                f" During training the running averages lagged: at step {early[1]}, with momentum {early[2]:g}, "
                f"recomputing the statistics gained {early[0] * 100:.1f} points."
            )
        spread_ = measured.get("precise_spread_across_momenta")
        if spread_ is not None and len(measured["momenta"]) > 1:
            text += (
                " Recomputed statistics gave the same accuracy for every momentum"
                if spread_ == 0
                else f" Recomputed statistics differed by at most {spread_ * 100:.2f} points across momenta"
            )
            text += (
                " (the momentum does not change the weights), so the differences between momenta come from "
                "the running averages alone."
            )
        return text

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured["momenta"]
        if not m:
            return []
        first = next(iter(m.values()))
        x = first["steps"]
        acc: dict[str, dict[str, list[float | None]]] = {}
        for lab, entry in sorted(m.items(), key=lambda kv: kv[1]["momentum"]):
            acc[f"running averages, {lab}"] = columns(entry["ema_acc"][: len(x)])
        acc["recomputed (precise BN)"] = columns(first["precise_acc"][: len(x)])
        gain = {
            lab: columns(entry["gain"][: len(x)]) for lab, entry in sorted(m.items(), key=lambda kv: kv[1]["momentum"])
        }
        figs = [
            (
                sweep_figure(
                    x,
                    acc,
                    "Test accuracy with running averages vs recomputed statistics",
                    "training step (log scale)",
                    "test accuracy",
                    log_x=True,
                ),
                "Same weights for every momentum: only the running averages differ. A slow average (0.01) trails the "
                "network early on; recomputed statistics do not.",
            ),
            (
                sweep_figure(
                    x,
                    gain,
                    "Gain from recomputing the statistics (precise BN minus running averages)",
                    "training step (log scale)",
                    "accuracy gain",
                    log_x=True,
                ),
                "Above 0 the recomputed statistics are better; bands show the spread over seeds.",
            ),
        ]
        for fig, _ in figs:
            fig.update_xaxes(tickvals=list(x))
        return figs


def _by_momentum(measured: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(measured["momenta"].values(), key=lambda e: e["momentum"])


EXPERIMENT = RunningStats()
