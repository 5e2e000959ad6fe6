"""Browser cost of the Live lab: Playwright drives Debian's Chromium against `streamlit run app.py`.

A real server (`streamlit run app.py` on a free loopback port, runs in a temporary
directory) and a real headless Chromium. The Live lab opens with a fixed link
(`/?dataset=digits&steps=200000`, so the run never ends while we watch; by default it
trains at 25 steps/s, beside a twin without normalization), and we measure (the page's
charts are live charts, `div.normlab-chart`: see bench/livepage.py):

- first chart: from the click on Start (its input event's time, on the page's own clock: a main
  thread busy when it came counts) to the first animation frame at which a live chart has been
  redrawn with data while the progress line shows a step > 0; beside it, the first frame at which
  the training curves show a step > 0 (the batches since their last point end them as a point at
  the latest step). On the fresh server (the first run pays imports and data
  loading), then after Stop with seed=1 clicked as soon as the page is usable (the row's
  number), seed=2 one second later and seed=3 two seconds later (warm browser cache), and, at
  the end, in a new browser context (empty caches: a student's first visit) with seed=4 at once.
- curve drawings: distinct drawings of the training-curves chart per second (`data-drawn`
  changes that drew new data) over `window` seconds while seed=3 trains at the default pace,
  then after the pace control is set to "as fast as it goes" (pace=max).
- lecture redraws: the same for every chart of the lecture row (curves and pair), beside the
  data arrivals (`data-frames`) and the fragment runs the server sent.
- payload: websocket bytes the server sent in those windows, decoded (ForwardMsg): per
  update (one script or fragment run, up to its script_finished), split into lecture-row and
  tab updates, per chart message, and the largest frame.
- new session: while seed=3 trains, a fresh browser context opens the same link; time from
  `goto` to the Start button enabled (median of `sessions` tries).
- cpu: browser CPU per second of live view, the current page beside the page before the
  rebuild (commit `BEFORE`, checked out into a temporary git worktree and served by a second
  server), alternated `rounds` times in one run: each a fresh context on an otherwise idle
  browser, Start, 2 s to settle, then over `window` s the Chromium processes' CPU
  (CDP SystemInfo.getProcessInfo: browser, GPU, renderer, network), the renderer's and its
  main thread's CPU (CDP Performance.getMetrics ProcessTime, ThreadTime; TaskDuration,
  ScriptDuration and Layout/RecalcStyleDuration are wall time in tasks) and the server's
  CPU (/proc; it includes the training).
  The current page at its default pace (25 steps/s, two runs) and at pace=max; the old page
  as it was (one run, unpaced, polling every 0.3 s).

Every wait has a timeout, the servers, the browser and the worktree go in `finally`, and
everything stays on 127.0.0.1. Nothing asserts; when Chromium or Playwright is missing,
every row reads "skipped".
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from . import ROOT, Row
from .livepage import (
    ANY_CHART_JS,
    FIRST_CHART_READ_JS,
    FIRST_CHART_READY_JS,
    FIRST_CHART_WATCH_JS,
    LECTURE_KEYS,
    RATE_READ_JS,
    RATE_WATCH_JS,
    START_ENABLED_JS,
    STEP_JS,
    chart_rates,
    decode,
    payload_summary,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
LINK = "/live?dataset=digits&steps=200000"  # the Live lab itself: / is the Start-here landing
OLD_LINK = "/?dataset=digits&steps=200000"  # the page before (BEFORE): the Live lab was its default page
BEFORE = "362b273"  # the last commit before the Live lab's live charts (st.plotly_chart, polled every 0.3 s)
NAMES = (
    "browser first chart",
    "browser curve drawings",
    "browser lecture redraws",
    "browser payload",
    "browser cpu",
    "browser new session",
)
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 60_000
SETTLE_MS = 2000
PACE_MAX = '[role="radiogroup"][aria-label^="Pace"] [role="radio"] >> nth=-1'  # the pace control's last: max


def wait_start_enabled(page) -> None:
    """Wait until the Live lab's Start button is in the page and enabled."""
    page.wait_for_function(START_ENABLED_JS, polling="raf")


def open_usable(page, url: str) -> None:
    """Open `url` and wait until the page is usable: Start enabled and the script not running."""
    page.goto(url)
    wait_start_enabled(page)
    page.locator("[data-test-script-state='notRunning']").wait_for(state="attached")


def button(page, name: str):
    """Return the page's own button `name` (not Streamlit's header buttons)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


def set_pace_max(page, tries: int = 6) -> None:
    """Choose the pace control's max and wait until the link says so (a click during a rerun can be lost)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(tries):
        page.locator(PACE_MAX).click()
        try:
            page.wait_for_url(re.compile(r"pace=max"), timeout=TIMEOUT_MS / tries)
            return
        except PlaywrightTimeout:  # the click was lost: click again
            continue
    raise TimeoutError(f"the link never said pace=max after {tries} clicks on the pace control")


def stop_run(page) -> None:
    """Press the Live lab's Stop and wait until the progress text says so."""
    button(page, "Stop").click()
    page.get_by_test_id("stProgress").filter(has_text="stopped").first.wait_for(state="visible")


def time_first_chart(page, link: str, wait_ms: int) -> dict:
    """Open `link`, wait `wait_ms` after the page is usable, press Start; return s to the first charts.

    "any": the first live chart redrawn with data (and which it was); "curves": the training curves
    showing a step > 0; "arrived": the first chart data of the run in the page, before plotly draws it.
    All from the click's input event, on the page's clock; "input_delay": how long the page's main
    thread took to get to that click (busy parsing plotly.js, say); "plotly_loaded": plotly.js was
    parsed when it did.
    """
    open_usable(page, link)
    page.wait_for_timeout(wait_ms)
    page.evaluate(FIRST_CHART_WATCH_JS)
    button(page, "Start").click()
    page.wait_for_function(FIRST_CHART_READY_JS, polling=50)
    fc = page.evaluate(FIRST_CHART_READ_JS)
    return {
        "any": (fc["any"] - fc["click"]) / 1000,
        "curves": (fc["curves"] - fc["click"]) / 1000,
        "arrived": (fc["arrived"] - fc["click"]) / 1000 if fc["arrived"] is not None else float("nan"),
        "key": fc["anyKey"],
        "plotly_loaded": fc["plotly"],
        "input_delay": (fc["handled"] - fc["click"]) / 1000,
    }


class Frames:
    """Websocket frames the server sends to the pages it is attached to, kept while `on`."""

    def __init__(self) -> None:
        self.on, self.frames = False, []

    def attach(self, ws) -> None:
        """Listen to websocket `ws` (a `page.on("websocket", ...)` handler)."""
        ws.on("framereceived", lambda payload: self.frames.append((time.monotonic(), payload)) if self.on else None)

    def start(self) -> None:
        self.frames, self.on = [], True

    def stop(self) -> list:
        self.on = False
        return self.frames


def rate_window(page, seconds: float, frames: Frames) -> dict:
    """Watch the live charts and the websocket for `seconds`; return rates per chart, payload and steps."""
    page.evaluate(RATE_WATCH_JS)
    frames.start()
    t0 = time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    captured = frames.stop()
    elapsed = time.monotonic() - t0
    sampled = page.evaluate(RATE_READ_JS)
    steps = sampled["steps"]
    return {
        "seconds": sampled["ms"] / 1000,
        "charts": chart_rates(sampled),
        "payload": payload_summary(decode(captured), elapsed),
        "steps_per_s": (steps[-1][1] - steps[0][1]) / ((steps[-1][0] - steps[0][0]) / 1000)
        if len(steps) > 1 and steps[-1][0] > steps[0][0]
        else 0.0,
        "long_task_share": sum(sampled["long"]) / sampled["ms"] if sampled["ms"] else float("nan"),
        "long_task_max_ms": max(sampled["long"], default=0.0),
    }


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    runs: Path, extra: "tuple[str, ...] | list[str]" = (), root: "str | Path" = ROOT
) -> "tuple[str, subprocess.Popen]":
    """Start `streamlit run app.py` in `root` on a free loopback port; return (url, process) once healthy.

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
        cwd=root,
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


@contextlib.contextmanager
def checkout(ref: "str | None") -> Iterator["Path | None"]:
    """Yield a folder holding the app at `ref`: an existing folder as is, else a temporary git worktree.

    The worktree gets a symlink to this checkout's .venv and is removed afterwards. Yields None
    when `ref` is None or cannot be checked out (a shallow clone, no git).
    """
    if ref is None:
        yield None
        return
    if Path(ref).is_dir():
        yield Path(ref)
        return
    tmp = Path(tempfile.mkdtemp(prefix="normlab-before-")) / "app"
    git = ["git", "-C", ROOT, "worktree"]
    added = subprocess.run([*git, "add", "--detach", str(tmp), ref], capture_output=True, text=True).returncode == 0
    try:
        if added and (Path(ROOT) / ".venv").exists():
            (tmp / ".venv").symlink_to(Path(ROOT) / ".venv")
        yield tmp if added else None
    finally:
        if added:
            subprocess.run([*git, "remove", "--force", str(tmp)], capture_output=True)
        with contextlib.suppress(OSError):
            tmp.parent.rmdir()


def _metrics(cdp) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _process_cpu(bcdp) -> dict[int, float]:
    return {p["id"]: p["cpuTime"] for p in bcdp.send("SystemInfo.getProcessInfo")["processInfo"]}


def cpu_window(browser, url: str, link: str, seconds: float, server_pid: int) -> dict:
    """Open `link` in a fresh context, press Start, settle, and measure CPU per second of live view."""
    from .sweeps import _cpu_s

    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        frames = Frames()
        page.on("websocket", frames.attach)
        open_usable(page, url + link)
        button(page, "Start").click()
        page.wait_for_function(ANY_CHART_JS, polling="raf")
        page.wait_for_timeout(SETTLE_MS)
        cdp = ctx.new_cdp_session(page)
        cdp.send("Performance.enable")
        bcdp = browser.new_browser_cdp_session()
        m0, p0, s0, step0 = _metrics(cdp), _process_cpu(bcdp), _cpu_s([server_pid]), page.evaluate(STEP_JS)
        frames.start()
        t0 = time.monotonic()
        page.wait_for_timeout(seconds * 1000)
        m1, p1, s1, step1 = _metrics(cdp), _process_cpu(bcdp), _cpu_s([server_pid]), page.evaluate(STEP_JS)
        wall = time.monotonic() - t0
        captured = frames.stop()
        stop_run(page)
    finally:
        ctx.close()
    return {
        "wall_s": wall,
        "chromium": sum(v - p0.get(k, 0.0) for k, v in p1.items()) / wall,
        "renderer": (m1["ProcessTime"] - m0["ProcessTime"]) / wall,
        "main_thread": (m1["ThreadTime"] - m0["ThreadTime"]) / wall,
        "main_busy": (m1["TaskDuration"] - m0["TaskDuration"]) / wall,
        "script": (m1["ScriptDuration"] - m0["ScriptDuration"]) / wall,
        "layout_style": (
            m1["LayoutDuration"] - m0["LayoutDuration"] + m1["RecalcStyleDuration"] - m0["RecalcStyleDuration"]
        )
        / wall,
        "server": (s1 - s0) / wall,
        "steps_per_s": ((step1 or 0) - (step0 or 0)) / wall,
        "payload": payload_summary(decode(captured), wall),
    }


def cpu_side_by_side(browser, now_url: str, now_pid: int, old: "tuple[str, int] | None", seconds: float, rounds: int):
    """Alternate the CPU window: current page at the default pace, the old page, the current page at pace=max."""
    out: dict[str, list] = {"now": [], "old": [], "now_max": []}
    for r in range(rounds):
        out["now"].append(cpu_window(browser, now_url, f"{LINK}&seed={10 + r}", seconds, now_pid))
        if old is not None and "old_error" not in out:
            try:  # the old page is the reference, not the subject: its failure leaves the other rows standing
                out["old"].append(cpu_window(browser, old[0], f"{OLD_LINK}&seed={10 + r}", seconds, old[1]))
            except Exception as e:
                out["old_error"] = [f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"]
        out["now_max"].append(cpu_window(browser, now_url, f"{LINK}&seed={20 + r}&pace=max", seconds, now_pid))
    return out


def measure(
    window: float = 10.0, sessions: int = 3, before: "str | None" = BEFORE, rounds: int = 2, out: "dict | None" = None
) -> dict:
    """Run the scenario; return the raw numbers (see the module docstring), filled into `out` as they come.

    `out["phase"]` names the step under way: what a failure happened in.
    """
    from playwright.sync_api import sync_playwright

    from .sweeps import load_average

    out = {} if out is None else out
    out["load_before"] = load_average()
    frames = Frames()
    with tempfile.TemporaryDirectory() as runs, checkout(before) as old_root:
        t = time.monotonic()
        url, proc = start_server(Path(runs) / "now")
        out["server_start_s"] = time.monotonic() - t
        old_proc = None
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, timeout=TIMEOUT_MS, args=CHROMIUM_ARGS)
                try:
                    ctx = browser.new_context(viewport=VIEWPORT)
                    page = ctx.new_page()
                    page.set_default_timeout(TIMEOUT_MS)
                    page.on("websocket", frames.attach)
                    out["phase"] = "first chart, fresh server"
                    t = time.monotonic()
                    out["cold"] = time_first_chart(page, url + LINK, 0)
                    out["cold_total_s"] = time.monotonic() - t  # page load + click + chart on the fresh server
                    out["phase"] = "first chart, warm server"
                    first = {}
                    for seed, wait_ms in ((1, 0), (2, 1000), (3, 2000)):
                        stop_run(page)
                        first[wait_ms] = time_first_chart(page, f"{url}{LINK}&seed={seed}", wait_ms)
                    out["first"] = first
                    # rates and bytes while seed=3 trains: the default pace, then as fast as it goes
                    page.wait_for_timeout(SETTLE_MS)
                    out["phase"] = "rates at the default pace"
                    out["load_rates"] = load_average()
                    out["default"] = rate_window(page, window, frames)
                    out["phase"] = "rates at pace=max"
                    set_pace_max(page)
                    page.wait_for_timeout(SETTLE_MS)
                    out["max"] = rate_window(page, window, frames)
                    out["phase"] = "new sessions"
                    times = []
                    for _ in range(sessions):  # new sessions while it trains
                        c2 = browser.new_context(viewport=VIEWPORT)
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
                    out["still_training"] = "training" in page.get_by_test_id("stProgress").first.inner_text()
                    stop_run(page)
                    ctx.close()
                    out["phase"] = "first chart, new browser"
                    # a first visit: a new context (no cached plotly.js) on the warm server, Start at once
                    c3 = browser.new_context(viewport=VIEWPORT)
                    try:
                        p3 = c3.new_page()
                        p3.set_default_timeout(TIMEOUT_MS)
                        out["new_browser"] = time_first_chart(p3, f"{url}{LINK}&seed=4", 0)
                        stop_run(p3)
                    finally:
                        c3.close()
                    out["phase"] = "cpu"
                    # browser CPU, the current page beside the page before the rebuild
                    old = None
                    out["before"] = {"ref": before, "root": str(old_root) if old_root else None}
                    if old_root is not None:
                        old_url, old_proc = start_server(Path(runs) / "before", root=old_root)
                        old = (old_url, old_proc.pid)
                    out["load_cpu_before"] = load_average()
                    out["cpu"] = cpu_side_by_side(browser, url, proc.pid, old, window, rounds)
                finally:
                    browser.close()
        finally:
            stop_server(proc)
            if old_proc is not None:
                stop_server(old_proc)
    out["load_after"] = load_average()
    out["phase"] = "done"
    return out


def skipped(reason: str) -> list[Row]:
    """Return every row reading `skipped (reason)`."""
    return [Row(n, f"skipped ({reason})") for n in NAMES]


def _kb(n: float) -> str:
    return f"{n / 1000:.1f} KB"


def _med(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows) if rows else float("nan")


def rows_from(d: dict, sessions: int) -> list[Row]:
    """Return the six rows for the raw numbers `d` of `measure`."""
    load = f"load avg {d['load_before']} -> {d['load_after']} on {os.cpu_count()} cpus"
    f = d["first"]
    worst_warm = max(v["any"] for v in f.values())
    delays = "/".join(f"{v.get('input_delay', float('nan')):.2f}" for v in f.values())

    def rate(w: dict, key: str, kind: str = "distinct") -> float:
        return w["charts"].get(key, {}).get(f"{kind}_per_s", 0.0)

    dflt, fast = d["default"], d["max"]
    curves_fast, curves_dflt = rate(fast, "curves"), rate(dflt, "curves")
    lecture_min = min(rate(w, k) for w in (dflt, fast) for k in LECTURE_KEYS)

    def lecture_words(w: dict) -> str:
        parts = []
        for k in LECTURE_KEYS:
            c = w["charts"].get(k, {})
            parts.append(
                f"{k} {c.get('distinct_per_s', 0):.2f}/s new ({c.get('drawn_per_s', 0):.2f} drawn, "
                f"{c.get('frames_per_s', 0):.2f} arrived)"
            )
        pl = w["payload"]["parts"]
        return (
            ", ".join(parts)
            + f"; fragment runs sent {pl['lecture']['n'] / w['seconds']:.2f}/s lecture, {pl['tabs']['n']} tab runs"
        )

    pay = fast["payload"]
    pay_d = dflt["payload"]
    lect, tabs = pay["parts"]["lecture"], pay["parts"]["tabs"]
    per_curve = pay["bytes"] / (fast["charts"].get("curves", {}).get("distinct") or float("nan"))
    charts = ", ".join(f"{k} {_kb(v['median'])}" for k, v in pay["chart_messages"].items())

    cpu = d["cpu"]
    now, old, now_max = cpu["now"], cpu["old"], cpu["now_max"]
    if old:
        ratio = _med(now, "chromium") / _med(old, "chromium")
        cpu_result = (
            f"{_med(now, 'chromium'):.2f} CPU s/s now (pace 25, 2 runs), {_med(now_max, 'chromium'):.2f} at pace=max; "
            f"before: {_med(old, 'chromium'):.2f} -> {ratio:.2f}x (max: "
            f"{_med(now_max, 'chromium') / _med(old, 'chromium'):.2f}x)"
        )
    else:
        ratio = None
        cpu_result = (
            f"{_med(now, 'chromium'):.2f} CPU s/s now, {_med(now_max, 'chromium'):.2f} at pace=max; "
            "before: not measured ("
            + (
                "--before none"
                if d["before"]["ref"] is None
                else f"the old page failed: {cpu['old_error'][0]}"
                if cpu.get("old_error")
                else f"{d['before']['ref']} could not be checked out"
            )
            + ")"
        )

    def cpu_words(name: str, rs: list[dict]) -> str:
        if not rs:
            return f"{name}: -"
        return (
            f"{name}: Chromium {_med(rs, 'chromium'):.2f}, renderer {_med(rs, 'renderer'):.2f}, main thread "
            f"{_med(rs, 'main_thread'):.2f} (busy {_med(rs, 'main_busy'):.2f} of wall time: script "
            f"{_med(rs, 'script'):.2f}, layout+style "
            f"{_med(rs, 'layout_style'):.2f}), server {_med(rs, 'server'):.2f} CPU s/s, "
            f"{_med(rs, 'steps_per_s'):.0f} steps/s, {_kb(_med([r['payload'] for r in rs], 'bytes_per_s'))}/s"
        )

    new = d["new_session_s"]
    nb = d["new_browser"]
    return [
        Row(
            NAMES[0],
            f"{f[0]['any']:.2f} s at once, {f[1000]['any']:.2f} s after 1 s, {f[2000]['any']:.2f} s after 2 s "
            f"(fresh server {d['cold']['any']:.2f} s, new browser {nb['any']:.2f} s)",
            f[0]["any"] / 1.0,
            "<= 1 s",
            f"click Start -> a live chart redrawn with data, step > 0 ({LINK}, pace 25; first: "
            f"{f[0]['key']}); warm server: seed=1 clicked as soon as the page is usable (the ratio's number), "
            f"seed=2 1 s after, seed=3 2 s after (worst {worst_warm:.2f} s); new browser: a new context "
            f"(empty caches), seed=4 at once; the curves' first step > 0: {f[0]['curves']:.2f} / "
            f"{f[1000]['curves']:.2f} / {f[2000]['curves']:.2f} s, new browser {nb['curves']:.2f} s, fresh server "
            f"{d['cold']['curves']:.2f} s; the first chart data reached the page after {f[0]['arrived']:.2f} / "
            f"{f[1000]['arrived']:.2f} / {f[2000]['arrived']:.2f} s (plotly.js parsed at the click: "
            f"{'/'.join('yes' if v['plotly_loaded'] else 'no' for v in f.values())}; the click waited "
            f"{delays} s for the page's main thread); "
            f"fresh server page load + chart {d['cold_total_s']:.2f} s, server start "
            f"{d['server_start_s']:.1f} s; ratio = result / aim; {load}",
            d,
        ),
        Row(
            NAMES[1],
            f"{curves_fast:.2f} drawings/s at pace=max, {curves_dflt:.2f}/s at the default pace (25)",
            curves_fast / 5.0,
            ">= 5/s",
            f"distinct drawings (new data) of the curves chart per s over {fast['seconds']:.1f} s; "
            f"{fast['steps_per_s']:.0f} vs {dflt['steps_per_s']:.0f} steps/s: the curves end at the latest step, so "
            "they change at every lecture fragment run that finds new steps; main thread in long tasks "
            f"{100 * fast['long_task_share']:.0f}% at max (max {fast['long_task_max_ms']:.0f} ms), "
            f"{100 * dflt['long_task_share']:.0f}% at 25; "
            f"load avg {d['load_rates']} at the start; ratio = result at max / aim",
        ),
        Row(
            NAMES[2],
            f"slowest lecture chart {lecture_min:.2f} new drawings/s",
            lecture_min / 2.0,
            ">= 2/s each",
            f"at 25 steps/s: {lecture_words(dflt)}; at max: {lecture_words(fast)}; the lecture fragment runs "
            "every 0.15 s; ratio = slowest / aim",
        ),
        Row(
            NAMES[3],
            f"{_kb(pay['update_mean'])} per update at max ({_kb(lect['mean'])} lecture, {_kb(tabs['mean'])} tabs; "
            f"max {_kb(pay['update_max'])}), {_kb(pay_d['update_mean'])} at 25",
            pay["update_mean"] / 50_000,
            "<= 50 KB",
            f"update = one fragment or script run's websocket messages (ForwardMsg, up to script_finished); "
            f"at max {pay['updates_per_s']:.1f} updates/s, {_kb(pay['bytes_per_s'])}/s, "
            f"{_kb(per_curve)} per curves drawing (history's measure); at 25: {_kb(pay_d['bytes_per_s'])}/s, "
            f"lecture {_kb(pay_d['parts']['lecture']['mean'])}, tabs {_kb(pay_d['parts']['tabs']['mean'])}; "
            f"chart messages (median): {charts}; of the bytes at 25 {100 * pay_d['same_bytes'] / pay_d['bytes']:.0f}% "
            f"are chart messages identical to the chart's previous one ({pay_d['same_messages']} messages; at max "
            f"{100 * pay['same_bytes'] / pay['bytes']:.0f}%) and {100 * pay_d['js_bytes'] / pay_d['bytes']:.0f}% the "
            f"live chart's JS source, resent with each ({pay_d['refs']} identical messages of 10 KB or more went as "
            f"references to the browser's cache); largest frame {_kb(pay['max_frame'])}; ratio = mean / aim",
        ),
        Row(
            NAMES[4],
            cpu_result,
            ratio,
            "lower than before",
            f"medians of {len(now)} alternated rounds of {now[0]['wall_s']:.0f} s each, one page on an otherwise "
            f"idle browser, Start + {SETTLE_MS / 1000:.0f} s; {cpu_words('now', now)}; "
            f"{cpu_words('now at max', now_max)}; {cpu_words(f'before ({BEFORE})', old)}; "
            f"ratio = now (default pace) / before; load avg {d['load_cpu_before']} at its start",
        ),
        Row(
            NAMES[5],
            f"{statistics.median(new):.2f} s (max {max(new):.2f} s)",
            statistics.median(new) / 2.0,
            "< 2 s",
            f"fresh context: goto {LINK} -> Start enabled, median of {len(new)}, while session 1 trains at max "
            f"({'still training' if d['still_training'] else 'NOT training'} after); ratio = result / aim",
        ),
    ]


def run(window: float = 10.0, sessions: int = 3, before: "str | None" = BEFORE, rounds: int = 2) -> list[Row]:
    """Measure the Live lab in Chromium; return the browser rows (skipped without Chromium/Playwright)."""
    if not Path(CHROMIUM).exists():
        return skipped("no /usr/bin/chromium: apt-get install -y chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return skipped("pip install playwright")
    d: dict = {}
    try:
        measure(window, sessions, before, rounds, out=d)
        return rows_from(d, sessions)
    except Exception as e:
        why = f"failed ({d.get('phase', 'setup')}): {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        return [Row(n, why, data=d if n == NAMES[0] else {}) for n in NAMES]


def main(argv: "list[str] | None" = None) -> int:
    """`python -m bench.browser [--window S] [--sessions N] [--rounds N] [--before REF|DIR|none]`."""
    import argparse
    import json

    from . import format_table

    p = argparse.ArgumentParser(prog="python -m bench.browser", description=__doc__.splitlines()[0])
    p.add_argument("--window", type=float, default=10.0, help="seconds each rate and CPU window lasts")
    p.add_argument("--sessions", type=int, default=3, help="new sessions opened while it trains")
    p.add_argument("--rounds", type=int, default=2, help="alternated rounds of the CPU comparison")
    p.add_argument("--before", default=BEFORE, help="commit or folder of the page to compare CPU with ('none': skip)")
    p.add_argument("--json", metavar="PATH", help="also write the rows and raw numbers as JSON")
    args = p.parse_args(argv)
    rows = run(args.window, args.sessions, None if args.before == "none" else args.before, args.rounds)
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.to_dict() for r in rows], fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
