"""kit.Fig builds the same figure plotly's own incremental calls build."""

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from vizcore.figures.kit import Fig, bar, scatter


def _same(a: go.Figure, b: go.Figure) -> None:
    ja, jb = a.to_plotly_json(), b.to_plotly_json()
    assert ja["data"] == jb["data"]
    assert {k: v for k, v in ja["layout"].items() if k != "template"} == {
        k: v for k, v in jb["layout"].items() if k != "template"
    }
    assert ja["layout"].get("template") == jb["layout"].get("template")


def _both(rows: int, cols: int, **grid):
    ref = make_subplots(rows=rows, cols=cols, **grid) if (rows, cols) != (1, 1) or grid else go.Figure()
    return ref, Fig(rows, cols, **grid)


def test_grid_traces_axes_and_layout_match_plotly():
    ref, fig = _both(2, 2, subplot_titles=("a", "b", "c"), horizontal_spacing=0.07, specs=[[{}, {}], [{}, None]])
    for k, (row, col) in enumerate([(1, 1), (1, 2), (2, 1)]):
        ref.add_trace(go.Scatter(x=[1, 2], y=[k, k + 1], name=f"s{k}", error_y=None), row=row, col=col)
        fig.add_trace(scatter(x=[1, 2], y=[k, k + 1], name=f"s{k}", error_y=None), row=row, col=col)
    ref.add_trace(go.Bar(x=[0.5], y=[3], width=0.2), row=2, col=1)
    fig.add_trace(bar(x=[0.5], y=[3], width=0.2), row=2, col=1)
    for f in (ref, fig):
        f.update_xaxes(title_text="step", title_standoff=6, range=[0, 3])
        f.update_yaxes(type="log", row=1, col=2)
        f.update_yaxes(title_text="count", row=2, col=1)
        f.update_layout(height=300, legend=dict(orientation="h"), margin=dict(l=10))
        f.update_layout(legend=dict(x=0), margin=dict(b=5))
        f.add_shape(type="line", x0=1, x1=1, y0=0, y1=1, xref="x2", yref="y2 domain")
        f.add_annotation(text="note", x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    _same(ref, fig.figure())


def test_shared_axes_and_a_plain_figure_match_plotly():
    ref, fig = _both(3, 1, shared_xaxes=True, vertical_spacing=0.05)
    for i in range(3):
        ref.add_trace(dict(type="heatmap", z=[[1, 2], [3, 4]]), row=i + 1, col=1)
        fig.add_trace(dict(type="heatmap", z=[[1, 2], [3, 4]]), row=i + 1, col=1)
    for f in (ref, fig):
        f.update_xaxes(title_text="training step", row=3, col=1)
        f.update_yaxes(showgrid=False, nticks=5)
    _same(ref, fig.figure())
    ref, fig = _both(1, 1)
    for f in (ref, fig):
        f.add_trace(dict(type="scatter", x=[1], y=[2]))
        f.update_xaxes(title_text="x")
        f.update_yaxes(range=[0, 1])
    _same(ref, fig.figure())


def test_fig_is_validated_by_plotly_and_the_grid_cache_is_not_shared_state():
    fig = Fig(1, 2)
    fig.add_trace(scatter(x=[1], y=[1], colour="red"), row=1, col=1)  # a misspelt property
    with pytest.raises(ValueError, match="colour"):
        fig.figure()
    a, b = Fig(1, 2), Fig(1, 2)
    a.update_xaxes(title_text="changed")
    assert "title" not in b.layout["xaxis"]  # each Fig gets its own copy of the cached grid
    with pytest.raises(ValueError, match="row and col"):
        a.update_yaxes(row=1, type="log")
