"""Several runs side by side: one tap's histograms at each run's last frame (the Compare page)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.distributions import data_range, percentile_shapes
from vizcore.figures.kit import Fig, axis_ref, bar, spacing
from vizcore.figures.ranges import frame_panel, has_zero_mass
from vizcore.figures.readers import (
    as_runs,
    hist_edges,
    layer_steps,
    run_labels,
    tap_label,
    tap_layers,
)
from vizcore.figures.theme import LABEL_BACKGROUND, NOTE, NOTE_SIZE, RUN_COLOURS, empty, style


def panel_note(k: int, text: str) -> dict:
    """Return the annotation in the top-right corner of subplot number `k`: one per panel, so none overlap."""
    xref, yref = axis_ref(k)
    return dict(
        text=text,
        x=1,
        xref=f"{xref} domain",
        y=1,
        yref=f"{yref} domain",
        xanchor="right",
        yanchor="top",
        align="right",
        showarrow=False,
        bgcolor=LABEL_BACKGROUND,
        font=dict(size=NOTE_SIZE, color=NOTE),
    )


def compare_histograms(runs: Sequence[Mapping], tap: str, labels: Sequence[str] | None = None) -> go.Figure:
    """Return small multiples of `tap`'s histogram at each run's final frame: rows = runs, cols = blocks.

    Bars show the share of values per bin (runs may differ in batch size or width), on one
    x range and one y range shared by all panels; lines mark the 15/50/85th percentiles.
    """
    title = f"{tap_label(tap)[0].upper()}{tap_label(tap)[1:]} at the end of each run"
    runs = as_runs(runs)
    if not runs:
        return empty(title, "no runs to compare")
    names = run_labels(runs, labels)
    per_run = [tap_layers(r, tap) for r in runs]
    if not any(found for found, _ in per_run):
        reasons = {why for _, why in per_run if why}
        return empty(title, reasons.pop() if len(reasons) == 1 else f"none of these runs has a '{tap}' tap")
    rows, cols = len(runs), max(max(len(found) for found, _ in per_run), 1)
    col_names = next(([n for n, _ in found] for found, _ in per_run if len(found) == cols), [])
    fig = Fig(
        rows=rows,
        cols=cols,
        column_titles=col_names or None,
        shared_xaxes="all",
        shared_yaxes="all",
        horizontal_spacing=spacing(cols, 0.02),
        vertical_spacing=spacing(rows, 0.05),
    )
    lo, hi, top, most = math.inf, -math.inf, 0.0, 0
    shapes: list[dict] = []
    notes: list[dict] = []
    for r, ((found, why), run, label) in enumerate(zip(per_run, runs, names, strict=True)):
        colour = RUN_COLOURS[r % len(RUN_COLOURS)]
        fig.update_yaxes(title_text=label, row=r + 1, col=1)
        n_frames = min((len(s) for s in layer_steps(run)), default=0)
        message = why if why else ("no snapshots recorded yet" if n_frames == 0 else None)
        edges = next((e for e in (hist_edges(t) for _, t in found) if len(e)), np.zeros(0))
        if message is None and not len(edges):
            message = "no histogram recorded"
        if message:
            xref, yref = axis_ref(r * cols + 1)
            notes.append(
                dict(
                    text=message,
                    x=0.02,
                    xref=f"{xref} domain",
                    y=0.5,
                    yref=f"{yref} domain",
                    xanchor="left",
                    showarrow=False,
                    font=dict(color=NOTE),
                )
            )
            continue
        a, b = data_range(found, edges)
        lo, hi = min(lo, a), max(hi, b)
        centres = (edges[:-1] + edges[1:]) / 2
        fi = n_frames - 1
        for c, (name, tapd) in enumerate(found):
            row, total, lines = frame_panel(run, tap, tapd, fi, edges, -math.inf, math.inf)
            keep = np.isfinite(row)
            share = row[keep] / total if total > 0 else np.zeros(int(keep.sum()))
            top = max(top, float(share.max(initial=0.0)))
            fig.add_trace(
                bar(
                    x=[float(f"{v:.6g}") for v in centres[keep]],
                    y=[round(float(v), 5) for v in share],
                    width=float(edges[1] - edges[0]),
                    name=f"{label} · {name}",
                    marker=dict(color=colour, line=dict(width=0)),
                    showlegend=False,
                    hovertemplate=f"{label}<br>{name}<br>value ≈ %{{x:.3g}}<br>share %{{y:.1%}}<extra></extra>",
                ),
                row=r + 1,
                col=c + 1,
            )
            shapes += percentile_shapes(r * cols + c + 1, tapd, fi)
            if lines:
                notes.append(panel_note(r * cols + c + 1, "<br>".join(lines)))
                most = max(most, len(lines))
    fig.add_decorations(shapes, notes)
    if math.isfinite(lo):
        fig.update_xaxes(range=[lo, hi])
    subtitle = "bars: share of values per bin at each run's last snapshot; dashed: 15th/85th percentiles, solid: median"
    if any(has_zero_mass(run, tap) for run in runs):
        subtitle += "; the share exactly 0 is written in each chart and left out of the bars (normal for ReLU)"
    style(fig, title, subtitle, height=120 + 170 * rows)
    fig.update_layout(bargap=0)
    # An explicit range: plotly.js would give an all-zero panel [0, 4] and, as panels share y, all of them.
    # Headroom for the notes in the top-right corners, which are drawn over the bars.
    fig.update_yaxes(tickformat=".0%", range=[0, top * (1.05 + 0.12 * most) if top > 0 else 1.0])
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="value", row=rows, col=c)
    return fig.figure()
