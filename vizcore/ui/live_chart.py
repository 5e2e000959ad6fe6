"""A plotly chart that stays mounted: each update is `Plotly.react` on the same div, so zoom and hover survive.

Streamlit 1.67's `st.plotly_chart` remounts whenever its figure changes: while training, every
chart would be rebuilt from scratch several times a second. This component keeps one div per
chart key and hands each new figure to `Plotly.react` with a fixed `uirevision`. plotly.js is
loaded once per page from the app's static folder (`server.enableStaticServing`), copied there
from the plotly package the server already has: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly
import streamlit as st

STATIC = Path(__file__).resolve().parents[2] / "static"
PLOTLY_JS = "plotly.min.js"

CHART_JS = "live_chart.js"  # the drawing code, served beside plotly.js (static/live_chart.js, in the repository)
SIGNIFICANT = 4  # digits a live chart's numbers keep: more than a chart or its hover text shows


def _chart_js_url() -> str:
    """Return the drawing code's URL, versioned by its content so a browser never runs a stale copy."""
    digest = hashlib.sha1((STATIC / CHART_JS).read_bytes()).hexdigest()[:12]
    return f"{static_url(CHART_JS)}?v={digest}"


def static_url(name: str) -> str:
    """Return where the browser loads the app's static file `name` from (under the server's base URL path)."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/app/static/{name}" if base else f"/app/static/{name}"


# Every chart message carries its component's JS source: a few bytes of loader, not the drawing
# code itself (2.8 KB, which was a quarter of the bytes a page received). The module is fetched
# once per page; calls queue on its promise, so updates are drawn in the order they came.
_LOADER = """const chart = import(new URL("%s", document.baseURI).href);
export default function (c) {
  chart.then((m) => m.draw(c))
    .catch((e) => { c.parentElement.textContent = "This chart could not be drawn: " + e.message; });
}
"""
_MOUNT = st.components.v2.component("normlab.live_chart", js=_LOADER % _chart_js_url(), isolate_styles=False)


def ensure_plotly_js() -> Path:
    """Return the path of plotly.js in the app's static folder, copying it from the plotly package if missing."""
    src = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    dst = STATIC / PLOTLY_JS
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        STATIC.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=STATIC, prefix=".plotly-", suffix=".tmp")  # one per process: replicas
        os.close(fd)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)  # atomic: a page loading it never sees half a file
    return dst


def script_url() -> str:
    """Return where the browser loads plotly.js from (under the server's base URL path)."""
    return static_url(PLOTLY_JS)


def compact(value: Any) -> Any:
    """Return a JSON value with every float rounded to SIGNIFICANT digits (a third fewer bytes on the wire)."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}")
    if isinstance(value, list):
        return [compact(v) for v in value]
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    return value


def figure_spec(fig: Any) -> dict:
    """Return the JSON-ready dict a live chart sends for plotly figure `fig` (or spec dict), floats compacted."""
    return compact(json.loads(fig.to_json()) if hasattr(fig, "to_json") else fig)


@dataclass(frozen=True)
class Prepared:
    """A live chart's message for one figure in one view, and its height: all a redraw needs of it."""

    data: bytes
    height: int


def prepare(fig: Any, uirevision: str = "keep") -> Prepared:
    """Return what `live_chart` sends for `fig` in view `uirevision`: its message as JSON bytes, and its height.

    A job memoizes this, not the figure, for every session watching it (`Job.memo`): the figure and
    its JSON-ready copy (tens of thousands of Python objects for a long run's heatmap) go at once,
    and a server's peak memory in a class is what stays allocated after it (docs/performance.md).
    """
    spec = figure_spec(fig)
    # Bytes go to the browser as they are, where a dict would be walked, dumped and dumped again
    # (sorted, for the element's identity) by Streamlit at every poll of every session.
    data = json.dumps({"figure": spec, "src": script_url(), "uirevision": uirevision}, separators=(",", ":"))
    return Prepared(data.encode(), int((spec.get("layout") or {}).get("height") or 400))


def live_chart(fig: Any, key: str, where: Any = None, uirevision: str = "keep") -> None:
    """Draw plotly figure `fig` (or a `prepare`d one) under `key`, updating the mounted chart in place."""
    made = fig if isinstance(fig, Prepared) else prepare(fig, uirevision)
    if where is None or where is st:
        _MOUNT(data=made.data, key=key, height=made.height)
    else:
        with where:
            _MOUNT(data=made.data, key=key, height=made.height)
