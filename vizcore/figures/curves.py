"""Training curves: loss and accuracy over steps, for one run or several overlaid."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig, axis_ref, scatter
from vizcore.figures.readers import arr, as_runs, num, pairs, run_labels
from vizcore.figures.theme import (
    DIVERGED_COLOUR,
    LABEL_BACKGROUND,
    RUN_COLOURS,
    TEST_COLOUR,
    TRAIN_COLOUR,
    decade_axis,
    empty,
    style,
)


def curves(
    run_or_runs: Mapping | Sequence[Mapping], labels: Sequence[str] | None = None, log_loss: bool = False
) -> go.Figure:
    """Return loss (left) and accuracy (right) over training steps for one run or several overlaid.

    One run: train solid, test dashed in two colours. Several runs (the Compare page):
    one colour per run, train solid and test dashed. A diverged run gets a vertical line
    and the annotation "diverged at step N". The loss axis is linear (log if `log_loss`);
    a diverged run's exploding loss runs off the top instead of flattening the rest.
    """
    runs = as_runs(run_or_runs)
    title = "Training curves" if len(runs) < 2 else f"Training curves of {len(runs)} runs"
    if not runs:
        return empty(title, "no run to show")
    names = run_labels(runs, labels)
    multi = len(runs) > 1
    fig = Fig(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.14)
    sane_max, any_loss, losses = 0.0, False, []
    x_lo, x_hi = math.inf, -math.inf
    for r, (run, label) in enumerate(zip(runs, names, strict=True)):
        c = run.get("curves") if isinstance(run.get("curves"), Mapping) else {}
        step = arr(c.get("step"))
        if np.isfinite(step).any():
            x_lo, x_hi = min(x_lo, float(np.nanmin(step))), max(x_hi, float(np.nanmax(step)))
        colour = RUN_COLOURS[r % len(RUN_COLOURS)]
        first_test = arr(c.get("test_loss"))
        first = next((v for v in first_test if np.isfinite(v)), math.nan)
        for split, dash in (("train", "solid"), ("test", "dash")):
            line_colour = colour if multi else (TRAIN_COLOUR if split == "train" else TEST_COLOUR)
            name = f"{label} · {split}" if multi else split
            for col, metric in ((1, "loss"), (2, "acc")):
                xs, ys = pairs(step, arr(c.get(f"{split}_{metric}")), positive=log_loss and metric == "loss")
                if metric == "loss" and ys:
                    any_loss = True
                    losses += ys
                    cap = 10 * first if np.isfinite(first) and first > 0 else math.inf
                    sane = [v for v in ys if v <= cap]
                    sane_max = max([sane_max, *sane])
                fmt = ".4f" if metric == "loss" else ".1%"
                fig.add_trace(
                    scatter(
                        x=xs,
                        y=ys,
                        name=name,
                        legendgroup=name,
                        showlegend=col == 1,
                        mode="lines+markers" if len(xs) < 3 else "lines",
                        line=dict(color=line_colour, dash=dash, width=2),
                        marker=dict(size=5),
                        hovertemplate=f"{name}<br>step %{{x}}<br>{metric} %{{y:{fmt}}}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    for run in runs:
        at = num(run.get("diverged_at"))
        if np.isfinite(at):
            x_lo, x_hi = min(x_lo, at), max(x_hi, at)
    if not math.isfinite(x_lo):
        x_lo, x_hi = 0.0, 1.0
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    k = 0
    for run, label in zip(runs, names, strict=True):
        at = num(run.get("diverged_at"))
        if not np.isfinite(at):
            continue
        right_half = at > (x_lo + x_hi) / 2  # the text goes on the side with room
        text = f"diverged at step {int(at)}" if not multi else f"{label}: diverged at step {int(at)}"
        for col in (1, 2):
            xref, yref = axis_ref(col)
            fig.add_shape(
                type="line",
                x0=at,
                x1=at,
                y0=0,
                y1=1,
                xref=xref,
                yref=f"{yref} domain",
                line=dict(color=DIVERGED_COLOUR, dash="dot", width=1.5),
                name="diverged",
            )
        fig.add_annotation(
            text=text,
            x=at,
            xref="x",
            y=1 - 0.08 * k,
            yref="y domain",
            xanchor="right" if right_half else "left",
            xshift=-4 if right_half else 4,
            yanchor="top",
            showarrow=False,
            font=dict(color=DIVERGED_COLOUR, size=12),
            bgcolor=LABEL_BACKGROUND,
        )
        k += 1
    style(fig, title, height=400 + 22 * (len(runs) if multi else 0))
    fig.update_xaxes(title_text="training step", title_standoff=6, range=[x_lo, x_hi])
    if log_loss:
        fig.update_yaxes(title_text="loss, lower is better (log)", row=1, col=1, **decade_axis(losses))
    else:
        fig.update_yaxes(title_text="loss (lower is better)", rangemode="tozero", row=1, col=1)
        if any_loss and sane_max > 0:
            fig.update_yaxes(range=[0, sane_max * 1.08], row=1, col=1)
    # no axis title: "Accuracy" heads the chart, and the gap to the loss chart stays clear at presenter size
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02], row=1, col=2)
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
        margin=dict(b=70 + 22 * (len(runs) if multi else 1)),
        hovermode="closest",
    )
    if not any(len(t.get("x") or ()) for t in fig.data):
        fig.add_annotation(text="no curve points yet", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return fig.figure()
