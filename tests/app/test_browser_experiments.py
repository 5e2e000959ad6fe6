"""The Experiments page in Chromium: a prediction, Run, and a verdict a student can read."""

import re

import pytest
from playwright.sync_api import expect

from tests.app.test_browser import ROOT, browser, button, checked_page, server  # noqa: F401 (fixtures)
from vizcore.experiments import all_experiments

pytestmark = pytest.mark.browser

DEPTH = next(e for e in all_experiments() if e.name == "depth")  # one of the quickest at the smallest budget


def test_a_prediction_run_and_its_verdict_in_plain_words_first(browser, server):  # noqa: F811
    with checked_page(browser, 1366, 768) as page:
        page.goto(f"{server}/experiments?exp=depth&classroom=1")
        run = button(page, "Run")
        expect(run).to_be_disabled(timeout=60_000)  # no prediction yet
        page.get_by_text(DEPTH.expectations[0], exact=True).click()
        slider = page.get_by_role("slider").first
        slider.focus()
        slider.press("Home")  # budget 0.25: the quickest
        expect(page.get_by_test_id("stSliderThumbValue").first).to_have_text("0.25")
        expect(run).to_be_enabled()
        run.click()
        grade = page.get_by_text(re.compile(r"Your prediction was (right|partly right|wrong)\."))
        expect(grade.first).to_be_visible(timeout=180_000)
        verdict = page.get_by_test_id("stAlert").filter(has_text="Verdict:").first
        numbers = page.get_by_text("How the verdict is decided", exact=False).first
        # the plain sentence and the grade come before the numbers, on the page as in the reading order
        assert verdict.bounding_box()["y"] < grade.first.bounding_box()["y"] < numbers.bounding_box()["y"]
        assert not page.get_by_test_id("stAlertContentError").count()  # a finding, never an error box
        assert not page.get_by_test_id("stException").count()
        page.screenshot(path=str(ROOT / "bench" / "results" / "experiment_verdict_1366.png"), full_page=True)
