"""Experiment 4: does batch norm cure vanishing gradients and so let deeper networks train?"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vizcore.engine.config import RunConfig
from vizcore.experiments import headlines as words
from vizcore.experiments.base import (
    DIGITS_MLP,
    Experiment,
    Paper,
    Result,
    Verdict,
    diff_bound,
    pct,
    run_accuracy,
    spread,
    steps,
)
from vizcore.experiments.grading import yes_no
from vizcore.figures.experiments import sweep_figure
from vizcore.figures.theme import RUN_COLOURS, TEMPLATE

DEPTHS = (2, 4, 8, 12)  # 12 is the app's limit (config.MAX_DEPTH)
SIDES = (("without BN", "none"), ("with BN", "batch"))
CONTROL = "without BN, Xavier init"  # the deepest plain network again, with an init made for tanh
# "Vanishing or exploding" = the first block's weight gradient more than 10x smaller or larger than the
# last block's at step 0: an order of magnitude, where the first layers learn at a visibly different pace.
DECADE = 1.0
MIN_GAIN = 0.10  # "lets it train": at least 10 accuracy points better at the deepest setting, several times
# the seed-to-seed spread of one setting (a few points)
BALANCED = "the gradients vanished or exploded without batch norm and stayed balanced with it"
TRAINS = "the deepest network learned clearly better with batch norm"


def label(side: str, depth: int) -> str:
    """Return the variant label for one side at `depth` hidden blocks."""
    return f"{side} · depth {depth}"


def grad_profile(run: dict) -> list[float | None]:
    """Return each block's weight-gradient norm at the step-0 snapshot (input side first; None if missing)."""
    out: list[float | None] = []
    for layer in run["layers"]:
        g = layer["grad_norm"][0] if layer["steps"] and layer["steps"][0] == 0 else None
        out.append(g if g is not None and math.isfinite(g) and g > 0 else None)
    return out


def log_ratio(run: dict) -> float | None:
    """Return log10(first block's gradient norm / last block's) at step 0; < 0 means the gradient vanishes."""
    g = grad_profile(run)
    return math.log10(g[0] / g[-1]) if g and g[0] is not None and g[-1] is not None else None


def _geo_profile(runs: list[dict]) -> list[float | None]:
    # geometric mean over seeds: gradient norms spread over orders of magnitude
    profiles = [grad_profile(r) for r in runs]
    out = []
    for i in range(len(profiles[0])):
        v = [p[i] for p in profiles if p[i] is not None]
        out.append(float(10 ** np.mean(np.log10(v))) if v else None)
    return out


def _summarize(rs: list[dict]) -> dict[str, Any]:
    return {
        "acc": spread([run_accuracy(r) for r in rs]),
        "diverged": sum(r["status"] == "diverged" for r in rs),
        "log_ratio": spread([log_ratio(r) for r in rs]),
        "n": len(rs),
    }


class Depth(Experiment):
    number = 4
    name = "depth"
    title = "Deeper networks: does batch norm stop the gradients from vanishing?"
    claim = (
        "Batch normalization helps against vanishing and exploding gradients, and so lets much deeper networks train."
    )
    question = (
        "Stacking 2 to 12 tanh blocks (PyTorch's default init), with and without batch norm: how much smaller "
        "is the first block's gradient than the last block's at the start, and does the deepest network "
        "still learn?"
    )
    predictions = {
        "Batch norm keeps the gradients balanced and the deep network trains": {BALANCED: "yes", TRAINS: "yes"},
        "The deep network trains with batch norm, but its gradients are not balanced": {BALANCED: "no", TRAINS: "yes"},
        "Depth hurts both alike": {TRAINS: "no"},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Ioffe & Szegedy (2015), Sections 3.3 and 4.2.2; Yang et al. (2019), A Mean Field Theory of Batch "
        "Normalization",
        "Ioffe & Szegedy: with batch norm, Inception trained with saturating sigmoids reached 69.8% on ImageNet; "
        "without it, it never got above 0.1% (1/1000). Yang et al.: in deep fully connected networks batch norm "
        "itself makes gradients grow with depth at initialization (a gradient explosion), which limits how deep "
        "a plain batch-normalized network can be trained.",
        "Here: digits, tanh MLPs of width 32 and depth 2 to 12, SGD at lr 0.1 for 300 steps, 3 seeds; gradients "
        "are the weight-gradient norms at step 0. One extra setting, the deepest plain network with Xavier init, "
        "checks whether a careful init does the same job.",
    )
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        n = steps(300, budget)
        # Only the step-0 snapshot (gradients at init) and the final accuracy are used: one snapshot per run.
        # PyTorch's default init shrinks a tanh network's signal from layer to layer (weight std 1/sqrt(3 fan_in)):
        # the setting in which the vanishing-gradient problem the claim is about actually arises.
        base = DIGITS_MLP.replace(width=32, activation="tanh", steps=n, every=n, eval_every=50)
        out = [(label(side, d), base.replace(norm=norm, depth=d)) for side, norm in SIDES for d in DEPTHS]
        out.append((label(CONTROL, DEPTHS[-1]), base.replace(norm="none", depth=DEPTHS[-1], init="xavier")))
        key = label("with BN", DEPTHS[-1])  # last = what "Try it yourself" opens
        # It records a snapshot every 20 steps, so the layer views are worth watching there; recording only
        # observes, so its numbers are those of a sparsely recorded run.
        return [v for v in out if v[0] != key] + [(k, c.replace(every=20)) for k, c in out if k == key]

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        deepest = DEPTHS[-1]
        out: dict[str, Any] = {"depths": list(DEPTHS)}
        for side, _ in SIDES:
            rows = [_summarize(runs[label(side, d)]) for d in DEPTHS]
            out[side] = {k: [r[k] for r in rows] for k in rows[0]}
            out[side]["grad_deepest"] = _geo_profile(runs[label(side, deepest)])
        ctrl = runs.get(label(CONTROL, deepest))
        if ctrl:
            out[CONTROL] = {**_summarize(ctrl), "grad_deepest": _geo_profile(ctrl)}
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        depths = measured["depths"]
        plain, bn = measured["without BN"], measured["with BN"]
        lr0, lr1 = plain["log_ratio"][-1]["mean"], bn["log_ratio"][-1]["mean"]
        a0, a1 = plain["acc"][-1]["mean"], bn["acc"][-1]["mean"]
        ctrl = measured.get(CONTROL)
        ac = ctrl["acc"]["mean"] if ctrl else None
        lrc = ctrl["log_ratio"]["mean"] if ctrl else None

        def ratio(x: float | None) -> float | None:
            return None if x is None else 10**x

        numbers = {
            "depth": float(depths[-1]),
            "grad_ratio_without": ratio(lr0),
            "grad_ratio_with": ratio(lr1),
            "acc_deepest_without": a0,
            "acc_deepest_with": a1,
            "grad_ratio_xavier": ratio(lrc),
            "acc_deepest_xavier": ac,
        }
        rule = (
            f"At the deepest setting ({depths[-1]} blocks, PyTorch's default init), r = first block's weight-gradient "
            f"norm / last block's at step 0 (geometric mean over seeds). Gradients count as vanishing or exploding "
            f"when r is beyond 10x either way. Supported if the plain network's r is beyond 10x and batch norm's "
            f"within it, AND batch norm's final test accuracy is at least {100 * MIN_GAIN:.0f} points higher and "
            "beyond the 95% Student-t bound of the difference over seeds (Welch); not supported if neither; it "
            "depends if only one holds. The verdict is about that init: the Xavier-init run is reported beside it, "
            "not judged."
        )
        if None in (lr0, lr1, a0, a1):
            return Verdict("it depends", "Some runs did not produce the numbers the rule needs.", numbers, rule)
        balanced = abs(lr0) > DECADE and abs(lr1) <= DECADE
        trains = a1 - a0 >= max(MIN_GAIN, diff_bound(bn["acc"][-1], plain["acc"][-1]))
        label_ = "supported" if balanced and trains else "not supported" if not (balanced or trains) else "it depends"

        def accs(side: dict) -> str:
            return ", ".join("n/a" if a["mean"] is None else f"{100 * a['mean']:.0f}%" for a in side["acc"])

        deep = f"the {depths[-1]}-block tanh network"
        summary = {
            (True, True): f"With PyTorch's default init, batch norm kept the gradients of {deep} balanced and let "
            "it train where the plain network did not.",
            (True, False): f"With PyTorch's default init, batch norm kept the gradients of {deep} balanced, but it "
            "did not train clearly better than without it.",
            (False, True): f"With PyTorch's default init, batch norm let {deep} train clearly better, but its "
            "gradients do not show the cure the claim names (vanishing without it, balanced with it).",
            (False, False): f"With PyTorch's default init, batch norm neither balanced the gradients of {deep} nor "
            "let it train clearly better.",
        }[(balanced, trains)]
        if ac is not None and lrc is not None:
            summary += (
                f" That rests on the init: without batch norm but with Xavier init the same network reached "
                f"{pct(ac)}, against {pct(a1)} with batch norm and {pct(a0)} with neither"
            )
            summary += ", so a careful init is another cure here." if ac >= a1 - MIN_GAIN else "."
        r0, r1 = 10**lr0, 10**lr1
        summary += (
            f" At step 0 the first block's weight gradient was {_times(r0)} the last block's without batch norm "
            f"and {_times(r1)} it with batch norm"
            + (f" ({10**lrc:.2g}x with Xavier init)" if lrc is not None else "")
            + f". Final test accuracy at depths {', '.join(map(str, depths))}: without batch norm {accs(plain)}; "
            f"with it {accs(bn)}."
        )
        if lr1 > 0.25:  # above ~1.8x: well beyond the seed-to-seed spread of the ratio (about 0.1 decade)
            summary += (
                " With batch norm the gradient grows toward the input instead: a mild explosion, which "
                "Yang et al. (2019) predict gets worse with depth."
            )
        head = words.depth(depths[-1], balanced, trains, lr0, lr1)
        return Verdict(label_, summary, numbers, rule, head, {BALANCED: yes_no(balanced), TRAINS: yes_no(trains)})

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured
        return [
            (
                accuracy_figure(m),
                "Mean over seeds with a min-max band; the lone marker is the deepest plain network "
                "with Xavier init instead of PyTorch's default.",
            ),
            (
                ratio_figure(m),
                "1 means the first and last blocks get gradients of the same size; outside the dashed "
                "lines (10x either way) the rule calls them vanishing (below) or exploding (above).",
            ),
            (
                profile_figure(m),
                f"Step 0, depth {m['depths'][-1]}: where along the network the gradient shrinks or grows.",
            ),
        ]


def _times(r: float) -> str:
    """Return ratio `r` as words: '25x smaller than' (r = 0.04), '3.1x larger than', 'about the same size as'."""
    if 0.95 <= r <= 1.05:
        return "about the same size as"
    return f"{1 / r:.2g}x smaller than" if r < 1 else f"{r:.2g}x larger than"


def accuracy_figure(measured: dict[str, Any]) -> go.Figure:
    """Return final test accuracy against depth per side, with min-max bands and the Xavier control point."""
    depths = measured["depths"]
    series = {side: {k: [a[k] for a in measured[side]["acc"]] for k in ("mean", "min", "max")} for side, _ in SIDES}
    fig = sweep_figure(depths, series, "Final test accuracy against depth", "hidden blocks", "final test accuracy")
    ctrl = measured.get(CONTROL)
    if ctrl and ctrl["acc"]["mean"] is not None:
        a = ctrl["acc"]
        fig.add_trace(
            go.Scatter(
                x=[depths[-1]],
                y=[a["mean"]],
                mode="markers",
                name=f"{CONTROL} (depth {depths[-1]})",
                marker=dict(symbol="diamond", size=11, color="#666666"),
                error_y=dict(
                    type="data", symmetric=False, array=[a["max"] - a["mean"]], arrayminus=[a["mean"] - a["min"]]
                ),
            )
        )
    fig.update_xaxes(tickvals=depths)
    fig.update_yaxes(range=[0, 1.02])
    return fig


def ratio_figure(measured: dict[str, Any]) -> go.Figure:
    """Return the first/last gradient-norm ratio at step 0 against depth (log y), per side, with min-max bands."""
    depths = measured["depths"]
    series = {}
    for side, _ in SIDES:
        lr = measured[side]["log_ratio"]
        series[side] = {k: [None if x[k] is None else 10 ** x[k] for x in lr] for k in ("mean", "min", "max")}
    fig = sweep_figure(
        depths, series, "First block's gradient / last block's, at step 0", "hidden blocks", "ratio (log scale)"
    )
    for y in (0.1, 10.0):
        fig.add_hline(y=y, line_dash="dash", line_width=1)
    fig.update_yaxes(type="log")
    fig.update_xaxes(tickvals=depths)
    return fig


def profile_figure(measured: dict[str, Any]) -> go.Figure:
    """Return each block's weight-gradient norm at step 0 in the deepest networks (log y; geometric mean of seeds)."""
    fig = go.Figure()
    names = [side for side, _ in SIDES] + ([CONTROL] if CONTROL in measured else [])
    for i, name in enumerate(names):
        g = measured[name]["grad_deepest"]
        colour = "#666666" if name == CONTROL else RUN_COLOURS[i % len(RUN_COLOURS)]  # as in the other figures
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(g) + 1)),
                y=g,
                mode="lines+markers",
                name=name,
                line=dict(color=colour, width=2, dash="dot" if name == CONTROL else None),
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title="Weight-gradient norm per block at step 0 (deepest networks)",
        xaxis_title="block (1 = input side)",
        yaxis_title="gradient norm (log scale)",
        height=380,
    )
    fig.update_yaxes(type="log")
    fig.update_xaxes(dtick=1)
    return fig


EXPERIMENT = Depth()
