"""The Live lab's "Inside the norm" tab in AppTest: it appears, steps, switches to eval mode, works without a norm."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, figures, wait_for
from vizcore.figures.norm_inside import computed

pytestmark = pytest.mark.usefixtures("store_dir")


def trained(norm: str, twin: bool = False, query: dict | None = None) -> AppTest:
    """Return the Live lab after a short run with `norm` (and its twin if `twin`) has finished."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in {"norm": norm, "steps": "60", **(query or {})}.items():  # a link: classroom mode hides steps
        at.query_params[k] = v
    at.run()
    at.toggle(key="live_twin_on").set_value(twin).run()
    at.segmented_control(key="live_pace").set_value("max").run()
    at.button[0].click().run()  # Start
    jobs = [at.session_state[k] for k in ("live_job", "live_twin") if k in at.session_state]
    wait_for(lambda jobs=jobs: not any(j.alive for j in jobs))
    at.session_state["live_tab"] = "Inside the norm"  # only the open tab is drawn
    return at.run()


def inside(at: AppTest) -> dict:
    """Return the figure of the Inside-the-norm tab."""
    return next(f for f in figures(at) if "Inside the" in (f["layout"]["title"]["text"] or ""))


def panel(fig: dict, k: int) -> np.ndarray:
    """Return the z values of the heatmap in subplot `k` (1-based, row-major), to 4 significant digits."""
    axis = "x" if k == 1 else f"x{k}"
    trace = next(t for t in fig["data"] if t.get("xaxis", "x") == axis)
    return np.array(trace["z"], dtype=float)


def test_the_tab_appears_steps_and_switches_to_running_averages():
    at = trained("batch")
    assert not at.exception
    assert "Inside the norm" in [t.label for t in at.tabs]
    run = at.session_state["live_job"].trainer.export()
    sample = run["norm_sample"]
    fig = inside(at)
    assert "batch norm of block 1" in fig["layout"]["title"]["text"]
    np.testing.assert_allclose(panel(fig, 1), sample["x"], rtol=1e-3, atol=1e-4)  # step 1: the values only
    assert len([t for t in fig["data"] if t["type"] == "heatmap"]) == 1
    at.segmented_control(key="live_inside_step").set_value("output").run()
    fig = inside(at)
    want = computed(sample, "train")
    assert len([t for t in fig["data"] if t["type"] == "heatmap"]) == 6
    np.testing.assert_allclose(panel(fig, 2), want["mean"], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(panel(fig, 6), want["y"], rtol=1e-3, atol=1e-4)
    at.toggle(key="live_inside_eval").set_value(True).run()
    fig = inside(at)
    running = np.broadcast_to(sample["running_mean"], want["x"].shape)
    np.testing.assert_allclose(panel(fig, 2), running, rtol=1e-3, atol=1e-4)  # one running mean a unit
    np.testing.assert_allclose(panel(fig, 6), computed(sample, "eval")["y"], rtol=1e-3, atol=1e-4)


def test_no_norm_layer_says_how_to_add_one_and_a_twin_with_one_is_shown_instead():
    at = trained("none")
    assert not at.exception
    fig = inside(at)
    assert "no norm layer" in fig["layout"]["annotations"][0]["text"] and "Normalization" in str(fig["layout"])
    at = trained("none", twin=True)  # beside it: the same network with batch norm
    assert "batch norm of block 1" in inside(at)["layout"]["title"]["text"]
    assert any("trained beside it" in c.value for c in at.caption)


def test_classroom_mode_has_the_tab():
    at = trained("layer", query={"classroom": "1"})
    assert not at.exception and "Inside the norm" in [t.label for t in at.tabs]
    at.segmented_control(key="live_inside_step").set_value("statistics").run()
    at.toggle(key="live_inside_eval").set_value(True).run()
    text = inside(at)["layout"]["title"]["subtitle"]["text"]
    assert "no running averages" in text


def test_the_steps_and_mode_survive_a_visit_to_another_tab():
    at = trained("batch")
    at.segmented_control(key="live_inside_step").set_value("output").run()
    at.toggle(key="live_inside_eval").set_value(True).run()
    at.session_state["live_tab"] = "Histograms"  # the norm tab is closed: its controls are not drawn
    at.run()
    assert not at.exception and not any(f for f in figures(at) if "Inside the" in (f["layout"]["title"]["text"] or ""))
    at.session_state["live_tab"] = "Inside the norm"
    at.run()
    assert not at.exception and not at.warning
    assert at.segmented_control(key="live_inside_step").value == "output" and at.toggle(key="live_inside_eval").value
    assert len([t for t in inside(at)["data"] if t["type"] == "heatmap"]) == 6  # still the last step, in eval mode
