"""A plotly chart that stays mounted: each update is `Plotly.react` on the same div, so zoom and hover survive.

Streamlit 1.67's `st.plotly_chart` remounts whenever its figure changes: while training, every
chart would be rebuilt from scratch several times a second. This component keeps one div per
chart key and hands each new figure to `Plotly.react` with a fixed `uirevision`. plotly.js is
loaded once per page from the app's static folder (`server.enableStaticServing`), copied there
from the plotly package the server already has: nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import plotly
import streamlit as st

STATIC = Path(__file__).resolve().parents[2] / "static"
PLOTLY_JS = "plotly.min.js"

_JS = r"""
function loadPlotly(src) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__normlabPlotly) {
    window.__normlabPlotly = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { window.__normlabPlotly = null; reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  return window.__normlabPlotly;
}

// Axis ranges the user chose (zoom, pan) win over the figure's own until a double-click resets them:
// uirevision alone cannot keep them, since a live figure's ranges change with every update.
function rememberZoom(div) {
  if (div._normlabHooked) return;
  div._normlabHooked = true;
  div._userRanges = {};
  div.on("plotly_relayout", (ev) => {
    for (const [key, value] of Object.entries(ev || {})) {
      const m = key.match(/^([xy]axis\d*)\.(range|autorange)(\[(\d)\])?$/);
      if (!m) continue;
      const axis = m[1];
      if (m[2] === "autorange") { delete div._userRanges[axis]; continue; }
      const r = div._userRanges[axis] || (div._fullLayout[axis] ? div._fullLayout[axis].range.slice() : [null, null]);
      if (m[4] !== undefined) r[Number(m[4])] = value; else { r[0] = value[0]; r[1] = value[1]; }
      div._userRanges[axis] = r;
    }
  });
}

export default function (component) {
  const { data, parentElement } = component;
  if (!data) return;
  let div = parentElement.querySelector("div.normlab-chart");
  if (!div) {
    div = document.createElement("div");
    div.className = "normlab-chart";
    parentElement.appendChild(div);
  }
  const fig = data.figure;
  div.style.height = (fig.layout && fig.layout.height ? fig.layout.height : 400) + "px";
  div.dataset.frames = String((Number(div.dataset.frames) || 0) + 1);
  loadPlotly(data.src).then((Plotly) => {
    const layout = Object.assign({}, fig.layout, { uirevision: data.uirevision || "keep", autosize: true });
    delete layout.width;
    if (div._userRanges && div._uirevision === layout.uirevision) {
      for (const [axis, range] of Object.entries(div._userRanges)) {
        layout[axis] = Object.assign({}, layout[axis], { range: range.slice(), autorange: false });
      }
    } else if (div._userRanges) {
      div._userRanges = {};  // a new view (zoom choice, presenter mode): the page's ranges apply again
    }
    div._uirevision = layout.uirevision;
    const config = Object.assign({ displaylogo: false, responsive: true }, data.config || {});
    return Plotly.react(div, fig.data, layout, config);
  }).then(() => {
    rememberZoom(div);
    div.dataset.drawn = String((Number(div.dataset.drawn) || 0) + 1);
  }).catch((e) => { div.textContent = "This chart could not be drawn: " + e.message; });
}
"""

_MOUNT = st.components.v2.component("normlab.live_chart", js=_JS, isolate_styles=False)


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
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}/app/static/{PLOTLY_JS}" if base else f"/app/static/{PLOTLY_JS}"


def live_chart(fig: Any, key: str, where: Any = None, uirevision: str = "keep") -> None:
    """Draw plotly figure `fig` under `key`, updating the mounted chart in place when it exists."""
    spec = json.loads(fig.to_json()) if hasattr(fig, "to_json") else fig
    data = {"figure": spec, "src": script_url(), "uirevision": uirevision}
    height = int((spec.get("layout") or {}).get("height") or 400)
    if where is None or where is st:
        _MOUNT(data=data, key=key, height=height)
    else:
        with where:
            _MOUNT(data=data, key=key, height=height)
