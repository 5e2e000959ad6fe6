"""Figures for the batch-size lab: pure functions from aggregated tables (see `labs.batch.aggregate`) to Plotly.

Every function returns a `plotly.graph_objects.Figure` in the style of `vizcore.figures.theme`
(its light TEMPLATE, left-aligned titles); nothing here trains, caches or imports the app or the lab:
the paper's numbers arrive as arguments. Accuracies arrive as fractions and are drawn in percent;
batch sizes go on a log2 axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vizcore.engine.config import NORM_LABELS
from vizcore.figures.theme import (
    EVAL_COLOUR,
    GUIDE,
    NORM_COLOURS,
    NOTE,
    NOTE_SIZE,
    SMALL_PRINT,
    THEORY_COLOUR,
    TRAIN_MODE_COLOUR,
    empty,
    rgba,
    style,
)


def _log2_axis(batches: Sequence[int], title: str = "batch size (log scale)") -> dict[str, Any]:
    ticks = sorted({int(b) for b in batches})
    return dict(type="log", tickvals=ticks, ticktext=[str(b) for b in ticks], title=title)


def _band(x: list, lo: list, hi: list, colour: str, group: str) -> go.Scatter:
    """Return a filled polygon from lo (left to right) to hi (right to left): a band that hovers nothing."""
    return go.Scatter(
        x=x + x[::-1],
        y=lo + hi[::-1],
        fill="toself",
        fillcolor=rgba(colour, 0.18),
        line=dict(width=0),
        hoverinfo="skip",
        showlegend=False,
        legendgroup=group,
        mode="lines",
    )


def _groups(table: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in table:
        out.setdefault(str(row["norm"]), []).append(row)
    return {k: sorted(v, key=lambda r: r["batch_size"]) for k, v in out.items()}


def _hover(r: Mapping[str, Any]) -> str:
    spread = f", {100 * r['min']:.1f}–{100 * r['max']:.1f}% over {r['n']} seeds" if r.get("n", 1) > 1 else ""
    div = f"<br>{r['diverged']} of {r['runs']} diverged" if r.get("diverged") else ""
    steps = f"<br>{r['steps']:,} steps" if r.get("steps") is not None else ""
    lr = f", lr {r['lr']:.3g}" if r.get("lr") is not None else ""
    return f"batch {r['batch_size']}: {100 * r['mean']:.1f}%{spread}{steps}{lr}{div}"


def _lines(
    fig: go.Figure, rows: list[Mapping[str, Any]], name: str, colour: str, group: str, dash: str = "solid", **where: Any
) -> None:
    """Add one band (when any cell has spread) and one line + markers, in legend group `group`."""
    x = [int(r["batch_size"]) for r in rows]
    if any(r["hi"] > r["lo"] for r in rows):
        fig.add_trace(_band(x, [100 * r["lo"] for r in rows], [100 * r["hi"] for r in rows], colour, group), **where)
    symbols = ["x" if r.get("diverged") else "circle" for r in rows]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[100 * r["mean"] for r in rows],
            name=name,
            legendgroup=group,
            mode="lines+markers",
            line=dict(color=colour, width=2.5, dash=dash),
            marker=dict(size=7, symbol=symbols),
            hovertext=[_hover(r) for r in rows],
            hoverinfo="text+name",
        ),
        **where,
    )


def _chance(fig: go.Figure, chance: float | None) -> None:
    if chance is not None and math.isfinite(chance):
        fig.add_hline(
            y=100 * chance,
            line=dict(color=GUIDE, dash="dot", width=1),
            annotation=dict(text="chance", font=dict(size=NOTE_SIZE, color=SMALL_PRINT)),
            annotation_position="top left",
        )


def accuracy_vs_batch(
    table: Sequence[Mapping[str, Any]],
    band: str = "minmax",
    chance: float | None = None,
    title: str = "Our sweep: test accuracy against batch size",
) -> go.Figure:
    """Return final test accuracy (%) against batch size, one line + band per norm (legend group = the norm).

    `table` is `labs.batch.aggregate(...)` of final test accuracies; the band is its lo..hi
    (`band` only names it in the subtitle: "minmax" = min to max over seeds, "std" = mean ± std).
    A cross marks a point where a run diverged. `chance` draws a dotted line at chance accuracy.
    """
    groups = _groups(table)
    if not groups:
        return empty(title, "No finished runs yet: start a sweep.").update_layout(height=440)
    fig = go.Figure()
    for norm, rows in groups.items():
        _lines(fig, rows, NORM_LABELS.get(norm, norm), NORM_COLOURS.get(norm, NOTE), norm)
    _chance(fig, chance)
    seeds = max(r["n"] for r in table)
    sub = (
        f"lines: mean over {seeds} seeds; bands: {'min to max' if band == 'minmax' else 'mean ± std'}"
        if seeds > 1
        else "one seed per point (add seeds for bands)"
    )
    style(fig, title, sub, height=440, legend_below=True)
    fig.update_layout(
        xaxis=_log2_axis([r["batch_size"] for r in table]), yaxis=dict(title="test accuracy (%)"), hovermode="closest"
    )
    return fig


def paper_figure(
    batches: Sequence[int], errors_by_norm: Mapping[str, Sequence[float]], error_at_32: Mapping[str, float]
) -> go.Figure:
    """Return Wu & He 2018's Figure 1 as top-1 accuracy (100 − error, %) against batch size per GPU.

    `errors_by_norm` holds each norm's error (%) at `batches`; `error_at_32` the norms they report at
    batch 32 only (the lab's PAPER_ERROR and PAPER_AT_32).
    """
    fig = go.Figure()
    x = list(batches)
    for norm, errors in errors_by_norm.items():
        acc = [100 - e for e in errors]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=acc,
                name=NORM_LABELS[norm],
                legendgroup=norm,
                mode="lines+markers",
                line=dict(color=NORM_COLOURS[norm], width=2.5),
                marker=dict(size=7),
                hovertext=[f"batch {b}: {a:.1f}% (error {e}%)" for b, a, e in zip(x, acc, errors)],
                hoverinfo="text+name",
            )
        )
    for norm, err in error_at_32.items():
        fig.add_trace(
            go.Scatter(
                x=[32],
                y=[100 - err],
                name=f"{NORM_LABELS[norm]} (batch 32 only)",
                mode="markers",
                legendgroup=norm,
                marker=dict(color=NORM_COLOURS[norm], size=9, symbol="diamond"),
                hovertext=[f"batch 32: {100 - err:.1f}% (error {err}%)"],
                hoverinfo="text+name",
            )
        )
    style(
        fig,
        "Wu & He 2018: ImageNet, ResNet-50",
        "their Figure 1 as accuracy (the paper plots error = 100 − it)",
        height=440,
        legend_below=True,
    )
    fig.update_layout(
        xaxis=_log2_axis(x, "batch size per GPU (log scale)"), yaxis=dict(title="top-1 validation accuracy (%)")
    )
    return fig


def train_eval_figure(
    eval_table: Sequence[Mapping[str, Any]], train_table: Sequence[Mapping[str, Any]], chance: float | None = None
) -> go.Figure:
    """Return batch norm's test accuracy in eval mode and in train mode against batch size (lines + bands, %).

    Both tables are `labs.batch.aggregate(...)` of one norm: `test_eval_acc` (running
    averages) and `test_train_mode_acc` (each test example inside a batch of the run's size).
    """
    title = "Batch norm: running averages vs batch statistics at test time"
    if not eval_table or not train_table:
        return empty(title, "Needs finished batch-norm runs.")
    fig = go.Figure()
    _lines(fig, sorted(eval_table, key=lambda r: r["batch_size"]), "eval mode (running averages)", EVAL_COLOUR, "eval")
    _lines(
        fig,
        sorted(train_table, key=lambda r: r["batch_size"]),
        "train mode (statistics of its batch)",
        TRAIN_MODE_COLOUR,
        "train",
        dash="dash",
    )
    _chance(fig, chance)
    style(fig, title, "test accuracy of the same trained network, normalized two ways", height=400, legend_below=True)
    batches = [r["batch_size"] for r in [*eval_table, *train_table]]
    fig.update_layout(xaxis=_log2_axis(batches), yaxis=dict(title="test accuracy (%)"), hovermode="x unified")
    return fig


def _hist_bars(values: np.ndarray, lo: float, hi: float, bins: int = 50) -> tuple[list, list, float]:
    counts, edges = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    width = float(edges[1] - edges[0])
    density = counts / max(1, counts.sum()) / width
    return [round(float(c), 5) for c in (edges[:-1] + width / 2)], [round(float(d), 5) for d in density], width


def deviation_figure(dev: Mapping[str, Any]) -> go.Figure:
    """Return two histograms from `measures.batch.batch_stat_deviation`: batch-mean deviation and variance ratio.

    Left: (batch mean − population mean) / population std over every batch and unit,
    with ±1/√m marked and the Normal(0, 1/m) density of m independent values. Right: batch
    variance / population variance, with 1 (the population), the theory's median and the
    measured median marked, and the scaled chi-squared density when scipy is available.
    Values beyond the axis ends are folded into the end bins.
    """
    b, m = dev["batch_size"], dev["values_per_unit"]
    valid = np.asarray(dev["valid"], dtype=bool)
    z = np.asarray(dev["mean_z"], dtype=float)[:, valid].ravel()
    ratio = np.exp(np.asarray(dev["log_var_ratio"], dtype=float)[:, valid].ravel())
    z, ratio = z[np.isfinite(z)], ratio[np.isfinite(ratio)]
    title = f"Block {dev['layer'] + 1} at batch {b}: how far each batch's statistics stray"
    if z.size == 0:
        return empty(title, "No unit in this block varies over the training set.")
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.1,
        subplot_titles=("batch mean − population mean (in population stds)", "batch variance ÷ population variance"),
    )
    sd = 1 / math.sqrt(m)
    zmax = max(4 * sd, float(np.percentile(np.abs(z), 99.5)))
    x, y, _ = _hist_bars(z, -zmax, zmax)
    fig.add_trace(
        go.Bar(
            x=x,
            y=y,
            marker_color=rgba(EVAL_COLOUR, 0.65),
            name="measured",
            legendgroup="measured",
            hovertemplate="%{x:.2f}: density %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    grid = np.linspace(-zmax, zmax, 121)
    normal = np.exp(-0.5 * (grid / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    fig.add_trace(
        go.Scatter(
            x=grid.round(4).tolist(),
            y=normal.round(5).tolist(),
            mode="lines",
            legendgroup="theory",
            name=f"theory: {m} independent values",
            line=dict(color=THEORY_COLOUR, dash="dash"),
        ),
        row=1,
        col=1,
    )
    for s in (-sd, sd):
        fig.add_vline(x=s, line=dict(color=TRAIN_MODE_COLOUR, width=1.5), row=1, col=1)
    fig.add_annotation(
        x=sd,
        y=1,
        yref="y domain",
        xref="x",
        text=f"1/√{m} = {sd:.2f}",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font=dict(size=NOTE_SIZE, color=TRAIN_MODE_COLOUR),
    )
    rmax = max(2.0, float(np.percentile(ratio, 99)))
    x, y, _ = _hist_bars(ratio, 0.0, rmax)
    fig.add_trace(
        go.Bar(
            x=x,
            y=y,
            marker_color=rgba(EVAL_COLOUR, 0.65),
            name="measured",
            legendgroup="measured",
            showlegend=False,
            hovertemplate="%{x:.2f}: density %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    try:
        from scipy.stats import chi2

        if m > 1:
            grid = np.linspace(rmax / 240, rmax, 120)
            dens = m * chi2.pdf(m * grid, m - 1)
            fig.add_trace(
                go.Scatter(
                    x=grid.round(4).tolist(),
                    y=np.minimum(dens, 50).round(5).tolist(),
                    mode="lines",
                    line=dict(color=THEORY_COLOUR, dash="dash"),
                    legendgroup="theory",
                    showlegend=False,
                    name="theory",
                ),
                row=1,
                col=2,
            )
    except ImportError:  # pragma: no cover - scipy comes with scikit-learn
        pass
    med, theory_med = dev["summary"]["var_ratio_median"], dev["theory"].get("var_ratio_median")
    fig.add_vline(x=1.0, line=dict(color=GUIDE, width=1), row=1, col=2)
    fig.add_vline(x=med, line=dict(color=TRAIN_MODE_COLOUR, width=1.5), row=1, col=2)
    fig.add_annotation(
        x=med,
        y=1,
        yref="y2 domain",
        xref="x2",
        text=f"median {med:.2f}",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font=dict(size=NOTE_SIZE, color=TRAIN_MODE_COLOUR),
    )
    fig.add_annotation(
        x=1,
        y=0.97,
        xref="x2 domain",
        yref="y2 domain",
        showarrow=False,
        xanchor="right",
        yanchor="top",
        text=f"last bar: all ≥ {rmax:.1f}",
        font=dict(size=NOTE_SIZE, color=SMALL_PRINT),
    )
    sub = f"{dev['n_batches']} random batches × {int(valid.sum())} units of the trained batch-norm network"
    if theory_med is not None:
        sub += f"; theory's median variance ratio {theory_med:.2f}"
    style(fig, title, sub, height=420, legend_below=True)
    fig.update_layout(bargap=0.02, hovermode="closest", margin=dict(t=125))
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_xaxes(range=[-zmax, zmax], row=1, col=1)
    fig.update_xaxes(range=[0, rmax], row=1, col=2)
    return fig
