"""How the values a tap records are distributed: over training (heatmap, percentile bands) and at one frame
(histograms). The histogram panel helpers are public: `compare` draws the same panels for several runs."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig, axis_ref, bar, scatter, spacing
from vizcore.figures.readers import (
    arr,
    frame_count,
    hist_counts,
    hist_edges,
    ints_or_floats,
    layer_steps,
    pairs,
    tap_hist,
    tap_label,
    tap_layers,
)
from vizcore.figures.theme import DIVERGED_COLOUR, HEAT_COLOURS, MARK, block_colours, empty, rgba, style


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _count_text(c: float) -> str:
    """Return a count for a colour-bar tick: 1k, 10M, ..."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if c >= div:
            return f"{c / div:g}{suffix}"
    return f"{c:g}"


def _outside_note(found: list[tuple[str, Mapping]], edges: np.ndarray) -> str:
    """Return the subtitle sentence on the fixed range and the share of values that fell outside it."""
    inside = under = over = 0.0
    for _, tapd in found:
        h = tap_hist(tapd)
        inside += float(np.nansum(hist_counts(h, len(h.get("counts") or []), len(edges) - 1)))
        under += float(np.nansum(arr(h.get("under"))))
        over += float(np.nansum(arr(h.get("over"))))
    total = inside + under + over
    rng = f"fixed range [{_fmt(edges[0])}, {_fmt(edges[-1])}]"
    if total <= 0:
        return f"{rng}; no values recorded"
    pct = 100 * (under + over) / total
    note = f"{rng}: {pct:.1f}% of all recorded values fell outside it"
    if under + over > 0:
        note += f" ({100 * under / total:.1f}% below, {100 * over / total:.1f}% above)"
    return note


Z_LEVELS = 40  # heatmap colour levels per decade of count


def heatmap(run: Mapping, tap: str) -> go.Figure:
    """Return each block's distribution of `tap` over training as a heatmap (one row per block).

    x = step, y = histogram bin centre, colour z = round(Z_LEVELS * log10(1 + count)) as
    uint8 (the colour bar is labelled in counts). The subtitle gives the run's fixed histogram
    range and the percent of values that fell outside it (from the under/over counts).
    """
    title = f"Distribution of the {tap_label(tap)} over training"
    found, why = tap_layers(run, tap)
    if why:
        return empty(title, why)
    edges = next((e for e in (hist_edges(t) for _, t in found) if len(e)), np.zeros(0))
    steps = layer_steps(run)
    recorded = any(frame_count(t.get("mean")) or frame_count(tap_hist(t).get("counts")) for _, t in found)
    if not len(edges) or not recorded:
        return empty(title, "no snapshots recorded yet")
    bins = len(edges) - 1
    centres = [float(f"{v:.6g}") for v in (edges[:-1] + edges[1:]) / 2]
    n = len(found)
    fig = Fig(rows=n, cols=1, shared_xaxes=True, vertical_spacing=spacing(n, 24 / (120 * n)))  # ~24 px gaps
    zmax = 1.0
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        h = tap_hist(tapd)
        frames = min(len(st), frame_count(h.get("counts")))
        if frames == 0:
            continue
        cnt = hist_counts(h, frames, bins)
        keep = np.isfinite(st[:frames])
        with np.errstate(invalid="ignore"):
            logc = np.log10(1 + np.clip(np.nan_to_num(cnt[keep].T), 0, None))
        zmax = max(zmax, float(logc.max()) if logc.size else 0.0)
        # uint8 levels of log10(1 + count) (1/Z_LEVELS resolution, ~6% in count): plotly ships
        # them as one byte each, a quarter of float32, so a 4-block, 256-frame update stays < 100 KB.
        z = np.clip(np.round(logc * Z_LEVELS), 0, 255).astype(np.uint8)
        fig.add_trace(
            dict(
                type="heatmap",
                x=ints_or_floats(st[:frames][keep]),
                y=centres,
                z=z,
                coloraxis="coloraxis",
                name=name,
                hovertemplate=f"{name}<br>step %{{x}}<br>value ≈ %{{y:.3g}}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
        fig.update_yaxes(title_text=name, row=i + 1, col=1)
    ticks = [t for t in (0, 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7) if math.log10(1 + t) <= zmax * 1.001]
    fig.update_layout(
        coloraxis=dict(
            colorscale=HEAT_COLOURS,
            cmin=0,
            cmax=round(zmax * Z_LEVELS),
            colorbar=dict(
                title=dict(text="values<br>per bin", side="top"),
                tickvals=[round(math.log10(1 + t) * Z_LEVELS) for t in ticks],
                ticktext=[_count_text(t) for t in ticks],
                thickness=12,
                len=min(1.0, 0.4 + 0.15 * n),
            ),
        )
    )
    subtitle = f"y: value, colour: how many values fall in each bin (log scale); {_outside_note(found, edges)}"
    style(fig, title, subtitle, height=110 + 120 * n, wrap=110)  # drawn the page's full width
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False, range=[float(edges[0]), float(edges[-1])], nticks=5)
    fig.update_xaxes(title_text="training step", row=n, col=1)
    return fig.figure()


def _frame_index(n: int, frame: int) -> int:
    """Return `frame` (negative counts from the end) clamped to [0, n - 1]."""
    i = int(frame) if isinstance(frame, (int, np.integer)) else -1
    if i < 0:
        i += n
    return max(0, min(n - 1, i))


def data_range(found: list[tuple[str, Mapping]], edges: np.ndarray) -> tuple[float, float]:
    """Return the x range of the bins that ever hold a value (any block, any frame), padded one bin."""
    bins = len(edges) - 1
    used = np.zeros(bins, dtype=bool)
    for _, tapd in found:
        h = tap_hist(tapd)
        c = hist_counts(h, frame_count(h.get("counts")), bins)
        if c.size:
            used |= np.nan_to_num(c).sum(0) > 0
    idx = np.flatnonzero(used)
    if not idx.size:
        return float(edges[0]), float(edges[-1])
    lo, hi = max(0, idx[0] - 1), min(bins, idx[-1] + 2)
    return float(edges[lo]), float(edges[hi])


_PCT_LINES = (("p15", "dash"), ("p50", "solid"), ("p85", "dash"))


def percentile_shapes(k: int, tapd: Mapping, i: int) -> list[dict]:
    """Return tap `tapd`'s 15/50/85th percentile lines at frame `i` as shapes for subplot number `k`."""
    xref, yref = axis_ref(k)
    shapes = []
    for key, dash in _PCT_LINES:
        vals = arr(tapd.get(key))
        v = vals[i] if i < len(vals) else math.nan
        if np.isfinite(v):
            shapes.append(
                dict(
                    type="line",
                    x0=float(v),
                    x1=float(v),
                    y0=0,
                    y1=1,
                    xref=xref,
                    yref=f"{yref} domain",
                    line=dict(color=MARK, width=1.2, dash=dash),
                    name=key,
                )
            )
    return shapes


def corner_note(k: int, text: str) -> dict:
    """Return a small red annotation for the top-right corner of subplot number `k`."""
    xref, yref = axis_ref(k)
    return dict(
        text=text,
        x=1,
        xref=f"{xref} domain",
        y=0.98,
        yref=f"{yref} domain",
        xanchor="right",
        yanchor="top",
        showarrow=False,
        font=dict(size=10, color=DIVERGED_COLOUR),
    )


def outside_text(h: Mapping, i: int, total_inside: float) -> str | None:
    """Return "N% outside the range" for frame `i` of histogram `h`, or None if no value fell outside."""
    under, over = arr(h.get("under")), arr(h.get("over"))
    u = under[i] if i < len(under) and np.isfinite(under[i]) else 0.0
    o = over[i] if i < len(over) and np.isfinite(over[i]) else 0.0
    total = total_inside + u + o
    if u + o <= 0 or total <= 0:
        return None
    return f"{100 * (u + o) / total:.0f}% outside the range"


def histograms(run: Mapping, tap: str, frame: int = -1, full_range: bool = False, max_cols: int = 4) -> go.Figure:
    """Return one bar chart per block of `tap`'s histogram at one frame (default: the latest).

    Bars are the run's counts per bin; dashed lines mark the 15th and 85th percentiles and a
    solid line the median. All blocks share one x range: the bins that ever held a value
    during the run (the whole fixed range if `full_range`), so it does not jump between frames.
    Blocks fill rows of at most `max_cols` charts.
    """
    title = f"{tap_label(tap)[0].upper()}{tap_label(tap)[1:]} per block"  # short: it shares a row with another
    found, why = tap_layers(run, tap)
    if why:
        return empty(title, why)
    edges = next((e for e in (hist_edges(t) for _, t in found) if len(e)), np.zeros(0))
    steps = layer_steps(run)
    n_frames = min((len(s) for s in steps), default=0)
    if not len(edges) or n_frames == 0:
        return empty(title, "no snapshots recorded yet")
    fi = _frame_index(n_frames, frame)
    step = steps[0][fi]
    bins = len(edges) - 1
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0])
    n = len(found)
    cols = max(1, min(n, int(max_cols) if isinstance(max_cols, (int, np.integer)) else 4))
    rows = math.ceil(n / cols)
    fig = Fig(
        rows=rows,
        cols=cols,
        specs=[[{} if r * cols + c < n else None for c in range(cols)] for r in range(rows)],  # no empty cells
        subplot_titles=[name for name, _ in found],
        horizontal_spacing=spacing(cols, 0.06),
        vertical_spacing=spacing(rows, 0.14),
    )
    colours = block_colours(n)
    shapes: list[dict] = []
    notes: list[dict] = []
    for k, (name, tapd) in enumerate(found):
        h = tap_hist(tapd)
        cnt = hist_counts(h, frame_count(h.get("counts")), bins)
        row = cnt[fi] if fi < len(cnt) else np.full(bins, np.nan)
        keep = np.isfinite(row)
        fig.add_trace(
            bar(
                x=[float(f"{v:.6g}") for v in centres[keep]],
                y=[int(v) for v in row[keep]],
                width=width,
                name=name,
                marker=dict(color=colours[k], line=dict(width=0)),
                showlegend=False,
                hovertemplate=f"{name}<br>value ≈ %{{x:.3g}}<br>count %{{y}}<extra></extra>",
            ),
            row=k // cols + 1,
            col=k % cols + 1,
        )
        shapes += percentile_shapes(k + 1, tapd, fi)
        note = outside_text(h, fi, float(np.nansum(row)))
        if note:
            notes.append(corner_note(k + 1, note))
    fig.add_decorations(shapes, notes)
    lo, hi = (float(edges[0]), float(edges[-1])) if full_range else data_range(found, edges)
    step_text = f"step {int(step)}" if np.isfinite(step) else f"frame {fi}"
    subtitle = (
        f"at {step_text} (frame {fi + 1} of {n_frames}); dashed lines: 15th and 85th percentiles, "
        "solid: median; the middle 70% of values lies between the dashed lines"
    )
    style(fig, f"{title}, {step_text}", subtitle, height=110 + 230 * rows)
    fig.update_xaxes(range=[lo, hi])
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(bargap=0)
    for k in range(n):
        if k + cols >= n:  # the lowest chart of its column
            fig.update_xaxes(title_text="value", row=k // cols + 1, col=k % cols + 1)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="count", row=r, col=1)
    return fig.figure()


def percentile_bands(run: Mapping, tap: str) -> go.Figure:
    """Return per block the 15th-85th percentile band and the median of `tap` over steps.

    The style of Ioffe & Szegedy (2015), Fig. 1: one row per block, shared step axis.
    Three traces per block: the band's lower edge, its upper edge (filled), the median.
    """
    title = f"Middle 70% of the {tap_label(tap)} over training"
    found, why = tap_layers(run, tap)
    if why:
        return empty(title, why)
    steps = layer_steps(run)
    if not any(len(s) for s in steps):
        return empty(title, "no snapshots recorded yet")
    n = len(found)
    fig = Fig(rows=n, cols=1, shared_xaxes=True, vertical_spacing=spacing(n, 24 / (130 * n)))  # ~24 px gaps
    colours = block_colours(n)
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        p15, p50, p85 = (arr(tapd.get(k)) for k in ("p15", "p50", "p85"))
        m = min(len(st), len(p15), len(p85))
        band = np.isfinite(st[:m]) & np.isfinite(p15[:m]) & np.isfinite(p85[:m])
        xb = ints_or_floats(st[:m][band])
        first = i == 0
        fig.add_trace(
            scatter(
                x=xb,
                y=p15[:m][band].tolist(),
                name="15th percentile",
                legendgroup="band",
                showlegend=False,
                mode="lines",
                line=dict(width=0.5, color=rgba(colours[i], 0.5)),
                hovertemplate=f"{name}<br>step %{{x}}<br>15th percentile %{{y:.3g}}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
        fig.add_trace(
            scatter(
                x=xb,
                y=p85[:m][band].tolist(),
                name="15th–85th percentile band",
                legendgroup="band",
                showlegend=first,
                mode="lines",
                fill="tonexty",
                fillcolor=rgba(colours[i], 0.25),
                line=dict(width=0.5, color=rgba(colours[i], 0.5)),
                hovertemplate=f"{name}<br>step %{{x}}<br>85th percentile %{{y:.3g}}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
        xm, ym = pairs(st, p50)
        err = None
        if len(xm) == 1 and band.any():  # one frame: a band has no width, so draw it as an error bar
            j = int(np.flatnonzero(band)[0])
            err = dict(
                type="data",
                symmetric=False,
                array=[float(p85[j] - p50[j])],
                arrayminus=[float(p50[j] - p15[j])],
                color=colours[i],
            )
        fig.add_trace(
            scatter(
                x=xm,
                y=ym,
                name="median (50th percentile)",
                legendgroup="median",
                showlegend=first,
                mode="lines+markers" if len(xm) < 3 else "lines",
                line=dict(color=colours[i], width=2),
                error_y=err,
                hovertemplate=f"{name}<br>step %{{x}}<br>median %{{y:.3g}}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
        fig.update_yaxes(title_text=name, row=i + 1, col=1)
    subtitle = (
        "pooled over each block's units (Ioffe & Szegedy's Fig. 1 follows one unit): a band that drifts or "
        "changes width means the next layer keeps seeing a different input distribution"
    )
    style(fig, title, subtitle, height=130 + 130 * n, legend_below=True)
    fig.update_xaxes(title_text="training step", row=n, col=1)
    return fig.figure()
