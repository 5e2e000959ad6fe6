"""Experiment 7: batch norm's running statistics at inference, and "precise BN" (Wu & Johnson 2021), on digits.

In train mode batch norm normalizes with the batch's own statistics and never reads its
running averages, so runs that differ only in the averages' momentum train the very
same weights (same seed, same batches). Any difference in their test accuracy comes
from the running averages alone; recomputing the statistics over the training set
("precise BN") gives every momentum the same network, and the same accuracy.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.experiments import headlines as words
from vizcore.experiments.base import (
    DIGITS_MLP,
    Experiment,
    Paper,
    Result,
    Verdict,
    bound,
    columns,
    equivalent,
    paired,
    pct,
    spread,
    steps,
)
from vizcore.experiments.grading import CLAIM
from vizcore.figures.experiments import sweep_figure
from vizcore.measures.batch import accuracy, recompute_bn_stats
from vizcore.workers.sweep import Job, strip_hist

MOMENTA = (0.001, 0.01, 0.1)  # PyTorch's convention: running = (1 - m) * running + m * batch; 0.1 is its default
# Two settings: the base network's rate, and a large one at which batch norm still trains (experiment 2):
# Wu & Johnson saw the averages lag most with a large rate and batch, so the page shows both sides.
RATES = (0.1, 3.0)
STEPS = 1000
# Checkpoints as fractions of training, log-spaced: the lag of a slow average shows early on.
CHECKPOINTS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)
# "As well": two one-sided t tests at 5% each put the mean per-seed gain of recomputing within 1 point
# (under 4 of the 360 test digits; one digit is 0.28 points).
MARGIN = 0.01
# "Better": a mean gain beyond the 95% Student-t bound and half a point (2 test digits): smaller gains are
# noise or too small to matter.
MIN_GAIN = 0.005
STATES = {
    "same": "as well as recomputed statistics",
    "precise": "worse than recomputed statistics",
    "running": "better than recomputed statistics",
    "undecided": "neither clearly as well as nor clearly worse than recomputed statistics",
}


def label(momentum: float, lr: float = RATES[0]) -> str:
    """Return the variant label for `momentum` at learning rate `lr`, e.g. 'lr 0.1, momentum 0.01'."""
    return f"lr {lr:g}, momentum {momentum:g}"


def checkpoints(total: int) -> list[int]:
    """Return the distinct steps (at least 1, ending at `total`) where both kinds of statistics are evaluated."""
    return sorted({max(1, min(total, int(round(f * total)))) for f in CHECKPOINTS} | {total})


def judge(gains: Sequence[float | None]) -> tuple[str, dict[str, Any]]:
    """Return the state of the per-seed final gains (precise minus running) and their paired statistics.

    "same" if equivalent within +-MARGIN (TOST), "precise" or "running" if the mean is beyond both
    MIN_GAIN and the 95% Student-t bound in that direction, else "undecided". The statistics are
    `paired(gains)` plus "bound" (the 95% half-width, None with one seed).
    """
    p = paired(gains)
    p["bound"] = bound(p["se"], p["df"])
    m, b = p["mean"], p["bound"]
    if equivalent(m, p["se"], p["df"], MARGIN):
        return "same", p
    if m is not None and b is not None and abs(m) > max(MIN_GAIN, b):
        return ("precise" if m > 0 else "running"), p
    return "undecided", p


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
        "statistics recomputed over the whole training set with the final weights ('precise BN'), for a very "
        "slow (0.001), a slow (0.01) and the default (0.1) momentum, at the usual learning rate (0.1) and at a "
        "large one (3)?"
    )
    predictions = {
        "The moving averages are as good as recomputed statistics": {CLAIM: "yes"},
        "Recomputed statistics are clearly better": {CLAIM: "no"},
        "It depends on the momentum or the learning rate": {CLAIM: "neither"},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Wu & Johnson (2021), Rethinking 'Batch' in BatchNorm, Section 3",
        "ResNet-50 on ImageNet: the moving averages (EMA) can lag the weights, most visibly with a large batch "
        "and learning rate, giving unstable and lower validation accuracy during training; 'PreciseBN', "
        "population statistics recomputed over some thousands of training images with the weights frozen, "
        "gives stable, higher accuracy. (The comparison is shown as curves; no table values are quoted here.)",
        f"Here: digits, a 4-block mlp of width 64, batch 64, plain SGD at learning rate 0.1 and 3 for "
        f"{STEPS:,} steps, 5 seeds; precise BN uses all 1,437 training digits; test accuracy measured at 8 "
        "checkpoints. No learning-rate schedule: the paper's runs decay the rate, these do not.",
    )
    seeds = (0, 1, 2, 3, 4)  # equivalence within a point needs a noise estimate that 3 seeds give too loosely
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        n = steps(STEPS, budget)
        base = DIGITS_MLP.replace(steps=n, every=n, eval_every=max(1, n // 40))
        # The slow average at the large rate last: "Try it yourself" opens it, to vary the momentum on Compare.
        return [(label(m, lr), base.replace(lr=lr, momentum=m)) for lr in RATES for m in sorted(MOMENTA, reverse=True)]

    def job(self) -> Job:
        """Return `train_with_checkpoints` (the checkpoints need the live trainer: each run is
        measured where it trains, in a pool worker or this thread)."""
        return train_with_checkpoints

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        out: dict[str, Any] = {"settings": {}}
        for lab, rs in runs.items():
            recs = [r["extras"]["running_stats"] for r in rs]
            n = min(len(rec["steps"]) for rec in recs)
            if n == 0:
                continue
            lr = rs[0]["config"]["lr"]
            setting = out["settings"].setdefault(f"{lr:g}", {"lr": lr, "momenta": {}, "precise": {}})
            cols = {k: [[rec[k][j] for rec in recs] for j in range(n)] for k in ("ema_acc", "precise_acc")}
            gains = [[p - e for p, e in zip(cols["precise_acc"][j], cols["ema_acc"][j])] for j in range(n)]
            setting["momenta"][lab] = {
                "momentum": rs[0]["config"]["momentum"],
                "steps": recs[0]["steps"][:n],
                "ema_acc": [spread(c) for c in cols["ema_acc"]],
                "precise_acc": [spread(c) for c in cols["precise_acc"]],
                "gain": [spread(g) for g in gains],
                "final_gains": gains[-1],
            }
            for r, rec in zip(rs, recs):
                setting["precise"].setdefault(r["config"]["seed"], []).append(rec["precise_acc"][:n])
        for setting in out["settings"].values():
            # The weights do not depend on the momentum, so precise BN must agree across momenta for a seed.
            diffs = [
                abs(a - b) for group in setting.pop("precise").values() for o in group[1:] for a, b in zip(group[0], o)
            ]
            setting["precise_spread_across_momenta"] = max(diffs) if diffs else None
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        states: dict[tuple[float, float], str] = {}
        numbers: dict[str, float | None] = {}
        for lr, entry in _entries(measured):
            m = entry["momentum"]
            state, p = judge(entry["final_gains"])
            states[(lr, m)] = state
            key = f"lr{lr:g}_m{m:g}"
            numbers[f"ema_final_{key}"] = entry["ema_acc"][-1]["mean"]
            numbers[f"precise_final_{key}"] = entry["precise_acc"][-1]["mean"]
            numbers[f"gain_final_{key}"] = p["mean"]
            numbers[f"gain_bound_{key}"] = p["bound"]
        early = _largest_early_gain(measured)
        if early is not None:
            numbers["largest_gain_during_training"] = early[0]
            numbers["at_step"] = float(early[1])
            numbers["at_momentum"] = early[2]
            numbers["at_lr"] = early[3]
        found = set(states.values())
        label_ = "supported" if found == {"same"} else "not supported" if found == {"precise"} else "it depends"
        rule = (
            "At the end of training, for each learning rate and momentum, the gain is the test accuracy with "
            "statistics recomputed over the training set minus with the running averages, per seed (the same "
            "network evaluated both ways). The running averages serve 'as well' if two one-sided Student-t tests "
            f"at 5% each put the mean gain within +-{MARGIN * 100:.0f} point (its 90% t-interval inside that "
            f"margin); recomputing is 'better' if the mean gain exceeds both {MIN_GAIN * 100:.1f} points and the "
            "95% Student-t bound over seeds; neither is shown otherwise. Supported if the averages serve as well "
            "for every rate and momentum; not supported if recomputing is better for every one; it depends "
            "otherwise (a null result alone is never 'as well')."
        )
        head = words.running_stats(list(states.values()))
        return Verdict(label_, _summary(measured, states, early), numbers, rule, head)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        settings = result.measured["settings"]
        if not settings:
            return []
        figs = []
        for key, setting in settings.items():
            m = setting["momenta"]
            first = next(iter(m.values()))
            x = first["steps"]
            acc: dict[str, dict[str, list[float | None]]] = {}
            for entry in sorted(m.values(), key=lambda e: e["momentum"]):
                acc[f"running averages, momentum {entry['momentum']:g}"] = columns(entry["ema_acc"][: len(x)])
            acc["recomputed (precise BN)"] = columns(first["precise_acc"][: len(x)])
            figs.append(
                (
                    sweep_figure(
                        x,
                        acc,
                        f"Learning rate {key}: test accuracy with running averages vs recomputed statistics",
                        "training step (log scale)",
                        "test accuracy",
                        log_x=True,
                    ),
                    "Same weights for every momentum: only the running averages differ. A slow average trails the "
                    "network early on; recomputed statistics do not.",
                )
            )
        gain = {label(e["momentum"], lr): columns(e["gain"]) for lr, e in _entries(result.measured)}
        x = next(iter(next(iter(settings.values()))["momenta"].values()))["steps"]
        figs.append(
            (
                sweep_figure(
                    x,
                    {k: {c: v[: len(x)] for c, v in g.items()} for k, g in gain.items()},
                    "Gain from recomputing the statistics (precise BN minus running averages)",
                    "training step (log scale)",
                    "accuracy gain",
                    log_x=True,
                ),
                "Above 0 the recomputed statistics are better; bands show the spread over seeds.",
            )
        )
        for fig, _ in figs:
            fig.update_xaxes(tickvals=list(x))
        return figs


def _entries(measured: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    """Return (learning rate, momentum entry) pairs, by rate then momentum."""
    out = [(s["lr"], e) for s in measured["settings"].values() for e in s["momenta"].values()]
    return sorted(out, key=lambda p: (p[0], p[1]["momentum"]))


def _largest_early_gain(measured: dict[str, Any]) -> tuple[float, int, float, float] | None:
    """Return (mean gain, step, momentum, learning rate) of the largest mean gain before the last checkpoint."""
    best = None
    for lr, entry in _entries(measured):
        for s, g in zip(entry["steps"][:-1], entry["gain"][:-1]):
            if g["mean"] is not None and (best is None or g["mean"] > best[0]):
                best = (g["mean"], s, entry["momentum"], lr)
    return best


def _summary(
    measured: dict[str, Any],
    states: dict[tuple[float, float], str],
    early: tuple[float, int, float, float] | None,
) -> str:
    by_state: dict[str, list[tuple[float, float]]] = {}
    for key, state in states.items():
        by_state.setdefault(state, []).append(key)

    rates = sorted({lr for lr, _ in states})

    def where(keys: list[tuple[float, float]]) -> str:
        by_momentum: dict[float, tuple[float, ...]] = {}
        for lr, m in sorted(keys):
            by_momentum[m] = (*by_momentum.get(m, ()), lr)
        groups: dict[tuple[float, ...], list[float]] = {}
        for m, lrs in by_momentum.items():
            groups.setdefault(lrs, []).append(m)
        return " and ".join(
            f"momentum {' and '.join(f'{m:g}' for m in ms)} at "
            + (
                ("both learning rates" if len(rates) == 2 else "every learning rate")
                if list(lrs) == rates and len(rates) > 1
                else "learning rate " + " and ".join(f"{lr:g}" for lr in lrs)
            )
            for lrs, ms in groups.items()
        )

    text = (
        "The running averages did "
        + "; ".join(f"{STATES[st]} for {where(by_state[st])}" for st in STATES if st in by_state)
        + "."
    )
    for setting in sorted(measured["settings"].values(), key=lambda st: st["lr"]):
        cells = []
        for entry in sorted(setting["momenta"].values(), key=lambda e: e["momentum"]):
            p = judge(entry["final_gains"])[1]
            pm = f" +- {100 * p['bound']:.1f}" if p["bound"] is not None else ""
            cells.append(
                f"momentum {entry['momentum']:g} {pct(entry['ema_acc'][-1]['mean'])} vs "
                f"{pct(entry['precise_acc'][-1]['mean'])} (gain {_pts(p['mean'])}{pm} points)"
            )
        text += f" At learning rate {setting['lr']:g}, final test accuracy with running averages vs recomputed: "
        text += "; ".join(cells) + "."
    slow = min((e["momentum"] for _, e in _entries(measured)), default=None)
    total = max((e["steps"][-1] for _, e in _entries(measured)), default=0)
    if slow is not None and (1 - slow) ** total > 0.05:
        text += (
            f" A momentum of {slow:g} forgets slowly: after {total:,} steps its average still gives its starting "
            f"values (mean 0, variance 1) a weight of {(1 - slow) ** total:.0%}."
        )
    if early is not None and early[0] > MIN_GAIN:
        text += (
            f" During training the running averages lagged most at step {early[1]} (learning rate {early[3]:g}, "
            f"momentum {early[2]:g}), where recomputing the statistics gained {early[0] * 100:.1f} points."
        )
    spreads = [s.get("precise_spread_across_momenta") for s in measured["settings"].values()]
    if (
        spreads
        and all(v is not None for v in spreads)
        and all(len(s["momenta"]) > 1 for s in measured["settings"].values())
    ):
        worst = max(spreads)
        text += (
            " Recomputed statistics gave the same accuracy for every momentum"
            if worst == 0
            else f" Recomputed statistics differed by at most {worst * 100:.2f} points across momenta"
        )
        text += (
            " (the momentum does not change the weights), so the differences between momenta come from "
            "the running averages alone."
        )
    return text


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


EXPERIMENT = RunningStats()
