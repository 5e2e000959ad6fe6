"""End to end in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`."""

import contextlib
import re
import time
from collections.abc import Iterator
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


def watch_errors(page: Page, errors: list[str]) -> None:
    """Collect console errors and failed requests into `errors`.

    Opened at a page's path (/live), Streamlit's frontend first asks for /live/_stcore/health and
    host-config (404), then for the server's root ones: those two probes are not errors of the page.
    """

    def probe(url: str) -> bool:
        return re.search(r"//[^/]+/[^/]+/_stcore/(health|host-config)$", url) is not None

    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not probe(m.location["url"]) else None)
    page.on(
        "response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and not probe(r.url) else None
    )


@contextlib.contextmanager
def checked_page(browser, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """Yield a page in a new context of `width` x `height`; once the block ends, assert it logged no errors."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    watch_errors(page, errors)
    try:
        yield page
        assert not errors, errors
    finally:
        ctx.close()


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


LIVE_CHART = "div.normlab-chart"


def test_live_lab_trains_pauses_resumes(page, server):
    open_app(page, f"{server}/live?dataset=moons&steps=200000&pace=max")
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress")).to_be_visible()
    expect(page.locator(f"{LIVE_CHART} .main-svg").first).to_be_visible()
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
    expect(page.locator(LIVE_CHART)).to_have_count(4)  # the lecture row, and the open tab's heatmap and bands
    page.get_by_role("tab", name="Gradients").click()  # only the open tab is drawn: a switch draws it
    expect(page.locator(f".st-key-grads {LIVE_CHART} .main-svg").first).to_be_visible()
    expect(page.locator(f".st-key-heatmap {LIVE_CHART}")).to_have_count(0)
    button(page, "Stop").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("stopped")


def test_the_chart_library_loads_before_start(page, server):
    page.goto(f"{server}/live?dataset=moons")
    expect(button(page, "Start")).to_be_enabled()
    # an empty curves chart appears with the page's first run, so the
    # browser has loaded plotly before Start and the first real chart comes quickly
    expect(page.locator(LIVE_CHART).first).to_contain_text("press Start to train", timeout=15_000)
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("Step")
    button(page, "Stop").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text(re.compile("stopped|completed"))


def test_changing_the_norm_restarts_with_it_and_updates_the_link(page, server):
    open_app(page, f"{server}/live?dataset=moons&steps=100000")
    choose(page, "Normalization", "layer")
    expect(page).to_have_url(re.compile(r"norm=layer"))
    button(page, "Start").click()
    expect(page.get_by_test_id("stProgress").first).to_contain_text("training")
    button(page, "Stop").click()


def test_shared_link_gives_the_same_configuration(page, server):
    # a link from before the landing took "/": it still opens the Live lab
    open_app(page, f"{server}/?norm=group&groups=4&batch_size=8&lr=banana")
    expect(page).to_have_url(re.compile(r"/live\?.*norm=group"))
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
    open_app(page, f"{server}/live?dataset=moons&steps=100000&seed=7&batch_size=16")
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
        open_app(page, f"{server}/live?dataset=circles&steps=80&depth=2&width=8&every=10")
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
        open_app(page, f"{url}/live?dataset=xor&steps=60&depth=2&width=8")
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("completed")
        ctx.close()
    finally:
        stop_server(proc)
    assert len(list(runs.glob("*.json"))) == 2  # the run and its twin without normalization
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


def drawn(page: Page, index: int = 0) -> int:
    """Return how many times the live chart at `index` has been redrawn in place (Plotly.react calls)."""
    return int(page.locator(LIVE_CHART).nth(index).get_attribute("data-drawn") or 0)


def test_live_charts_update_in_place_and_keep_the_users_zoom(page, server):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # from "/" (forwarded to the Live lab): a first load at /live makes Streamlit's own frontend probe
    # /live/_stcore/health and /live/_stcore/host-config, two 404s in the console (streamlit/streamlit#7074)
    open_app(page, f"{server}/?dataset=digits&steps=200000&pace=100")
    button(page, "Start").click()
    expect(page.locator(f"{LIVE_CHART} .main-svg").first).to_be_visible()
    chart = page.locator(LIVE_CHART).first
    # the training curves of both runs, not the empty chart drawn before Start (it is replaced, not updated)
    page.wait_for_function(
        "() => { const d = document.querySelector('div.normlab-chart'); return d && d.data && d.data.length >= 4; }"
    )
    chart.evaluate("d => { d.dataset.mark = 'same-div'; return Plotly.relayout(d, {'xaxis.range': [0, 7]}); }")
    start = drawn(page)
    deadline = time.monotonic() + 30
    while drawn(page) < start + 3 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert drawn(page) >= start + 3, "the curves were not redrawn three times"
    assert chart.get_attribute("data-mark") == "same-div"  # not remounted: the same element, updated in place
    assert chart.evaluate("d => d._fullLayout.xaxis.range") == [0, 7]  # the zoom survived the updates
    assert chart.evaluate("d => d.data.length") >= 4  # both runs' train and test curves
    button(page, "Stop").click()
    assert not errors, errors


def text_overlaps(page: Page) -> list[str]:
    """Return pairs of text boxes that intersect inside one chart (ticks, titles, legends, annotations)."""
    return page.evaluate(
        """() => {
        const out = [];
        for (const chart of document.querySelectorAll('div.normlab-chart, [data-testid="stPlotlyChart"]')) {
          if (!chart.offsetParent) continue;  // a hidden tab
          const boxes = [...chart.querySelectorAll('.xtick text, .ytick text, .g-gtitle text, .g-xtitle text, '
              + '.g-ytitle text, .legendtext, .annotation-text, .gtitle')]
            .filter(e => e.textContent.trim())
            .map(e => [e.textContent.trim(), e.getBoundingClientRect()])
            .filter(([, r]) => r.width > 0 && r.height > 0);
          for (let i = 0; i < boxes.length; i++)
            for (let j = i + 1; j < boxes.length; j++) {
              const [a, r] = boxes[i], [b, s] = boxes[j];
              const dx = Math.min(r.right, s.right) - Math.max(r.left, s.left);
              const dy = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
              if (dx > 1 && dy > 1) out.push(a + ' / ' + b);
            }
        }
        return out;
      }"""
    )


@pytest.mark.parametrize("width,height", [(1024, 768), (1366, 768), (1920, 1080)])
def test_the_lecture_view_fits_and_no_labels_collide(browser, server, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    try:
        open_app(page, f"{server}/live?dataset=digits&steps=300&pace=max&seed={width}")
        button(page, "Start").click()
        expect(page.get_by_test_id("stProgress").first).to_contain_text("completed", timeout=60_000)
        expect(page.locator(f"{LIVE_CHART} .main-svg").nth(1)).to_be_visible()
        page.wait_for_timeout(1000)
        if width >= 1366:  # the curves and both runs' distributions on the first screen, no scrolling
            for i in (0, 1):
                box = page.locator(LIVE_CHART).nth(i).bounding_box()
                assert box["y"] + box["height"] <= height + 2, (i, box)
        assert text_overlaps(page) == []
        page.screenshot(path=str(ROOT / "bench" / "results" / f"live_{width}.png"))
    finally:
        ctx.close()


def test_presenter_mode_sets_large_type(browser, server):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    page = ctx.new_page()
    try:
        open_app(page, f"{server}/live?dataset=moons&steps=200&pace=max&present=1")
        button(page, "Start").click()
        ticks = page.locator(f"{LIVE_CHART} .xtick text, {LIVE_CHART} .ytick text")
        expect(ticks.first).to_be_visible()  # a chart with axes drawn (the empty one before Start has none)
        page.wait_for_timeout(1500)
        sizes = ticks.evaluate_all("ts => ts.map(t => parseFloat(t.style.fontSize))")
        assert sizes and min(sizes) >= 16, sizes
        caption = page.get_by_test_id("stCaptionContainer").first
        assert float(caption.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 16
    finally:
        ctx.close()


def test_crafted_links_show_their_text_in_notices_and_no_outside_link(page, server):
    """Issue 16: a link's values are shown as typed in NormLab's own notices, never as a link of their choosing.

    Streamlit links a bare http://, www. or a@b even when escaped (remark-gfm works after escapes), and
    renders :colour[...], :emoji: and $math$: each must come out as the characters the link holds.
    """
    from urllib.parse import quote

    link = "[Log in here](http://evil.example/login)"
    extras = ":red[alarm] :smile: $x^2$ www.evil.example me@evil.example"
    cases = [  # (page and link, text the notices must show as typed)
        (f"/?norm={quote(link)}&pace={quote(extras)}", [f"norm={link}` is not valid (unknown norm '{link}'", extras]),
        (f"/experiments?exp={quote(f'a` {link} `b')}", [f"There is no experiment a` {link} `b (valid: "]),
    ]
    notices = page.locator('[data-testid="stAlert"], [data-testid="stToast"], [data-testid="stNotification"]')
    for path, texts in cases:
        page.goto(f"{server}{path}")
        for text in texts:
            expect(notices.filter(has_text=text[:12])).to_have_count(1)
        page.wait_for_timeout(500)  # any markdown post-processing has run
        shown = [t.replace("\u2060", "") for t in notices.all_inner_texts()]  # plain's invisible word joiners
        for text in texts:
            assert any(text in t for t in shown), (text, shown)
        hrefs = notices.evaluate_all("els => els.flatMap(e => [...e.querySelectorAll('a[href]')].map(a => a.href))")
        assert [h for h in hrefs if not h.startswith(server)] == [], hrefs
        crafted = notices.filter(has_text="evil.example")  # no markup of the link's making in them at all
        assert crafted.count() == len(texts)
        assert crafted.evaluate_all("els => els.filter(e => e.querySelector('a, img, code, em, strong')).length") == 0


def test_the_share_link_names_the_address_the_visitor_used(page, server):
    visited = server.replace("127.0.0.1", "localhost")  # another name for the same server
    open_app(page, f"{visited}/live?norm=layer")
    page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Share", exact=True).click()
    expect(page.get_by_test_id("stCode").last).to_be_visible()
    codes = [c.strip() for c in page.get_by_test_id("stCode").all_inner_texts()]
    assert f"{visited}/live?norm=layer&classroom=1" in codes and f"{visited}/live?norm=layer" in codes
