"""The Live lab's "Inside the norm" tab in Chromium: it renders, steps and switches mode with no console errors."""

import re

import pytest
from playwright.sync_api import expect

from tests.app.test_browser import LIVE_CHART, browser, button, checked_page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


def test_the_inside_the_norm_tab_renders_steps_and_switches_to_eval(browser, server):  # noqa: F811
    with checked_page(browser) as page:
        page.goto(f"{server}/?dataset=moons&norm=batch&batch_size=2&steps=300&pace=max")
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("completed")
        page.get_by_role("tab", name="Inside the norm").click()
        chart = page.locator(LIVE_CHART).filter(has_text="Inside the batch norm")
        expect(chart.locator(".main-svg").first).to_be_visible()
        expect(chart).to_contain_text("next: x̂")  # step 1: the values alone
        assert chart.evaluate("d => d.data.length") == 1
        steps = page.get_by_role("radiogroup", name="Step through").get_by_role("radio")
        steps.nth(2).click()  # x-hat
        expect(chart).to_contain_text(re.compile(r"within 0\.01 of ±1"))  # batch 2: every unit becomes about ±1
        assert chart.evaluate("d => d.data.length") == 4
        steps.nth(1).click()  # the statistics
        page.get_by_text("Eval mode").click()
        expect(chart).to_contain_text("running mean")
        assert not page.get_by_test_id("stException").count()
