"""The decision boundary of a run on a 2-D dataset: P(class 1) over the input plane, with the training points."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.kit import Fig, scatter
from vizcore.figures.readers import arr
from vizcore.figures.theme import BOUNDARY_COLOURS, CONTOUR_LINE, INK, MARK, OUTLINE, empty, style

MAX_POINTS = 2000  # drawn at most: a run file may hold anything
# Each class in a darker shade of its own region's colour (class 0 where P(class 1) is 0), so a point stands
# out on its region, and a point on the other class's region stands out more; shapes differ too.
POINT_STYLE = {0: ("#24476e", "circle"), 1: ("#9c2f31", "diamond")}


def _listed(v: Any) -> list:
    """Return `v` if it is a list, else an empty list (a run file's field may hold anything)."""
    return v[:MAX_POINTS] if isinstance(v, list) else []


def _points(points: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (xy (N, 2), labels or None) from (xy, labels), xy, or {"x", "y", "label"}."""
    if isinstance(points, Mapping):
        x, y = arr(_listed(points.get("x"))), arr(_listed(points.get("y")))
        if len(x) != len(y):
            return np.zeros((0, 2)), None
        xy = np.column_stack([x, y])
        lab = _listed(points.get("label")) if points.get("label") is not None else None
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
        labels = arr(list(np.asarray(lab).reshape(-1)))
        if len(labels) != len(xy):
            labels = None
    keep = np.isfinite(xy).all(1) & (np.isfinite(labels) if labels is not None else True)
    return xy[keep], (labels[keep] if labels is not None else None)


def boundary(run: Mapping, points: Any = None) -> go.Figure:
    """Return the decision boundary: P(class 1) over the input plane, the 0.5 contour, the training points.

    `points` is (xy, labels) with xy of shape (N, 2), or a dict with "x", "y" and "label"; by default the
    run's own `boundary.points` (runs written before they existed draw without points).
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
    gx, gy = arr(b.get("x")), arr(b.get("y"))
    rows = b.get("prob") if isinstance(b.get("prob"), list) else []
    prob = np.full((len(gy), len(gx)), np.nan)
    for i, r in enumerate(rows[: len(gy)]):
        v = arr(r)[: len(gx)]
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
            line=dict(width=0.3, color=CONTOUR_LINE),
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
            line=dict(width=2.5, color=INK),
            showscale=False,
            name="boundary (P = 50%)",
            showlegend=True,
            hoverinfo="skip",
        )
    )
    points = b.get("points") if points is None else points
    groups: list[tuple[str, np.ndarray, int]] = []  # name, points, class (-1: unlabelled)
    if points is not None:
        xy, labels = _points(points)
        if labels is None:
            groups = [("data", xy, -1)] if len(xy) else []
        else:
            groups = [(f"class {int(c)}", xy[labels == c], int(c)) for c in np.unique(labels)]
        for name, pts, c in groups:
            colour, symbol = POINT_STYLE.get(c, (MARK, "circle"))
            fig.add_trace(
                scatter(
                    x=np.round(pts[:, 0], 4).tolist(),
                    y=np.round(pts[:, 1], 4).tolist(),
                    mode="markers",
                    name=name,
                    marker=dict(color=colour, symbol=symbol, size=7, line=dict(color=OUTLINE, width=1)),
                    hovertemplate=f"{name}<br>x₁ %{{x:.2f}}, x₂ %{{y:.2f}}<extra></extra>",
                )
            )
    what = "colour: the network's probability of class 1; black line: where it is 50%"
    if groups:
        what += f"; markers: {sum(len(p) for _, p, _ in groups)} training points, by class"
    style(fig, title, what, height=480, legend_below=True)
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
    return fig.figure()
