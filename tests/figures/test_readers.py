"""Reading run dicts: every run figure builds for every kind of run, and nothing a run may hold makes one
raise (nulls and non-finite values are left out)."""

import copy
import math

import plotly.graph_objects as go
import pytest

from tests.figures.helpers import all_figures, corrupt, strict_json, title
from vizcore.figures.boundary import boundary
from vizcore.figures.curves import curves
from vizcore.figures.readers import probe_view


@pytest.mark.parametrize("which", ["bn", "moons", "diverged", "one_frame", "no_frames", "deep"])
def test_every_figure_builds_for_every_kind_of_run(which, request):
    run = request.getfixturevalue(which)
    for name, fig in all_figures(run).items():
        assert isinstance(fig, go.Figure), name
        assert title(fig), f"{name} has no title"
        strict_json(fig)


def test_every_data_figure_labels_its_axes(bn, moons):
    figs = {**all_figures(bn), "boundary": boundary(moons)}
    for name, fig in figs.items():
        if not fig.data:
            continue
        layout = fig.to_dict()["layout"]
        xs = [v.get("title", {}).get("text") for k, v in layout.items() if k.startswith("xaxis")]
        ys = [v.get("title", {}).get("text") for k, v in layout.items() if k.startswith("yaxis")]
        assert any(xs) and any(ys), name


@pytest.mark.parametrize("which", ["bn", "moons", "diverged", "one_frame"])
def test_nulls_and_non_finite_values_are_left_out(which, request):
    run = corrupt(request.getfixturevalue(which))
    for name, fig in all_figures(run).items():
        data = strict_json(fig)["data"]
        for trace in data:
            for key in ("x", "y"):
                values = trace.get(key)
                if isinstance(values, list) and trace["type"] == "scatter":
                    assert None not in values, f"{name}: a null reached {key}"
    boundary(run, points=([[0, 0], [math.nan, 1], [2, None]], [0, 1, 1]))


def test_malformed_runs_give_figures_not_exceptions(bn):
    broken = copy.deepcopy(bn)
    del broken["layers"][0]["taps"]["linear"]["hist"]
    broken["layers"][1]["taps"] = "nonsense"
    broken["layers"][2]["steps"] = broken["layers"][2]["steps"][:3]  # shorter than its values
    broken["curves"] = {"step": [0, 1], "train_loss": [None]}  # misaligned
    for run in (broken, {}, {"layers": None}, {"format": "vizcore.run/1"}, None, []):
        for name, fig in all_figures(run).items():
            assert isinstance(fig, go.Figure), name
            strict_json(fig)
    assert curves([]).layout.annotations


def test_probe_view_swaps_in_the_probe_taps_and_is_none_without_them():
    run = {
        "layers": [
            {"name": "block1", "steps": [0], "taps": {"act": {"mean": [1.0]}}, "probe": {"act": {"mean": [2.0]}}}
        ]
    }
    view = probe_view(run)
    assert view["layers"][0]["taps"]["act"]["mean"] == [2.0] and run["layers"][0]["taps"]["act"]["mean"] == [1.0]
    del run["layers"][0]["probe"]
    assert probe_view(run) is None and probe_view({}) is None
