"""Experiment 2: does batch norm allow much higher learning rates, and so converge faster?"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from vizcore.engine.config import RunConfig
from vizcore.experiments.base import (
    CHANCE,
    DIGITS_MLP,
    Experiment,
    Paper,
    Result,
    Verdict,
    diff_se,
    pct,
    run_accuracy,
    spread,
    steps,
)
from vizcore.figures.experiments import band_figure, sweep_figure
from vizcore.runs.queries import steps_to_reach

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
FASTER = 0.8  # "faster": at most 80% of the steps to 90% (experiment 1's rule); eval every 20 steps resolves it
LITTLE = 0.03  # |accuracy gap| below 3 points at the smallest rate counts as "helps little": about the
# seed-to-seed spread of a 300-step run at lr 0.01 (a few points on 360 test images)


def label(side: str, lr: float) -> str:
    """Return the variant label for one side ("without BN" / "with BN") at learning rate `lr`."""
    return f"{side} · lr {lr:g}"


def largest_training_lr(lrs: list[float], acc_means: list[float | None]) -> float | None:
    """Return the largest rate whose mean final accuracy is at least TRAINS, or None if none is."""
    ok = [lr for lr, a in zip(lrs, acc_means) if a is not None and a >= TRAINS]
    return max(ok) if ok else None


class LearningRate(Experiment):
    number = 2
    name = "learning-rate"
    title = "Higher learning rates: does batch norm let you turn the rate up?"
    claim = "Batch normalization allows much higher learning rates, and so training converges faster."
    question = (
        "Sweeping plain SGD's learning rate from 0.01 to 10 on a 4-layer ReLU network, with and without "
        "batch norm: up to which rate does each still train, does batch norm's best rate reach 90% test "
        "accuracy in fewer steps, and does batch norm help at a small rate too?"
    )
    expectations = (
        "Batch norm trains at much higher rates and gets there faster",
        "Higher rates work with batch norm, but it converges no faster",
        "Batch norm helps at every rate, even small ones",
        "No real difference",
    )
    paper = Paper(
        "Ioffe & Szegedy (2015), Section 4.2.2 and Figure 3; Bjorck et al. (2018), Understanding Batch Normalization",
        "Inception on ImageNet: without BN 31.0M steps to 72.2% accuracy; with BN at the same rate 13.3M; with "
        "BN and 5x the rate 2.1M (max 73.0%); 30x the rate 2.7M steps (max 74.8%); the 5x and 30x runs also "
        "dropped dropout and decayed the rate faster. Bjorck et al. (ResNet-110, "
        "CIFAR-10): BN's gains come from the larger rates it tolerates; at a rate small enough for the "
        "unnormalized network, the BN network does about as well, not better.",
        "Here: digits (1,797 8x8 images), a 4 x 64 ReLU MLP with He init, plain SGD, 300 steps and 3 seeds per "
        "rate; 'converged' is 90% test accuracy, not ImageNet's 72.2%, and no learning-rate schedule.",
    )
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        # He init keeps the plain network's signal at unit scale, so this compares learning rates, not a
        # badly scaled init (that is experiment 3). Only the curves are used: one layer snapshot per run, and a
        # test pass every 20 steps to time the climb to 90%.
        n = steps(300, budget)
        base = DIGITS_MLP.replace(init="he", steps=n, every=n, eval_every=20)
        out = [(label(side, lr), base.replace(norm=norm, lr=lr)) for side, norm in SIDES for lr in LRS]
        # The last variant is what "Try it yourself" opens: move batch norm at TRY_LR to the end.
        key = label("with BN", TRY_LR)
        # It records a snapshot every 20 steps, so the layer views are worth watching there; recording only
        # observes, so its numbers are those of a sparsely recorded run.
        return [v for v in out if v[0] != key] + [(k, c.replace(every=20)) for k, c in out if k == key]

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        some = next(iter(runs.values()))[0]
        total = some["config"]["steps"]
        out: dict[str, Any] = {"lrs": list(LRS), "steps": total}
        for side, _ in SIDES:
            rows: dict[str, list] = {"acc": [], "diverged": [], "steps_to_90": [], "reached_90": [], "n": []}
            for lr in LRS:
                rs = runs[label(side, lr)]
                reach = [steps_to_reach(r, LEVEL) if r["status"] != "diverged" else None for r in rs]
                rows["acc"].append(spread([run_accuracy(r) for r in rs]))
                rows["diverged"].append(sum(r["status"] == "diverged" for r in rs))
                # a run that never gets there counts as the whole budget: a lower bound on its true time
                rows["steps_to_90"].append(spread([s if s is not None else total for s in reach]))
                rows["reached_90"].append(sum(s is not None for s in reach))
                rows["n"].append(len(rs))
            out[side] = rows
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        lrs = measured["lrs"]
        plain, bn = measured["without BN"], measured["with BN"]
        acc0 = [a["mean"] for a in plain["acc"]]
        acc1 = [a["mean"] for a in bn["acc"]]
        lr0, lr1 = largest_training_lr(lrs, acc0), largest_training_lr(lrs, acc1)
        f0 = min((t for t in plain["steps_to_90"] if t["mean"] is not None), key=lambda t: t["mean"], default=None)
        f1 = min((t for t in bn["steps_to_90"] if t["mean"] is not None), key=lambda t: t["mean"], default=None)
        t0, t1 = (f0["mean"] if f0 else None), (f1["mean"] if f1 else None)  # each side at its fastest rate
        best0 = max((a for a in acc0 if a is not None), default=None)
        best1 = max((a for a in acc1 if a is not None), default=None)
        small0, small1 = acc0[0], acc1[0]
        gap = small1 - small0 if small0 is not None and small1 is not None else None

        higher = lr1 is not None and (lr0 is None or lrs.index(lr1) - lrs.index(lr0) >= HIGHER)
        faster = (
            t0 is not None and t1 is not None and t1 <= FASTER * t0 and t0 - t1 > 2 * diff_se(f0, f1)
        )  # and beyond seed noise
        label_ = "supported" if higher and faster else "not supported" if not (higher or faster) else "it depends"
        numbers = {
            "largest_lr_without": lr0,
            "largest_lr_with": lr1,
            "steps_to_90_without": t0,
            "steps_to_90_with": t1,
            "best_acc_without": best0,
            "best_acc_with": best1,
            "smallest_lr": float(lrs[0]),
            "acc_at_smallest_without": small0,
            "acc_at_smallest_with": small1,
            "gap_at_smallest": gap,
        }
        rule = (
            f"A rate 'still trains' if the mean final test accuracy over seeds is at least {TRAINS:.0%} (a "
            f"diverged run counts as chance, 10%). Supported if the largest such rate with batch norm is at "
            f"least {HIGHER} grid step(s) above the one without (a step is x3 or x3.3) AND, each at its fastest "
            f"rate, batch norm reaches {LEVEL:.0%} test accuracy in at most {FASTER:.0%} of the steps (and "
            "fewer by more than twice the standard error over seeds); not "
            f"supported if neither holds; it depends if only one does. The accuracy gap at the smallest rate is "
            f"Bjorck et al.'s check: under {100 * LITTLE:.0f} points means batch norm helps little there."
        )
        return Verdict(
            label_, self._summary(lrs, lr0, lr1, t0, t1, best0, best1, small0, small1, gap, measured), numbers, rule
        )

    def _summary(
        self,
        lrs: list[float],
        lr0: float | None,
        lr1: float | None,
        t0: float | None,
        t1: float | None,
        best0: float | None,
        best1: float | None,
        small0: float | None,
        small1: float | None,
        gap: float | None,
        measured: dict[str, Any],
    ) -> str:
        def rate(lr: float | None) -> str:
            return f"lr {lr:g}" if lr is not None else "no rate at all"

        ratio = f" ({lr1 / lr0:g}x higher)" if lr0 and lr1 and lr1 > lr0 else ""
        parts = [f"With batch norm the network still trained up to {rate(lr1)}, without it up to {rate(lr0)}{ratio}."]
        total = measured["steps"]
        if t0 is not None and t1 is not None:

            def after(t: float) -> str:
                return f"after {t:.0f} steps on average" if t < total else f"not within {total} steps"

            parts.append(
                f"At its fastest rate batch norm reached {LEVEL:.0%} test accuracy {after(t1)}, "
                f"the plain network {after(t0)}; best final accuracy {pct(best1)} vs {pct(best0)}."
            )
        if gap is not None:
            head = f"At the smallest rate ({lrs[0]:g}) batch norm scored {pct(small1)} vs {pct(small0)}: "
            if abs(gap) < LITTLE:
                tail = (
                    "it helps little there, as Bjorck et al. found; its gain comes from the higher rates it tolerates."
                )
            elif gap > 0:
                tail = f"{100 * gap:.1f} points better, so here it helps even at a small rate."
            else:
                tail = (
                    f"{100 * -gap:.1f} points worse, so at a small rate it does not help at all here; its "
                    "gain comes only with the higher rates it tolerates (Bjorck et al.'s point, more strongly)."
                )
            parts.append(head + tail)
        return " ".join(parts)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured
        fastest = {}
        for side, _ in SIDES:
            ts = [t["mean"] if t["mean"] is not None else math.inf for t in m[side]["steps_to_90"]]
            accs = [a["mean"] if a["mean"] is not None else -1.0 for a in m[side]["acc"]]
            i = min(range(len(ts)), key=lambda k: (ts[k], -accs[k]))  # fastest; ties go to the better accuracy
            fastest[f"{side}, lr {m['lrs'][i]:g}"] = result.runs[label(side, m["lrs"][i])]
        return [
            (
                accuracy_figure(m),
                "Each point is the mean over seeds (band: min to max); an x marks rates where runs "
                "diverged (counted at chance). Above the dashed line a rate 'still trains'.",
            ),
            (
                band_figure(fastest, "test_acc", "Test accuracy at each side's fastest rate", "test accuracy"),
                "How soon each side gets there when it may use its own best rate: the claim's 'converges faster'.",
            ),
        ]


def accuracy_figure(measured: dict[str, Any]) -> go.Figure:
    """Return final test accuracy against learning rate (log x) per side, with min-max bands and diverged marks."""
    lrs = measured["lrs"]
    series = {side: {k: [a[k] for a in measured[side]["acc"]] for k in ("mean", "min", "max")} for side, _ in SIDES}
    fig = sweep_figure(
        lrs,
        series,
        "Final test accuracy against learning rate",
        "learning rate (log scale)",
        "final test accuracy",
        log_x=True,
    )
    colours = [t.line.color for t in fig.data if t.mode == "lines+markers"]
    for i, ((side, _), colour) in enumerate(zip(SIDES, colours)):
        div = measured[side]["diverged"]
        xs = [lr for lr, d in zip(lrs, div) if d]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[CHANCE - 0.03 * i] * len(xs),
                    mode="markers",
                    name=f"{side}: diverged",  # nudged apart
                    marker=dict(symbol="x", size=12, color=colour, line=dict(width=1)),
                    text=[f"{d} of {n} diverged" for d, n in zip(div, measured[side]["n"]) if d],
                    hovertemplate="lr %{x}: %{text}<extra></extra>",
                )
            )
    fig.add_hline(
        y=TRAINS,
        line_dash="dash",
        line_width=1,
        annotation_text=f"trains ({TRAINS:.0%})",
        annotation_position="top right",
    )
    fig.update_yaxes(range=[0, 1.02])
    return fig


EXPERIMENT = LearningRate()
