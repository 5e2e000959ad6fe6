"""End to end in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`."""

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from bench.browser import start_server, stop_server  # one way to start the app for benchmarks and tests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url, proc = start_server(tmp_path_factory.mktemp("runs"))
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server) -> Page:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()


def button(page: Page, name: str):
    """Return the app's button `name` (not Streamlit's own header buttons)."""
    return page.get_by_test_id("stMainBlockContainer").get_by_role("button", name=name, exact=True)


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(button(page, "Start")).to_be_enabled()
    expect(page.locator("[data-test-script-state='notRunning']")).to_have_count(1)


def step_count(page: Page) -> int:
    text = page.get_by_test_id("stProgress").first.inner_text()
    return int(re.search(r"Step ([\d,]+)", text).group(1).replace(",", ""))


def wait_steps_change(page: Page, before: int, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = step_count(page)
        if now != before:
            return now
        page.wait_for_timeout(200)
    raise AssertionError(f"step count stayed at {before}")


def choose(page: Page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_live_lab_trains_pauses_resumes(page, server):
    open_app(page, f"{server}/?dataset=moons&steps=200000")
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress")).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    first = step_count(page)
    second = wait_steps_change(page, first)
    assert second > first
    button(page, "Pause").click()
    expect(button(page, "Resume")).to_be_visible()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("paused")
    held = step_count(page)
    page.wait_for_timeout(1500)
    assert step_count(page) == held
    button(page, "Resume").click()
    assert wait_steps_change(page, held) > held
    assert page.get_by_test_id("stPlotlyChart").count() >= 5
    button(page, "Stop").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("stopped")


def test_the_chart_library_loads_before_start(page, server):
    page.goto(f"{server}/?dataset=moons")
    expect(button(page, "Start")).to_be_enabled()
    # an empty curves chart appears by itself (about a second after the page is usable), so the
    # browser has loaded plotly before Start and the first real chart comes quickly
    expect(page.get_by_test_id("stPlotlyChart").first).to_contain_text("press Start to train", timeout=15_000)
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("Step")
    button(page, "Stop").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text(re.compile("stopped|completed"))


def test_changing_the_norm_restarts_with_it_and_updates_the_link(page, server):
    open_app(page, f"{server}/?dataset=moons&steps=100000")
    choose(page, "Normalization", "layer")
    expect(page).to_have_url(re.compile(r"norm=layer"))
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("training")
    button(page, "Stop").click()


def test_shared_link_gives_the_same_configuration(page, server):
    open_app(page, f"{server}/?norm=group&groups=4&batch_size=8&lr=banana")
    expect(page.get_by_role("combobox", name="Normalization")).to_have_value("group")
    expect(page.get_by_role("spinbutton", name="Groups (group norm)")).to_have_value("4")
    expect(page.get_by_role("spinbutton", name="Batch size")).to_have_value("8")
    expect(page.get_by_text("lr=banana")).to_be_visible()  # the bad value is named, and dropped


def test_compare_page_opens(page, server):
    page.goto(server)
    page.get_by_role("link", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/compare"))
    expect(page.get_by_role("heading", name=re.compile("Compare", re.I)).first).to_be_visible()
    assert not page.get_by_test_id("stException").count()


def test_a_direct_link_to_a_fresh_server_gets_the_apps_navigation(browser, tmp_path):
    url, proc = start_server(tmp_path)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{url}/runs")  # the very first request this server sees
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav).to_contain_text("Live lab")
        expect(nav).to_contain_text("Saved runs")
        expect(page.get_by_role("heading", name="Saved runs")).to_be_visible()
        ctx.close()
    finally:
        stop_server(proc)


def test_refresh_mid_run_gives_a_clean_page(page, server):
    open_app(page, f"{server}/?dataset=moons&steps=100000&seed=7&batch_size=16")
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("training")
    page.reload()  # a new session: the old run idles, pauses, then stops and is saved
    expect(button(page, "Start")).to_be_enabled()
    assert not page.get_by_test_id("stException").count()
    expect(page.get_by_role("spinbutton", name="Batch size")).to_have_value("16")  # the link still holds the config


def test_a_finished_run_downloads_as_its_run_file_and_csvs(browser, server, tmp_path):
    from vizcore.engine import runfile

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    try:
        open_app(page, f"{server}/?dataset=circles&steps=80&depth=2&width=8&every=10")
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("completed")
        got = {}
        for label in ("Run file (JSON)", "Curves (CSV)", "Layers (CSV)"):
            with page.expect_download() as info:  # the file is built on the click (a deferred download)
                page.get_by_role("button", name=label).click()
            path = tmp_path / info.value.suggested_filename
            info.value.save_as(path)
            got[label] = path
    finally:
        ctx.close()
    run = runfile.loads(got["Run file (JSON)"].read_text())
    assert run["status"] == "completed" and run["steps_done"] == 80 and run["config"]["dataset"] == "circles"
    assert got["Run file (JSON)"].name == "normlab-circles-batch-b64-s0.json"
    curves = got["Curves (CSV)"].read_text().splitlines()
    assert curves[0].startswith("step,") and len(curves) == 1 + len(run["curves"]["step"])
    layers = got["Layers (CSV)"].read_text().splitlines()
    assert len(layers) == 1 + sum(len(layer["steps"]) * len(layer["taps"]) for layer in run["layers"])


def test_a_server_restart_keeps_every_finished_run(browser, tmp_path):
    runs = tmp_path / "runs"
    url, proc = start_server(runs)
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        open_app(page, f"{url}/?dataset=xor&steps=60&depth=2&width=8")
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("completed")
        ctx.close()
    finally:
        stop_server(proc)
    assert len(list(runs.glob("*.json"))) == 1
    url, proc = start_server(runs)  # a new server process on the same store
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.goto(f"{url}/runs")
        expect(page.get_by_test_id("stDataFrame")).to_be_visible()
        expect(page.get_by_role("combobox", name="Run")).to_have_value(re.compile("xor"))
        ctx.close()
    finally:
        stop_server(proc)
