"""Two replicas: two real `streamlit run` servers on one NORMLAB_RUNS folder (docs/deploy.md).

Spoken to in Streamlit's websocket protocol (bench/classroom.Tab), no browser: one tab on each server
trains a run at the same time; then each server offers the other's run as saved ("Show the saved
run") and lists it on its Saved runs page, and the folder holds only whole run files.
"""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import parse_qsl

import pytest

from bench.browser import start_server, stop_server
from bench.classroom import SERVER_ENV, Tab, student
from vizcore import RunConfig
from vizcore.engine import runfile

TIMEOUT_S = 120
STEPS = 150
QUERIES = {  # one configuration per replica; pace=max: train as fast as it goes
    "a": f"dataset=moons&steps={STEPS}&every=10&pace=max",
    "b": f"dataset=moons&steps={STEPS}&every=10&pace=max&seed=1",
}


def config_of(query: str) -> RunConfig:
    return RunConfig.from_dict({k: v for k, v in parse_qsl(query) if k != "pace"})


class PageTab(Tab):
    """A tab that opens a page by its URL path (`runs`) and remembers every selectbox's options."""

    def __init__(self, url: str, query: str, name: str, page: str = ""):
        super().__init__(url, query, name)
        self.page, self.options = page, {}

    async def rerun(self, fragment_id: str = "", auto: bool = False, trigger: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string, cs.page_script_hash, cs.fragment_id, cs.is_auto_rerun = (
            self.query,
            self.page_hash,
            fragment_id,
            auto,
        )
        if not self.page_hash:
            cs.page_name = self.page  # the first run: the page the link names
        if trigger:
            w = cs.widget_states.widgets.add()
            w.id, w.trigger_value = trigger, True
        ctx = cs.context_info
        ctx.timezone, ctx.locale, ctx.color_scheme = "UTC", "en-US", "light"
        ctx.url = f"{self.url}/{self.page}?{self.query}"
        await self.ws.send(msg.SerializeToString())

    def _element(self, el) -> None:
        if el.WhichOneof("type") == "selectbox":
            self.options[el.selectbox.label] = list(el.selectbox.options)
        super()._element(el)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    runs = tmp_path_factory.mktemp("shared_runs")
    saved = {k: os.environ.get(k) for k in SERVER_ENV}
    os.environ.update(SERVER_ENV)  # no idle pause while a slow box draws
    servers = []
    try:
        for _ in range(2):
            servers.append(start_server(runs))
        yield runs, [url for url, _ in servers]
    finally:
        for _, proc in servers:
            stop_server(proc)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def page_of(url: str, query: str, name: str, page: str = "") -> PageTab:
    """Open a tab and wait for its first full run to finish."""
    tab = PageTab(url, query, name, page)
    await tab.open()
    await tab.wait(lambda: tab.full_done > 0 and not tab.running, time.monotonic() + TIMEOUT_S, "page load")
    return tab


def test_a_run_saved_by_one_replica_is_offered_and_listed_by_the_other(replicas):
    runs, (url_a, url_b) = replicas

    async def scenario() -> None:
        trained = await asyncio.gather(
            student(url_a, QUERIES["a"], "a", STEPS), student(url_b, QUERIES["b"], "b", STEPS)
        )
        for t in trained:
            assert t["done"] and not t["errors"], (t["name"], t.get("stuck"), t["errors"])
            assert t["role"] == "trained" and "completed" in t["progress"], t["progress"]
            await t["tab"].close()
        # Each replica offers the run the other trained, read from the shared folder.
        for url, other in ((url_b, "a"), (url_a, "b")):
            tab = await page_of(url, QUERIES[other], f"{other} elsewhere")
            try:
                offers = [label for label in tab.buttons if label.startswith("Show the saved run")]
                assert offers, f"{url} does not offer the run trained elsewhere: {sorted(tab.buttons)}"
                assert not tab.errors
            finally:
                await tab.close()
        # ... and lists both on its Saved runs page.
        for url in (url_a, url_b):
            tab = await page_of(url, "", "saved runs", page="runs")
            try:
                listed = " | ".join(tab.options.get("Run", []))
                for seed in (0, 1):
                    assert f"seed {seed} · moons" in listed, listed
                assert not tab.errors
            finally:
                await tab.close()

    asyncio.run(scenario())

    names = sorted(os.listdir(runs))
    assert not [n for n in names if n.startswith(".tmp-")], names
    stored = {n: runfile.load(runs / n) for n in names if n.endswith(".json")}
    for name, run in stored.items():  # whole, and named by their configuration
        assert name == runfile.config_of(run).key + ".json"
    for query in QUERIES.values():
        run = stored[config_of(query).key + ".json"]
        assert run["status"] == "completed" and run["steps_done"] == STEPS


def test_the_deploy_guide_names_every_setting():
    from pathlib import Path

    from vizcore.workers.settings import NAMES

    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    assert [name for name in NAMES if f"`{name}`" not in text] == []
    for needed in ("/_stcore/stream", "proxy_http_version 1.1", "Upgrade", "enableStaticServing", "OMP_NUM_THREADS=1"):
        assert needed in text
