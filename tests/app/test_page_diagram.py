"""The network diagram in AppTest: a click on a tap charts that tap, keeps the tap control and the link in step."""

import json

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, figures, shown, stop_jobs, wait_for
from vizcore.figures.readers import tap_label
from vizcore.ui.diagram import clicked_tap

pytestmark = pytest.mark.usefixtures("store_dir")


def live_lab(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(query or {})
    return at.switch_page("pages/live.py").run()


def diagram_chart(at: AppTest):
    """Return the sidebar's diagram element and its figure."""
    el = next(e for e in at.sidebar if e.type == "plotly_chart")
    return el, json.loads(el.proto.spec)


def taps(fig: dict) -> dict[str, str]:
    """Return tap name -> its marker's fill (the chosen one is filled, the others white)."""
    t = next(t for t in fig["data"] if t.get("name") == "taps")
    return dict(zip(t["customdata"], t["marker"]["color"], strict=True))


def click(at: AppTest, tap: str) -> AppTest:
    """Send what the browser sends when the tap's marker is clicked: a one-point selection of the diagram."""
    el, fig = diagram_chart(at)
    t = next(t for t in fig["data"] if t.get("name") == "taps")
    i = t["customdata"].index(tap)
    point = {"curve_number": 0, "point_number": i, "point_index": i, "x": t["x"][i], "y": t["y"][i], "customdata": tap}
    selection = {"selection": {"points": [point], "point_indices": [i], "box": [], "lasso": []}}
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=el.proto.id, string_value=json.dumps(selection)))
    return at._run(states)


def test_the_sidebar_draws_the_chosen_network_with_act_chosen():
    at = live_lab({"norm": "layer", "placement": "after", "depth": "3"})
    _, fig = diagram_chart(at)
    marks = taps(fig)
    assert list(marks) == ["linear", "act", "norm"]  # layer norm after the activation
    assert [name for name, fill in marks.items() if fill != "white"] == ["act"]
    texts = [a["text"] for a in fig["layout"]["annotations"]]
    assert "layer norm" in texts and any(t.startswith("<b>3 blocks") for t in texts)


def test_clicking_a_tap_sets_the_tap_control_the_link_and_the_charts():
    at = live_lab({"dataset": "moons", "steps": "40", "pace": "max"})
    click(at, "linear")
    assert not at.exception
    assert at.segmented_control(key="live_tap").value == "linear"
    assert at.query_params["tap"] in ("linear", ["linear"])
    _, fig = diagram_chart(at)
    assert [name for name, fill in taps(fig).items() if fill != "white"] == ["linear"]
    at.button[0].click().run()  # Start: the charts follow the tap chosen on the diagram
    try:
        jobs = [at.session_state[k] for k in ("live_job", "live_twin") if k in at.session_state]
        wait_for(lambda: not any(j.alive for j in jobs))
        at.run()
        titles = [f["layout"]["title"]["text"] for f in figures(at)]
        assert any(tap_label("linear").lower() in t.lower() for t in titles), titles
        assert not any(tap_label("act").lower() in t.lower() for t in titles), titles
        click(at, "norm")  # and back through the diagram while the charts show a run
        titles = [f["layout"]["title"]["text"] for f in figures(at)]
        assert any(tap_label("norm").lower() in t.lower() for t in titles), titles
        assert at.segmented_control(key="live_tap").value == "norm"
    finally:
        stop_jobs(at)


def test_the_tap_control_moves_the_diagram_and_a_link_sets_both():
    at = live_lab({"tap": "norm"})
    assert at.segmented_control(key="live_tap").value == "norm"
    assert [n for n, fill in taps(diagram_chart(at)[1]).items() if fill != "white"] == ["norm"]
    at.segmented_control(key="live_tap").set_value("linear").run()
    assert [n for n, fill in taps(diagram_chart(at)[1]).items() if fill != "white"] == ["linear"]
    assert at.query_params["tap"] in ("linear", ["linear"])
    at = live_lab({"tap": "middle"})  # a bad value is named, and the default used
    assert at.segmented_control(key="live_tap").value == "act"
    assert any("`tap=middle` is not valid (valid: linear, norm, act)" in shown(w.value) for w in at.warning)


def test_a_selection_without_a_tap_changes_nothing():
    assert clicked_tap({"selection": {"points": [{"customdata": "linear"}, {"customdata": "act"}]}}) == "act"
    for event in (None, {}, {"selection": {"points": []}}, {"selection": {"points": [{"x": 1}]}}, "junk"):
        assert clicked_tap(event) is None


def test_classroom_mode_and_presenter_mode_keep_the_diagram():
    at = live_lab({"classroom": "1", "present": "1", "norm": "none"})
    _, fig = diagram_chart(at)
    assert list(taps(fig)) == ["linear", "act"]
    assert min(a["font"]["size"] for a in fig["layout"]["annotations"] if a.get("text")) >= 16


def test_the_about_page_explains_the_default_networks_taps():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/about.py").run()
    assert not at.exception
    fig = next(f for f in figures(at) if f["layout"]["title"]["text"] == "The network")
    assert list(taps(fig)) == ["linear", "norm", "act"] and set(taps(fig).values()) == {"white"}
    text = " ".join(m.value for m in at.markdown)
    assert "4 blocks of 64 units, batch norm before the activation (ReLU)" in text
    assert "**norm**: the norm layer's output, what the activation receives" in text
