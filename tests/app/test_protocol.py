"""The live lab against a real server, spoken to in Streamlit's own websocket protocol (bench/classroom.Tab).

These send exactly what Chromium sends in cases a browser hits only by chance, so they
can be reproduced every time.
"""

import asyncio
import time

import pytest

from bench.browser import start_server, stop_server
from bench.classroom import Tab, progress_steps

TIMEOUT_S = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url, proc = start_server(tmp_path_factory.mktemp("runs"))
    yield url
    stop_server(proc)


async def settle(tab: Tab, pred, what: str) -> None:
    """Wait until `pred()` holds with no script run in progress."""
    await tab.wait(lambda: not tab.running and pred(), time.monotonic() + TIMEOUT_S, what)


async def click_with_a_poll(tab: Tab, label: str) -> None:
    """Click `label` as Chromium sometimes does: the click rides on a fragment poll, then comes again in full.

    Streamlit 1.67's frontend can put a click into a timed fragment poll that leaves at that
    moment, then send the click's own full rerun; the server runs both. Waiting for the
    fragment run to end before sending the full one makes the two runs separate every time.
    """
    wid = tab.buttons[label][0]
    curves = min(tab.timers, key=lambda fid: tab.timers[fid][0])  # the fastest poll: progress and curves
    fragment_runs, full_runs = tab.fragment_runs, tab.full_done
    await tab.rerun(fragment_id=curves, auto=True, trigger=wid)
    await settle(tab, lambda: tab.fragment_runs > fragment_runs, f"the poll carrying {label}")
    await tab.rerun(trigger=wid)
    await settle(tab, lambda: tab.full_done > full_runs, f"the full run of {label}")


def test_a_click_that_also_rides_on_a_poll_acts_once(server):
    async def scenario() -> None:
        tab = Tab(server, "dataset=moons&steps=200000", "tab")
        await tab.open()
        try:
            await settle(tab, tab.usable, "page load")
            await tab.click("Start")
            await settle(tab, lambda: progress_steps(tab.progress)[0] > 0 and tab.timers, "training")

            await click_with_a_poll(tab, "Pause")  # acting twice would pause, then resume
            assert "Resume" in tab.buttons and "Pause" not in tab.buttons
            # Both runs paused: the twin's "paused" can show while this run still finishes its chunk.
            await settle(tab, lambda: "paused" in tab.progress and "training" not in tab.progress, "the paused status")
            held = progress_steps(tab.progress)[0]

            await click_with_a_poll(tab, "Step")  # acting twice would train two steps
            await settle(tab, lambda: progress_steps(tab.progress)[0] != held, "the step")
            await asyncio.sleep(1.0)  # a second step, if any, would show by now
            await settle(tab, lambda: True, "the polls")
            assert progress_steps(tab.progress)[0] == held + 1

            await click_with_a_poll(tab, "Resume")
            assert "Pause" in tab.buttons
            await settle(tab, lambda: progress_steps(tab.progress)[0] > held + 1, "training again")
            await tab.click("Stop")
            await settle(tab, lambda: "stopped" in tab.progress, "the stopped status")
            assert not tab.errors
        finally:
            await tab.close()

    asyncio.run(scenario())
