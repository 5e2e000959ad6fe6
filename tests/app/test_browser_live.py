"""The live charts on the wire, in Chromium: what an update of the Live lab sends."""

import time

import pytest
from playwright.sync_api import expect

from bench.livepage import decode
from tests.app.test_browser import LIVE_CHART, browser, button, open_app, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


def test_unchanged_charts_go_as_references_and_no_message_carries_the_drawing_code(browser, server):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    frames: list = []
    listening = [False]
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda p: frames.append((time.monotonic(), p)) if listening[0] else None),
    )
    try:
        open_app(page, f"{server}/?dataset=moons&steps=200000&pace=max")
        button(page, "Start").click()
        expect(page.locator(f"{LIVE_CHART} .main-svg").first).to_be_visible()
        button(page, "Pause").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("paused")
        page.wait_for_timeout(500)
        listening[0] = True  # paused: the lecture row polls on, and its charts do not change
        deadline = time.monotonic() + 20
        while sum(m.kind == "script_finished" for m in decode(frames)) < 4 and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        listening[0] = False
        msgs = decode(frames)
        runs = sum(m.kind == "script_finished" for m in msgs)
        charts = [m for m in msgs if m.key]
        refs = [m for m in msgs if m.kind == "ref_hash"]
        assert runs >= 4, f"only {runs} script or fragment runs in 20 s"
        assert len(refs) >= 2 * (runs - 1), f"{len(refs)} references in {runs} runs: {[m.kind for m in msgs]}"
        assert not any(m.same for m in charts), "an unchanged chart was sent again in full"
        assert all(m.js < 400 for m in charts)  # a loader, not the 2.8 KB drawing code
        button(page, "Stop").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("stopped")
    finally:
        ctx.close()
