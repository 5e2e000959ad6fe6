"""The live chart's payload: a small loader instead of the drawing code, figures rounded and serialized once."""

import json
import re

import plotly.graph_objects as go

from vizcore.ui import live_chart


def test_the_loader_is_small_and_imports_the_versioned_drawing_code():
    assert len(live_chart._LOADER % live_chart._chart_js_url()) < 400  # sent with every chart message
    src = (live_chart.STATIC / live_chart.CHART_JS).read_text()
    assert "export function draw(" in src and "Plotly.react" in src and len(src) > 2000
    url = live_chart._chart_js_url()
    assert re.fullmatch(r"/app/static/live_chart\.js\?v=[0-9a-f]{12}", url)


def test_figures_are_rounded_to_four_digits():
    fig = go.Figure(go.Scatter(x=[0, 50, 100], y=[2.302585092994046, 0.123456789, 1.23456789e-7], name="loss"))
    spec = live_chart.figure_spec(fig)
    assert spec["data"][0]["y"] == [2.303, 0.1235, 1.235e-07] and spec["data"][0]["x"] == [0, 50, 100]
    full = json.loads(fig.to_json())
    assert len(json.dumps(spec)) < len(json.dumps(full))
    assert live_chart.compact({"a": [1.0, None, True, "x", 0.000123456]}) == {"a": [1.0, None, True, "x", 0.0001235]}


def test_a_prepared_chart_sends_the_same_message_and_lets_its_figure_go():
    # A job memoizes prepared charts: a memoized figure kept itself and a JSON-ready copy of all its numbers.
    import gc
    import weakref

    fig = go.Figure(go.Heatmap(z=[[float(i * j) for i in range(64)] for j in range(50)]), layout=dict(height=330))
    expected = live_chart.prepare(go.Figure(fig), "500-True").data  # from a copy of the figure
    made = live_chart.prepare(fig, "500-True")
    assert made.data == expected and made.height == 330
    assert json.loads(made.data)["uirevision"] == "500-True"
    assert live_chart.prepare(go.Figure()).height == 400  # plotly's default, as the component draws it
    gone = weakref.ref(fig)
    del fig
    gc.collect()
    assert gone() is None  # nothing of the figure stays with what is drawn from it
