"""What bench/browser.py reads in the Live lab's page, and how it reads the websocket it listens to.

The Live lab draws each chart as a components-v2 live chart (vizcore/ui/live_chart.py): one
`div.normlab-chart` per chart key, inside the element container whose class is `st-key-<key>`.
Each data arrival increments the div's `data-frames`, each finished `Plotly.react` its
`data-drawn`. The page before the rebuild (362b273) drew `st.plotly_chart`s instead
(`[data-testid="stPlotlyChart"] .js-plotly-plot`); only the CPU row opens it, and it needs
no more than "a chart with data" and the Start and Stop buttons.

Everything here runs in the page (JS strings for `page.evaluate`) or on frames already
captured (`updates`): no timing happens in Python between the click and the chart.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import NamedTuple

LECTURE_KEYS = ("curves", "pair")  # the lecture row: redrawn by a fragment every 0.15 s
TAB_KEYS = ("heatmap", "bands", "hists", "grads", "sat", "boundary")  # the tabs below: every 1.5 s

# Shared page helpers: the progress line's step, a chart's key, visibility, and a cheap signature of
# what a chart shows (points and the sum of every finite value in x, y and z), to tell a new drawing
# from the same data drawn again.
_HELPERS = r"""
const __step = () => {
  const p = document.querySelector('[data-testid="stProgress"]');
  const m = p && p.innerText.match(/Step ([\d,]+)/);
  return m ? Number(m[1].replace(/,/g, '')) : null;
};
const __key = d => {
  const c = d.closest('[class*="st-key-"]');
  const m = c && String(c.className).match(/st-key-(\S+)/);
  return m ? m[1] : '?';
};
const __visible = d => { const r = d.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
const __sig = d => {
  let n = 0, s = 0;
  const add = a => {
    if (!a || typeof a.length !== 'number' || typeof a === 'string') return;
    for (const v of a) {
      if (v && typeof v === 'object' && typeof v.length === 'number') add(v);
      else { n += 1; if (typeof v === 'number' && isFinite(v)) s += v; }
    }
  };
  for (const t of (d.data || [])) { add(t.x); add(t.y); add(t.z); }
  return n + ':' + s.toPrecision(12);
};
"""

# Installed right before Start is clicked: records, on the page's own clock, the click on Start
# (its event's timeStamp, when the input happened; "handled": when a capturing listener saw it),
# the first animation frame at which a live chart has been redrawn since
# then with data of the run while the progress line shows a step > 0 ("any": the distributions
# with data, or the curves with a step > 0), and the first at which the training-curves chart
# shows a step > 0 ("curves": a test point at step 0, then the training batches since the last
# point as one more point at the latest step); also when the first chart
# data of the run reached the page ("arrived": a data-frames change) and whether plotly.js was
# already parsed at the click.
FIRST_CHART_WATCH_JS = (
    "() => {"
    + _HELPERS
    + r"""
  const fc = window.__fc = {
    click: null, handled: null, any: null, anyKey: null, curves: null, arrived: null, plotly: null,
  };
  const base = new WeakMap();
  for (const d of document.querySelectorAll('div.normlab-chart')) base.set(d, Number(d.dataset.drawn) || 0);
  document.addEventListener('click', e => {
    const b = e.target.closest && e.target.closest('button');
    if (fc.click === null && b && b.innerText.trim() === 'Start') {
      // the input's own time (same clock), not when the main thread got to it: a busy page's delay counts
      fc.click = e.timeStamp;
      fc.handled = performance.now();
      fc.plotly = !!window.Plotly;  // plotly.js already parsed when Start was clicked
    }
  }, true);
  // the first chart data to reach the page after the click (a live chart's data-frames), before plotly draws it
  const mo = new MutationObserver(() => {
    if (fc.click === null || fc.arrived !== null || !((__step() || 0) > 0)) return;
    fc.arrived = performance.now();
    mo.disconnect();
  });
  mo.observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-frames']});
  const tick = () => {
    if (fc.click !== null && (__step() || 0) > 0) {
      for (const d of document.querySelectorAll('div.normlab-chart')) {
        if ((Number(d.dataset.drawn) || 0) <= (base.get(d) || 0) || !__visible(d) || !d.querySelector('.main-svg'))
          continue;
        const traces = d.data || [], key = __key(d);
        const steps = traces.some(t => t.x && [...t.x].some(v => v > 0));
        // the curves count once they show a step > 0 (a test point at step 0 comes first)
        if (fc.any === null && (key === 'curves' ? steps : traces.some(t => t.x && t.x.length))) {
          fc.any = performance.now();
          fc.anyKey = key;
        }
        if (fc.curves === null && key === 'curves' && steps) fc.curves = performance.now();
      }
    }
    if (fc.any === null || fc.curves === null) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
)
FIRST_CHART_READY_JS = "() => window.__fc && window.__fc.any !== null && window.__fc.curves !== null"
FIRST_CHART_READ_JS = "() => window.__fc"

# "A chart with data is on the page", for either page: the live charts or (before the rebuild) st.plotly_chart.
ANY_CHART_JS = r"""() => {
  const p = document.querySelector('[data-testid="stProgress"]');
  const m = p && p.innerText.match(/Step ([\d,]+)/);
  if (!m || Number(m[1].replace(/,/g, '')) <= 0) return false;
  return [...document.querySelectorAll('div.normlab-chart, [data-testid="stPlotlyChart"] .js-plotly-plot')]
    .some(g => (g.data || []).some(t => t.x && t.x.length) && g.getBoundingClientRect().height > 0);
}"""

# The rate window: every change of a live chart's data-frames / data-drawn, as it happens (a
# MutationObserver), with the chart's key and, for drawings, its signature; the progress line's
# step every 50 ms; and the main thread's long tasks (> 50 ms, time the page could not react).
RATE_WATCH_JS = (
    "() => {"
    + _HELPERS
    + r"""
  const w = window.__rate = {ev: [], long: [], steps: [], sig0: {}, t0: performance.now()};
  for (const d of document.querySelectorAll('div.normlab-chart')) w.sig0[__key(d)] = __sig(d);
  w.mo = new MutationObserver(ms => {
    const now = performance.now();
    for (const m of ms) {
      const d = m.target;
      if (!d.classList || !d.classList.contains('normlab-chart')) continue;
      const drawn = m.attributeName === 'data-drawn';
      w.ev.push([now, __key(d), drawn ? 'drawn' : 'frames', drawn ? __sig(d) : null]);
    }
  });
  w.mo.observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-drawn', 'data-frames']});
  w.po = new PerformanceObserver(l => { for (const e of l.getEntries()) w.long.push(e.duration); });
  w.po.observe({type: 'longtask', buffered: false});
  let last = null;
  w.timer = setInterval(() => {
    const s = __step();
    if (s !== null && s !== last) { last = s; w.steps.push([performance.now(), s]); }
  }, 50);
}"""
)
RATE_READ_JS = r"""() => {
  const w = window.__rate;
  w.mo.disconnect(); w.po.disconnect(); clearInterval(w.timer);
  return {ev: w.ev, long: w.long, steps: w.steps, sig0: w.sig0, ms: performance.now() - w.t0};
}"""

START_ENABLED_JS = r"""() => {
  const b = [...document.querySelectorAll('[data-testid="stMainBlockContainer"] button')]
    .find(b => b.innerText.trim() === 'Start');
  return !!b && !b.disabled;
}"""
STEP_JS = "() => {" + _HELPERS + " return __step(); }"


def chart_rates(sampled: dict) -> dict[str, dict[str, float]]:
    """Return, per chart key, frames, drawings and distinct drawings (new data) in the window, and each per s."""
    seconds = sampled["ms"] / 1000 or float("nan")
    out: dict[str, dict[str, float]] = {}
    last = dict(sampled["sig0"])
    for _, key, kind, sig in sampled["ev"]:
        c = out.setdefault(key, {"frames": 0, "drawn": 0, "distinct": 0})
        c[kind] += 1
        if kind == "drawn":
            c["distinct"] += sig != last.get(key)
            last[key] = sig
    for c in out.values():
        for k in ("frames", "drawn", "distinct"):
            c[f"{k}_per_s"] = c[k] / seconds
    return out


def element_key(element_id: str) -> str:
    """Return the user key at the end of a Streamlit element id ('$$ID-<hash>-pair' -> 'pair'), or ''."""
    parts = element_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "$$ID" else ""


class Msg(NamedTuple):
    """One server frame, decoded."""

    t: float
    bytes: int
    kind: str  # the ForwardMsg's type: "delta", "script_finished", ...
    key: str  # the chart's user key for a live chart or plotly chart delta, else ""
    js: int = 0  # bytes of a live chart's JS source the message carries (sent with every update)
    same: bool = False  # a chart message identical to that chart's previous one (nothing new to draw)


def decode(frames: Iterable[tuple[float, "bytes | str"]]) -> list[Msg]:
    """Return each captured server frame (time, payload) as a `Msg` read from its ForwardMsg."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out, last = [], {}
    for t, payload in frames:
        if isinstance(payload, str):
            out.append(Msg(t, len(payload.encode()), "text", ""))
            continue
        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # a frame we cannot read still counts its bytes
            out.append(Msg(t, len(payload), "unreadable", ""))
            continue
        kind, key, js, same = msg.WhichOneof("type") or "", "", 0, False
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            which = el.WhichOneof("type")
            if which in ("bidi_component", "plotly_chart"):
                key = element_key(getattr(el, which).id)
                js = len(el.bidi_component.js_content) if which == "bidi_component" else 0
                body = el.SerializeToString()
                same, last[key] = last.get(key) == body, body
        out.append(Msg(t, len(payload), kind, key, js, same))
    return out


def updates(messages: list[Msg]) -> list[dict]:
    """Split decoded messages into updates: one script or fragment run each, ended by its script_finished.

    Each update: its bytes, the chart keys it carried, and "lecture" / "tabs" / "other" by those keys.
    Messages after the last script_finished (a run cut by the window's end) are left out.
    """
    out, cur_bytes, cur_keys = [], 0, []
    for m in messages:
        cur_bytes += m.bytes
        kind, key = m.kind, m.key
        if key:
            cur_keys.append(key)
        if kind == "script_finished":
            keys = set(cur_keys)
            part = "lecture" if keys & set(LECTURE_KEYS) else "tabs" if keys & set(TAB_KEYS) else "other"
            out.append({"bytes": cur_bytes, "keys": sorted(keys), "part": part})
            cur_bytes, cur_keys = 0, []
    return out


def payload_summary(messages: list[Msg], seconds: float) -> dict:
    """Return bytes per second and per update (mean, by part, max), per chart message by key, the largest
    frame, and the bytes of chart messages identical to the chart's previous one and of JS source."""
    ups = updates(messages)
    total = sum(m.bytes for m in messages)
    by_part = {p: [u["bytes"] for u in ups if u["part"] == p] for p in ("lecture", "tabs", "other")}
    by_key: dict[str, list[int]] = {}
    for m in messages:
        if m.key:
            by_key.setdefault(m.key, []).append(m.bytes)
    sizes = [u["bytes"] for u in ups]
    return {
        "seconds": seconds,
        "bytes": total,
        "bytes_per_s": total / seconds if seconds else float("nan"),
        "frames": len(messages),
        "max_frame": max((m.bytes for m in messages), default=0),
        "same_bytes": sum(m.bytes for m in messages if m.same),
        "same_messages": sum(m.same for m in messages),
        "js_bytes": sum(m.js for m in messages),
        # identical messages of global.minCachedMessageSize (10 KB) or more go as a reference to the browser's cache
        "refs": sum(m.kind == "ref_hash" for m in messages),
        "updates": len(ups),
        "updates_per_s": len(ups) / seconds if seconds else float("nan"),
        "update_mean": statistics.fmean(sizes) if sizes else float("nan"),
        "update_max": max(sizes, default=0),
        "parts": {
            p: {"n": len(v), "mean": statistics.fmean(v) if v else float("nan"), "max": max(v, default=0)}
            for p, v in by_part.items()
        },
        "chart_messages": {
            k: {"n": len(v), "median": statistics.median(v), "same": sum(m.same for m in messages if m.key == k)}
            for k, v in sorted(by_key.items())
        },
    }
