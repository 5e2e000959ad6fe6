"""Heatmaps, histograms and percentile bands: the run's own counts and percentiles, and an empty figure
that says why when a tap or the frames are missing."""

import json

import numpy as np
import pytest

from tests.figures.helpers import TAPS, annotations, stretch, strict_json, subtitle, title
from vizcore.figures.compare import compare_histograms
from vizcore.figures.curves import curves
from vizcore.figures.distributions import Z_LEVELS, heatmap, histograms, percentile_bands


@pytest.mark.parametrize("tap", TAPS)
def test_heatmap_z_is_log_counts_of_the_run(bn, tap):
    fig = heatmap(bn, tap)
    assert len(fig.data) == len(bn["layers"]) == 3
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        h = layer["taps"][tap]["hist"]
        z = np.array(trace.z, dtype=float)
        expect = np.log10(1 + np.array(h["counts"], dtype=float)).T  # rows = bins, columns = frames
        assert z.shape == expect.shape == (64, 20)
        np.testing.assert_allclose(z / Z_LEVELS, expect, atol=0.5 / Z_LEVELS + 1e-9)  # uint8 levels
        assert list(trace.x) == layer["steps"]
        edges = np.array(h["edges"])
        np.testing.assert_allclose(trace.y, (edges[:-1] + edges[1:]) / 2, rtol=1e-5, atol=1e-9)
        assert trace.coloraxis == "coloraxis"  # one shared colour bar
    assert len(json.dumps(strict_json(fig)["layout"]["template"])) < 1500  # not plotly's 8 KB default theme
    assert fig.layout.xaxis3.title.text == "training step"


def test_heatmap_subtitle_gives_range_and_share_outside(bn, diverged):
    lo, hi = bn["layers"][0]["taps"]["norm"]["hist"]["edges"][::64]
    assert f"fixed range [{lo:.3g}, {hi:.3g}]" in subtitle(heatmap(bn, "norm"))
    assert "0.0% of all recorded values fell outside" in subtitle(heatmap(bn, "norm"))
    inside = under = over = 0
    for layer in diverged["layers"]:
        h = layer["taps"]["linear"]["hist"]
        inside += sum(map(sum, h["counts"]))
        under, over = under + sum(h["under"]), over + sum(h["over"])
    pct = 100 * (under + over) / (inside + under + over)
    assert pct > 5
    text = subtitle(heatmap(diverged, "linear"))
    assert f"{pct:.1f}% of all recorded values fell outside" in text
    assert f"{100 * under / (inside + under + over):.1f}% below" in text


def test_heatmap_payload_stays_small(bn):
    big = stretch(bn, 256)
    one_block = {**big, "layers": big["layers"][:1]}
    fig = heatmap(one_block, "norm")
    assert np.array(fig.data[0].z).shape == (64, 256)
    size = len(fig.to_json())
    assert size < 30_000, size  # a 64 x 256 heatmap at one byte per cell
    whole = len(heatmap(big, "norm").to_json())
    assert whole < 100_000, whole  # three blocks x 256 frames in one update


@pytest.mark.parametrize("frame", [-1, 0, 7])
def test_histogram_bars_are_the_runs_counts(bn, frame):
    fig = histograms(bn, "act", frame=frame)
    assert len(fig.data) == len(bn["layers"])
    step = bn["layers"][0]["steps"][frame]
    assert f"step {step}" in title(fig)
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        h = layer["taps"]["act"]["hist"]
        assert list(trace.y) == h["counts"][frame]
        edges = np.array(h["edges"])
        np.testing.assert_allclose(trace.x, (edges[:-1] + edges[1:]) / 2, rtol=1e-5, atol=1e-9)


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


def test_histograms_note_values_outside_the_range(diverged):
    fig = histograms(diverged, "linear")
    assert any("outside the range" in a for a in annotations(fig))


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
    fig = heatmap(one_frame, "act")
    assert [np.array(t.z).shape for t in fig.data] == [(64, 1), (64, 1)]
    assert [len(t.y) for t in histograms(one_frame, "act").data] == [64, 64]
