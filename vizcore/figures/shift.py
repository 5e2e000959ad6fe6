"""Figures for the Covariate shift page: pure functions from the covariate-shift result dicts to Plotly figures.

Nothing here trains or imports the app. Like the run figures, they never raise on what a result
dict may hold: null or non-finite values are left out, missing parts give an empty figure
with an explanation, and every series keeps the page's colours (no normalization grey,
the chosen norm blue, its noisy version red).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures.kit import spacing
from vizcore.figures.readers import arr, pairs
from vizcore.figures.theme import GUIDE, NORM_COLOURS, OUTLINE, ROLE_COLOURS, SPARE_COLOURS, empty, style

SERIES_STYLE = {  # key: (colour, dash)
    "none": (NORM_COLOURS["none"], "solid"),
    "batch": (NORM_COLOURS["batch"], "solid"),
    "batch_recomputed": (NORM_COLOURS["batch"], "dash"),
    "layer": (NORM_COLOURS["layer"], "solid"),
    "group": (NORM_COLOURS["group"], "solid"),
}
MAX_PANELS = 6  # blocks shown side by side; deeper networks show an even spread including the last
TAP_WORDS = {"act": "activation output", "norm": "norm output"}


def _runs(internal: Any) -> list[Mapping]:
    if not isinstance(internal, Mapping) or not isinstance(internal.get("runs"), list):
        return []
    return [r for r in internal["runs"] if isinstance(r, Mapping)]


def _colour(run: Mapping, i: int) -> str:
    return ROLE_COLOURS.get(str(run.get("key")), SPARE_COLOURS[i % len(SPARE_COLOURS)])


def _part_layers(run: Mapping, part: str) -> list[Mapping]:
    p = run.get(part)
    if not isinstance(p, Mapping) or not isinstance(p.get("layers"), list):
        return []
    return [la for la in p["layers"] if isinstance(la, Mapping)]


def pick_panels(n: int, limit: int = MAX_PANELS) -> list[int]:
    """Return up to `limit` of the indices 0..n-1, evenly spread and always including the last."""
    if n <= limit:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, limit)})


def _line(
    x: list, y: list, name: str, colour: str, show: bool, what: str, dash: str = "solid", fmt: str = ".3g"
) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        legendgroup=name,
        showlegend=show,
        mode="lines+markers" if len(x) < 3 else "lines",
        line=dict(color=colour, width=2, dash=dash),
        marker=dict(size=5),
        hovertemplate=f"{name}<br>step %{{x}}<br>{what} %{{y:{fmt}}}<extra></extra>",
    )


def drift(internal: Mapping) -> go.Figure:
    """Return how far each block's output (the next layer's input) moved on fixed probe examples, per run.

    One panel per block (at most MAX_PANELS), two lines per run: solid, W1 between the probe's
    distributions `lag` steps apart, in spreads; dotted, how far each snapshot's training batch
    sits from the probe (sampling noise, the floor a drift must clear). Traces: runs x panels x
    (drift, noise), in run order, each panel's traces together.
    """
    title = "Internal covariate shift on fixed probe examples: how far each layer's input moves"
    runs = _runs(internal)
    layers = [_part_layers(r, "drift") for r in runs]
    n = max((len(la) for la in layers), default=0)
    if not runs or n == 0:
        return empty(title, "no drift measured yet")
    panels = pick_panels(n)
    names = [f"block{i + 1} → {'head' if i == n - 1 else f'block{i + 2}'}" for i in panels]
    fig = make_subplots(
        rows=1, cols=len(panels), subplot_titles=names, shared_yaxes=True, horizontal_spacing=spacing(len(panels), 0.03)
    )
    for c, i in enumerate(panels):
        for r, (run, ls) in enumerate(zip(runs, layers)):
            la = ls[i] if i < len(ls) else {}
            label, colour = str(run.get("label", f"run {r + 1}")), _colour(run, r)
            xs, ys = pairs(arr(la.get("steps")), arr(la.get("w1")))
            fig.add_trace(_line(xs, ys, label, colour, c == 0, "drift (spreads)"), row=1, col=c + 1)
            xs, ys = pairs(arr(la.get("noise_steps")), arr(la.get("noise")))
            noise = _line(xs, ys, f"{label}: one batch vs the probe", colour, c == 0, "batch noise", dash="dot")
            noise.line.width = 1.2
            fig.add_trace(noise, row=1, col=c + 1)
    taps = {TAP_WORDS.get(str(r.get("tap")), str(r.get("tap"))) for r in runs}
    lag = next((r.get("drift", {}).get("lag") for r in runs if r.get("drift")), None)
    subtitle = (
        f"Solid: W1 between the {' or '.join(sorted(taps))} on the same probe examples {lag} steps apart, "
        "in spreads. Dotted: one training batch against those examples at the same step (sampling noise)"
    )
    style(fig, title, subtitle, height=440, legend_below=True)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="W1 / spread", rangemode="tozero", row=1, col=1)
    return fig


def gradient_shift(internal: Mapping) -> go.Figure:
    """Return Santurkar et al.'s measure per block: ‖G − G′‖/‖G‖ (top) and cos(G, G′) (bottom), per run.

    Blocks 2..n (block 1 has no earlier layers, so G′ = G), at most MAX_PANELS of them; one line
    per run. Traces: 2 rows x panels x runs, top row first, each panel's runs together.
    """
    title = "Internal covariate shift as Santurkar et al. measure it: how much a layer's gradient changes"
    runs = _runs(internal)
    layers = [_part_layers(r, "gshift") for r in runs]
    n = max((len(la) for la in layers), default=0)
    if not runs or n < 2:
        return empty(title, "needs at least two blocks" if runs and n == 1 else "no gradient shift measured yet")
    panels = [i + 1 for i in pick_panels(n - 1)]
    fig = make_subplots(
        rows=2,
        cols=len(panels),
        subplot_titles=[f"block{i + 1}" for i in panels],
        shared_xaxes=True,
        shared_yaxes="rows",
        vertical_spacing=0.1,
        horizontal_spacing=spacing(len(panels), 0.03),
    )
    for row, key, what in ((1, "rel", "‖G − G′‖ / ‖G‖"), (2, "cos", "cos(G, G′)")):
        for c, i in enumerate(panels):
            for r, (run, ls) in enumerate(zip(runs, layers)):
                la = ls[i] if i < len(ls) else {}
                steps = arr((run.get("gshift") or {}).get("steps"))
                xs, ys = pairs(steps, arr(la.get(key)))
                fig.add_trace(
                    _line(xs, ys, str(run.get("label", f"run {r + 1}")), _colour(run, r), row == 1 and c == 0, what),
                    row=row,
                    col=c + 1,
                )
    subtitle = "G: a block's weight gradient; G′: the same once only the earlier blocks have taken this step's update"
    style(fig, title, subtitle, height=560, legend_below=True)
    fig.update_xaxes(title_text="training step", row=2)
    fig.update_yaxes(title_text="‖G − G′‖ / ‖G‖", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="cos(G, G′)", row=2, col=1)
    return fig


def accuracy(internal: Mapping) -> go.Figure:
    """Return test accuracy over training, one line per run, the final value in each legend entry."""
    title = "Does it train as well? Test accuracy"
    runs = _runs(internal)
    if not runs:
        return empty(title, "no runs yet")
    fig = go.Figure()
    for r, run in enumerate(runs):
        c = run.get("curves") if isinstance(run.get("curves"), Mapping) else {}
        xs, ys = pairs(arr(c.get("step")), arr(c.get("test_acc")))
        final = run.get("final_test_acc")
        ok = isinstance(final, (int, float)) and not isinstance(final, bool) and math.isfinite(final)
        name = f"{run.get('label', f'run {r + 1}')}: {final:.1%}" if ok else str(run.get("label", f"run {r + 1}"))
        fig.add_trace(_line(xs, ys, name, _colour(run, r), True, "test accuracy", fmt=".1%"))
    style(
        fig,
        title,
        "measured in eval mode: batch norm uses its running averages, noisy norm adds no noise",
        height=400,
        legend_below=True,
    )
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="test accuracy", tickformat=".0%", range=[0, 1.02])
    return fig


def shifted_accuracy(curves: Mapping) -> go.Figure:
    """Return test accuracy against a test-time input shift, one line per model, a marker at the chosen shift.

    `curves` is `labs.shift.with_point(...)` (or `external_curves`, then without markers):
    {"scale", "shifts", "series": [{"key", "label", "acc"}], "at": {"shift", "acc": {key: value}}}.
    Traces: one line per series, then one marker per series that has a value at "at".
    """
    title = "External covariate shift: test accuracy when the test inputs move"
    if not isinstance(curves, Mapping) or not isinstance(curves.get("series"), list):
        return empty(title, "no models trained yet")
    series = [s for s in curves["series"] if isinstance(s, Mapping)]
    shifts = arr(curves.get("shifts"))
    at = curves.get("at") if isinstance(curves.get("at"), Mapping) else {}
    fig = go.Figure()
    for s in series:
        colour, dash = SERIES_STYLE.get(str(s.get("key")), (SPARE_COLOURS[-1], "solid"))
        xs, ys = pairs(shifts, arr(s.get("acc")))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=str(s.get("label")),
                legendgroup=str(s.get("key")),
                mode="lines",
                line=dict(color=colour, dash=dash, width=2.5 if dash == "dash" else 2),
                hovertemplate=f"{s.get('label')}<br>shift %{{x:.2f}}<br>accuracy %{{y:.1%}}<extra></extra>",
            )
        )
    x0 = at.get("shift")
    values = at.get("acc") if isinstance(at.get("acc"), Mapping) else {}
    if isinstance(x0, (int, float)) and math.isfinite(x0):
        for s in series:
            v = values.get(s.get("key"))
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            colour, _ = SERIES_STYLE.get(str(s.get("key")), (SPARE_COLOURS[-1], "solid"))
            fig.add_trace(
                go.Scatter(
                    x=[x0],
                    y=[v],
                    mode="markers",
                    legendgroup=str(s.get("key")),
                    showlegend=False,
                    name=f"{s.get('label')} at shift {x0:g}",
                    marker=dict(color=colour, size=10, line=dict(color=OUTLINE, width=1.5)),
                    hovertemplate=f"{s.get('label')}<br>shift {x0:g}<br>accuracy %{{y:.1%}}<extra></extra>",
                )
            )
        fig.add_vline(x=x0, line=dict(color=GUIDE, dash="dot", width=1))
    scale = curves.get("scale")
    scale_txt = f"{scale:g}" if isinstance(scale, (int, float)) and math.isfinite(scale) else "?"
    style(
        fig,
        title,
        f"every test input x becomes x × {scale_txt} + shift (inputs are standardized: 1 = one std)",
        height=460,
        legend_below=True,
    )
    fig.update_xaxes(title_text="test-time shift added to every input")
    fig.update_yaxes(title_text="test accuracy", tickformat=".0%", range=[0, 1.02])
    return fig


__all__ = ["accuracy", "drift", "gradient_shift", "pick_panels", "shifted_accuracy"]
