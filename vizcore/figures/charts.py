"""Figures: pure functions from run dicts (the run-file format) to Plotly figures.

Every function takes one run dict (or a list of them) and returns a
`plotly.graph_objects.Figure`; nothing here trains, caches or imports the app.
They never raise on what a run dict may hold: null or non-finite numbers are
left out, runs with 0 or 1 frames, diverged runs and runs without a norm layer
all give a figure (an empty one with an explanation when there is nothing to draw).

Payload matters (the app re-sends a figure at every update), so arrays go out
as short Python lists: plotly would write numpy arrays as base64 typed arrays,
which for float32 costs ~5.3 bytes a cell, about twice the rounded lists.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig, bar, scatter

TAP_LABELS = {
    "linear": "linear-layer output (pre-activation)",
    "norm": "normalization-layer output",
    "act": "activation output",
}
# One colour per run on the Compare page (Tableau 10), ordered so that the first four, the most it
# compares, differ in hue and lightness (red beside pink-purple was hard to tell apart).
RUN_COLOURS = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759",
    "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
)  # fmt: skip
TRAIN_COLOUR, TEST_COLOUR = "#4e79a7", "#f28e2b"
DIVERGED_COLOUR = "#c0392b"
# Blocks shade from blue (first) to orange (deepest), so depth reads at a glance.
_DEPTH_ANCHORS = ("#1f4e9c", "#6a3d9a", "#c2377b", "#e8702a")
HEAT_COLOURS = [[0.0, "#ffffff"], [0.15, "#c6dbef"], [0.45, "#6baed6"], [0.75, "#2171b5"], [1.0, "#08306b"]]
BOUNDARY_COLOURS = [[0.0, "#4e79a7"], [0.5, "#f7f7f7"], [1.0, "#e15759"]]
KARPATHY_RATIO = 1e-3  # update:data ratio rule of thumb (Karpathy, makemore part 3)
_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#222")


# ----------------------------------------------------------------- helpers


def _num(v: Any) -> float:
    """Return `v` as a finite float, or nan for None, non-numbers and non-finite values."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return math.nan
    f = float(v)
    return f if math.isfinite(f) else math.nan


def _arr(values: Any) -> np.ndarray:
    """Return a 1-D float array of `values` with nan for anything missing or non-finite."""
    if not isinstance(values, (list, tuple, np.ndarray)):
        return np.zeros(0)
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        a = np.array([_num(v) for v in values], dtype=float)
    if a.ndim != 1:
        a = np.array([_num(v) for v in values], dtype=float)
    a = a.copy()
    a[~np.isfinite(a)] = np.nan
    return a


def _counts(hist: Mapping, frames: int, bins: int) -> np.ndarray:
    """Return (frames, bins) histogram counts as floats, nan where a count is missing."""
    rows = hist.get("counts") if isinstance(hist, Mapping) else None
    out = np.full((frames, bins), np.nan)
    if not isinstance(rows, (list, tuple)):
        return out
    for i, row in enumerate(rows[:frames]):
        r = _arr(row)[:bins]
        out[i, : len(r)] = r
    return out


def _pairs(x: np.ndarray, y: np.ndarray, positive: bool = False) -> tuple[list, list]:
    """Return (xs, ys) lists of the aligned points where both are finite (and y > 0 if `positive`)."""
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    keep = np.isfinite(x) & np.isfinite(y)
    if positive:
        keep &= y > 0
    return _ints_or_floats(x[keep]), y[keep].tolist()


def _ints_or_floats(x: np.ndarray) -> list:
    """Return steps as ints when they are whole numbers (shorter JSON), else floats."""
    if x.size and np.all(x == np.round(x)) and np.all(np.abs(x) < 2**53):
        return [int(v) for v in x]
    return x.tolist()


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = _hex_rgb(colour)
    return f"rgba({r},{g},{b},{alpha})"


def block_colours(n: int) -> list[str]:
    """Return `n` colours shading from the first block (blue) to the deepest (orange)."""
    if n <= 0:
        return []
    if n == 1:
        return [_DEPTH_ANCHORS[0]]
    anchors = np.array([_hex_rgb(c) for c in _DEPTH_ANCHORS], dtype=float)
    out = []
    for i in range(n):
        t = i / (n - 1) * (len(anchors) - 1)
        k = min(int(t), len(anchors) - 2)
        rgb = anchors[k] + (anchors[k + 1] - anchors[k]) * (t - k)
        out.append("#" + "".join(f"{int(round(v)):02x}" for v in rgb))
    return out


_AXIS = dict(gridcolor="#ececec", zeroline=False, showline=True, linecolor="#999", ticks="outside")
# A minimal light template instead of plotly's default one (~8 KB of JSON in every figure);
# its axis style applies to every subplot's axes, so no per-axis updates are needed.
TEMPLATE = go.layout.Template(
    layout=dict(
        font=_FONT,
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(RUN_COLOURS),
        xaxis=_AXIS,
        yaxis=_AXIS,
        legend=dict(bgcolor="rgba(255,255,255,0.8)", font=dict(size=11)),
        hoverlabel=dict(font=dict(size=12)),
    )
)


SUBTITLE_CHARS = 60  # plotly does not wrap titles: a longer line was cut off in a half-width column


def _title(title: str, subtitle: str | None = None, wrap: int = SUBTITLE_CHARS) -> dict:
    t: dict[str, Any] = {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}}
    if subtitle:
        lines = textwrap.wrap(subtitle, wrap) or [""]
        t["subtitle"] = {"text": "<br>".join(lines), "font": {"size": 12, "color": "#555"}}
    return t


def _style(
    fig: Fig,
    title: str,
    subtitle: str | None = None,
    height: int | None = None,
    legend_below: bool = False,
    wrap: int = SUBTITLE_CHARS,
) -> Fig:
    """Apply the shared light template, the title (with an optional subtitle) and `height`; return `fig`.

    The subtitle is wrapped at `wrap` characters (more for a chart drawn the page's full width).
    `legend_below` puts a horizontal legend at the foot of the figure, below the x-axis title, where it
    can cover neither the title nor the plots however narrow the column.
    """
    extra = 40 * (len(textwrap.wrap(subtitle, wrap)) - 1) if subtitle else 0  # clears subplot titles
    top, bottom = (90 if subtitle else 60) + extra, 95 if legend_below else 55
    total = None if height is None else height + extra + (40 if legend_below else 0)
    fig.update_layout(
        template=TEMPLATE,
        title=_title(title, subtitle, wrap),
        margin=dict(l=70, r=30, t=top, b=bottom),
        height=total,
    )
    if legend_below:
        # Its top a fixed 62 px under the plot (below the x-axis title), growing downwards; plotly widens
        # the bottom margin when its rows need more room (a narrow column wraps a legend into several).
        plot = max((total or 450) - top - bottom, 50)
        fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=-62 / plot, yanchor="top"))
    return fig


def empty(title: str, message: str) -> go.Figure:
    """Return a figure with no data: `title` and `message` centred where the plot would be."""
    note = dict(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=15, color="#555")
    )
    return go.Figure(
        layout=dict(
            template=TEMPLATE,
            title=_title(title),
            margin=dict(l=70, r=30, t=60, b=55),
            xaxis=dict(visible=False),
            yaxis=dict(visible=False),
            height=260,
            annotations=[note],
        )
    )


def _layers(run: Any) -> list[Mapping]:
    if not isinstance(run, Mapping) or not isinstance(run.get("layers"), list):
        return []
    return [la for la in run["layers"] if isinstance(la, Mapping)]


def _name(layer: Mapping, i: int) -> str:
    name = layer.get("name")
    return str(name) if name else f"block{i + 1}"


def _tap_label(tap: str) -> str:
    return TAP_LABELS.get(tap, f"'{tap}' output")


def _tap_layers(run: Any, tap: str) -> tuple[list[tuple[str, Mapping]], str | None]:
    """Return ([(block name, tap dict)] for blocks with `tap`, None) or ([], why there are none)."""
    layers = _layers(run)
    found = [
        (_name(la, i), la["taps"][tap])
        for i, la in enumerate(layers)
        if isinstance(la.get("taps"), Mapping) and isinstance(la["taps"].get(tap), Mapping)
    ]
    if found:
        return found, None
    if not isinstance(run, Mapping):
        return [], "no run to show"
    cfg = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    if tap == "norm" and (cfg.get("norm") == "none" or layers):
        return [], "this run has no norm layer"
    if not layers:
        return [], "no layers recorded in this run"
    return [], f"this run has no '{tap}' tap (taps: linear, norm, act)"


def _frames(layer_or_tap_steps: Any) -> int:
    return len(layer_or_tap_steps) if isinstance(layer_or_tap_steps, (list, tuple)) else 0


def _layer_steps(run: Any) -> list[np.ndarray]:
    return [_arr(la.get("steps")) for la in _layers(run)]


def _edges(tapd: Mapping) -> np.ndarray:
    hist = tapd.get("hist") if isinstance(tapd.get("hist"), Mapping) else {}
    e = _arr(hist.get("edges"))
    if len(e) < 2 or not np.all(np.isfinite(e)) or not np.all(np.diff(e) > 0):
        return np.zeros(0)
    return e


def _hist(tapd: Mapping) -> Mapping:
    return tapd["hist"] if isinstance(tapd.get("hist"), Mapping) else {}


def _auto_labels(runs: Sequence[Mapping]) -> list[str]:
    """Return one label per run naming the config fields in which the runs differ."""
    cfgs = [r.get("config") if isinstance(r, Mapping) and isinstance(r.get("config"), Mapping) else {} for r in runs]
    keys = list(dict.fromkeys(k for c in cfgs for k in c))  # config field order
    differ = [k for k in keys if len({repr(c.get(k)) for c in cfgs}) > 1]
    if len(runs) < 2 or not differ:
        return [f"run {i + 1}" for i in range(len(runs))]
    return [", ".join(f"{k}={c.get(k)}" for k in differ[:3]) for c in cfgs]


def _labels(runs: Sequence[Mapping], labels: Sequence[str] | None) -> list[str]:
    auto = _auto_labels(runs)
    given = list(labels or [])
    return [str(given[i]) if i < len(given) and given[i] is not None else auto[i] for i in range(len(runs))]


def _as_runs(run_or_runs: Any) -> list[Mapping]:
    if isinstance(run_or_runs, Mapping):
        return [run_or_runs]
    if isinstance(run_or_runs, (list, tuple)):
        return [r for r in run_or_runs if isinstance(r, Mapping)]
    return []


def _axis_ref(k: int) -> tuple[str, str]:
    """Return (xref, yref) of subplot number `k` (1-based, row-major as make_subplots numbers them)."""
    return ("x", "y") if k == 1 else (f"x{k}", f"y{k}")


def _spacing(n: int, wanted: float) -> float:
    """Return a subplot spacing that make_subplots accepts for `n` rows or columns."""
    return min(wanted, 0.9 / (n - 1)) if n > 1 else wanted


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _count_text(c: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if c >= div:
            return f"{c / div:g}{suffix}"
    return f"{c:g}"


# ----------------------------------------------------------------- curves


def curves(
    run_or_runs: Mapping | Sequence[Mapping], labels: Sequence[str] | None = None, log_loss: bool = False
) -> go.Figure:
    """Return loss (left) and accuracy (right) over training steps for one run or several overlaid.

    One run: train solid, test dashed in two colours. Several runs (the Compare page):
    one colour per run, train solid and test dashed. A diverged run gets a vertical line
    and the annotation "diverged at step N". The loss axis is linear (log if `log_loss`);
    a diverged run's exploding loss runs off the top instead of flattening the rest.
    """
    runs = _as_runs(run_or_runs)
    title = "Training curves" if len(runs) < 2 else f"Training curves of {len(runs)} runs"
    if not runs:
        return empty(title, "no run to show")
    names = _labels(runs, labels)
    multi = len(runs) > 1
    fig = Fig(rows=1, cols=2, subplot_titles=("Loss (lower is better)", "Accuracy"), horizontal_spacing=0.1)
    sane_max, any_loss = 0.0, False
    x_lo, x_hi = math.inf, -math.inf
    for r, (run, label) in enumerate(zip(runs, names, strict=True)):
        c = run.get("curves") if isinstance(run.get("curves"), Mapping) else {}
        step = _arr(c.get("step"))
        if np.isfinite(step).any():
            x_lo, x_hi = min(x_lo, float(np.nanmin(step))), max(x_hi, float(np.nanmax(step)))
        colour = RUN_COLOURS[r % len(RUN_COLOURS)]
        first_test = _arr(c.get("test_loss"))
        first = next((v for v in first_test if np.isfinite(v)), math.nan)
        for split, dash in (("train", "solid"), ("test", "dash")):
            line_colour = colour if multi else (TRAIN_COLOUR if split == "train" else TEST_COLOUR)
            name = f"{label} · {split}" if multi else split
            for col, metric in ((1, "loss"), (2, "acc")):
                xs, ys = _pairs(step, _arr(c.get(f"{split}_{metric}")), positive=log_loss and metric == "loss")
                if metric == "loss" and ys:
                    any_loss = True
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
        at = _num(run.get("diverged_at"))
        if np.isfinite(at):
            x_lo, x_hi = min(x_lo, at), max(x_hi, at)
    if not math.isfinite(x_lo):
        x_lo, x_hi = 0.0, 1.0
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    k = 0
    for run, label in zip(runs, names, strict=True):
        at = _num(run.get("diverged_at"))
        if not np.isfinite(at):
            continue
        right_half = at > (x_lo + x_hi) / 2  # the text goes on the side with room
        text = f"diverged at step {int(at)}" if not multi else f"{label}: diverged at step {int(at)}"
        for col in (1, 2):
            xref, yref = _axis_ref(col)
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
            bgcolor="rgba(255,255,255,0.85)",
        )
        k += 1
    _style(fig, title, height=400 + 22 * (len(runs) if multi else 0))
    fig.update_xaxes(title_text="training step", title_standoff=6, range=[x_lo, x_hi])
    if log_loss:
        fig.update_yaxes(type="log", title_text="loss (log scale)", row=1, col=1)
    else:
        fig.update_yaxes(title_text="loss", rangemode="tozero", row=1, col=1)
        if any_loss and sane_max > 0:
            fig.update_yaxes(range=[0, sane_max * 1.08], row=1, col=1)
    fig.update_yaxes(title_text="accuracy", tickformat=".0%", range=[0, 1.02], row=1, col=2)
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0),
        margin=dict(b=70 + 22 * (len(runs) if multi else 1)),
        hovermode="closest",
    )
    if not any(len(t.get("x") or ()) for t in fig.data):
        fig.add_annotation(text="no curve points yet", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return fig.figure()


# ----------------------------------------------------------------- distributions


def _outside_note(found: list[tuple[str, Mapping]], edges: np.ndarray) -> str:
    """Return the subtitle sentence on the fixed range and the share of values that fell outside it."""
    inside = under = over = 0.0
    for _, tapd in found:
        h = _hist(tapd)
        inside += float(np.nansum(_counts(h, len(h.get("counts") or []), len(edges) - 1)))
        under += float(np.nansum(_arr(h.get("under"))))
        over += float(np.nansum(_arr(h.get("over"))))
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
    title = f"Distribution of the {_tap_label(tap)} over training"
    found, why = _tap_layers(run, tap)
    if why:
        return empty(title, why)
    edges = next((e for e in (_edges(t) for _, t in found) if len(e)), np.zeros(0))
    steps = _layer_steps(run)
    if not len(edges) or not any(_frames(t.get("mean")) or _frames(_hist(t).get("counts")) for _, t in found):
        return empty(title, "no snapshots recorded yet")
    bins = len(edges) - 1
    centres = [float(f"{v:.6g}") for v in (edges[:-1] + edges[1:]) / 2]
    n = len(found)
    fig = Fig(rows=n, cols=1, shared_xaxes=True, vertical_spacing=_spacing(n, 24 / (120 * n)))  # ~24 px gaps
    zmax = 1.0
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        h = _hist(tapd)
        frames = min(len(st), _frames(h.get("counts")))
        if frames == 0:
            continue
        cnt = _counts(h, frames, bins)
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
                x=_ints_or_floats(st[:frames][keep]),
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
    _style(fig, title, subtitle, height=110 + 120 * n, wrap=110)  # drawn the page's full width
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


def _data_range(found: list[tuple[str, Mapping]], edges: np.ndarray) -> tuple[float, float]:
    """Return the x range of the bins that ever hold a value (any block, any frame), padded one bin."""
    bins = len(edges) - 1
    used = np.zeros(bins, dtype=bool)
    for _, tapd in found:
        h = _hist(tapd)
        c = _counts(h, _frames(h.get("counts")), bins)
        if c.size:
            used |= np.nan_to_num(c).sum(0) > 0
    idx = np.flatnonzero(used)
    if not idx.size:
        return float(edges[0]), float(edges[-1])
    lo, hi = max(0, idx[0] - 1), min(bins, idx[-1] + 2)
    return float(edges[lo]), float(edges[hi])


_PCT_LINES = (("p15", "dash"), ("p50", "solid"), ("p85", "dash"))


def _percentile_shapes(k: int, tapd: Mapping, i: int) -> list[dict]:
    """Return tap `tapd`'s 15/50/85th percentile lines at frame `i` as shapes for subplot number `k`."""
    xref, yref = _axis_ref(k)
    shapes = []
    for key, dash in _PCT_LINES:
        vals = _arr(tapd.get(key))
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
                    line=dict(color="#333", width=1.2, dash=dash),
                    name=key,
                )
            )
    return shapes


def _corner_note(k: int, text: str) -> dict:
    """Return a small red annotation for the top-right corner of subplot number `k`."""
    xref, yref = _axis_ref(k)
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


def _decorate(fig: Fig, shapes: list[dict], notes: list[dict]) -> None:
    """Add `shapes` and annotations `notes` to `fig`."""
    fig.add_decorations(shapes, notes)


def _outside_text(h: Mapping, i: int, total_inside: float) -> str | None:
    under, over = _arr(h.get("under")), _arr(h.get("over"))
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
    title = f"{_tap_label(tap)[0].upper()}{_tap_label(tap)[1:]} per block"  # short: it shares a row with another
    found, why = _tap_layers(run, tap)
    if why:
        return empty(title, why)
    edges = next((e for e in (_edges(t) for _, t in found) if len(e)), np.zeros(0))
    steps = _layer_steps(run)
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
        horizontal_spacing=_spacing(cols, 0.06),
        vertical_spacing=_spacing(rows, 0.14),
    )
    colours = block_colours(n)
    shapes: list[dict] = []
    notes: list[dict] = []
    for k, (name, tapd) in enumerate(found):
        h = _hist(tapd)
        cnt = _counts(h, _frames(h.get("counts")), bins)
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
        shapes += _percentile_shapes(k + 1, tapd, fi)
        note = _outside_text(h, fi, float(np.nansum(row)))
        if note:
            notes.append(_corner_note(k + 1, note))
    _decorate(fig, shapes, notes)
    lo, hi = (float(edges[0]), float(edges[-1])) if full_range else _data_range(found, edges)
    step_text = f"step {int(step)}" if np.isfinite(step) else f"frame {fi}"
    subtitle = (
        f"at {step_text} (frame {fi + 1} of {n_frames}); dashed lines: 15th and 85th percentiles, "
        "solid: median; the middle 70% of values lies between the dashed lines"
    )
    _style(fig, f"{title}, {step_text}", subtitle, height=110 + 230 * rows)
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
    title = f"Middle 70% of the {_tap_label(tap)} over training"
    found, why = _tap_layers(run, tap)
    if why:
        return empty(title, why)
    steps = _layer_steps(run)
    if not any(len(s) for s in steps):
        return empty(title, "no snapshots recorded yet")
    n = len(found)
    fig = Fig(rows=n, cols=1, shared_xaxes=True, vertical_spacing=_spacing(n, 24 / (130 * n)))  # ~24 px gaps
    colours = block_colours(n)
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        p15, p50, p85 = (_arr(tapd.get(k)) for k in ("p15", "p50", "p85"))
        m = min(len(st), len(p15), len(p85))
        band = np.isfinite(st[:m]) & np.isfinite(p15[:m]) & np.isfinite(p85[:m])
        xb = _ints_or_floats(st[:m][band])
        first = i == 0
        fig.add_trace(
            scatter(
                x=xb,
                y=p15[:m][band].tolist(),
                name="15th percentile",
                legendgroup="band",
                showlegend=False,
                mode="lines",
                line=dict(width=0.5, color=_rgba(colours[i], 0.5)),
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
                fillcolor=_rgba(colours[i], 0.25),
                line=dict(width=0.5, color=_rgba(colours[i], 0.5)),
                hovertemplate=f"{name}<br>step %{{x}}<br>85th percentile %{{y:.3g}}<extra></extra>",
            ),
            row=i + 1,
            col=1,
        )
        xm, ym = _pairs(st, p50)
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
        "as in Ioffe & Szegedy (2015), Fig. 1: a band that drifts or changes width means "
        "the next layer keeps seeing a different input distribution"
    )
    _style(fig, title, subtitle, height=130 + 130 * n, legend_below=True)
    fig.update_xaxes(title_text="training step", row=n, col=1)
    return fig.figure()


# ----------------------------------------------------------------- gradients and saturation


def grad_stats(run: Mapping) -> go.Figure:
    """Return gradient norm (left) and update:weight ratio (right) per block over steps, log y axes.

    Two traces per block, then a dotted reference line at ratio 1e-3 (Karpathy's rule of
    thumb: updates about a thousandth of the weights). Zero, null and non-finite values
    are left out (a log axis cannot show them).
    """
    title = "Gradients and update sizes per block"
    layers = _layers(run)
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
    for i, la in enumerate(layers):
        name = _name(la, i)
        st = _arr(la.get("steps"))
        if np.isfinite(st).any():
            lo, hi = min(lo, float(np.nanmin(st))), max(hi, float(np.nanmax(st)))
        for row, key, what in ((1, "grad_norm", "gradient norm"), (2, "update_ratio", "update:weight")):
            xs, ys = _pairs(st, _arr(la.get(key)), positive=True)
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
            line=dict(color="#555", dash="dot", width=1.5),
            hovertemplate="update:weight ratio 1e-3, Karpathy's rule of thumb<extra></extra>",
        ),
        row=2,
        col=1,
    )
    subtitle = (
        "updates far below 1e-3 of the weights learn slowly, far above it can be unstable "
        "(Karpathy's rule of thumb: a rough guide, not a threshold)"
    )
    _style(fig, title, subtitle, height=480, legend_below=True)
    fig.update_xaxes(title_text="training step", row=2, col=1)
    fig.update_yaxes(type="log", exponentformat="power", dtick="D2")
    fig.update_yaxes(title_text="‖∂loss/∂W‖ (log)", row=1, col=1)
    fig.update_yaxes(title_text="‖ΔW‖ / ‖W‖ (log)", row=2, col=1)
    return fig.figure()


def saturation(run: Mapping) -> go.Figure:
    """Return the fraction of saturated activation outputs per block over steps (one trace per block)."""
    title = "Saturated activations per block"
    found, why = _tap_layers(run, "act")
    if why:
        return empty(title, why)
    rule = ""
    if isinstance(run.get("meta"), Mapping):
        rule = str(run["meta"].get("saturation_rule") or "")
    cfg = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    if cfg.get("activation") == "linear":
        return empty(title, "a linear activation never saturates")
    steps = _layer_steps(run)
    if not any(len(s) for s in steps):
        return empty(title, "no snapshots recorded yet")
    if not any(np.isfinite(_arr(t.get("saturated"))).any() for _, t in found):
        return empty(title, "no saturation recorded in this run")
    colours = block_colours(len(found))
    fig = Fig()
    for i, (name, tapd) in enumerate(found):
        st = steps[i] if i < len(steps) else np.zeros(0)
        xs, ys = _pairs(st, _arr(tapd.get("saturated")))
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
    _style(fig, title, subtitle, height=360)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="share saturated", tickformat=".0%", range=[0, 1.02])
    return fig.figure()


# ----------------------------------------------------------------- decision boundary


def _points(points: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (xy (N, 2), labels or None) from (xy, labels), xy, or {"x", "y", "label"}."""
    if isinstance(points, Mapping):
        xy = np.column_stack([_arr(list(points.get("x", []))), _arr(list(points.get("y", [])))])
        lab = points.get("label")
    elif isinstance(points, tuple) and len(points) == 2:
        xy, lab = points
    else:
        xy, lab = points, None
    try:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        return np.zeros((0, 2)), None
    labels = None
    if lab is not None:
        labels = _arr(list(np.asarray(lab).reshape(-1)))
        if len(labels) != len(xy):
            labels = None
    keep = np.isfinite(xy).all(1) & (np.isfinite(labels) if labels is not None else True)
    return xy[keep], (labels[keep] if labels is not None else None)


def boundary(run: Mapping, points: Any = None) -> go.Figure:
    """Return the decision boundary: P(class 1) over the input plane, the 0.5 contour, optional points.

    `points` is (xy, labels) with xy of shape (N, 2), or a dict with "x", "y" and "label".
    Runs without a boundary (image data, unfinished runs) give an empty figure saying why.
    """
    title = "Decision boundary"
    b = run.get("boundary") if isinstance(run, Mapping) else None
    if not isinstance(b, Mapping):
        cfg = run.get("config") if isinstance(run, Mapping) and isinstance(run.get("config"), Mapping) else {}
        if cfg.get("dataset") == "digits":
            why = "no decision boundary: digits are 64-pixel images, not points in a plane"
        elif isinstance(run, Mapping) and run.get("status") in ("running", "ready"):
            why = "no decision boundary yet: it is drawn when the run finishes"
        else:
            why = "no decision boundary in this run (only finished runs on 2-D datasets have one)"
        return empty(title, why)
    gx, gy = _arr(b.get("x")), _arr(b.get("y"))
    rows = b.get("prob") if isinstance(b.get("prob"), list) else []
    prob = np.full((len(gy), len(gx)), np.nan)
    for i, r in enumerate(rows[: len(gy)]):
        v = _arr(r)[: len(gx)]
        prob[i, : len(v)] = v
    if not prob.size or not np.isfinite(prob).any() or not (np.isfinite(gx).all() and np.isfinite(gy).all()):
        return empty(title, "no decision boundary: the network's outputs are not finite numbers (did it diverge?)")
    z = [[round(v, 3) if math.isfinite(v) else None for v in r] for r in prob.tolist()]
    fig = Fig()
    fig.add_trace(
        dict(
            type="contour",
            x=gx.tolist(),
            y=gy.tolist(),
            z=z,
            zmin=0,
            zmax=1,
            colorscale=BOUNDARY_COLOURS,
            contours=dict(start=0, end=1, size=0.1),
            line=dict(width=0.3, color="rgba(0,0,0,0.15)"),
            colorbar=dict(title=dict(text="P(class 1)", side="top"), thickness=12, tickformat=".0%"),
            name="P(class 1)",
            hovertemplate="x₁ %{x:.2f}, x₂ %{y:.2f}<br>P(class 1) %{z:.0%}<extra></extra>",
        )
    )
    fig.add_trace(
        dict(
            type="contour",
            x=gx.tolist(),
            y=gy.tolist(),
            z=z,
            contours=dict(coloring="none", start=0.5, end=0.5, size=1, showlabels=False),
            line=dict(width=2.5, color="#222"),
            showscale=False,
            name="boundary (P = 50%)",
            showlegend=True,
            hoverinfo="skip",
        )
    )
    if points is not None:
        xy, labels = _points(points)
        if labels is None:
            groups = [("data", xy, "#333")]
        else:
            groups = [
                (f"class {int(c)}", xy[labels == c], BOUNDARY_COLOURS[0][1] if c == 0 else BOUNDARY_COLOURS[-1][1])
                for c in np.unique(labels)
            ]
        for name, pts, colour in groups:
            fig.add_trace(
                scatter(
                    x=np.round(pts[:, 0], 4).tolist(),
                    y=np.round(pts[:, 1], 4).tolist(),
                    mode="markers",
                    name=name,
                    marker=dict(color=colour, size=6, line=dict(color="white", width=0.8)),
                    hovertemplate=f"{name}<br>x₁ %{{x:.2f}}, x₂ %{{y:.2f}}<extra></extra>",
                )
            )
    _style(fig, title, "colour: the network's probability of class 1; black line: where it is 50%", height=480)
    fig.update_xaxes(
        title_text="x₁ (first input)", range=[float(gx[0]), float(gx[-1])], showgrid=False, constrain="domain"
    )
    fig.update_yaxes(
        title_text="x₂ (second input)",
        range=[float(gy[0]), float(gy[-1])],
        showgrid=False,
        scaleanchor="x",
        constrain="domain",
    )
    fig.update_layout(legend=dict(orientation="h", y=-0.15, x=0))
    return fig.figure()


# ----------------------------------------------------------------- compare


def compare_histograms(runs: Sequence[Mapping], tap: str, labels: Sequence[str] | None = None) -> go.Figure:
    """Return small multiples of `tap`'s histogram at each run's final frame: rows = runs, cols = blocks.

    Bars show the share of values per bin (runs may differ in batch size or width), on one
    x range and one y range shared by all panels; lines mark the 15/50/85th percentiles.
    """
    title = f"{_tap_label(tap)[0].upper()}{_tap_label(tap)[1:]} at the end of each run"
    runs = _as_runs(runs)
    if not runs:
        return empty(title, "no runs to compare")
    names = _labels(runs, labels)
    per_run = [_tap_layers(r, tap) for r in runs]
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
        horizontal_spacing=_spacing(cols, 0.02),
        vertical_spacing=_spacing(rows, 0.05),
    )
    lo, hi, top = math.inf, -math.inf, 0.0
    shapes: list[dict] = []
    notes: list[dict] = []
    for r, ((found, why), run, label) in enumerate(zip(per_run, runs, names, strict=True)):
        colour = RUN_COLOURS[r % len(RUN_COLOURS)]
        fig.update_yaxes(title_text=label, row=r + 1, col=1)
        n_frames = min((len(s) for s in _layer_steps(run)), default=0)
        message = why if why else ("no snapshots recorded yet" if n_frames == 0 else None)
        edges = next((e for e in (_edges(t) for _, t in found) if len(e)), np.zeros(0))
        if message is None and not len(edges):
            message = "no histogram recorded"
        if message:
            xref, yref = _axis_ref(r * cols + 1)
            notes.append(
                dict(
                    text=message,
                    x=0.02,
                    xref=f"{xref} domain",
                    y=0.5,
                    yref=f"{yref} domain",
                    xanchor="left",
                    showarrow=False,
                    font=dict(color="#555"),
                )
            )
            continue
        a, b = _data_range(found, edges)
        lo, hi = min(lo, a), max(hi, b)
        bins = len(edges) - 1
        centres = (edges[:-1] + edges[1:]) / 2
        fi = n_frames - 1
        for c, (name, tapd) in enumerate(found):
            h = _hist(tapd)
            cnt = _counts(h, _frames(h.get("counts")), bins)
            row = cnt[fi] if fi < len(cnt) else np.full(bins, np.nan)
            under, over = _arr(h.get("under")), _arr(h.get("over"))
            total = float(np.nansum(row))
            total += sum(float(v[fi]) for v in (under, over) if fi < len(v) and np.isfinite(v[fi]))
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
            shapes += _percentile_shapes(r * cols + c + 1, tapd, fi)
            note = _outside_text(h, fi, float(np.nansum(row)))
            if note:
                notes.append(_corner_note(r * cols + c + 1, note))
    _decorate(fig, shapes, notes)
    if math.isfinite(lo):
        fig.update_xaxes(range=[lo, hi])
    subtitle = "bars: share of values per bin at each run's last snapshot; dashed: 15th/85th percentiles, solid: median"
    _style(fig, title, subtitle, height=120 + 170 * rows)
    fig.update_layout(bargap=0)
    # An explicit range: plotly.js would give an all-zero panel [0, 4] and, as panels share y, all of them.
    fig.update_yaxes(tickformat=".0%", range=[0, top * 1.05 if top > 0 else 1.0])
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="value", row=rows, col=c)
    return fig.figure()


__all__ = [
    "block_colours",
    "boundary",
    "compare_histograms",
    "curves",
    "empty",
    "grad_stats",
    "heatmap",
    "histograms",
    "percentile_bands",
    "saturation",
]
