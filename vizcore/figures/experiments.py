"""Figures shared by the experiments (pure: data in, plotly figure out)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.figures.theme import RUN_COLOURS, TEMPLATE, decade_axis, rgba


def _colour(i: int) -> str:
    return RUN_COLOURS[i % len(RUN_COLOURS)]


def _finite(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def band_figure(runs: Mapping[str, Sequence[dict]], key: str, title: str, ytitle: str) -> go.Figure:
    """Return the mean of `curves[key]` over seeds per label, with a min-max band."""
    fig = go.Figure()
    for i, (label, rs) in enumerate(runs.items()):
        rs = [r for r in rs if r is not None]
        if not rs:
            continue
        n = min(len(r["curves"]["step"]) for r in rs)
        x = rs[0]["curves"]["step"][:n]
        y = np.array([_finite(r["curves"][key][:n]) for r in rs])
        with warnings.catch_warnings():  # an all-null column (train metrics at step 0) stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi, mean = np.nanmin(y, 0), np.nanmax(y, 0), np.nanmean(y, 0)
        c = _colour(i)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=hi.tolist(),
                mode="lines",
                line=dict(width=0),
                showlegend=False,
                hoverinfo="skip",
                legendgroup=label,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=lo.tolist(),
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor=rgba(c, 0.2),
                showlegend=False,
                hoverinfo="skip",
                legendgroup=label,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean.tolist(),
                mode="lines",
                name=f"{label} (mean of {len(rs)})",
                line=dict(color=c, width=2),
                legendgroup=label,
            )
        )
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title="training step", yaxis_title=ytitle, height=380)
    return fig


def percentile_figure(series: Mapping[str, Mapping[str, Sequence[Any]]], title: str) -> go.Figure:
    """Return one panel per label with the 15th, 50th and 85th percentiles over steps."""
    labels = list(series)
    fig = make_subplots(rows=1, cols=max(1, len(labels)), subplot_titles=labels, shared_yaxes=True)
    for j, label in enumerate(labels):
        s = series[label]
        for k, dash in (("p15", "dot"), ("p50", "solid"), ("p85", "dot")):
            fig.add_trace(
                go.Scatter(
                    x=list(s["steps"]),
                    y=_finite(s[k]).tolist(),
                    mode="lines",
                    name=k,
                    line=dict(color=_colour(j), dash=dash),
                    showlegend=False,
                ),
                row=1,
                col=j + 1,
            )
        fig.update_xaxes(title_text="training step", row=1, col=j + 1)
    fig.update_yaxes(title_text="value", row=1, col=1)
    fig.update_layout(template=TEMPLATE, title=title, height=380)
    return fig


def bar_figure(
    groups: Mapping[str, Mapping[str, float | None]],
    title: str,
    ytitle: str,
    errors: Mapping[str, Mapping[str, float | None]] | None = None,
    zoom: tuple[float, float] | None = None,
) -> go.Figure:
    """Return grouped bars: one bar group per key of the inner mappings, one colour per outer key.

    The y-axis starts at 0, so a bar's length is its value. `zoom` = (low, high) shows only that
    range instead, and then says so on the chart ("zoomed") with the axis marked as cut.
    """
    fig = go.Figure()
    for i, (label, values) in enumerate(groups.items()):
        err = (errors or {}).get(label, {})
        fig.add_trace(
            go.Bar(
                x=list(values),
                y=[v if v is not None else 0 for v in values.values()],
                name=label,
                marker_color=_colour(i),
                error_y=dict(type="data", array=[err.get(k) or 0 for k in values]) if err else None,
            )
        )
    fig.update_layout(template=TEMPLATE, title=title, yaxis_title=ytitle, barmode="group", height=380)
    if zoom is None or zoom[0] <= 0:
        fig.update_yaxes(rangemode="tozero", range=list(zoom) if zoom else None)
    else:
        mark_zoomed(fig, zoom)
    return fig


ZOOMED = "zoomed"  # the word every cut axis carries


def mark_zoomed(fig: go.Figure, zoom: tuple[float, float]) -> None:
    """Show only `zoom` = (low, high) of the y-axis, marked as cut: a zigzag at its foot and a 'zoomed' note."""
    low, high = zoom
    fig.update_yaxes(range=[low, high])
    fig.add_annotation(
        text=f"⚠ {ZOOMED}: the axis starts at {low:.3g}, not 0 (bar lengths exaggerate the gaps)",
        xref="paper",
        yref="paper",
        x=0,
        y=1.0,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font=dict(color="#8a4b00"),
    )
    fig.add_annotation(  # a break mark on the axis itself, where the cut is
        text="≈", xref="paper", yref="paper", x=0, y=0, xanchor="center", yanchor="middle", showarrow=False,
        font=dict(size=22, color="#8a4b00"), bgcolor="white",
    )  # fmt: skip


def ring(fig: go.Figure, x: float, y: float, name: str, colour: str) -> None:
    """Add a large open ring at (x, y), named in the legend: the point the verdict's text speaks of."""
    fig.add_trace(
        go.Scatter(
            x=[x],
            y=[y],
            mode="markers",
            name=name,
            marker=dict(symbol="circle-open", size=18, color=colour, line=dict(width=3)),
            hovertemplate=f"{name}<extra></extra>",
        )
    )


def accuracy_sweep(
    x: Sequence[float],
    series: Mapping[str, Mapping[str, Sequence[float | None]]],
    diverged: Mapping[str, Sequence[int]],
    counts: Mapping[str, Sequence[int]],
    title: str,
    xtitle: str,
    xname: str,
    chance: float = 0.1,
) -> go.Figure:
    """Return final test accuracy against `x` (log scale) per side, banded min to max, the y-axis from 0 to 1.

    An x marks each `x` where some of a side's runs diverged, drawn at `chance` (nudged apart per side),
    its hover saying how many of `counts` runs did.
    """
    fig = sweep_figure(x, series, title, xtitle, "final test accuracy", log_x=True)
    colours = [t.line.color for t in fig.data if t.mode == "lines+markers"]
    for i, (side, colour) in enumerate(zip(series, colours)):
        div, n = diverged.get(side, []), counts.get(side, [])
        xs = [v for v, d in zip(x, div) if d]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[chance - 0.03 * i] * len(xs),
                    mode="markers",
                    name=f"{side}: diverged",
                    marker=dict(symbol="x", size=12, color=colour, line=dict(width=1)),
                    text=[f"{d} of {k} diverged" for d, k in zip(div, n) if d],
                    hovertemplate=f"{xname} %{{x}}: %{{text}}<extra></extra>",
                )
            )
    fig.update_yaxes(range=[0, 1.02])
    return fig


def sweep_figure(
    x: Sequence[float],
    series: Mapping[str, Mapping[str, Sequence[float | None]]],
    title: str,
    xtitle: str,
    ytitle: str,
    log_x: bool = False,
) -> go.Figure:
    """Return lines of `series[label]["mean"]` over `x` with a band from "min" to "max"."""
    fig = go.Figure()
    for i, (label, s) in enumerate(series.items()):
        c = _colour(i)
        if "min" in s and "max" in s:
            fig.add_trace(
                go.Scatter(
                    x=list(x),
                    y=_finite(s["max"]).tolist(),
                    mode="lines",
                    line=dict(width=0),
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=list(x),
                    y=_finite(s["min"]).tolist(),
                    mode="lines",
                    line=dict(width=0),
                    fill="tonexty",
                    fillcolor=rgba(c, 0.2),
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=list(x), y=_finite(s["mean"]).tolist(), mode="lines+markers", name=label, line=dict(color=c, width=2)
            )
        )
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title=xtitle, yaxis_title=ytitle, height=380)
    if log_x:
        fig.update_xaxes(**decade_axis(list(x)))
    return fig
