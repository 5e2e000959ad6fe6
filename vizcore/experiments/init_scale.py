"""Experiment 3: does batch norm make training less sensitive to the scale of the initial weights?"""

from __future__ import annotations

import math
from typing import Any

import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.engine.config import RunConfig
from vizcore.experiments import headlines as words
from vizcore.experiments.base import (
    CHANCE,
    DIGITS_MLP,
    Experiment,
    Paper,
    Result,
    Verdict,
    mean_finite,
    pct,
    run_accuracy,
    spread,
    steps,
)
from vizcore.experiments.grading import CLAIM
from vizcore.figures.experiments import sweep_figure
from vizcore.figures.theme import TEMPLATE

SCALES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)  # x He init: 1 is the textbook scale; 0.01 and 10 are far off
SIDES = (("no norm", "none"), ("batch norm", "batch"), ("layer norm", "layer"))
TRY_SCALE = 3.0  # "Try it yourself": batch norm at a scale where the plain network blows up
# The rule's thresholds, in accuracy points (the seed-to-seed spread of one setting is a few points):
MIN_GAIN = 0.10  # "less sensitive" needs the spread to shrink by at least 10 points, well beyond seed noise...
HALF = 0.5  # ...and to at most half the plain network's spread: a substantial, not marginal, reduction
NO_GAIN = 0.05  # a reduction under 5 points is within noise: no evidence of reduced sensitivity


def label(side: str, scale: float) -> str:
    """Return the variant label for one normalization side at init scale `scale`."""
    return f"{side} · scale {scale:g}"


def step0(run: dict, what: str) -> list[float | None]:
    """Return a per-block list at the step-0 snapshot: "act_std" (activation std) or "grad" (weight-gradient norm)."""
    out = []
    for layer in run["layers"]:
        if not layer["steps"] or layer["steps"][0] != 0:
            out.append(None)
            continue
        out.append(layer["taps"]["act"]["std"][0] if what == "act_std" else layer["grad_norm"][0])
    return out


def accuracy_range(acc_means: list[float | None]) -> float | None:
    """Return max - min of the mean final accuracy over init scales (the sensitivity), or None if any is missing."""
    if not acc_means or any(a is None for a in acc_means):
        return None
    return float(max(acc_means) - min(acc_means))


class InitScale(Experiment):
    number = 3
    name = "init-scale"
    title = "Sensitivity to initialization: does batch norm forgive a badly scaled init?"
    claim = "Batch normalization makes training much less sensitive to how the weights are initialized."
    question = (
        "Multiplying He-initialized weights by 0.01 to 10 in a 4-layer ReLU network: how much does the final "
        "test accuracy swing across those scales without normalization, with batch norm, and with layer "
        "norm, and what happens to the activations and gradients at step 0?"
    )
    predictions = {
        "Batch norm trains well at every scale; the plain network only near scale 1": {CLAIM: "yes"},
        "Batch norm helps, but only partly: some scales still cost it accuracy": {CLAIM: "neither"},
        "Both are equally sensitive": {CLAIM: "no"},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Ioffe & Szegedy (2015), Section 3.3",
        "An argument, not a measurement: a layer followed by batch norm gives the same output for weights W and "
        "a*W, BN(aWu) = BN(Wu), so its back-propagated gradient does not depend on the weights' scale, and larger "
        "weights get smaller gradients (which stabilizes growth). The paper reports no init-scale sweep.",
        "Here: digits, a 4 x 64 ReLU MLP, He init times 0.01..10 (every layer, the output layer too), SGD at lr "
        "0.1 for 300 steps, 3 seeds. The output layer is not normalized but is scaled too. A normalized layer's "
        "weights grow with the scale while its gradient does not, so each step changes them relatively less (the "
        "'effective learning rate' of Arora et al. 2019 falls).",
    )
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        n = steps(300, budget)
        # Only the step-0 snapshot is used (activations and gradients at init) and only the final accuracy:
        # one snapshot per run and a test pass every 50 steps keep 54 runs near 20 s.
        base = DIGITS_MLP.replace(init="he", steps=n, every=n, eval_every=50)
        out = [(label(side, s), base.replace(norm=norm, init_scale=s)) for side, norm in SIDES for s in SCALES]
        key = label("batch norm", TRY_SCALE)  # last = what "Try it yourself" opens
        # It records a snapshot every 20 steps, so the layer views are worth watching there; recording only
        # observes, so its numbers are those of a sparsely recorded run.
        return [v for v in out if v[0] != key] + [(k, c.replace(every=20)) for k, c in out if k == key]

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        out: dict[str, Any] = {"scales": list(SCALES)}
        for side, _ in SIDES:
            rows: dict[str, list] = {"acc": [], "diverged": [], "n": [], "act_std0": [], "grad0": []}
            for s in SCALES:
                rs = runs[label(side, s)]
                rows["acc"].append(spread([run_accuracy(r) for r in rs]))
                rows["diverged"].append(sum(r["status"] == "diverged" for r in rs))
                rows["n"].append(len(rs))
                for key, what in (("act_std0", "act_std"), ("grad0", "grad")):
                    per_run = [step0(r, what) for r in rs]
                    rows[key].append([mean_finite([p[i] for p in per_run]) for i in range(len(per_run[0]))])
            out[side] = rows
        return out

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        scales = measured["scales"]
        means = {side: [a["mean"] for a in measured[side]["acc"]] for side, _ in SIDES if side in measured}
        r0, r1 = accuracy_range(means["no norm"]), accuracy_range(means["batch norm"])
        r2 = accuracy_range(means["layer norm"]) if "layer norm" in means else None
        numbers: dict[str, float | None] = {"spread_no_norm": r0, "spread_batch_norm": r1, "spread_layer_norm": r2}
        for side, key in (("no norm", "none"), ("batch norm", "batch")):
            m = means[side]
            ok = [(a, s) for a, s in zip(m, scales) if a is not None]
            worst = min(ok, key=lambda p: p[0]) if ok else None  # ties: the first (smallest) scale
            numbers[f"worst_acc_{key}"] = worst[0] if worst else None
            numbers[f"worst_scale_{key}"] = float(worst[1]) if worst else None
            numbers[f"best_acc_{key}"] = max(a for a, _ in ok) if ok else None
        rule = (
            f"Sensitivity = the range (max - min) over init scales of the final test accuracy averaged over "
            f"seeds (a diverged run counts as chance, 10%). Supported if batch norm's range is at most "
            f"{HALF:.0%} of the plain network's AND at least {100 * MIN_GAIN:.0f} points smaller; not supported "
            f"if it is less than {100 * NO_GAIN:.0f} points smaller (within seed noise) or larger; it depends "
            f"in between."
        )
        if r0 is None or r1 is None:
            return Verdict("it depends", "Some runs did not produce the numbers the rule needs.", numbers, rule)
        gain = r0 - r1
        label_ = (
            "supported" if gain >= MIN_GAIN and r1 <= HALF * r0 else "not supported" if gain < NO_GAIN else "it depends"
        )

        def row(side: str) -> str:
            return ", ".join("n/a" if a is None else f"{100 * a:.0f}%" for a in means[side])

        head = {
            "supported": "Batch norm made the final accuracy much less sensitive to the init scale.",
            "it depends": "Batch norm made the final accuracy less sensitive to the init scale, but not by half.",
            "not supported": "Batch norm did not make the final accuracy clearly less sensitive to the init scale.",
        }[label_]
        summary = (
            f"{head} Final test accuracy at init scales {', '.join(f'{s:g}' for s in scales)}: plain "
            f"{row('no norm')} (a range of {100 * r0:.0f} points); batch norm {row('batch norm')} "
            f"({100 * r1:.0f} points)"
        )
        summary += f"; layer norm {row('layer norm')} ({100 * r2:.0f} points)." if r2 is not None else "."
        worst = numbers["worst_scale_batch"]
        if r1 >= NO_GAIN and worst is not None and worst != 1:
            # Every layer is scaled at once, the unnormalized output layer too: these runs cannot say which
            # layer's scale costs the accuracy, so the summary names the scale and no cause.
            summary += (
                f" Batch norm's lowest accuracy was at scale {worst:g} ({pct(numbers['worst_acc_batch'])}); these "
                "runs scale every layer at once, the output layer too, so they do not show which layer's scale "
                "costs the accuracy there."
            )
        return Verdict(label_, summary, numbers, rule, words.init_scale(label_, gain, NO_GAIN))

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured
        return [
            (
                accuracy_figure(m),
                "Mean over seeds with a min-max band; an x marks scales where runs diverged "
                "(counted at chance). A flat line means insensitive to the init scale.",
            ),
            (
                layer_figure(m, "act_std0", "Activation std per block at step 0", "activation std (log)"),
                "Without normalization the signal shrinks or grows by about the scale at every block (ReLU passes "
                "a scale straight through); with normalization every block starts at the same spread.",
            ),
            (
                layer_figure(m, "grad0", "Weight-gradient norm per block at step 0", "gradient norm (log)"),
                "Without normalization the gradients follow the scale over orders of magnitude; with normalization "
                "they hardly depend on it. (Section 3.3 predicts 1/scale for a normalized layer on its own; here the "
                "unnormalized output layer is scaled too, which multiplies the signal sent back by the scale and "
                "cancels it.) The same gradient on 10x larger weights is a 10x smaller relative step.",
            ),
        ]


def accuracy_figure(measured: dict[str, Any]) -> go.Figure:
    """Return final test accuracy against init scale (log x) per normalization, with bands and diverged marks."""
    scales = measured["scales"]
    sides = [side for side, _ in SIDES if side in measured]
    series = {side: {k: [a[k] for a in measured[side]["acc"]] for k in ("mean", "min", "max")} for side in sides}
    fig = sweep_figure(
        scales,
        series,
        "Final test accuracy against init scale",
        "init scale x He (log scale)",
        "final test accuracy",
        log_x=True,
    )
    colours = [t.line.color for t in fig.data if t.mode == "lines+markers"]
    for i, (side, colour) in enumerate(zip(sides, colours)):
        div = measured[side]["diverged"]
        xs = [s for s, d in zip(scales, div) if d]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[CHANCE - 0.03 * i] * len(xs),
                    mode="markers",
                    name=f"{side}: diverged",  # nudged apart
                    marker=dict(symbol="x", size=12, color=colour),
                    text=[f"{d} of {n} diverged" for d, n in zip(div, measured[side]["n"]) if d],
                    hovertemplate="scale %{x}: %{text}<extra></extra>",
                )
            )
    fig.update_yaxes(range=[0, 1.02])
    return fig


def layer_figure(measured: dict[str, Any], key: str, title: str, ytitle: str) -> go.Figure:
    """Return one panel per normalization: `measured[side][key]` per block, one line per init scale (log y)."""
    scales = measured["scales"]
    sides = [side for side, _ in SIDES if side in measured]
    colours = pc.sample_colorscale("Viridis", [i / max(1, len(scales) - 1) for i in range(len(scales))])
    fig = make_subplots(rows=1, cols=len(sides), subplot_titles=sides, shared_yaxes=True)
    for j, side in enumerate(sides):
        for i, s in enumerate(scales):
            ys = measured[side][key][i]
            # a log axis cannot show 0 or negative values (e.g. an all-dead layer): leave a gap there
            ys = [y if y is not None and y > 0 and math.isfinite(y) else None for y in ys]
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(ys) + 1)),
                    y=ys,
                    mode="lines+markers",
                    name=f"scale {s:g}",
                    legendgroup=f"s{s:g}",
                    showlegend=j == 0,
                    line=dict(color=colours[i]),
                ),
                row=1,
                col=j + 1,
            )
        fig.update_xaxes(title_text="block", dtick=1, row=1, col=j + 1)
    fig.update_yaxes(type="log")
    fig.update_yaxes(title_text=ytitle, row=1, col=1)
    fig.update_layout(template=TEMPLATE, title=title, height=380)
    return fig


EXPERIMENT = InitScale()
