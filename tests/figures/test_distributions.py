"""Heatmaps, histograms and percentile bands: the run's own counts and percentiles, and an empty figure
that says why when a tap or the frames are missing."""

import json

import numpy as np
import pytest

from tests.figures.helpers import annotations, stretch, strict_json, subtitle, title
from vizcore.figures.compare import compare_histograms
from vizcore.figures.curves import curves
from vizcore.figures.distributions import Z_LEVELS, heatmap, histograms, percentile_bands
from vizcore.figures.ranges import percent


def shown_counts(run: dict, layer: dict, tap: str, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (counts per frame of the bins whose centre is in [lo, hi], those centres), a ReLU's exact zeros
    (its `saturated` share of every finite value) taken out of the bin at 0: computed here from the run file."""
    h = layer["taps"][tap]["hist"]
    edges = np.array(h["edges"])
    counts = np.array(h["counts"], dtype=float)
    if tap == "act" and run["config"]["activation"] == "relu":
        assert edges[0] == 0
        total = counts.sum(1) + np.array(h["under"]) + np.array(h["over"])
        counts[:, 0] -= np.round(np.array(layer["taps"]["act"]["saturated"]) * total)
    centres = (edges[:-1] + edges[1:]) / 2
    keep = (centres >= lo) & (centres <= hi)
    return counts[:, keep], centres[keep]


@pytest.mark.parametrize(("tap", "shown"), [("linear", (-10, 10)), ("norm", (-4, 4)), ("act", (0, 4))])
def test_heatmap_z_is_log_counts_of_the_run(bn, tap, shown):
    fig = heatmap(bn, tap)
    assert len(fig.data) == len(bn["layers"]) == 3
    # relu after batch norm: a norm's output in its units, relu of it from 0; the Linear output's [-5, 5] on a
    # power of 10. bn's edges are [-5, 5], [-10, 10] and [0, 10]
    assert tuple(fig.layout.yaxis.range) == shown
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        counts, centres = shown_counts(bn, layer, tap, *shown)
        z = np.array(trace.z, dtype=float)
        expect = np.log10(1 + counts).T  # rows = bins, columns = frames
        assert z.shape == expect.shape and z.shape[1] == 20
        np.testing.assert_allclose(z / Z_LEVELS, expect, atol=0.5 / Z_LEVELS + 1e-9)  # uint8 levels
        assert list(trace.x) == layer["steps"]
        np.testing.assert_allclose(trace.y, centres, rtol=1e-5, atol=1e-9)
        assert trace.coloraxis == "coloraxis"  # one shared colour bar
    assert len(json.dumps(strict_json(fig)["layout"]["template"])) < 1500  # not plotly's 8 KB default theme
    assert fig.layout.xaxis3.title.text == "training step"


def outside_share(run: dict, tap: str, lo: float, hi: float) -> tuple[float, float, float]:
    """Return (all, below, above): the shares of a tap's values outside [lo, hi], from the run file."""
    below = above = total = 0.0
    for layer in run["layers"]:
        h = layer["taps"][tap]["hist"]
        edges, counts = np.array(h["edges"]), np.array(h["counts"], dtype=float)
        centres = (edges[:-1] + edges[1:]) / 2
        below += counts[:, centres < lo].sum() + sum(h["under"])
        above += counts[:, centres > hi].sum() + sum(h["over"])
        total += counts.sum() + sum(h["under"]) + sum(h["over"])
    return (below + above) / total, below / total, above / total


def test_heatmap_subtitle_gives_range_and_share_outside(bn, diverged):
    text = subtitle(heatmap(bn, "norm"))
    assert "range [-4, 4] (a norm's output, in its own units)" in text
    share, below, above = outside_share(bn, "norm", -4, 4)
    assert 0 < share < 0.01  # a few values of a norm's output lie beyond 4 of its units
    assert f"{percent(share)} of all recorded values fell outside it ({percent(below)} below" in text
    # said only when some value fell outside
    assert outside_share(bn, "linear", -10, 10)[0] == 0 and "outside" not in subtitle(heatmap(bn, "linear"))
    share, below, above = outside_share(diverged, "linear", -1e300, 1e300)  # under and over only: range = edges
    assert share > 0.05
    text = subtitle(heatmap(diverged, "linear"))
    assert f"{percent(share)} of all recorded values fell outside it" in text
    assert f"({percent(below)} below, {percent(above)} above)" in text


def test_heatmap_ranges_are_the_same_for_runs_of_one_family(family):
    small, large = family  # batch 2 and batch 64: their first batches gave different edges for every tap
    for tap in ("linear", "norm", "act"):
        edges = [run["layers"][0]["taps"][tap]["hist"]["edges"] for run in family]
        assert (edges[0][0], edges[0][-1]) != (edges[1][0], edges[1][-1])
        ranges = [heatmap(run, tap).layout.yaxis.range for run in family]
        assert ranges[0] == ranges[1], tap
    # what the smaller run did not record is grey, and named
    fig = heatmap(small, "act")
    grey = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.y0, s.y1) for s in grey] == [(2.0, 4.0)] * 2  # its edges end at 2: one rectangle per block
    assert "grey: beyond the range this run recorded" in subtitle(fig)


def test_heatmap_honours_an_explicit_value_range(bn, family):
    fig = heatmap(bn, "norm", value_range=(-2.0, 2.0))
    assert tuple(fig.layout.yaxis.range) == (-2.0, 2.0) == tuple(fig.layout.yaxis3.range)
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        counts, centres = shown_counts(bn, layer, "norm", -2, 2)
        np.testing.assert_allclose(trace.y, centres, rtol=1e-5, atol=1e-9)
        assert min(trace.y) >= -2 and max(trace.y) <= 2
    share = outside_share(bn, "norm", -2, 2)[0]
    assert f"range [-2, 2] (as chosen): {percent(share)} of all recorded values fell outside it" in subtitle(fig)
    # two runs locked to one range, whatever their families' ranges
    assert {tuple(heatmap(run, "linear", value_range=(-3, 7)).layout.yaxis.range) for run in family} == {(-3, 7)}
    # a range that is not one falls back to the family's
    assert tuple(heatmap(bn, "norm", value_range=(2.0, -2.0)).layout.yaxis.range) == (-4, 4)


def test_heatmap_leaves_relu_zeros_out_of_the_colour_scale(bn):
    fig = heatmap(bn, "act")
    zeros = total = 0.0
    for layer in bn["layers"]:
        t = layer["taps"]["act"]
        h = t["hist"]
        n = np.array(h["counts"]).sum(1) + np.array(h["under"]) + np.array(h["over"])
        zeros, total = zeros + float((np.array(t["saturated"]) * n).sum()), total + float(n.sum())
    assert 0.3 < zeros / total < 0.7
    assert f"{percent(zeros / total)} of the values were exactly 0 (normal for ReLU)" in subtitle(fig)
    # the bin at 0 no longer dwarfs the others: the colour scale's top is set by the non-zero values
    top = max(np.array(t.z).max() for t in fig.data)
    assert fig.layout.coloraxis.cmax == top
    assert max(np.array(t.z)[0].max() for t in fig.data) <= top


def test_heatmap_payload_stays_small(bn):
    big = stretch(bn, 256)
    one_block = {**big, "layers": big["layers"][:1]}
    fig = heatmap(one_block, "linear")
    assert np.array(fig.data[0].z).shape == (64, 256)
    size = len(fig.to_json())
    assert size < 30_000, size  # a 64 x 256 heatmap at one byte per cell
    whole = len(heatmap(big, "linear").to_json())
    assert whole < 100_000, whole  # three blocks x 256 frames in one update


@pytest.mark.parametrize("frame", [-1, 0, 7])
@pytest.mark.parametrize("tap", ["norm", "act"])
def test_histogram_bars_are_the_runs_counts(bn, frame, tap):
    fig = histograms(bn, tap, frame=frame)
    assert len(fig.data) == len(bn["layers"])
    step = bn["layers"][0]["steps"][frame]
    assert f"step {step}" in title(fig)
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        h = layer["taps"][tap]["hist"]
        counts, centres = shown_counts(bn, layer, tap, -np.inf, np.inf)  # a relu's exact zeros left out
        assert list(trace.y) == counts[frame].tolist()
        if tap == "norm":
            assert list(trace.y) == h["counts"][frame]
        np.testing.assert_allclose(trace.x, centres, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("frame", [-1, 0])
def test_relu_histograms_give_the_share_exactly_0_apart(bn, frame):
    fig = histograms(bn, "act", frame=frame)
    for k, (trace, layer) in enumerate(zip(fig.data, bn["layers"], strict=True)):
        t = layer["taps"]["act"]
        h = t["hist"]
        total = sum(h["counts"][frame]) + h["under"][frame] + h["over"][frame]
        zeros = round(t["saturated"][frame] * total)
        assert 0.3 < t["saturated"][frame] < 0.8
        # the bars leave the exact zeros out: the bin [0, edge1) keeps only its non-zero values
        assert trace.y[0] == h["counts"][frame][0] - zeros
        assert list(trace.y[1:]) == h["counts"][frame][1:]
        assert max(trace.y) < zeros  # the spike no longer sets the scale
        # and the share is a number of its own, under the block's name
        heading = fig.layout.annotations[k].text.split("<br>")
        assert heading[0] == f"<b>{layer['name']}</b>"
        assert heading[1:3] == [percent(t["saturated"][frame]), "exactly 0"]  # four narrow panels: two lines
    assert "the share exactly 0 is given under each block's name" in subtitle(fig)
    assert "normal for ReLU" in subtitle(fig)
    wide = histograms(bn, "act", frame=frame, max_cols=2)
    assert wide.layout.annotations[0].text.split("<br>")[1].endswith("% exactly 0")
    # other taps and activations have no mass at 0: nothing is left out, nothing said
    assert "exactly 0" not in " ".join(annotations(histograms(bn, "norm")))


def test_histograms_share_one_x_range(bn):
    fig = histograms(bn, "linear")
    ranges = {tuple(fig.layout[f"xaxis{'' if k == 1 else k}"].range) for k in range(1, 4)}
    assert len(ranges) == 1
    lo, hi = ranges.pop()
    edges = bn["layers"][0]["taps"]["linear"]["hist"]["edges"]
    assert edges[0] <= lo < hi <= edges[-1]
    # every value that was ever in range is inside the shown range
    for layer in bn["layers"]:
        counts = np.array(layer["taps"]["linear"]["hist"]["counts"]).sum(0)
        used = np.flatnonzero(counts)
        assert lo <= edges[used[0]] and edges[used[-1] + 1] <= hi
    full = histograms(bn, "linear", full_range=True)
    assert tuple(full.layout.xaxis.range) == (edges[0], edges[-1])


@pytest.mark.parametrize("frame", [-1, 3])
def test_histogram_percentile_lines_sit_at_the_runs_percentiles(bn, frame):
    fig = histograms(bn, "norm", frame=frame)
    for k, layer in enumerate(bn["layers"], start=1):
        xref = "x" if k == 1 else f"x{k}"
        lines = {s.name: s for s in fig.layout.shapes if s.xref == xref}
        tap = layer["taps"]["norm"]
        assert set(lines) == {"p15", "p50", "p85"}
        for key in ("p15", "p50", "p85"):
            assert lines[key].x0 == lines[key].x1 == pytest.approx(tap[key][frame])
        assert lines["p50"].line.dash == "solid" and lines["p15"].line.dash == "dash"


def test_histograms_note_values_outside_the_range(diverged, bn):
    fig = histograms(diverged, "linear")
    for k, layer in enumerate(diverged["layers"]):
        h = layer["taps"]["linear"]["hist"]
        out, total = h["under"][-1] + h["over"][-1], sum(h["counts"][-1]) + h["under"][-1] + h["over"][-1]
        lines = fig.layout.annotations[k].text.split("<br>")
        if out:  # each note under its own block's name, in red: notes cannot overlap each other or a tick
            assert percent(out / total) in lines[1] and "outside" in lines[2]
        else:
            assert len(lines) == 1
    assert any("outside" in a for a in annotations(fig))
    assert not any("outside" in a for a in annotations(histograms(bn, "linear")))  # only when some are
    # an explicit range counts the bins it leaves out as outside
    locked = histograms(bn, "norm", value_range=(-1, 1))
    assert tuple(locked.layout.xaxis.range) == (-1, 1)
    h = bn["layers"][0]["taps"]["norm"]["hist"]
    edges, counts = np.array(h["edges"]), np.array(h["counts"][-1])
    centres = (edges[:-1] + edges[1:]) / 2
    out = counts[(centres < -1) | (centres > 1)].sum() + h["under"][-1] + h["over"][-1]
    assert percent(out / (counts.sum() + h["under"][-1] + h["over"][-1])) in locked.layout.annotations[0].text


def test_histograms_wrap_into_rows(deep):
    fig = histograms(deep, "act", max_cols=2)
    assert len(fig.data) == 5
    assert [t.xaxis for t in fig.data] == ["x", "x2", "x3", "x4", "x5"]
    assert fig.layout.yaxis3.title.text == "count" and fig.layout.yaxis5.title.text == "count"  # first column
    assert fig.layout.xaxis5.title.text == "value" and fig.layout.xaxis4.title.text == "value"  # lowest per column
    assert "xaxis6" not in fig.to_dict()["layout"]  # no empty sixth cell


def test_histograms_clamp_the_frame(bn):
    last = histograms(bn, "act", frame=-1)
    assert histograms(bn, "act", frame=10_000).data[0].y == last.data[0].y
    assert histograms(bn, "act", frame=-10_000).data[0].y == histograms(bn, "act", frame=0).data[0].y


@pytest.mark.parametrize("tap", ["linear", "act"])
def test_percentile_bands_follow_the_runs_percentiles(moons, tap):
    fig = percentile_bands(moons, tap)
    assert len(fig.data) == 3 * len(moons["layers"])  # lower edge, upper edge (filled), median
    for i, layer in enumerate(moons["layers"]):
        lower, upper, median = fig.data[3 * i : 3 * i + 3]
        t = layer["taps"][tap]
        assert list(lower.y) == t["p15"] and list(upper.y) == t["p85"] and list(median.y) == t["p50"]
        assert list(median.x) == layer["steps"]
        assert upper.fill == "tonexty"
    assert fig.layout[f"xaxis{len(moons['layers'])}"].title.text == "training step"


def y_ranges(fig) -> list[tuple]:
    """Return the y range of every subplot, in order (None where plotly chooses it)."""
    layout = fig.to_dict()["layout"]
    names = sorted((k for k in layout if k.startswith("yaxis")), key=lambda k: int(k[5:] or 1))
    return [tuple(layout[k]["range"]) if "range" in layout[k] else None for k in names]


@pytest.mark.parametrize("tap", ["linear", "norm"])
def test_percentile_bands_share_one_y_range(bn, tap):
    fig = percentile_bands(bn, tap)
    values = [v for layer in bn["layers"] for k in ("p15", "p50", "p85") for v in layer["taps"][tap][k]]
    lo, hi = min(values), max(values)
    ranges = y_ranges(fig)
    assert len(ranges) == 3 and len(set(ranges)) == 1  # one range for every block...
    a, b = ranges[0]
    pad = 0.04 * (hi - lo)
    assert a == pytest.approx(lo - pad) and b == pytest.approx(hi + pad)  # ...the min and max over all of them
    assert "one range for every block" in subtitle(fig)
    assert y_ranges(percentile_bands(bn, tap, shared_y=False)) == [None] * 3  # each block its own, as before
    assert set(y_ranges(percentile_bands(bn, tap, value_range=(-3, 3)))) == {(-3, 3)}


def test_percentile_bands_of_a_bounded_activation_span_its_output_range(moons):
    ranges = y_ranges(percentile_bands(moons, "act"))  # sigmoid: with or without a norm, one axis
    assert ranges == [pytest.approx((-0.02, 1.02))] * len(moons["layers"])
    assert "sigmoid's whole output range [0, 1]" in subtitle(percentile_bands(moons, "act"))


def test_percentile_band_legend_colours_match_the_traces(bn, moons):
    for run in (bn, moons):
        fig = percentile_bands(run, "act")
        shown = [t for t in fig.data if t.showlegend]
        assert [t.name for t in shown] == [layer["name"] for layer in run["layers"]]  # one entry per block
        for entry in shown:
            colour = entry.line.color  # the legend swatch: the median line
            group = [t for t in fig.data if t.legendgroup == entry.legendgroup]
            assert len(group) == 3  # the entry shows and hides its block's band and median
            band = [t for t in group if t.fill == "tonexty"][0]
            r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
            assert band.fillcolor == f"rgba({r},{g},{b},0.25)"
            assert all(t.line.color in (colour, f"rgba({r},{g},{b},0.5)") for t in group)


def test_percentile_bands_single_frame_use_error_bars(one_frame):
    fig = percentile_bands(one_frame, "norm")
    median = fig.data[2]
    t = one_frame["layers"][0]["taps"]["norm"]
    assert median.error_y.array[0] == pytest.approx(t["p85"][0] - t["p50"][0])
    assert median.error_y.arrayminus[0] == pytest.approx(t["p50"][0] - t["p15"][0])


def test_missing_norm_tap_gives_empty_figure_with_annotation(moons):
    figs = [
        heatmap(moons, "norm"),
        histograms(moons, "norm"),
        percentile_bands(moons, "norm"),
        compare_histograms([moons], "norm", ["no norm"]),
    ]
    for fig in figs:
        assert not fig.data
        assert "this run has no norm layer" in annotations(fig)


def test_no_frames_gives_empty_figures(no_frames):
    for fig in (heatmap(no_frames, "act"), histograms(no_frames, "act"), percentile_bands(no_frames, "act")):
        assert not fig.data
        assert "no snapshots recorded yet" in annotations(fig)
    test_loss = [t for t in curves(no_frames).data if t.name == "test" and t.xaxis == "x"]
    assert list(test_loss[0].y) == no_frames["curves"]["test_loss"]  # the step-0 evaluation


def test_one_frame_figures(one_frame):
    fig = heatmap(one_frame, "linear")
    assert [np.array(t.z).shape for t in fig.data] == [(64, 1), (64, 1)]
    assert [np.array(t.z).shape[1] for t in heatmap(one_frame, "act").data] == [1, 1]
    assert [len(t.y) for t in histograms(one_frame, "act").data] == [64, 64]
