"""The network as a diagram: the input, the hidden blocks (Linear|Conv, norm, activation in their order), the head.

Drawn top to bottom in a narrow column (the Live lab's sidebar, a column of the About page), with each
block's taps marked where the recorder reads them: one clickable marker a tap, whose `customdata` is the
tap's name. The vertical axis is in pixels, so boxes and text keep their size whatever the column's width.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import plotly.graph_objects as go

from vizcore.engine.config import CONV_KERNEL, DATA_SHAPES, NORM_LABELS, RunConfig, pooled
from vizcore.figures.kit import Fig, scatter
from vizcore.figures.theme import BASE_SIZE, INK, NORM_COLOURS, NOTE, PRESENT_TICK, SUBTITLE_SIZE, TEMPLATE, TITLE_SIZE

ACT_NAMES = {
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "gelu": "GELU",
    "linear": "identity (no activation)",
}
# Which values each norm averages over (the About page's table says it in full).
NORM_GROUPS = {
    "batch": "each unit over the batch",
    "layer": "each example over its units",
    "group": "each example, per group of units",
    "instance": "each channel of each image",
    "rms": "each example over its units, mean not subtracted",
}
WHAT = {"linear": "the Linear output", "norm": "the norm layer's output", "act": "the activation's output"}
SPINE, BOX_LEFT, BOX_RIGHT, FRAME_RIGHT = 0.39, 0.03, 0.75, 0.965  # fractions of the width
LIGHT = "#eef1f5"  # the linear layers' boxes
MAX_SHADOWS = 2  # frames drawn behind the block when it repeats


@dataclass(frozen=True)
class Part:
    """One box: its kind (input, linear, norm, act, pool, head), its one-line label, and the tap on its output."""

    kind: str
    label: str
    tap: str | None = None


def config_of(run_or_config: Mapping) -> RunConfig:
    """Return the RunConfig of a run dict or of a config dict (the defaults if it cannot be read)."""
    cfg = run_or_config.get("config") if isinstance(run_or_config.get("config"), Mapping) else run_or_config
    try:
        return RunConfig.from_dict(dict(cfg))
    except (TypeError, ValueError):
        return RunConfig()


def pools(cfg: RunConfig) -> int:
    """Return how many of a cnn's first blocks a 2×2 max-pool follows (0 for an mlp), as engine.models builds it."""
    if cfg.model != "cnn":
        return 0
    size, n = DATA_SHAPES[cfg.dataset].input_shape[1], 0
    for _ in range(cfg.depth):
        n, size = n + (pooled(size) < size), pooled(size)
    return n


def parts(cfg: RunConfig) -> tuple[Part, list[Part], list[Part], Part]:
    """Return (input, one hidden block's parts in forward order, what follows the blocks, head) for `cfg`."""
    shape = DATA_SHAPES[cfg.dataset]
    if len(shape.input_shape) == 1:
        inp = Part("input", f"input: {shape.input_shape[0]} values")
    elif cfg.model == "cnn":
        inp = Part("input", "input: " + "×".join(map(str, shape.input_shape[1:])) + " image")
    else:
        inp = Part("input", f"input: {shape.input_shape[1] * shape.input_shape[2]} pixels")
    k = CONV_KERNEL
    linear = Part("linear", f"Conv {k}×{k} → {cfg.width} ch." if cfg.model == "cnn" else f"Linear → {cfg.width} units")
    linear = Part("linear", linear.label, "linear")
    act = Part("act", ACT_NAMES.get(cfg.activation, cfg.activation).split(" (")[0], "act")
    block = [linear, act]
    if cfg.norm != "none":
        extra = [f"{cfg.groups} groups"] * (cfg.norm == "group") + ["+ injected noise"] * bool(cfg.norm_noise)
        norm = Part("norm", "<br>".join([NORM_LABELS[cfg.norm], *extra]), "norm")
        block = [linear, norm, act] if cfg.placement == "before" else [linear, act, norm]
    n = pools(cfg)
    pool = [Part("pool", f"max-pool 2×2<br>after block{'s 1–' + str(n) if n > 1 else ' 1'}")] if n else []
    return inp, block, pool, Part("head", f"Linear → {shape.n_classes} classes")


def tap_roles(cfg: RunConfig) -> dict[str, str]:
    """Return each tap of `cfg`'s blocks, in forward order -> what it is and which layer receives it."""
    block = parts(cfg)[1]
    what = {**WHAT, "linear": "the convolution's output"} if cfg.model == "cnn" else WHAT
    reader = {"norm": "the norm layer", "act": "the activation"}
    out = {}
    for i, p in enumerate(block):
        nxt = reader[block[i + 1].kind] if i + 1 < len(block) else "the next block (the last block's: the head)"
        out[p.tap or ""] = f"{what[p.tap or 'act']}, what {nxt} receives"
        if i + 1 == len(block) and pools(cfg):
            n = pools(cfg)
            out[p.tap or ""] += f" (max-pooled 2×2 after block{'s 1–' + str(n) if n > 1 else ' 1'})"
    return out


def summary(cfg: RunConfig) -> str:
    """Return the network in a few words: blocks, width, norm and its placement, activation."""
    unit = "channels" if cfg.model == "cnn" else "units"
    blocks = f"{cfg.depth} block{'s' * (cfg.depth != 1)} of {cfg.width} {unit}"
    act = ACT_NAMES.get(cfg.activation, cfg.activation)
    if cfg.norm == "none":
        return f"{blocks}, no norm, {act}"
    return f"{blocks}, {NORM_LABELS[cfg.norm]} {cfg.placement} the activation ({act})"


def diagram(
    run_or_config: Mapping, tap: str | None = "act", clickable: bool = True, present: bool = False
) -> go.Figure:
    """Return the network of a run (or config) dict, top to bottom, with its taps; `tap` is drawn as the chosen one.

    `present` sets presenter type (16 px where the others have 13) and grows the boxes to hold it.
    """
    cfg = config_of(run_or_config)
    k = PRESENT_TICK / BASE_SIZE if present else 1.0
    font, line = round(BASE_SIZE * k, 1), 1.3 * BASE_SIZE * k
    tap_gap, gap, header = line + 14 * k, 18 * k, line + 8 * k
    inp, block, pool, head = parts(cfg)
    shapes: list[dict] = []
    notes: list[dict] = []
    taps: list[tuple[float, str]] = []

    def add(part: Part, top: float) -> float:
        box = line * (1 + part.label.count("<br>")) + 13 * k
        colour = NORM_COLOURS.get(cfg.norm, NOTE) if part.kind == "norm" else NOTE
        fill = _tint(colour) if part.kind == "norm" else (LIGHT if part.kind in ("linear", "head") else "white")
        width = 2.0 if part.kind == "norm" else 1.2
        shapes.append(_rect(BOX_LEFT, BOX_RIGHT, top - box, top, colour, width, fill))
        notes.append(dict(x=(BOX_LEFT + BOX_RIGHT) / 2, y=top - box / 2, text=part.label, showarrow=False))
        return top - box

    def arrow(top: float, length: float) -> float:
        # the head touches the next box; the shaft is the spine, drawn once under everything
        notes.append(dict(x=SPINE, y=top - length, ax=0, ay=-8 * k, text="", showarrow=True, **_ARROW))
        return top - length

    y = arrow(add(inp, 0.0), gap + header)
    frame_top = y + header
    for i, part in enumerate(block):
        y = add(part, y)
        taps.append((y - tap_gap / 2, part.tap or ""))
        y = arrow(y, tap_gap) if i + 1 < len(block) else y - tap_gap
    frame_bottom = y
    for part in [*pool, head]:
        y = add(part, arrow(y, gap))
    # The block's frame, with dotted frames behind it when it repeats: the same block, `depth` times.
    frames = [
        _rect(0.012 * s, FRAME_RIGHT + 0.012 * s, frame_bottom - 4 * s, frame_top - 4 * s, INK if s == 0 else NOTE, 1)
        for s in range(min(cfg.depth - 1, MAX_SHADOWS), -1, -1)
    ]
    for f in frames[:-1]:
        f["line"]["dash"] = "dot"
    spine = dict(type="line", x0=SPINE, x1=SPINE, y0=y, y1=-line, line=dict(color=NOTE, width=1.5), layer="below")
    # "like this" would run into the spine in presenter type in a sidebar-wide column
    count = f"<b>{cfg.depth} block{'s' * (cfg.depth != 1)}</b>" + (
        " like this" if cfg.depth > 1 and not present else ""
    )
    notes.append(dict(x=FRAME_RIGHT - 0.02, y=frame_top - header / 2, text=count, xanchor="right", showarrow=False))
    for n in notes:
        n.update(xref="x", yref="y", font=dict(size=font, color=INK))
    fig = Fig()
    fig.add_decorations([*frames, spine, *shapes], notes)
    fig.add_trace(_tap_trace(cfg, taps, tap, clickable, k))
    subtitle = "Click a tap ● to chart it" if clickable else "● marks a tap: where the charts look"
    top = round(k * 58)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(
            text="The network",
            x=0,
            xanchor="left",
            xref="container",
            y=1,
            yanchor="top",
            yref="container",
            pad=dict(t=round(6 * k), l=2),
            font=dict(size=round(TITLE_SIZE * k, 1)),
            subtitle=dict(text=subtitle, font=dict(size=round(SUBTITLE_SIZE * k, 1), color=NOTE)),
        ),
        height=round(-y) + top + 6,
        margin=dict(l=2, r=2, t=top, b=6),
        xaxis=dict(range=[0, 1], visible=False, fixedrange=True),
        yaxis=dict(range=[y - 2, 2], visible=False, fixedrange=True),
        showlegend=False,
        dragmode=False,
        hovermode="closest",
        hoverlabel=dict(font=dict(size=font)),
        clickmode="event+select",
    )
    return fig.figure()


_ARROW = dict(arrowhead=2, arrowsize=1, arrowwidth=1.5, arrowcolor=NOTE, axref="pixel", ayref="pixel")


def _tap_trace(cfg: RunConfig, taps: list[tuple[float, str]], tap: str | None, clickable: bool, k: float) -> dict:
    """Return the tap markers: a ring each, the chosen one filled and labelled; names in `customdata`."""
    chosen = tap if any(t == tap for _, t in taps) else None
    roles = tap_roles(cfg)
    return scatter(
        x=[SPINE] * len(taps),
        y=[ty for ty, _ in taps],
        customdata=[t for _, t in taps],
        mode="markers+text",
        # in presenter type "charted" would not fit a sidebar: the filled marker and bold name say it
        text=[f"<b>{t}</b> ◀" + " charted" * (k == 1) if t == chosen else t for _, t in taps],
        textposition="middle right",
        textfont=dict(size=round((BASE_SIZE + 1) * k, 1), color=INK),
        hovertext=[f"<b>{t}</b>: {roles[t]}" + ("<br>click to chart it" if clickable else "") for _, t in taps],
        hoverinfo="text",
        marker=dict(
            size=[round((18 if t == chosen else 15) * k) for _, t in taps],
            color=[INK if t == chosen else "white" for _, t in taps],
            line=dict(color=INK, width=2.5),
            opacity=1,
        ),
        selected=dict(marker=dict(opacity=1)),  # a selection must not grey out the other taps
        unselected=dict(marker=dict(opacity=1)),
        cliponaxis=False,
        showlegend=False,
        name="taps",
    )


def _rect(x0: float, x1: float, y0: float, y1: float, colour: str, width: float, fill: str = "white") -> dict:
    """Return a rectangle shape under the traces."""
    line = dict(color=colour, width=width)
    return dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=line, fillcolor=fill, layer="below")


def _tint(colour: str, strength: float = 0.16) -> str:
    """Return `colour` (#rrggbb) mixed into white: an opaque pale fill that hides the spine under a box."""
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)] if len(colour) == 7 else [127, 127, 127]
    return "#" + "".join(f"{round(255 - (255 - v) * strength):02x}" for v in rgb)
