"""How the values a tap records are distributed: over training (heatmap, percentile bands) and at one frame
(histograms). The histogram panel helpers are public: `compare` draws the same panels for several runs."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig, axis_ref, bar, scatter, spacing
from vizcore.figures.ranges import (
    BOUNDED,
    chosen_range,
    frame_panel,
    outside_counts,
    percent,
    range_note,
    run_config,
    shown_bins,
    tap_counts,
    unrecorded_shapes,
    zero_words,
)
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
from vizcore.figures.theme import (
    HEAT_COLOURS,
    MARK,
    PANEL_TITLE_SIZE,
    block_colours,
    empty,
    rgba,
    style,
)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _count_text(c: float) -> str:
    """Return a count for a colour-bar tick: 1k, 10M, ..."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if c >= div:
            return f"{c / div:g}{suffix}"
    return f"{c:g}"


Z_LEVELS = 40  # heatmap colour levels per decade of count


def heatmap(run: Mapping, tap: str, value_range: tuple[float, float] | None = None) -> go.Figure:
    """Return each block's distribution of `tap` over training as a heatmap (one row per block).

    x = step, y = histogram bin centre, colour z = round(Z_LEVELS * log10(1 + count)) as
    uint8 (the colour bar is labelled in counts). The y range is `value_range` if given (to lock
    runs shown side by side to one range), else `ranges.family_range`: the same for every run of one
    activation, norm and tap. Bins whose centre falls outside it are left out, and the subtitle gives the
    share of values outside it (the run's under/over counts and the bins left out); grey marks the part
    of the range this run's histogram did not record. For a ReLU's output the exact zeros (the act tap's
    `saturated` share) are taken out of the bin at 0, which would otherwise set the whole colour scale.
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
    lo, hi, range_why = chosen_range(run, tap, edges, value_range)
    mask = shown_bins(edges, lo, hi)
    centres = [float(f"{v:.6g}") for v in ((edges[:-1] + edges[1:]) / 2)[mask]]
    n = len(found)
    fig = Fig(rows=n, cols=1, shared_xaxes=True, vertical_spacing=spacing(n, 24 / (120 * n)))  # ~24 px gaps
    zmax = 1.0
    below = above = total = zeros = 0.0
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        h = tap_hist(tapd)
        frames = min(len(st), frame_count(h.get("counts")))
        if frames == 0:
            continue
        cnt, totals, shares = tap_counts(run, tap, tapd, frames, edges)
        keep = np.isfinite(st[:frames])
        b, a = outside_counts(h, cnt, mask, frames)
        below, above = below + float(b[keep].sum()), above + float(a[keep].sum())
        total += float(totals[keep].sum())
        zeros += float(np.nansum((shares * totals)[keep]))
        with np.errstate(invalid="ignore"):
            logc = np.log10(1 + np.clip(np.nan_to_num(cnt[keep][:, mask].T), 0, None))
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
    fig.add_decorations(unrecorded_shapes(n, edges, lo, hi), [])
    subtitle = "y: value, colour: how many values fall in each bin (log scale); "
    subtitle += range_note(lo, hi, range_why, below, above, total)
    if lo < edges[0] or hi > edges[-1]:
        subtitle += "; grey: beyond the range this run recorded"
    if zeros > 0 and total > 0:
        subtitle += (
            f"; {percent(zeros / total)} of the values were exactly 0 (normal for ReLU): they are left out "
            "of the bin at 0, which would otherwise set the whole colour scale"
        )
    style(fig, title, subtitle, height=110 + 120 * n, wrap=110)  # drawn the page's full width
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(showgrid=False, range=[lo, hi], nticks=5)
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


HEADING_LIFT = 8  # px between a histogram panel's heading and its plot


def heading_px(lines: int) -> float:
    """Return the height in px of a subplot title of `lines` lines."""
    return 1.25 * PANEL_TITLE_SIZE * lines


def histograms(
    run: Mapping,
    tap: str,
    frame: int = -1,
    full_range: bool = False,
    max_cols: int = 4,
    value_range: tuple[float, float] | None = None,
) -> go.Figure:
    """Return one bar chart per block of `tap`'s histogram at one frame (default: the latest).

    Bars are the run's counts per bin; dashed lines mark the 15th and 85th percentiles and a
    solid line the median. All blocks share one x range: `value_range` if given, else the bins that
    ever held a value during the run (the whole fixed range if `full_range`), so it does not jump
    between frames. Under each block's name: the share of values exactly 0 for a ReLU's output (left
    out of the bars, whose scale it would set) and the share outside the x range, each only when there
    is some. Blocks fill rows of at most `max_cols` charts.
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
    chosen = chosen_range(run, tap, edges, value_range) if value_range is not None else None
    if chosen is not None and chosen[2] == "as chosen":
        lo, hi = chosen[0], chosen[1]
    else:
        lo, hi = (float(edges[0]), float(edges[-1])) if full_range else data_range(found, edges)
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0])
    n = len(found)
    cols = max(1, min(n, int(max_cols) if isinstance(max_cols, (int, np.integer)) else 4))
    rows = math.ceil(n / cols)
    # Four panels in half a 1024 px page are ~80 px wide: a note's number and words on lines of their own
    panels = [frame_panel(run, tap, tapd, fi, edges, lo, hi, narrow=cols >= 3) for _, tapd in found]
    lines = 1 + max(len(notes) for _, _, notes in panels)
    plot_px = 230 * rows - 35  # the plot area `style` leaves of height 110 + 230 * rows
    fig = Fig(
        rows=rows,
        cols=cols,
        specs=[[{} if r * cols + c < n else None for c in range(cols)] for r in range(rows)],  # no empty cells
        subplot_titles=[name for name, _ in found],
        horizontal_spacing=spacing(cols, 0.1),  # room for the next panel's count ticks, at presenter size too
        vertical_spacing=spacing(rows, (56 + HEADING_LIFT + heading_px(lines)) / plot_px),  # x ticks, headings
    )
    colours = block_colours(n)
    shapes: list[dict] = []
    for k, ((name, tapd), (row, _, notes)) in enumerate(zip(found, panels, strict=True)):
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
        # raised clear of the top count tick, which plotly centres on the plot's top edge
        fig.layout["annotations"][k].update(text="<br>".join([f"<b>{name}</b>", *notes]), yshift=HEADING_LIFT)
    fig.add_decorations(shapes, [])
    step_text = f"step {int(step)}" if np.isfinite(step) else f"frame {fi}"
    subtitle = (
        f"at {step_text} (frame {fi + 1} of {n_frames}); dashed lines: 15th and 85th percentiles, "
        f"solid: median; the middle 70% of values lies between the dashed lines{zero_words(run, tap)}"
    )
    heading = f"{title}, {step_text.replace(' ', chr(0xA0))}"  # a no-break space: "step" stays with its number
    style(fig, heading, subtitle, height=110 + 230 * rows, extra_top=round(HEADING_LIFT + heading_px(lines - 1)))
    fig.update_xaxes(range=[lo, hi], nticks=3 if cols >= 3 else 7)  # ~80 px panels: room for three labels
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(bargap=0)
    for k in range(n):
        if k + cols >= n:  # the lowest chart of its column
            fig.update_xaxes(title_text="value", row=k // cols + 1, col=k % cols + 1)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="count", row=r, col=1)
    return fig.figure()


def _y_range(run: Mapping, tap: str, drawn: list[np.ndarray], value_range: tuple[float, float] | None) -> tuple:
    """Return the bands' shared y range (lo, hi, words for the subtitle), or None if there is nothing to span."""
    if value_range is not None:
        lo, hi, why = chosen_range(run, tap, np.zeros(0), value_range)
        if why == "as chosen":
            return lo, hi, "y: the same range for every block, as chosen"
    act = run_config(run).get("activation")
    if tap == "act" and act in BOUNDED:  # its whole output range: saturation shows as a band at an edge
        lo, hi = BOUNDED[act]
        pad = 0.02 * (hi - lo)
        return lo - pad, hi + pad, f"y: {act}'s whole output range [{_fmt(lo)}, {_fmt(hi)}] for every block"
    values = np.concatenate(drawn) if drawn else np.zeros(0)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo, hi = float(values.min()), float(values.max())
    pad = 0.04 * (hi - lo) if hi > lo else max(abs(lo) * 0.05, 0.05)
    return lo - pad, hi + pad, "y: one range for every block"


def percentile_bands(
    run: Mapping, tap: str, shared_y: bool = True, value_range: tuple[float, float] | None = None
) -> go.Figure:
    """Return per block the 15th-85th percentile band and the median of `tap` over steps.

    The style of Ioffe & Szegedy (2015), Fig. 1: one row per block, shared step axis.
    Three traces per block: the band's lower edge, its upper edge (filled), the median; the legend
    has one entry per block, its median line, in the block's colour. With `shared_y` (the default)
    every block has the same y range: `value_range` if given, a bounded activation's whole output
    range for its act tap, else the smallest and largest percentile drawn in any block (padded 4%);
    without it each block has its own.
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
    drawn: list[np.ndarray] = []
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        p15, p50, p85 = (arr(tapd.get(k)) for k in ("p15", "p50", "p85"))
        m = min(len(st), len(p15), len(p85))
        band = np.isfinite(st[:m]) & np.isfinite(p15[:m]) & np.isfinite(p85[:m])
        xb = ints_or_floats(st[:m][band])
        drawn += [p15[:m][band], p85[:m][band]]
        for key, edge in (("p15", "15th"), ("p85", "85th")):
            fig.add_trace(
                scatter(
                    x=xb,
                    y=(p15 if key == "p15" else p85)[:m][band].tolist(),
                    name=f"{name}: {edge} percentile",
                    legendgroup=name,
                    showlegend=False,
                    mode="lines",
                    fill="tonexty" if key == "p85" else None,
                    fillcolor=rgba(colours[i], 0.25) if key == "p85" else None,
                    line=dict(width=0.5, color=rgba(colours[i], 0.5)),
                    hovertemplate=f"{name}<br>step %{{x}}<br>{edge} percentile %{{y:.3g}}<extra></extra>",
                ),
                row=i + 1,
                col=1,
            )
        xm, ym = pairs(st, p50)
        drawn.append(np.asarray(ym, dtype=float))
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
                name=name,
                legendgroup=name,
                showlegend=True,
                mode="lines+markers" if len(xm) < 3 else "lines",
                line=dict(color=colours[i], width=2),
                error_y=err,
                hovertemplate=f"{name}<br>step %{{x}}<br>median %{{y:.3g}}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
        fig.update_yaxes(title_text=name, row=i + 1, col=1)
    y = _y_range(run, tap, drawn, value_range) if shared_y or value_range is not None else None
    subtitle = (
        "band: middle 70% (15th to 85th percentile), line: median, of all a block's units (Ioffe & Szegedy's "
        "Fig. 1 follows one unit); a band that drifts or changes width means the next layer keeps seeing a "
        "different input distribution"
    )
    subtitle += f"; {y[2]}" if y else "; y: each block its own range"
    style(fig, title, subtitle, height=130 + 130 * n, legend_below=True)
    fig.update_xaxes(title_text="training step", row=n, col=1)
    if y:
        fig.update_yaxes(range=[y[0], y[1]])
    return fig.figure()
