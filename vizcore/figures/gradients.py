"""Gradients and saturation per block over training: gradient norms, update:weight ratios, saturated shares."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig, scatter
from vizcore.figures.readers import arr, block_name, layer_steps, pairs, run_layers, run_text, tap_layers
from vizcore.figures.theme import NOTE, block_colours, decade_axis, empty, style

KARPATHY_RATIO = 1e-3  # update:data ratio rule of thumb (Karpathy, makemore part 3)


def grad_stats(run: Mapping) -> go.Figure:
    """Return gradient norm (top) and update:weight ratio (bottom) per block over steps, log y axes.

    Two traces per block, then a dotted reference line at ratio 1e-3 (Karpathy's rule of
    thumb: updates about a thousandth of the weights). Zero, null and non-finite values
    are left out (a log axis cannot show them).
    """
    title = "Gradients and update sizes per block"
    layers = run_layers(run)
    if not layers:
        return empty(title, "no layers recorded in this run")
    # Stacked, not side by side: the chart lives in half a page, and two panels there overlapped.
    fig = Fig(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("Gradient norm ‖∂loss/∂W‖", "Update : weight ratio ‖ΔW‖ / ‖W‖"),
        vertical_spacing=0.12,
    )
    colours = block_colours(len(layers))
    lo, hi = math.inf, -math.inf
    shown: dict[int, list[float]] = {1: [], 2: [KARPATHY_RATIO]}
    for i, la in enumerate(layers):
        name = block_name(la, i)
        st = arr(la.get("steps"))
        if np.isfinite(st).any():
            lo, hi = min(lo, float(np.nanmin(st))), max(hi, float(np.nanmax(st)))
        for row, key, what in ((1, "grad_norm", "gradient norm"), (2, "update_ratio", "update:weight")):
            xs, ys = pairs(st, arr(la.get(key)), positive=True)
            shown[row] += ys
            fig.add_trace(
                scatter(
                    x=xs,
                    y=ys,
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    mode="lines+markers" if len(xs) < 3 else "lines",
                    line=dict(color=colours[i], width=1.8),
                    marker=dict(size=5),
                    hovertemplate=f"{name}<br>step %{{x}}<br>{what} %{{y:.3g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
    if not math.isfinite(lo):
        lo, hi = 0.0, 1.0
    fig.add_trace(
        scatter(
            x=[lo, hi if hi > lo else lo + 1],
            y=[KARPATHY_RATIO, KARPATHY_RATIO],
            name="1e-3: Karpathy's rule of thumb",
            mode="lines",
            line=dict(color=NOTE, dash="dot", width=1.5),
            hovertemplate="update:weight ratio 1e-3, Karpathy's rule of thumb<extra></extra>",
        ),
        row=2,
        col=1,
    )
    subtitle = (
        "updates far below 1e-3 of the weights learn slowly, far above it can be unstable "
        "(Karpathy's rule of thumb: a rough guide, not a threshold)"
    )
    style(fig, title, subtitle, height=480, legend_below=True)
    fig.update_xaxes(title_text="training step", row=2, col=1)
    fig.update_yaxes(title_text="‖∂loss/∂W‖ (log)", row=1, col=1, **decade_axis(shown[1]))
    fig.update_yaxes(title_text="‖ΔW‖ / ‖W‖ (log)", row=2, col=1, **decade_axis(shown[2]))
    return fig.figure()


def saturation(run: Mapping) -> go.Figure:
    """Return the fraction of saturated activation outputs per block over steps (one trace per block)."""
    title = "Saturated activations per block"
    found, why = tap_layers(run, "act")
    if why:
        return empty(title, why)
    rule = ""
    if isinstance(run.get("meta"), Mapping):
        rule = run_text(run["meta"].get("saturation_rule") or "")  # a run file's text
    cfg = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    if cfg.get("activation") == "linear":
        return empty(title, "a linear activation never saturates")
    steps = layer_steps(run)
    if not any(len(s) for s in steps):
        return empty(title, "no snapshots recorded yet")
    if not any(np.isfinite(arr(t.get("saturated"))).any() for _, t in found):
        return empty(title, "no saturation recorded in this run")
    colours = block_colours(len(found))
    fig = Fig()
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        xs, ys = pairs(st, arr(tapd.get("saturated")))
        fig.add_trace(
            scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines+markers" if len(xs) < 3 else "lines",
                line=dict(color=colours[i], width=1.8),
                hovertemplate=f"{name}<br>step %{{x}}<br>saturated %{{y:.1%}}<extra></extra>",
            )
        )
    act = cfg.get("activation")
    subtitle = f"saturated {act}: {rule}" if rule and act else (f"saturated: {rule}" if rule else None)
    style(fig, title, subtitle, height=360)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="share saturated", tickformat=".0%", range=[0, 1.02])
    return fig.figure()
