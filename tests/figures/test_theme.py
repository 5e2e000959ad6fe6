"""The theme: titles that fit half a page, legends below the plots, text large enough to read projected
(and larger still in presenter mode), and log axes labelled at whole decades only."""

import json
import math

import plotly.graph_objects as go
import pytest

from tests.figures.helpers import all_figures
from vizcore.figures.distributions import heatmap, histograms, percentile_bands
from vizcore.figures.experiments import sweep_figure
from vizcore.figures.gradients import grad_stats
from vizcore.figures.theme import BASE_SIZE, PRESENT_TICK, SUBTITLE_CHARS, TITLE_CHARS, empty, present


def test_subtitles_are_wrapped_to_fit_half_a_page(bn):
    for fig in (histograms(bn, "act"), percentile_bands(bn, "act"), grad_stats(bn)):
        lines = fig.layout.title.subtitle.text.split("<br>")
        assert len(lines) > 1 and max(map(len, lines)) <= SUBTITLE_CHARS
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0  # below the plots, not on the title


def tick_size(fig, axis) -> float:
    """Return the size of an axis's tick labels as plotly draws them: its own, else the template's font."""
    return axis.tickfont.size or fig.layout.template.layout.font.size


def fonts(fig) -> dict[str, list[float]]:
    """Return the font sizes a figure draws, by kind of text."""
    layout = fig.layout
    axes = [layout[k] for k in fig.to_dict()["layout"] if k.startswith(("xaxis", "yaxis"))]
    default = layout.template.layout.font.size
    return {
        "ticks": [tick_size(fig, a) for a in axes],
        "title": [layout.title.font.size or default],
        "subtitle": [layout.title.subtitle.font.size or default] if layout.title.subtitle.text else [],
        "legend": [layout.legend.font.size or layout.template.layout.legend.font.size],
        "notes": [a.font.size or default for a in layout.annotations],
    }


def test_text_is_large_enough_to_read_projected(bn):
    for name, fig in all_figures(bn).items():
        f = fonts(fig)
        assert min(f["ticks"], default=BASE_SIZE) >= 13, name
        assert min(f["title"]) >= 16 and min(f["notes"], default=12) >= 12, name


def test_presenter_mode_scales_every_text(bn):
    for name, fig in {**all_figures(bn), "empty": empty("a title", "a message")}.items():
        before = fonts(fig)
        big = present(fig)
        f = fonts(big)
        assert min(f["ticks"], default=PRESENT_TICK) >= 16, name
        assert min(f["title"]) >= 20, name
        k = PRESENT_TICK / BASE_SIZE
        for kind in ("subtitle", "legend", "notes"):  # legends and annotations scaled alike
            assert f[kind] == pytest.approx([v * k for v in before[kind]], abs=0.06), (name, kind)
        assert fonts(fig) == before, name  # the memoized figure itself is left alone
        assert json.loads(big.to_json())["data"] == json.loads(fig.to_json())["data"]
        go.Figure(big.to_dict())  # what `present` builds unvalidated is a valid figure
    # a figure the theme's `style` did not lay out (the experiments build their own) grows too
    sweep = sweep_figure([0.01, 0.1], {"a": {"mean": [0.5, 0.6]}}, "a sweep", "lr", "accuracy", log_x=True)
    f = fonts(present(sweep))
    assert min(f["ticks"]) >= 16 and min(f["title"]) >= 20 and f["legend"][0] >= 16
    assert present(sweep).layout.margin.t > (sweep.layout.margin.t or 0)
    larger = fonts(present(grad_stats(bn), scale=1.5))
    assert min(larger["ticks"]) >= 24 and min(larger["title"]) >= 30


def test_presenter_titles_wrap_for_the_larger_text_and_margins_hold_them(bn):
    for fig in (percentile_bands(bn, "linear"), histograms(bn, "linear"), grad_stats(bn)):
        big = present(fig)
        k = PRESENT_TICK / BASE_SIZE
        assert max(map(len, big.layout.title.text.split("<br>"))) <= TITLE_CHARS / k
        assert max(map(len, big.layout.title.subtitle.text.split("<br>"))) <= SUBTITLE_CHARS / k
        assert big.layout.margin.t > fig.layout.margin.t and big.layout.height > fig.layout.height
        # the plot area keeps its height: only the margins around it grew
        area = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
        assert big.layout.height - big.layout.margin.t - big.layout.margin.b == area


def test_titles_fit_half_a_page(bn):
    for name, fig in all_figures(bn).items():
        if not name.startswith("heatmap"):  # the heatmaps are drawn the page's full width
            assert max(map(len, fig.layout.title.text.split("<br>"))) <= TITLE_CHARS, name


def log_axes(fig) -> list:
    layout = fig.to_dict()["layout"]
    return [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis")) and v.get("type") == "log"]


def test_log_axes_label_whole_decades_only(bn, diverged):
    from vizcore.figures.curves import curves

    figs = [
        grad_stats(bn),
        grad_stats(diverged),
        curves(bn, log_loss=True),
        sweep_figure([0.003, 0.01, 0.03, 0.1], {"a": {"mean": [0.5, 0.6, 0.7, 0.6]}}, "t", "lr", "acc", log_x=True),
    ]
    for fig in figs:
        axes = log_axes(fig)
        assert axes
        for axis in axes:
            # plotly labels the 2s and 5s between decades once a range spans few: here ticks are every
            # whole number of decades, on a range of whole decades, and the minor ticks carry no label
            assert isinstance(axis["dtick"], int) and axis["dtick"] >= 1
            lo, hi = axis["range"]
            assert lo == math.floor(lo) and hi == math.floor(hi) and hi - lo >= 1
            assert "tickvals" not in axis and "ticktext" not in axis
            assert (hi - lo) / axis["dtick"] <= 6
    # the gradient norms of bn span less than a decade and still get two labels
    norms = [v for layer in bn["layers"] for v in layer["grad_norm"] if v]
    lo, hi = log_axes(grad_stats(bn))[0]["range"]
    assert 10**lo <= min(norms) and max(norms) <= 10**hi


def test_a_full_width_title_is_wrapped_for_the_full_width(family):
    fig = heatmap(family[0], "act")
    assert "<br>" not in fig.layout.title.text
