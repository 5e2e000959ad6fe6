"""Bar charts of the experiments: a bar's length is its value (the axis starts at 0), or the chart says it is zoomed."""

import json

import plotly.io as pio

from vizcore.experiments import get
from vizcore.experiments.base import Result, spread
from vizcore.figures.experiments import ZOOMED, bar_figure


def starts_at_zero(fig) -> bool:
    """Return True if plotly.js draws the y-axis from 0: an explicit range from 0, or autorange with rangemode
    'tozero' over bars that are all >= 0 (then plotly's autorange always includes 0)."""
    y = fig.layout.yaxis
    if y.range is not None:
        return y.range[0] == 0
    values = [v for t in fig.data for v in (t.y or [])]
    return y.rangemode == "tozero" and min(values) >= 0


def notes(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


ACC = {"before": {"ReLU": 0.962, "sigmoid": 0.951}, "after": {"ReLU": 0.965, "sigmoid": 0.949}}


def test_accuracy_bars_start_at_zero_by_default():
    fig = bar_figure(ACC, "t", "test accuracy")
    assert starts_at_zero(fig)
    assert not any(ZOOMED in n for n in notes(fig))
    json.loads(pio.to_json(fig))


def test_a_zoomed_axis_is_marked_on_the_chart():
    fig = bar_figure(ACC, "t", "test accuracy", zoom=(0.935, 0.97))
    assert list(fig.layout.yaxis.range) == [0.935, 0.97] and not starts_at_zero(fig)
    said = [n for n in notes(fig) if ZOOMED in n]
    assert said and "starts at 0.935, not 0" in said[0]
    assert "≈" in notes(fig)  # the break mark at the foot of the axis


def test_a_zoom_from_zero_is_no_zoom():
    fig = bar_figure(ACC, "t", "test accuracy", zoom=(0.0, 1.0))
    assert list(fig.layout.yaxis.range) == [0.0, 1.0] and not any(ZOOMED in n for n in notes(fig))


def placement_result(before: list[float], after: list[float]) -> Result:
    exp = get("placement")
    measured = {
        a: {"before": spread(before), "after": spread(after), "per_seed": {"before": before, "after": after}}
        for a in ("relu", "sigmoid")
    }
    run = {"curves": {"step": [0, 10], "test_acc": [0.1, 0.95]}}
    runs = {label: [run] for label, _ in exp.variants(0.05)}
    return Result(exp.name, 1.0, (0, 1, 2, 3), runs, measured, exp.verdict(measured))


def test_experiment_6_accuracy_bars_start_at_zero():
    """Its gaps are fractions of a point: an axis cut at 0.935 made them look large (issue 14)."""
    result = placement_result([0.962, 0.960, 0.961, 0.963], [0.964, 0.965, 0.963, 0.966])
    bars, caption = get("placement").figures(result)[0]
    assert starts_at_zero(bars)
    assert not any(ZOOMED in n for n in notes(bars))
    assert "starts at 0" in caption


def test_every_experiment_bar_chart_of_accuracy_starts_at_zero_or_says_zoomed():
    """Regularization's gap bars (accuracy points) and placement's bars: from 0 or marked."""
    from tests.experiments import test_exp_regularization as reg_t

    exp = get("regularization")
    m = reg_t.measured({8: (reg_t.WIDE, reg_t.BIG_CUT), 64: (reg_t.WIDE, reg_t.BIG_CUT)})
    run = {"curves": {"step": [0, 10], "test_acc": [0.1, 0.95]}}
    result = Result(exp.name, 1.0, (0,), {label: [run] for label, _ in exp.variants(0.05)}, m, exp.verdict(m))
    result6 = placement_result([0.962, 0.960, 0.961, 0.963], [0.964, 0.965, 0.963, 0.966])
    for fig in [f for f, _ in exp.figures(result) + get("placement").figures(result6)]:
        if any(t.type == "bar" for t in fig.data):
            assert starts_at_zero(fig) or any(ZOOMED in n for n in notes(fig)), fig.layout.title.text
