"""AppTest tests of the Covariate shift page: renders, a reduced-budget run completes and is drawn, stop, errors."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, wait_for

pytestmark = pytest.mark.usefixtures("store_dir")


def page(**settings) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/covariate_shift.py").run()
    assert not at.exception
    for name, value in settings.items():
        widget = (
            at.sidebar.selectbox(key=f"shift_{name}")
            if isinstance(value, str)
            else at.sidebar.number_input(key=f"shift_{name}")
        )
        widget.set_value(value)
    at.run()
    assert not at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def stop_lab(at: AppTest) -> None:
    lab = at.session_state["shift_lab"] if "shift_lab" in at.session_state else None
    if lab is not None:
        lab.stop()
        assert lab.join(30)


def charts(at: AppTest) -> dict[str, dict]:
    out = {}
    for c in at.get("plotly_chart"):
        fig = json.loads(c.proto.spec)
        out[fig["layout"]["title"]["text"]] = fig
    return out


def test_page_renders_with_defaults():
    at = page()
    assert at.title[0].value == "Covariate shift"
    assert not button(at, "Run").disabled and button(at, "Stop").disabled
    assert any("Press **Run**" in i.value for i in at.info)
    assert at.sidebar.number_input(key="shift_steps").value == 600  # the page's budgeted default
    # the test-time shift and scale are part 2's sliders: no second, ignored pair in the sidebar
    keys = {w.key for w in at.sidebar.number_input}
    assert "shift_steps" in keys and not {"shift_shift", "shift_scale"} & keys


def test_a_reduced_run_completes_and_is_drawn():
    at = page(depth=2, width=8, steps=30, batch_size=32)
    button(at, "Run").click().run()
    lab = at.session_state["shift_lab"]
    try:
        assert lab.base.steps == 30 and lab.base.depth == 2
        wait_for(lambda: not lab.alive)
        at.run()
        assert not at.exception and not at.error
        snap = lab.snapshot()
        assert snap.state == "done", snap
        figs = charts(at)
        drift = next(f for t, f in figs.items() if t.startswith("Internal covariate shift on fixed probe"))
        gshift = next(f for t, f in figs.items() if t.startswith("Internal covariate shift as Santurkar"))
        acc = next(f for t, f in figs.items() if t.startswith("Does it train"))
        ext = next(f for t, f in figs.items() if t.startswith("External"))
        assert len(drift["data"]) == 3 * 2 * 2 and len(gshift["data"]) == 2 * 1 * 3 and len(acc["data"]) == 3
        assert len(ext["data"]) == 2 * 5
        runs = snap.internal["runs"]
        assert drift["data"][2]["y"] == pytest.approx(runs[1]["drift"]["layers"][0]["w1"])  # run 2, block 1
        verdict = next(m.value for m in at.markdown if "gradient shift" in m.value)
        ratio = snap.internal["summary"]["gshift_ratio"]
        assert f"**{ratio:.2g} times**" in verdict and "noisy batch norm" in verdict
        assert any("fully undoes a constant shift" in m.value for m in at.markdown)
        at.slider(key="shift_x").set_value(1.0)
        at.slider(key="shift_s").set_value(2.0)
        at.run()
        assert not at.exception
        ext = next(f for t, f in charts(at).items() if t.startswith("External"))
        markers = [tr for tr in ext["data"] if tr["mode"] == "markers"]
        assert len(markers) == 5 and all(tr["x"] == [1.0] for tr in markers)
        assert "× 2 + shift" in json.dumps(ext["layout"]["title"], ensure_ascii=False)
    finally:
        stop_lab(at)


def test_stop_ends_the_run():
    at = page(depth=2, width=8, steps=50_000, every=500, eval_every=5000)
    button(at, "Run").click().run()
    lab = at.session_state["shift_lab"]
    try:
        assert lab.alive
        button(at, "Stop").click().run()
        assert not lab.alive and lab.snapshot().state == "stopped"
        assert not at.exception
    finally:
        stop_lab(at)


def test_no_normalization_is_explained_not_raised():
    at = page(norm="none")  # with the page's default noise: RunConfig itself says why, beside the control
    assert any("choose a norm other than none" in e.value for e in at.sidebar.error)
    assert button(at, "Run").disabled
    # ...and the main area says what this page needs, instead of "Press Run" beside a disabled button
    assert any("compares a normalization with none" in w.value for w in at.main.warning)
    assert not any("Press **Run**" in i.value for i in at.info)
    at.sidebar.number_input(key="shift_norm_noise").set_value(0.0)
    at.run()
    assert not at.exception
    assert any("choose a normalization in the sidebar" in e.value for e in at.main.error)
    assert button(at, "Run").disabled
