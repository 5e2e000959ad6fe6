"""The one theme of every figure: colours, fonts, the plotly template, titles and the empty figure.

A colour is named here once, so a norm, a run or a block looks the same on every page.
"""

from __future__ import annotations

import functools
import math
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
UNRECORDED = "rgba(0,0,0,0.07)"  # a part of a shown range that a run's histogram did not record
HEAT_COLOURS = [[0.0, "#ffffff"], [0.15, "#c6dbef"], [0.45, "#6baed6"], [0.75, "#2171b5"], [1.0, "#08306b"]]
BOUNDARY_COLOURS = [[0.0, "#4e79a7"], [0.5, "#f7f7f7"], [1.0, "#e15759"]]
# Greys, darkest first: text and the decision line; percentile lines, theory curves and unlabelled
# points; notes and subtitles; chance and guide lines; small print.
INK, MARK, THEORY_COLOUR, NOTE, GUIDE, SMALL_PRINT = "#222", "#333", "#333333", "#555", "#999", "#777"
OUTLINE = "white"  # around markers drawn over lines or a contour
CONTOUR_LINE = "rgba(0,0,0,0.15)"
LABEL_BACKGROUND = "rgba(255,255,255,0.85)"  # keeps a note readable over the curves it crosses
# Sizes in px. 12 px ticks could not be read projected: 13 px is the least for any tick label.
BASE_SIZE = 13  # body text, tick labels, legends, axis titles
TITLE_SIZE = 17
SUBTITLE_SIZE = 13
PANEL_TITLE_SIZE = 14  # a subplot's own title (plotly's make_subplots gives 16, larger than the subtitle)
NOTE_SIZE = 12  # a note inside a plot
PRESENT_TICK = 16  # presenter mode (`present`): tick labels at scale 1; every other size grows alike
_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=BASE_SIZE, color=INK)


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


@functools.lru_cache(maxsize=16)
def _template(k: float) -> go.layout.Template:
    """Return the light template with every font `k` times its normal size."""
    size = round(BASE_SIZE * k, 1)
    return go.layout.Template(
        layout=dict(
            font={**_FONT, "size": size},
            paper_bgcolor="white",
            plot_bgcolor="white",
            colorway=list(RUN_COLOURS),
            xaxis=_AXIS,
            yaxis=_AXIS,
            legend=dict(bgcolor="rgba(255,255,255,0.8)", font=dict(size=size)),
            hoverlabel=dict(font=dict(size=size)),
        )
    )


# A minimal light template instead of plotly's default one (~8 KB of JSON in every figure);
# its axis style applies to every subplot's axes, so no per-axis updates are needed.
TEMPLATE = _template(1.0)

# Plotly does not wrap titles: a longer line was cut off in a half-width column (~480 px at a 1024 px page).
TITLE_CHARS = 44  # at TITLE_SIZE
SUBTITLE_CHARS = 60  # at SUBTITLE_SIZE
_META = "normlab"  # layout.meta key under which `style` keeps what `present` needs to lay a figure out again


def wrap_lines(text: str, width: float) -> list[str]:
    """Return `text` wrapped at `width` characters (at least one line)."""
    return textwrap.wrap(text, max(int(width), 12)) or [""]


def _title_chars(chars: float, k: float) -> float:
    """Return the characters a title line holds in the width where a subtitle line holds `chars`, at scale `k`."""
    return TITLE_CHARS * chars / SUBTITLE_CHARS / k


def _heading(title: str, subtitle: str | None = None, chars: int = SUBTITLE_CHARS, k: float = 1.0) -> dict:
    """Return the layout title: `title` left-aligned at the top, `subtitle` below it, both wrapped to fit."""
    lines = wrap_lines(title, _title_chars(chars, k))
    t: dict[str, Any] = {
        "text": "<br>".join(lines),
        "x": 0.0,
        "xanchor": "left",
        "xref": "container",
        "y": 1.0,
        "yanchor": "top",
        "yref": "container",
        # plotly puts a title of several lines about one line too high when it is anchored at the top
        "pad": {"t": round(k * (10 + (0.9 * TITLE_SIZE if len(lines) > 1 else 0))), "l": 4},
        "font": {"size": round(TITLE_SIZE * k, 1)},
    }
    if subtitle:
        t["subtitle"] = {
            "text": "<br>".join(wrap_lines(subtitle, chars / k)),
            "font": {"size": round(SUBTITLE_SIZE * k, 1), "color": NOTE},
        }
    return t


def _top(title: str, subtitle: str | None, chars: int, k: float) -> int:
    """Return the top margin that holds the wrapped title and subtitle and clears the subplot titles below."""
    line = 1.25  # plotly's line height, in font sizes (measured in Chromium)
    px = 6 + line * TITLE_SIZE * len(wrap_lines(title, _title_chars(chars, k)))
    if subtitle:
        px += 9 + line * SUBTITLE_SIZE * len(wrap_lines(subtitle, chars / k))
    return round(k * (px + 14 + line * PANEL_TITLE_SIZE))


def _frame(m: dict, k: float) -> dict:
    """Return the layout keys `style` sets (title, margins, height, legend) for style arguments `m` at scale `k`."""
    title, subtitle, chars = m["title"], m.get("subtitle"), m.get("wrap", SUBTITLE_CHARS)
    top = _top(title, subtitle, chars, k) + round(k * m.get("extra_top", 0))
    bottom = round(k * (95 if m.get("legend_below") else 55))
    out: dict[str, Any] = {
        "title": _heading(title, subtitle, chars, k),
        "margin": dict(l=round(70 * k), r=30, t=top, b=bottom),
    }
    plot = None
    if m.get("height") is not None:
        # The plot area of the old layout (a one-line subtitle); the margins around it grow with the text.
        plot = max(m["height"] - (90 if subtitle else 60) - 55, 60)
        out["height"] = plot + top + bottom
    if m.get("legend_below"):
        # Its top a fixed distance under the plot (below the x-axis title), growing downwards; plotly widens
        # the bottom margin when its rows need more room (a narrow column wraps a legend into several).
        plot = plot or max(450 - top - bottom, 50)
        out["legend"] = dict(orientation="h", x=0, xanchor="left", y=-62 * k / plot, yanchor="top")
    return out


def style(
    fig: Fig | go.Figure,
    title: str,
    subtitle: str | None = None,
    height: int | None = None,
    legend_below: bool = False,
    wrap: int = SUBTITLE_CHARS,
    extra_top: int = 0,
) -> Fig | go.Figure:
    """Apply the shared light template, the title (with an optional subtitle) and `height`; return `fig`.

    The title is wrapped to fit half a 1024 px page; the subtitle at `wrap` characters (more for a chart
    drawn the page's full width). `height` is the figure's height with a one-line subtitle: the plot keeps
    its size and the margins grow with longer text. `legend_below` puts a horizontal legend at the foot
    of the figure, below the x-axis title, where it can cover neither the title nor the plots however
    narrow the column. `extra_top` adds px above the plots (for subplot titles of several lines).
    `present(fig)` lays the figure out again with larger text from what is recorded here.
    """
    m = dict(title=title, subtitle=subtitle, height=height, legend_below=legend_below, wrap=wrap, extra_top=extra_top)
    fig.update_layout(template=TEMPLATE, meta={_META: m}, **_frame(m, 1.0))
    # make_subplots' subplot titles are 16 px, larger than the figure's subtitle
    notes = fig.layout.get("annotations", []) if isinstance(fig, Fig) else fig.layout.annotations
    for a in notes:
        if isinstance(a, dict) and isinstance(a.get("font"), dict) and a["font"].get("size") == 16:
            a["font"]["size"] = PANEL_TITLE_SIZE
        elif not isinstance(a, dict) and a.font.size == 16:
            a.font.size = PANEL_TITLE_SIZE
    return fig


def _scale_fonts(node: Any, k: float, key: str = "") -> None:
    """Multiply in place every font size and pixel shift under `node` (a layout or trace as plain dicts) by `k`."""
    if isinstance(node, dict):
        if key.endswith("font") and isinstance(node.get("size"), (int, float)):
            node["size"] = round(node["size"] * k, 1)
        for name in ("xshift", "yshift", "standoff"):
            if isinstance(node.get(name), (int, float)):
                node[name] = round(node[name] * k, 1)
        for name, v in node.items():
            if isinstance(v, (dict, list)) and name not in ("template", "meta"):
                _scale_fonts(v, k, name)
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for v in node:
            _scale_fonts(v, k, key)


def present(fig: go.Figure, scale: float = 1.0) -> go.Figure:
    """Return a copy of `fig` for a projector: text large enough to read from the back of a room.

    At `scale` 1 tick labels are PRESENT_TICK (16) px, titles 21 px, and every other text (subtitles,
    legends, annotations, subplot and axis titles, colour bars) grows by the same factor; titles are
    wrapped again for the larger text and the margins grow to hold it (the plots keep their size).
    `fig` itself is not changed (figures are memoized and shared between sessions).
    """
    k = float(scale) * PRESENT_TICK / BASE_SIZE if isinstance(scale, (int, float)) and scale > 0 else 1.0
    d = fig.to_dict()
    layout = d.setdefault("layout", {})
    m = (layout.get("meta") or {}).get(_META) if isinstance(layout.get("meta"), dict) else None
    _scale_fonts(layout, k)
    for trace in d.get("data", []):
        _scale_fonts(trace, k)
    if m:
        layout.update(_frame(m, k))
    else:  # a figure `style` did not lay out: scale its title and margins
        title = layout.get("title") if isinstance(layout.get("title"), dict) else {}
        title.setdefault("font", {}).setdefault("size", round(TITLE_SIZE * k, 1))
        margin = layout.setdefault("margin", {})
        old = {side: margin.get(side, 100 if side == "t" else 80) for side in ("t", "b", "l")}
        margin.update({side: round(v * k) for side, v in old.items()})
        if isinstance(layout.get("height"), (int, float)):
            layout["height"] += margin["t"] - old["t"] + margin["b"] - old["b"]
    layout["template"] = _template(round(k, 4)).to_plotly_json()
    # `fig` was validated when it was built and only sizes changed: plotly's check would double the cost
    # (11 ms instead of 27 for a 256-frame band chart). The tests validate every presented figure.
    return go.Figure(d, _validate=False)


def empty(title: str, message: str) -> go.Figure:
    """Return a figure with no data: `title` and `message` centred where the plot would be."""
    text = "<br>".join(wrap_lines(message, 48))  # a long reason was cut off in half a page
    note = dict(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=15, color=NOTE))
    return go.Figure(
        layout=dict(
            template=TEMPLATE,
            title=_heading(title),
            meta={_META: dict(title=title, height=260)},
            margin=dict(l=70, r=30, t=_top(title, None, SUBTITLE_CHARS, 1.0), b=55),
            xaxis=dict(visible=False),
            yaxis=dict(visible=False),
            height=260,
            annotations=[note],
        )
    )


def decade_axis(values: Any, max_labels: int = 6) -> dict:
    """Return a log axis labelled at whole decades only, spanning whole decades around `values`.

    Plotly's own log axis labels the 2s and 5s between decades in small print once a range spans
    few decades, and they collided; here they are unlabelled minor ticks. The range is widened to
    whole decades, so at least two labels show however narrow the data; a range of many decades is
    labelled every few decades (at most `max_labels` labels).
    """
    v = np.asarray([x for x in (values if values is not None else []) if isinstance(x, (int, float))], dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    axis: dict[str, Any] = dict(type="log", dtick=1, exponentformat="power")
    if v.size:
        lo = math.floor(math.log10(float(v.min())))
        hi = max(math.ceil(math.log10(float(v.max()))), lo + 1)
        axis.update(range=[lo, hi], dtick=max(1, math.ceil((hi - lo) / max_labels)))
    if axis["dtick"] == 1:
        axis["minor"] = dict(ticks="outside", ticklen=3, dtick="D1", showgrid=False)
    return axis
