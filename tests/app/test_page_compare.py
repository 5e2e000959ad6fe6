"""AppTest tests of the Compare page: variants from one knob, explained rejections, a side-by-side run."""

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, shown, wait_for
from vizcore.workers.base import server_slots

pytestmark = pytest.mark.usefixtures("store_dir")


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    return at


def jobs_of(at: AppTest) -> dict:
    return at.session_state["cmp_jobs"] if "cmp_jobs" in at.session_state else {}


def stop_jobs(at: AppTest) -> None:
    for job in jobs_of(at).values():
        job.stop()
    for job in jobs_of(at).values():
        assert job.join(30)


def choose(at: AppTest, knob: str, values: list, **base) -> AppTest:
    for name, value in base.items():
        widget = (
            at.sidebar.selectbox(key=f"cmp_{name}")
            if isinstance(value, str)
            else at.sidebar.number_input(key=f"cmp_{name}")
        )
        widget.set_value(value)
    at.selectbox(key="cmp_knob").set_value(knob)
    at.run()
    at.multiselect(key=f"cmp_values_{knob}").set_value(values)
    return at.run()


def start(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Start").click().run()


def test_renders_with_an_intro_and_a_default_selection():
    at = page()
    assert at.title[0].value == "Compare"
    assert "same initial weights" in at.markdown[0].value
    assert at.multiselect(key="cmp_values_norm").value == ["none", "batch", "layer", "group"]
    assert not next(b for b in at.button if b.label == "Start").disabled
    assert any("Press **Start**" in i.value or "press **Start**" in i.value for i in at.info)


def test_norm_variants_are_exactly_the_chosen_values_on_the_base():
    at = choose(page(), "norm", ["none", "batch", "layer"], dataset="moons", lr=0.05)
    slots = server_slots()
    held = [slots.acquire(5) for _ in range(slots.n)]
    assert all(held)  # every slot taken: the jobs wait, so their weights are still the initial ones
    try:
        start(at)
        assert not at.exception
        jobs = jobs_of(at)
        assert list(jobs) == ["norm=none", "norm=batch", "norm=layer"]
        cfgs = [j.cfg for j in jobs.values()]
        assert [c.norm for c in cfgs] == ["none", "batch", "layer"]
        base = cfgs[1].replace(norm="batch")
        assert base.dataset == "moons" and base.lr == 0.05
        for c in cfgs:
            assert c.replace(norm=base.norm) == base  # equal to the base apart from the norm
        first = [j.trainer.net.blocks[0].linear.weight for j in jobs.values()]
        assert all(j.trainer.steps_done == 0 for j in jobs.values())
        assert torch.equal(first[0], first[1]) and torch.equal(first[0], first[2])
        wait_for(lambda: all(j.state == "waiting" for j in jobs.values()), 10)
        at.run()
        texts = [p.proto.text for p in at.get("progress")]
        assert len(texts) == 3 and all("waiting for a slot" in t for t in texts)
        assert any("no snapshot recorded yet" in c.value for c in at.caption)  # not an empty histogram row
    finally:
        stop_jobs(at)
        for ok in held:
            if ok:
                slots.release()


def test_an_invalid_variant_is_explained_not_raised():
    at = choose(page(), "batch_size", [1, 64], norm="batch")
    assert not at.exception
    warning = next(shown(w.value) for w in at.warning if "batch_size=1" in shown(w.value))
    assert "at least 2 examples" in warning
    assert next(b for b in at.button if b.label == "Start").disabled  # one valid variant is not a comparison
    at.multiselect(key="cmp_values_batch_size").set_value([1, 16, 64]).run()
    assert not next(b for b in at.button if b.label == "Start").disabled


def test_a_short_comparison_completes_with_curves_and_readout(store_dir):
    at = choose(page(), "norm", ["none", "layer"], dataset="moons", steps=100)
    try:
        start(at)
        jobs = jobs_of(at)
        assert [j.cfg.steps for j in jobs.values()] == [100, 100]
        wait_for(lambda: not any(j.alive for j in jobs.values()))
        at.run()
        assert not at.exception
        charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        curves = next(f for f in charts if "Training curves" in f["layout"]["title"]["text"])
        names = {tr["name"] for tr in curves["data"]}
        assert {"norm=none · train", "norm=none · test", "norm=layer · train", "norm=layer · test"} <= names
        assert any("at the end of each run" in f["layout"]["title"]["text"] for f in charts)
        table = at.dataframe[0].value
        assert list(table["Variant"]) == ["norm=none", "norm=layer"]
        assert table["Δ test acc"][0] == "reference"
        assert [p.proto.text.endswith("done") for p in at.get("progress")] == [True, True]
        assert len(list(store_dir.glob("*.json"))) == 2
        # the same comparison again trains live again: a saved run is never substituted for Start
        start(at)
        assert set(jobs_of(at)) == {"norm=none", "norm=layer"} and at.session_state["cmp_loaded"] == {}
    finally:
        stop_jobs(at)


def test_stop_ends_every_variant_and_reset_clears_the_comparison():
    at = choose(page(), "lr", [0.01, 0.1], dataset="moons", steps=200000)
    try:
        start(at)
        jobs = jobs_of(at)
        assert len(jobs) == 2 and all(j.alive for j in jobs.values())
        next(b for b in at.button if b.label == "Stop").click().run()
        assert not at.exception and not any(j.alive for j in jobs.values())
        texts = [p.proto.text for p in at.get("progress")]
        assert len(texts) == 2 and all("stopped at step" in t for t in texts)
        assert next(b for b in at.button if b.label == "Stop").disabled
        next(b for b in at.button if b.label == "Reset").click().run()
        assert "cmp_order" not in at.session_state and not at.get("progress")
        assert any("press **Start**" in i.value for i in at.info)
    finally:
        stop_jobs(at)


def test_an_invalid_base_is_explained_in_the_main_area():
    at = page()
    at.sidebar.number_input(key="cmp_batch_size").set_value(1).run()  # the default batch norm needs 2
    assert not at.exception
    assert any("at least 2" in e.value for e in at.sidebar.error)
    assert any("Start is off" in w.value for w in at.main.warning)
