"""Browser latency of the Live lab: Playwright drives Debian's Chromium against `streamlit run app.py`.

A real server (`streamlit run app.py` on a free loopback port, runs in a temporary
directory) and a real headless Chromium. One session opens the Live lab with a
fixed link (`/?dataset=digits&steps=200000`, so the run never ends while we watch),
presses Start and we measure:

- first chart: from the click to the first visible plotly chart with data while the
  progress text shows a step > 0 (polled in the page on every animation frame).
  Measured on the fresh server (the first run pays imports and data loading), then,
  after Stop, for the same link with seed=1 clicked as soon as the page is usable
  (the row's number: a warm server), and with seed=2 clicked 2 s later.
- updates/s: how often the training-curves chart redraws with new steps while training
  over `window` seconds (sampled in the page every 50 ms), beside the progress text's
  rate and the share of the window the page's main thread spent in long tasks.
- payload: bytes the server sends over the websocket while training, per second and
  per update burst (frames less than 60 ms apart form one burst: one fragment rerun),
  and the largest single frame.
- new session: while that session trains, a fresh browser context opens the same
  link; time from `goto` to the Start button enabled (median of `sessions` tries).
- first chart in a new browser: after that session stops, a new context (empty caches,
  as on a student's first visit, so plotly.js is parsed afresh) opens the link with
  seed=3 and presses Start as soon as the page is usable (part of the first-chart row).

Every wait has a timeout, the server and the browser are stopped in `finally`, and
everything stays on 127.0.0.1. Nothing asserts; when Chromium or Playwright is
missing, every row reads "skipped".
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import ROOT, Row

CHROMIUM = "/usr/bin/chromium"
LINK = "/?dataset=digits&steps=200000"
NAMES = ("browser first chart", "browser updates", "browser payload", "browser new session")
BURST_GAP_S = 0.06
TIMEOUT_MS = 60_000

# True once the progress text shows a step > 0 and a plotly chart with data has drawn its svg and is visible.
FIRST_CHART_JS = r"""() => {
  const p = document.querySelector('[data-testid="stProgress"]');
  if (!p) return false;
  const m = p.innerText.match(/Step ([\d,]+)/);
  if (!m || Number(m[1].replace(/,/g, '')) <= 0) return false;
  // a chart drawn with data (the empty placeholder shown before Start does not count)
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].some(c => {
    const g = c.querySelector('.js-plotly-plot');
    if (!g || !c.querySelector('.main-svg') || !(g.data || []).some(t => t.x && t.x.length)) return false;
    const r = c.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  });
}"""

# Every 50 ms, sample the progress step into window.__steps and the last step drawn in the training
# curves (the page's first plotly chart) into window.__chart, each time it changes; and record the
# main thread's long tasks (> 50 ms: time the page could not react), into window.__long.
SAMPLER_JS = r"""() => {
  window.__steps = []; window.__chart = []; window.__long = []; window.__t0 = performance.now();
  let last = null, lastX = null;
  new PerformanceObserver(l => { for (const e of l.getEntries()) window.__long.push(e.duration); })
    .observe({type: 'longtask', buffered: false});
  window.__sampler = setInterval(() => {
    const g = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    const x = g && g.data && g.data[0] && g.data[0].x;
    const v = x && x.length ? x[x.length - 1] : null;
    if (v !== lastX) { lastX = v; window.__chart.push([performance.now(), v]); }
    const p = document.querySelector('[data-testid="stProgress"]');
    const m = p && p.innerText.match(/Step ([\d,]+)/);
    if (!m) return;
    const s = Number(m[1].replace(/,/g, ''));
    if (s !== last) { last = s; window.__steps.push([performance.now(), s]); }
  }, 50);
}"""
STOP_SAMPLER_JS = r"""() => { clearInterval(window.__sampler);
  return {steps: window.__steps, chart: window.__chart, long: window.__long,
          ms: performance.now() - window.__t0}; }"""


START_ENABLED_JS = r"""() => {
  const b = [...document.querySelectorAll('[data-testid="stMainBlockContainer"] button')]
    .find(b => b.innerText.trim() === 'Start');
  return !!b && !b.disabled;
}"""


def wait_start_enabled(page) -> None:
    """Wait until the Live lab's Start button is in the page and enabled."""
    page.wait_for_function(START_ENABLED_JS, polling="raf")


def stop_run(page) -> None:
    """Press the Live lab's Stop and wait until the progress text says so."""
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop", exact=True).click()
    page.get_by_test_id("stProgress").filter(has_text="stopped").wait_for(state="visible")


def time_first_chart(page, link: str, wait_ms: int) -> float:
    """Open `link`, wait `wait_ms` after the page is usable, press Start; return s to the first chart."""
    page.goto(link)
    wait_start_enabled(page)
    page.locator("[data-test-script-state='notRunning']").wait_for(state="attached")
    page.wait_for_timeout(wait_ms)
    t = time.monotonic()
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Start", exact=True).click()
    page.wait_for_function(FIRST_CHART_JS, polling="raf")
    return time.monotonic() - t


def restart_and_time_first_chart(page, link: str, wait_ms: int) -> float:
    """Stop the page's run, then `time_first_chart` in the same page (a warm browser cache)."""
    stop_run(page)
    return time_first_chart(page, link, wait_ms)


def first_chart_in_new_browser(browser, page, link: str) -> float:
    """Stop `page`'s run; in a new browser context (empty caches: a first visit) open `link`, press Start
    as soon as the page is usable and return s to the first chart; that run is stopped after."""
    stop_run(page)
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        p2 = ctx.new_page()
        p2.set_default_timeout(TIMEOUT_MS)
        seconds = time_first_chart(p2, link, 0)
        stop_run(p2)
        return seconds
    finally:
        ctx.close()


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path, extra: "tuple[str, ...] | list[str]" = ()) -> "tuple[str, subprocess.Popen]":
    """Start `streamlit run app.py` on a free loopback port; return (url, process) once healthy.

    The browser tests use it too (bench does not import pytest; the tests may import bench).
    """
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NORMLAB_RUNS": str(runs)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError(f"streamlit did not start: {proc.stderr.read().decode()[-2000:]}")
    return url, proc


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server, kill it after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def skipped(reason: str) -> list[Row]:
    """Return every row reading `skipped (reason)`."""
    return [Row(n, f"skipped ({reason})") for n in NAMES]


def bursts(frames: "list[tuple[float, int]]", gap: float = BURST_GAP_S) -> list[int]:
    """Group (time, bytes) frames into bursts (gaps < `gap` s); return each burst's bytes."""
    out: list[int] = []
    last = None
    for t, n in sorted(frames):
        if last is None or t - last >= gap:
            out.append(0)
        out[-1] += n
        last = t
    return out


def _kb(n: float) -> str:
    return f"{n / 1000:.1f} KB"


def measure(window: float = 10.0, sessions: int = 3) -> dict:
    """Run the scenario; return the raw numbers (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    from .sweeps import load_average

    out: dict = {"load_before": load_average()}
    frames: list[tuple[float, int]] = []
    recording = {"on": False}

    def on_frame(payload: "str | bytes") -> None:
        if recording["on"]:
            frames.append((time.monotonic(), len(payload)))

    def on_ws(ws) -> None:
        ws.on("framereceived", on_frame)

    with tempfile.TemporaryDirectory() as runs:
        t = time.monotonic()
        url, proc = start_server(Path(runs))
        out["server_start_s"] = time.monotonic() - t
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    timeout=TIMEOUT_MS,
                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
                )
                try:
                    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = ctx.new_page()
                    page.set_default_timeout(TIMEOUT_MS)
                    page.on("websocket", on_ws)
                    main = page.get_by_test_id("stMainBlockContainer")
                    start = main.get_by_role("button", name="Start", exact=True)
                    t = time.monotonic()
                    page.goto(url + LINK)
                    wait_start_enabled(page)
                    out["cold_load_s"] = time.monotonic() - t
                    page.locator("[data-test-script-state='notRunning']").wait_for(state="attached")
                    # (a) click -> first chart with training data
                    t = time.monotonic()
                    start.click()
                    page.wait_for_function(FIRST_CHART_JS, polling="raf")
                    out["cold_chart_s"] = time.monotonic() - t
                    # again on the warm server: clicked as soon as the page is usable, and as a user who
                    # looks at it for 2 s first (by then it has loaded plotly by itself: see pages/live.py)
                    out["first_chart_s"] = restart_and_time_first_chart(page, url + LINK + "&seed=1", 0)
                    out["first_chart_after_2s_s"] = restart_and_time_first_chart(page, url + LINK + "&seed=2", 2000)
                    # (b, c) updates and bytes while training
                    page.wait_for_timeout(1000)  # let the first full redraw (every fragment) settle
                    page.evaluate(SAMPLER_JS)
                    recording["on"] = True
                    t0 = time.monotonic()
                    page.wait_for_timeout(window * 1000)
                    recording["on"] = False
                    elapsed = time.monotonic() - t0
                    sampled = page.evaluate(STOP_SAMPLER_JS)
                    steps = sampled["steps"]
                    changes = max(0, len(steps) - 1)  # the first sample is the starting value
                    out["chart_changes"] = max(0, len(sampled["chart"]) - 1)
                    out["chart_updates_per_s"] = out["chart_changes"] / elapsed
                    out["long_task_share"] = sum(sampled["long"]) / sampled["ms"] if sampled["ms"] else float("nan")
                    out["long_task_max_ms"] = max(sampled["long"], default=0.0)
                    sizes = bursts(frames)
                    out.update(
                        window_s=elapsed,
                        step_changes=changes,
                        updates_per_s=changes / elapsed,
                        steps_trained=(steps[-1][1] - steps[0][1]) if steps else 0,
                        frames=len(frames),
                        frames_per_s=len(frames) / elapsed,
                        bytes=sum(n for _, n in frames),
                        bytes_per_s=sum(n for _, n in frames) / elapsed,
                        max_frame=max((n for _, n in frames), default=0),
                        bursts=len(sizes),
                        burst_median=statistics.median(sizes) if sizes else 0,
                        burst_max=max(sizes, default=0),
                    )
                    out["bytes_per_update"] = out["bytes"] / changes if changes else float("nan")
                    # (d) new sessions while the first one trains
                    times = []
                    for _ in range(sessions):
                        c2 = browser.new_context(viewport={"width": 1400, "height": 1000})
                        try:
                            p2 = c2.new_page()
                            p2.set_default_timeout(TIMEOUT_MS)
                            t = time.monotonic()
                            p2.goto(url + LINK)
                            wait_start_enabled(p2)
                            times.append(time.monotonic() - t)
                        finally:
                            c2.close()
                    out["new_session_s"] = times
                    out["still_training"] = bool(
                        re.search(r"training", page.get_by_test_id("stProgress").first.inner_text())
                    )
                    # (e) a first visit: a new context (no cached plotly.js) on the warm server, Start at once
                    out["first_chart_new_browser_s"] = first_chart_in_new_browser(browser, page, url + LINK + "&seed=3")
                    ctx.close()
                finally:
                    browser.close()
        finally:
            stop_server(proc)
    out["load_after"] = load_average()
    return out


def run(window: float = 10.0, sessions: int = 3) -> list[Row]:
    """Measure the Live lab in Chromium; return the four browser rows (skipped without Chromium/Playwright)."""
    if not Path(CHROMIUM).exists():
        return skipped("no /usr/bin/chromium: apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return skipped("pip install playwright")
    try:
        d = measure(window, sessions)
    except Exception as e:
        return [Row(n, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}") for n in NAMES]
    load = f"load avg {d['load_before']} -> {d['load_after']} on {os.cpu_count()} cpus"
    ups, new = d["chart_updates_per_s"], d["new_session_s"]
    per_update = d["bytes"] / d["chart_changes"] if d["chart_changes"] else float("nan")
    return [
        Row(
            NAMES[0],
            f"{d['first_chart_s']:.2f} s at once, {d['first_chart_after_2s_s']:.2f} s after 2 s "
            f"(fresh server {d['cold_chart_s']:.2f} s, new browser {d['first_chart_new_browser_s']:.2f} s)",
            d["first_chart_s"] / 1.0,
            "<= 1 s",
            f"click Start -> plotly chart with data visible and step > 0 ({LINK}), warm server: clicked as soon as "
            "the page is usable (seed=1; the ratio's number), and 2 s after (seed=2); new browser: a new context "
            "(empty caches, a first visit), clicked at once (seed=3); "
            f"first page load {d['cold_load_s']:.2f} s, server start {d['server_start_s']:.1f} s; "
            f"ratio = result / aim; {load}",
            d,
        ),
        Row(
            NAMES[1],
            f"{ups:.2f} chart updates/s",
            ups / 3.0,
            ">= 3/s",
            f"the training-curves chart redrew with new steps {d['chart_changes']} times in {d['window_s']:.1f} s "
            f"(progress text: {d['updates_per_s']:.2f}/s; {d['steps_trained']:,} steps trained); the page's main "
            f"thread spent {100 * d['long_task_share']:.0f}% of the window in long tasks (max "
            f"{d['long_task_max_ms']:.0f} ms: plotly redrawing); ratio = result / aim",
        ),
        Row(
            NAMES[2],
            f"{_kb(per_update)} per update, {_kb(d['bytes_per_s'])}/s",
            per_update / 100_000,
            "< 100 KB",
            f"ws bytes / curve-chart updates (every chart's bytes counted); bursts median {_kb(d['burst_median'])}, "
            f"max {_kb(d['burst_max'])}; "
            f"largest frame {_kb(d['max_frame'])}; ratio = result / aim",
        ),
        Row(
            NAMES[3],
            f"{statistics.median(new):.2f} s (max {max(new):.2f} s)",
            statistics.median(new) / 2.0,
            "< 2 s",
            f"fresh context: goto {LINK} -> Start enabled, median of {len(new)}, while session 1 trains "
            f"({'still training' if d['still_training'] else 'NOT training'} after); ratio = result / aim",
        ),
    ]


if __name__ == "__main__":
    from . import format_table

    print(format_table(run()))
