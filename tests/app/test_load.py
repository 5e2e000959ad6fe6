"""A bounded load test on loopback: many browser sessions start runs, switch pages and leave at once.

No session may see an error, identical configurations must train once, and after
everyone leaves the server's training threads must end (nothing orphaned burning CPU)
and its memory come back near where it was.
"""

import os
import re
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from bench.browser import start_server, stop_server
from tests.app.test_browser import CHROMIUM, button

pytestmark = pytest.mark.browser
SESSIONS = int(os.environ.get("NORMLAB_LOAD_SESSIONS", "8"))


def proc_status(pid: int) -> dict[str, int]:
    """Return the server's thread count, resident memory (kB) and CPU time (clock ticks) from /proc."""
    text = Path(f"/proc/{pid}/status").read_text()
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "threads": int(re.search(r"Threads:\s+(\d+)", text).group(1)),
        "rss_kb": int(re.search(r"VmRSS:\s+(\d+)", text).group(1)),
        "cpu_ticks": int(stat[11]) + int(stat[12]),
    }  # utime + stime


def cpu_seconds_over(pid: int, window: float) -> float:
    """Return the CPU seconds the process used during `window` seconds of wall time."""
    before = proc_status(pid)["cpu_ticks"]
    time.sleep(window)
    return (proc_status(pid)["cpu_ticks"] - before) / os.sysconf("SC_CLK_TCK")


def session(browser, url: str, i: int, errors: list) -> None:
    """One student: open a preset link, Start, visit Compare and the About page, come back, Stop, leave."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = ctx.new_page()
        page.set_default_timeout(90_000)
        seed = 0 if i % 2 == 0 else i  # half the room on the same preset
        page.goto(f"{url}/?dataset=moons&steps=400&depth=2&width=16&seed={seed}")
        expect(button(page, "Start")).to_be_enabled(timeout=90_000)
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_be_visible(timeout=90_000)
        page.get_by_role("link", name="Compare").click()
        expect(page.get_by_role("heading", name="Compare").first).to_be_visible(timeout=90_000)
        page.get_by_role("link", name="About the charts").click()
        expect(page.get_by_role("heading", name="About the charts").first).to_be_visible(timeout=90_000)
        page.get_by_role("link", name="Live lab").click()
        expect(button(page, "Start")).to_be_visible(timeout=90_000)
        if button(page, "Stop").is_enabled():  # owners stop their run; watchers of a shared one cannot
            button(page, "Stop").click()
            expect(button(page, "Start")).to_be_enabled(timeout=90_000)
        if page.get_by_test_id("stException").count():
            errors.append(f"session {i}: {page.get_by_test_id('stException').first.inner_text()}")
    except Exception as e:
        errors.append(f"session {i}: {type(e).__name__}: {str(e)[:300]}")
    finally:
        ctx.close()


def test_many_sessions_at_once(tmp_path):
    runs = tmp_path / "runs"
    os.environ.update(NORMLAB_IDLE_PAUSE="1", NORMLAB_IDLE_STOP="4")
    try:
        url, proc = start_server(runs, extra=["--server.disconnectedSessionTTL", "2"])
    finally:
        for k in ("NORMLAB_IDLE_PAUSE", "NORMLAB_IDLE_STOP"):
            os.environ.pop(k, None)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            session(browser, url, 1001, [])  # warm-up: imports, caches, first run
            time.sleep(8)
            baseline = proc_status(proc.pid)
            errors: list[str] = []
            # Playwright's sync API belongs to one thread: each simulated student gets its own.
            threads = [threading.Thread(target=_own_browser_session, args=(url, i, errors)) for i in range(SESSIONS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(600)
            browser.close()
        assert not errors, errors
        # Everyone left: within idle-stop + session TTL the training threads end and the server idles.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
            proc_status(proc.pid)["threads"] > baseline["threads"] + 2 or cpu_seconds_over(proc.pid, 3) > 0.3
        ):
            time.sleep(1)
        after = proc_status(proc.pid)
        idle_cpu = cpu_seconds_over(proc.pid, 5)
        assert idle_cpu < 0.5, f"the server still burns CPU with nobody connected: {idle_cpu:.2f} s in 5 s"
        assert after["threads"] <= baseline["threads"] + 4, (baseline, after)
        assert after["rss_kb"] < baseline["rss_kb"] * 1.5 + 100_000, (baseline, after)
        # Identical presets trained once: one run file per distinct configuration, and one for its twin
        # (each Start trains the network and the same network without normalization beside it).
        files = list(runs.glob("*.json"))
        distinct = 1 + len({i for i in range(SESSIONS) if i % 2}) + 1  # seed 0, odd seeds, warm-up seed 1001
        assert len(files) <= 2 * distinct
        print(
            f"\nload: {SESSIONS} sessions; threads {baseline['threads']} -> {after['threads']}; "
            f"RSS {baseline['rss_kb'] // 1024} -> {after['rss_kb'] // 1024} MB; {len(files)} runs stored"
        )
    finally:
        stop_server(proc)


def _own_browser_session(url: str, i: int, errors: list) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            session(browser, url, i, errors)
        finally:
            browser.close()
