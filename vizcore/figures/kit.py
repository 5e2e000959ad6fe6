"""A figure assembled as plain dicts and handed to plotly once.

Plotly validates every `add_trace`, `update_*` and `make_subplots` call and
re-walks the whole figure each time: for the Live lab's charts that was 25-60 ms a
figure, redrawn several times a second while a trainer thread competes for the
GIL. `Fig` keeps the same calls (`add_trace(..., row=, col=)`, `update_xaxes`,
`update_layout`, ...) on plain dicts and builds the `go.Figure` once in
`figure()`, where plotly still validates everything: the result is the same
figure for a fifth to a tenth of the time. The subplot grid itself comes from
plotly's own `make_subplots`, computed once per grid shape and cached.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import json
import re
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

_AXIS_KEY = re.compile(r"^[xy]axis(\d*)$")
# Whether `Fig.figure()` skips plotly's validation: only inside `trusted()`, around figure functions
# whose output is checked against the validated figure in tests (tests/ui/test_live_figures.py).
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("normlab_trusted_figures", default=False)


@contextlib.contextmanager
def trusted():
    """Build figures without plotly's validation inside this block: the same JSON in a third of the time.

    Validation walks every property of every trace through plotly's validators: 60-75% of the cost
    of a live chart, rebuilt for every snapshot while a classroom's trainers wait for the GIL.
    """
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


def _thaw(v: Any) -> Any:
    if isinstance(v, tuple) and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in v) and v:
        return {k: _thaw(x) for k, x in v}
    if isinstance(v, tuple):
        return [_thaw(x) for x in v]
    return v


@functools.lru_cache(maxsize=256)
def _grid_layout(frozen: tuple) -> str:
    """Return make_subplots' layout (axes, domains, subplot titles) as JSON, without a template."""
    kwargs = {k: _thaw(v) for k, v in frozen}
    if kwargs.get("specs") is not None:  # a frozen cell spec {} thaws to []; None cells stay None
        kwargs["specs"] = [[{} if cell is not None else None for cell in row] for row in kwargs["specs"]]
    layout = json.loads(pio.to_json(make_subplots(**kwargs), validate=False))["layout"]
    layout.pop("template", None)
    return json.dumps(layout)


def _expand(kw: dict) -> dict:
    """Return `kw` with plotly's `title_text`-style keys nested ({"title": {"text": ...}})."""
    out: dict = {}
    for k, v in kw.items():
        if k.startswith("title_"):
            out.setdefault("title", {})[k[len("title_") :]] = v
        else:
            out[k] = v
    return out


def _merge(into: dict, update: dict) -> None:
    """Merge `update` into `into` as plotly's update does: dicts recursively, None removes, the rest replaces."""
    for k, v in update.items():
        if v is None:
            into.pop(k, None)
        elif isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.copy(v) if isinstance(v, dict) else v


class Fig:
    """The subset of `go.Figure`'s building calls the figure modules use, on plain dicts."""

    def __init__(self, rows: int = 1, cols: int = 1, **subplots: Any):
        self.data: list[dict] = []
        self.cols = cols
        self.grid = rows > 1 or cols > 1 or bool(subplots)
        if self.grid:
            frozen = tuple(sorted((k, _freeze(v)) for k, v in {"rows": rows, "cols": cols, **subplots}.items()))
            self.layout: dict = json.loads(_grid_layout(frozen))
        else:
            self.layout = {}

    def _axis_names(self, letter: str, row: int | None, col: int | None) -> list[str]:
        if row is not None or col is not None:
            if row is None or col is None:
                raise ValueError("give both row and col, or neither")
            k = (row - 1) * self.cols + col
            return [f"{letter}axis" if k == 1 else f"{letter}axis{k}"]
        names = [k for k in self.layout if _AXIS_KEY.match(k) and k[0] == letter]
        return names or [f"{letter}axis"]

    def add_trace(self, trace: dict, row: int | None = None, col: int | None = None) -> Fig:
        """Append `trace` (a dict with "type"), in subplot (row, col) if given; return self."""
        t = {k: v for k, v in trace.items() if v is not None}
        if row is not None and col is not None:
            t["xaxis"], t["yaxis"] = axis_ref((row - 1) * self.cols + col)
        self.data.append(t)
        return self

    def add_shape(self, **shape: Any) -> Fig:
        """Append one layout shape; return self."""
        self.layout.setdefault("shapes", []).append(shape)
        return self

    def add_annotation(self, **note: Any) -> Fig:
        """Append one layout annotation; return self."""
        self.layout.setdefault("annotations", []).append(note)
        return self

    def add_decorations(self, shapes: list[dict], notes: list[dict]) -> Fig:
        """Append many shapes and annotations; return self."""
        if shapes:
            self.layout.setdefault("shapes", []).extend(shapes)
        if notes:
            self.layout.setdefault("annotations", []).extend(notes)
        return self

    def update_layout(self, **kw: Any) -> Fig:
        """Merge `kw` into the layout as plotly's update_layout does; return self."""
        _merge(self.layout, kw)
        return self

    def update_xaxes(self, row: int | None = None, col: int | None = None, **kw: Any) -> Fig:
        """Update the x axis of subplot (row, col), or every x axis; return self."""
        for name in self._axis_names("x", row, col):
            _merge(self.layout.setdefault(name, {}), _expand(kw))
        return self

    def update_yaxes(self, row: int | None = None, col: int | None = None, **kw: Any) -> Fig:
        """Update the y axis of subplot (row, col), or every y axis; return self."""
        for name in self._axis_names("y", row, col):
            _merge(self.layout.setdefault(name, {}), _expand(kw))
        return self

    def figure(self) -> go.Figure:
        """Return the plotly figure (validated by plotly, once, unless built inside `trusted()`)."""
        if _TRUSTED.get():
            return go.Figure(data=self.data, layout=self.layout, _validate=False)
        return go.Figure(data=self.data, layout=self.layout)


def axis_ref(k: int) -> tuple[str, str]:
    """Return (xref, yref) of subplot number `k` (1-based, row-major as make_subplots numbers them)."""
    return ("x", "y") if k == 1 else (f"x{k}", f"y{k}")


def spacing(n: int, wanted: float) -> float:
    """Return a subplot spacing that make_subplots accepts for `n` rows or columns."""
    return min(wanted, 0.9 / (n - 1)) if n > 1 else wanted


def scatter(**kw: Any) -> dict:
    """Return a scatter trace as a dict (what `go.Scatter(**kw)` would describe)."""
    return {"type": "scatter", **kw}


def bar(**kw: Any) -> dict:
    """Return a bar trace as a dict (what `go.Bar(**kw)` would describe)."""
    return {"type": "bar", **kw}
