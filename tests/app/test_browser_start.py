"""The Start-here landing in Chromium: readable on a projected first screen, and a mission opens the Live lab."""

import re

import pytest
from playwright.sync_api import expect

from tests.app.test_browser import ROOT, browser, button, checked_page, server  # noqa: F401 (fixtures)
from vizcore.labs.missions import MISSIONS

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


@pytest.mark.parametrize("width,height", [(1366, 768), (1920, 1080)])
def test_the_landing_fits_the_first_screen_and_a_mission_opens_the_live_lab(browser, server, width, height):  # noqa: F811
    with checked_page(browser, width, height) as page:
        page.goto(f"{server}/?classroom=1")
        main = page.get_by_test_id("stMainBlockContainer")
        expect(main.get_by_role("heading", name="NormLab")).to_be_visible()
        last = button(page, f"Mission {len(MISSIONS)}")
        expect(last).to_be_visible()
        page.wait_for_timeout(500)  # the style rules and fonts have settled
        # what NormLab is, covariate shift and the whole path, without scrolling
        for item in (
            main.get_by_text("NormLab trains small neural networks"),
            main.get_by_text("internal covariate shift", exact=False),
            *(main.get_by_text(m.title, exact=False) for m in MISSIONS),
            last,
        ):
            box = item.first.bounding_box()
            assert box is not None and box["y"] + box["height"] <= height, (item, box)
        size = main.get_by_text("NormLab trains small neural networks").first.evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)"
        )
        assert size >= 16
        page.screenshot(path=str(ROOT / "bench" / "results" / f"start_{width}.png"))

        button(page, "Mission 3").click()  # batch norm at batch size 2
        expect(page).to_have_url(re.compile(r"/live\?.*batch_size=2.*mission=batch2"))
        expect(page).to_have_url(re.compile(r"classroom=1"))
        expect(button(page, "Start")).to_be_enabled()
        expect(page.get_by_role("spinbutton", name="Batch size")).to_have_value("2")
        expect(page.get_by_text("Mission 3 of 5: Batch norm with 2 examples a batch")).to_be_visible()
        expect(page.get_by_text(MISSIONS[2].question)).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ROOT / "bench" / "results" / f"mission_{width}.png"))
        assert not page.get_by_test_id("stException").count()
