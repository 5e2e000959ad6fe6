"""Experiment 2: does batch norm allow much higher learning rates, and so converge faster?"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from vizcore.engine.config import RunConfig
from vizcore.experiments import headlines as words
from vizcore.experiments.base import (
    CHANCE,
    DIGITS_MLP,
    Cancelled,
    Experiment,
    Paper,
    Progress,
    Result,
    Verdict,
    bound,
    diff_bound,
    pct,
    run_accuracy,
    spread,
    steps,
    welch,
)
from vizcore.experiments.grading import yes_no
from vizcore.figures.experiments import accuracy_sweep, band_figure, ring, sweep_figure
from vizcore.figures.theme import RUN_COLOURS
from vizcore.runs.queries import steps_to_reach_interpolated
from vizcore.workers.sweep import SweepPool, run_many

LRS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # half-decade grid: one grid step is a factor of about 3
SIDES = (("without BN", "none"), ("with BN", "batch"))
TRY_LR = 1.0  # "Try it yourself": batch norm at a rate where the plain network diverges or stalls
# "Still trains" = mean final test accuracy of at least 80%: far above chance (10%), yet below the
# ceiling (~97%), so a run that learns but has not quite finished in 300 steps still counts.
TRAINS = 0.8
LEVEL = 0.9  # "converged" = 90% test accuracy, as in experiment 1
# "much higher": at least one grid step (x3 or x3.33) beyond the plain network's largest rate. Counted
# in grid positions, not as lr1 >= 3 * lr0: in floating point 3 * 0.1 > 0.3, so 0.1 -> 0.3 did not count.
HIGHER = 1
FASTER = 0.8  # "faster": at most 80% of the steps to 90% (experiment 1's rule)
EVAL_EVERY = 10  # a test pass every 10 steps, and the crossing of 90% interpolated between two of them
FRESH = "fresh seeds"
S_HIGHER = "batch norm still trained at a much higher learning rate"
S_FASTER = "at its fastest rate batch norm reached 90% clearly sooner"
S_SMALL = "batch norm scored higher at the smallest rate, beyond seed noise"


def label(side: str, lr: float) -> str:
    """Return the variant label for one side ("without BN" / "with BN") at learning rate `lr`."""
    return f"{side} · lr {lr:g}"


def timed_label(side: str, lr: float) -> str:
    """Return the label of one side's runs at its chosen rate on fresh seeds."""
    return f"{label(side, lr)} · {FRESH}"


def fresh_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """Return as many seeds as `seeds`, all after the largest: the seeds that time the chosen rates."""
    top = max(seeds, default=-1)
    return tuple(top + 1 + i for i in range(len(seeds)))


def largest_training_lr(lrs: list[float], acc_means: list[float | None]) -> float | None:
    """Return the largest rate whose mean final accuracy is at least TRAINS, or None if none is."""
    ok = [lr for lr, a in zip(lrs, acc_means) if a is not None and a >= TRAINS]
    return max(ok) if ok else None


def fastest_lr(lrs: list[float], rows: dict[str, list]) -> float | None:
    """Return the rate with the fewest mean steps to LEVEL (ties: the better mean accuracy), or None if none has."""
    cells = [
        (t["mean"], -(a["mean"] if a["mean"] is not None else -1.0), lr)
        for lr, t, a in zip(lrs, rows["steps_to_90"], rows["acc"])
        if t["mean"] is not None
    ]
    return min(cells)[2] if cells else None


def timing(rs: Sequence[dict], total: int) -> tuple[dict[str, Any], int]:
    """Return (`spread` of the interpolated steps to LEVEL, how many runs got there); a run that never did (or
    diverged) counts as the whole budget, a lower bound on its true time."""
    reach = [steps_to_reach_interpolated(r, LEVEL) if r["status"] != "diverged" else None for r in rs]
    return spread([s if s is not None else total for s in reach]), sum(s is not None for s in reach)


def half_width(s: dict[str, Any]) -> float | None:
    """Return the 95% Student-t half-width of a `spread`'s mean, or None with fewer than 2 values."""
    n, std = s.get("n") or 0, s.get("std")
    return bound(std * math.sqrt(n / (n - 1)) / math.sqrt(n), n - 1) if n > 1 and std is not None else None


class LearningRate(Experiment):
    number = 2
    name = "learning-rate"
    title = "Higher learning rates: does batch norm let you turn the rate up?"
    claim = "Batch normalization allows much higher learning rates, and so training converges faster."
    question = (
        "Sweeping plain SGD's learning rate from 0.01 to 10 on a 4-layer ReLU network, with and without "
        "batch norm: up to which rate does each still train, and at each side's fastest rate, does batch "
        "norm reach 90% test accuracy in fewer steps?"
    )
    predictions = {
        "Batch norm trains at much higher rates and gets there faster": {S_HIGHER: "yes", S_FASTER: "yes"},
        "Higher rates work with batch norm, but it converges no faster": {S_HIGHER: "yes", S_FASTER: "no"},
        "Batch norm helps at every rate, even small ones": {S_FASTER: "yes", S_SMALL: "yes"},
        "No real difference": {S_HIGHER: "no", S_FASTER: "no"},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Ioffe & Szegedy (2015), Section 4.2.2 and Figure 3; Bjorck et al. (2018), Understanding Batch Normalization",
        "Inception on ImageNet: without BN 31.0M steps to 72.2% accuracy; with BN at the same rate 13.3M; with "
        "BN and 5x the rate 2.1M (max 73.0%); 30x the rate 2.7M steps (max 74.8%); the 5x and 30x runs also "
        "dropped dropout and decayed the rate faster. Bjorck et al. (ResNet-110, "
        "CIFAR-10): BN's gains come from the larger rates it tolerates; at a rate small enough for the "
        "unnormalized network, the BN network does about as well, not better.",
        "Here: digits (1,797 8x8 images), a 4 x 64 ReLU MLP with He init, plain SGD, 300 steps and 3 seeds per "
        "rate; 'converged' is 90% test accuracy, not ImageNet's 72.2%, and no learning-rate schedule. Each "
        "side's fastest rate is chosen on the sweep's seeds and timed again on 3 fresh ones, so the best of "
        "seven noisy means is not what gets compared. After 300 steps the smallest rates have not finished "
        "learning, so these runs do not test Bjorck et al.'s point about trained networks.",
    )
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        # He init keeps the plain network's signal at unit scale, so this compares learning rates, not a
        # badly scaled init (that is experiment 3). Only the curves are used: one layer snapshot per run.
        out = [(label(side, lr), self._config(budget, norm, lr)) for side, norm in SIDES for lr in LRS]
        # The last variant is what "Try it yourself" opens: move batch norm at TRY_LR to the end.
        key = label("with BN", TRY_LR)
        # It records a snapshot every 20 steps, so the layer views are worth watching there; recording only
        # observes, so its numbers are those of a sparsely recorded run.
        return [v for v in out if v[0] != key] + [(k, c.replace(every=20)) for k, c in out if k == key]

    @staticmethod
    def _config(budget: float, norm: str, lr: float) -> RunConfig:
        n = steps(300, budget)
        return DIGITS_MLP.replace(init="he", steps=n, every=n, eval_every=EVAL_EVERY, norm=norm, lr=lr)

    def train(
        self,
        budget: float,
        seeds: Sequence[int] | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int = 1,
        pool: Any = None,
    ) -> dict[str, list[dict]]:
        """Return {label: [run dict per seed]}: the sweep on `seeds`, then each side's fastest rate on fresh seeds.

        The fastest rate is chosen from the sweep's runs (`fastest_lr`) and timed on `fresh_seeds(seeds)`
        under `timed_label`, so the rate that is compared was not picked by the noise it is compared on.
        """
        seeds = tuple(seeds) if seeds is not None else self.seeds
        if pool is None and workers > 1:  # one pool for both stages: a worker takes seconds to start
            with SweepPool(workers) as own:
                return self.train(budget, seeds, progress, cancel, workers, own)
        sweep = self.configs(budget, seeds)
        fresh = fresh_seeds(seeds)
        total, done = len(sweep) + len(SIDES) * len(fresh), [0]
        out: dict[str, list[dict]] = {}
        if progress:
            progress(0, total, "starting")

        def stage(pairs: list[tuple[str, RunConfig]]) -> None:
            def on_result(i: int, run: dict) -> None:
                done[0] += 1
                if progress:
                    progress(done[0], total, pairs[i][0], run)

            runs = run_many(
                [c for _, c in pairs], workers=workers, on_result=on_result, cancel=cancel, light=True, pool=pool
            )
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            for (lab, _), run in zip(pairs, runs):
                out.setdefault(lab, []).append(run)

        stage(sweep)
        swept = self.measure(out)
        timed = []
        for side, norm in SIDES:
            lr = fastest_lr(swept["lrs"], swept[side])
            if lr is not None:
                timed += [(timed_label(side, lr), self._config(budget, norm, lr).replace(seed=s)) for s in fresh]
        stage(timed)
        return out

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        some = next(iter(runs.values()))[0]
        total = some["config"]["steps"]
        out: dict[str, Any] = {"lrs": list(LRS), "steps": total, "chosen": {}}
        for side, _ in SIDES:
            rows: dict[str, list] = {"acc": [], "diverged": [], "steps_to_90": [], "reached_90": [], "n": []}
            for lr in LRS:
                rs = runs[label(side, lr)]
                t, reached = timing(rs, total)
                rows["acc"].append(spread([run_accuracy(r) for r in rs]))
                rows["diverged"].append(sum(r["status"] == "diverged" for r in rs))
                rows["steps_to_90"].append(t)
                rows["reached_90"].append(reached)
                rows["n"].append(len(rs))
            out[side] = rows
            key = next((k for k in runs if k.startswith(f"{side} · lr ") and k.endswith(FRESH)), None)
            if key is not None:
                t, reached = timing(runs[key], total)
                out["chosen"][side] = {
                    "lr": runs[key][0]["config"]["lr"],
                    "seeds": [r["config"]["seed"] for r in runs[key]],
                    "steps_to_90": t,
                    "reached_90": reached,
                }
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        lrs = measured["lrs"]
        plain, bn = measured["without BN"], measured["with BN"]
        acc0 = [a["mean"] for a in plain["acc"]]
        acc1 = [a["mean"] for a in bn["acc"]]
        lr0, lr1 = largest_training_lr(lrs, acc0), largest_training_lr(lrs, acc1)
        c0, c1 = (measured.get("chosen", {}).get(side) for side in ("without BN", "with BN"))
        t0 = c0["steps_to_90"]["mean"] if c0 else None
        t1 = c1["steps_to_90"]["mean"] if c1 else None
        t_bound = bound(*welch(c0["steps_to_90"], c1["steps_to_90"])) if c0 and c1 else None  # None: noise unknown
        small0, small1 = plain["acc"][0], bn["acc"][0]
        gap = small1["mean"] - small0["mean"] if None not in (small0["mean"], small1["mean"]) else None
        higher = lr1 is not None and (lr0 is None or lrs.index(lr1) - lrs.index(lr0) >= HIGHER)
        faster = t0 is not None and t1 is not None and t1 <= FASTER * t0 and t0 - t1 > (t_bound or 0.0)
        label_ = "supported" if higher and faster else "not supported" if not (higher or faster) else "it depends"
        numbers = {
            "largest_lr_without": lr0,
            "largest_lr_with": lr1,
            "fastest_lr_without": c0["lr"] if c0 else None,
            "fastest_lr_with": c1["lr"] if c1 else None,
            "steps_to_90_without": t0,
            "steps_to_90_with": t1,
            "steps_to_90_difference_bound": t_bound,
            "smallest_lr": float(lrs[0]),
            "acc_at_smallest_without": small0["mean"],
            "acc_at_smallest_with": small1["mean"],
            "gap_at_smallest": gap,
        }
        rule = (
            f"A rate 'still trains' if the mean final test accuracy over seeds is at least {TRAINS:.0%} (a "
            f"diverged run counts as chance, 10%). Each side's fastest rate is the one with the fewest mean steps "
            f"to {LEVEL:.0%} test accuracy on the sweep's seeds; it is then timed on fresh seeds, the time "
            f"interpolated between test evaluations every {EVAL_EVERY} steps (a run that never gets there counts "
            f"as the whole budget). Supported if the largest rate that still trains with batch norm is at least "
            f"{HIGHER} grid step(s) above the one without (a step is x3 or x3.3) AND on the fresh seeds batch "
            f"norm takes at most {FASTER:.0%} of the plain network's steps, fewer beyond the 95% Student-t bound "
            "of the difference (Welch); not supported if neither holds; it depends if only one does. The accuracy "
            "at the smallest rate is reported, not judged."
        )
        noise_known = gap is not None and welch(small1, small0)[0] is not None
        small = gap > diff_bound(small1, small0) if noise_known and gap is not None else None
        found = {S_HIGHER: yes_no(higher), S_FASTER: yes_no(faster if None not in (t0, t1) else None)}
        head = words.learning_rate(higher, faster, lr0, lr1, c0["lr"] if c0 else None, c1["lr"] if c1 else None)
        summary = self._summary(measured, higher, faster, lr0, lr1)
        return Verdict(label_, summary, numbers, rule, head, {**found, S_SMALL: yes_no(small)})

    def _summary(
        self, measured: dict[str, Any], higher: bool, faster: bool, lr0: float | None, lr1: float | None
    ) -> str:
        lrs, total = measured["lrs"], measured["steps"]
        plain, bn = measured["without BN"], measured["with BN"]
        c0, c1 = (measured.get("chosen", {}).get(side) for side in ("without BN", "with BN"))
        parts = [
            {
                (True, True): "Batch norm still trained at much higher rates, and at its fastest rate it reached "
                f"{LEVEL:.0%} sooner than the plain network at its own.",
                (True, False): "Batch norm still trained at much higher rates, but at its fastest rate it did not "
                f"reach {LEVEL:.0%} clearly sooner than the plain network at its own.",
                (False, True): f"At its fastest rate batch norm reached {LEVEL:.0%} clearly sooner, but it did not "
                "train at a much higher rate than the plain network.",
                (False, False): "Batch norm neither trained at a much higher rate nor reached "
                f"{LEVEL:.0%} clearly sooner.",
            }[(higher, faster)]
        ]

        def rate(lr: float | None) -> str:
            return f"lr {lr:g}" if lr is not None else "no rate at all"

        parts.append(f"The largest rate that still trained: {rate(lr1)} with batch norm, {rate(lr0)} without.")
        if c0 and c1:

            def took(c: dict[str, Any]) -> str:
                t, hw = c["steps_to_90"]["mean"], half_width(c["steps_to_90"])
                pm = f" +- {hw:.0f}" if hw is not None else ""
                n = c["steps_to_90"]["n"]
                if c["reached_90"] == 0:
                    return f"never within the {total} steps"
                tail = (
                    ""
                    if c["reached_90"] == n
                    else f", counting {n - c['reached_90']} of {n} that never got there as {total}"
                )
                return f"after {t:.0f}{pm} steps{tail}"

            seeds = c1["seeds"]
            fresh = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
            parts.append(
                f"The fastest rates on the sweep's seeds were {rate(c1['lr'])} with batch norm and "
                f"{rate(c0['lr'])} without; timed again on fresh {fresh}, batch norm reached {LEVEL:.0%} test "
                f"accuracy {took(c1)}, the plain network {took(c0)}"
                + (" (means with 95% t-intervals)." if len(seeds) > 1 else ".")
            )
        small0, small1 = plain["acc"][0], bn["acc"][0]
        if small0["mean"] is not None and small1["mean"] is not None:
            d, hw = small1["mean"] - small0["mean"], diff_bound(small1, small0)
            noise = "one seed: noise unknown" if welch(small1, small0)[0] is None else "beyond seed noise"
            noise = "within seed noise" if noise == "beyond seed noise" and abs(d) <= hw else noise
            text = (
                f"At the smallest rate ({lrs[0]:g}) batch norm scored {pct(small1['mean'])} and the plain network "
                f"{pct(small0['mean'])} after {total} steps ({100 * d:+.1f} points, {noise})"
            )
            if bn["reached_90"][0] == 0 and plain["reached_90"][0] == 0:
                text += f"; neither had reached {LEVEL:.0%}, so this compares runs that had not finished learning"
            parts.append(text + ".")
        return " ".join(parts)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured
        timed = {f"{side}, lr {c['lr']:g}": result.runs[timed_label(side, c["lr"])] for side, c in m["chosen"].items()}
        figs = [
            (
                accuracy_figure(m),
                "Each point is the mean over seeds (band: min to max); an x marks rates where runs "
                "diverged (counted at chance). Above the dashed line a rate 'still trains'.",
            ),
            (
                steps_figure(m),
                f"Every rate, no choosing: the mean steps to {LEVEL:.0%} test accuracy with its 95% t-interval "
                f"(interpolated between test evaluations every {EVAL_EVERY} steps); a rate whose runs never got "
                f"there sits at the {m['steps']}-step ceiling.",
            ),
        ]
        if timed:
            rates = " and ".join(f"lr {c['lr']:g} {side}" for side, c in m["chosen"].items())
            figs.append(
                (
                    band_figure(
                        timed, "test_acc", f"Test accuracy at each side's fastest rate ({rates})", "test accuracy"
                    ),
                    f"Each side at the rate that was fastest on the sweep's seeds ({rates}), on seeds that did not "
                    "choose it: the claim's 'converges faster'.",
                )
            )
        return figs


def steps_figure(measured: dict[str, Any]) -> go.Figure:
    """Return the mean steps to LEVEL against learning rate (log x) per side, banded by the 95% t-interval."""
    series = {}
    for side, _ in SIDES:
        cells = measured[side]["steps_to_90"]
        mean = [c["mean"] for c in cells]
        hw = [half_width(c) for c in cells]
        series[side] = {
            "mean": mean,
            "min": [None if m is None else m - (h or 0.0) for m, h in zip(mean, hw)],
            "max": [None if m is None else m + (h or 0.0) for m, h in zip(mean, hw)],
        }
    fig = sweep_figure(
        measured["lrs"],
        series,
        f"Steps to {LEVEL:.0%} test accuracy against learning rate",
        "learning rate (log scale)",
        "steps (mean, 95% t-interval)",
        log_x=True,
    )
    fig.update_yaxes(rangemode="tozero")
    for (side, _), colour in zip(SIDES, RUN_COLOURS):
        c = measured.get("chosen", {}).get(side)
        i = measured["lrs"].index(c["lr"]) if c and c["lr"] in measured["lrs"] else None
        if i is not None and series[side]["mean"][i] is not None:
            ring(fig, c["lr"], series[side]["mean"][i], f"{side}: fastest rate, lr {c['lr']:g}", colour)
    return fig


def accuracy_figure(measured: dict[str, Any]) -> go.Figure:
    """Return final test accuracy against learning rate (log x) per side, with min-max bands, diverged marks and a
    ring on each side's largest rate that still trains."""
    lrs = measured["lrs"]
    series = {side: {k: [a[k] for a in measured[side]["acc"]] for k in ("mean", "min", "max")} for side, _ in SIDES}
    fig = accuracy_sweep(
        lrs,
        series,
        {side: measured[side]["diverged"] for side, _ in SIDES},
        {side: measured[side]["n"] for side, _ in SIDES},
        "Final test accuracy against learning rate",
        "learning rate (log scale)",
        "lr",
        CHANCE,
    )
    for (side, _), colour in zip(SIDES, RUN_COLOURS):
        top = largest_training_lr(lrs, series[side]["mean"])
        if top is not None:
            ring(
                fig, top, series[side]["mean"][lrs.index(top)], f"{side}: largest rate that trains, lr {top:g}", colour
            )
    fig.add_hline(
        y=TRAINS,
        line_dash="dash",
        line_width=1,
        annotation_text=f"trains ({TRAINS:.0%})",
        annotation_position="top right",
    )
    return fig


EXPERIMENT = LearningRate()
