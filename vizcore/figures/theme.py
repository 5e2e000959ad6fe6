"""The one theme of every figure: colours, fonts, the plotly template, titles and the empty figure.

A colour is named here once, so a norm, a run or a block looks the same on every page.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig

# One colour per run on the Compare page (Tableau 10), ordered so that the first four, the most it
# compares, differ in hue and lightness (red beside pink-purple was hard to tell apart).
RUN_COLOURS = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759",
    "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
)  # fmt: skip
# One colour per norm wherever norms are compared (batch-size sweep, covariate shift); no norm is grey.
NORM_COLOURS = {
    "none": "#7f7f7f",
    "batch": "#4e79a7",
    "layer": "#59a14f",
    "group": "#f28e2b",
    "instance": "#b07aa1",
    "rms": "#76b7b2",
}
TRAIN_COLOUR, TEST_COLOUR = "#4e79a7", "#f28e2b"
DIVERGED_COLOUR = "#c0392b"
# Batch norm at test time: its running averages (eval mode) against the statistics of the test batch.
EVAL_COLOUR, TRAIN_MODE_COLOUR = "#4e79a7", "#e15759"
# The covariate-shift runs: no norm grey, the chosen norm blue whichever norm it is, its noisy version red.
ROLE_COLOURS = {"none": NORM_COLOURS["none"], "norm": NORM_COLOURS["batch"], "noisy": "#e15759"}
SPARE_COLOURS = ("#59a14f", "#f28e2b", "#b07aa1")  # for series that have no colour of their own
# Blocks shade from blue (first) to orange (deepest), so depth reads at a glance.
_DEPTH_ANCHORS = ("#1f4e9c", "#6a3d9a", "#c2377b", "#e8702a")
HEAT_COLOURS = [[0.0, "#ffffff"], [0.15, "#c6dbef"], [0.45, "#6baed6"], [0.75, "#2171b5"], [1.0, "#08306b"]]
BOUNDARY_COLOURS = [[0.0, "#4e79a7"], [0.5, "#f7f7f7"], [1.0, "#e15759"]]
# Greys, darkest first: text and the decision line; percentile lines, theory curves and unlabelled
# points; notes and subtitles; chance and guide lines; small print.
INK, MARK, THEORY_COLOUR, NOTE, GUIDE, SMALL_PRINT = "#222", "#333", "#333333", "#555", "#999", "#777"
OUTLINE = "white"  # around markers drawn over lines or a contour
CONTOUR_LINE = "rgba(0,0,0,0.15)"
LABEL_BACKGROUND = "rgba(255,255,255,0.85)"  # keeps a note readable over the curves it crosses
_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color=INK)


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def rgba(colour: str, alpha: float) -> str:
    """Return the hex `colour` as a CSS rgba() string with opacity `alpha`."""
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


_AXIS = dict(gridcolor="#ececec", zeroline=False, showline=True, linecolor=GUIDE, ticks="outside")
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


def _heading(title: str, subtitle: str | None = None, wrap: int = SUBTITLE_CHARS) -> dict:
    """Return the layout title: `title` left-aligned, `subtitle` wrapped at `wrap` characters below it."""
    t: dict[str, Any] = {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}}
    if subtitle:
        lines = textwrap.wrap(subtitle, wrap) or [""]
        t["subtitle"] = {"text": "<br>".join(lines), "font": {"size": 12, "color": NOTE}}
    return t


def style(
    fig: Fig | go.Figure,
    title: str,
    subtitle: str | None = None,
    height: int | None = None,
    legend_below: bool = False,
    wrap: int = SUBTITLE_CHARS,
) -> Fig | go.Figure:
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
        title=_heading(title, subtitle, wrap),
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
    note = dict(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=15, color=NOTE))
    return go.Figure(
        layout=dict(
            template=TEMPLATE,
            title=_heading(title),
            margin=dict(l=70, r=30, t=60, b=55),
            xaxis=dict(visible=False),
            yaxis=dict(visible=False),
            height=260,
            annotations=[note],
        )
    )
