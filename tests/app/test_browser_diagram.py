"""The network diagram in Chromium: a click on a tap marker changes the charts' tap, with no console errors."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.app.test_browser import LIVE_CHART, browser, button, checked_page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)
SHOTS = Path(__file__).resolve().parents[2] / "bench" / "results"
TAPS = "[data-testid='stSidebar'] [data-testid='stPlotlyChart'] .scatterlayer .point"


def click_tap(page: Page, index: int) -> None:
    """Click the diagram's tap marker `index` (top to bottom) where a person would: at its centre.

    Plotly takes clicks on the layer above its points, so the mouse clicks the point's position.
    """
    point = page.locator(TAPS).nth(index)
    point.scroll_into_view_if_needed()
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.parametrize("width,height", [(1366, 768), (1920, 1080)])
def test_clicking_a_tap_on_the_diagram_charts_that_tap(browser, server, width, height):  # noqa: F811
    with checked_page(browser, width, height) as page:
        page.goto(f"{server}/live?dataset=moons&steps=300&pace=max&seed={width}")
        expect(button(page, "Start")).to_be_enabled(timeout=90_000)  # a fresh server's first page, on a busy machine
        expect(page.locator("[data-test-script-state='notRunning']")).to_have_count(1)
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("completed", timeout=60_000)
        lecture = page.locator(LIVE_CHART).nth(1)
        expect(lecture.locator(".gtitle")).to_contain_text(re.compile("activation output", re.I))
        expect(page.locator(TAPS)).to_have_count(3)
        if width == 1366:  # the whole diagram and the lecture row on the first screen, as a class sees it
            last = page.locator(TAPS).nth(2).bounding_box()
            assert last["y"] + last["height"] <= height, last
            for i in (0, 1):
                box = page.locator(LIVE_CHART).nth(i).bounding_box()
                assert box["y"] + box["height"] <= height + 2, (i, box)
        page.screenshot(path=str(SHOTS / f"diagram_{width}.png"))
        click_tap(page, 0)  # linear
        expect(lecture.locator(".gtitle")).to_contain_text(re.compile("linear-layer output", re.I))
        expect(page).to_have_url(re.compile(r"[?&]tap=linear"))
        tap_control = page.get_by_test_id("stMainBlockContainer").get_by_role("radiogroup", name="Tap")
        expect(tap_control.get_by_role("radio", name="linear", exact=True)).to_be_checked()  # the control follows
        expect(page.locator("[data-testid='stSidebar'] .textpoint").first).to_contain_text("charted")
        click_tap(page, 1)  # norm
        expect(lecture.locator(".gtitle")).to_contain_text(re.compile("normalization-layer output", re.I))
        assert not page.get_by_test_id("stException").count()


def test_the_about_page_shows_the_diagram(browser, server):  # noqa: F811
    with checked_page(browser, 1366, 768) as page:
        page.goto(f"{server}/about")
        chart = page.get_by_test_id("stMainBlockContainer").get_by_test_id("stPlotlyChart")
        expect(chart.locator(".scatterlayer .point")).to_have_count(3)
        expect(chart).to_contain_text("batch norm")
        chart.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "about_diagram_1366.png"))
