"""Figures: each figure shows the run's own numbers, and nothing a run may hold makes one raise."""

import copy
import json
import math
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

from vizcore import RunConfig, Trainer
from vizcore.engine.data import for_config
from vizcore.figures import charts as F

TAPS = ("linear", "norm", "act")


@pytest.fixture(scope="module")
def bn():
    """Digits, batch norm, 3 blocks, 20 frames."""
    return Trainer(RunConfig(depth=3, width=32, steps=200, every=10, eval_every=50)).run()


@pytest.fixture(scope="module")
def moons():
    """2-D data, no norm layer, sigmoid, 4 blocks: has a decision boundary."""
    return Trainer(RunConfig(dataset="moons", norm="none", activation="sigmoid", steps=200)).run()


@pytest.fixture(scope="module")
def diverged():
    """Blows up at step 3; a frame every step, so the last frames hold huge values."""
    return Trainer(RunConfig(lr=1e6, steps=100, every=1)).run()


@pytest.fixture(scope="module")
def one_frame():
    return Trainer(RunConfig(steps=1, depth=2, width=16)).run()


@pytest.fixture(scope="module")
def no_frames():
    """Exported before the first step: curves hold step 0 only, no layer frames, no boundary."""
    return Trainer(RunConfig(dataset="moons", steps=10)).export()


@pytest.fixture(scope="module")
def deep():
    """A different number of blocks (5) for side-by-side comparisons."""
    return Trainer(RunConfig(depth=5, width=16, steps=60, every=20)).run()


def all_figures(run: dict) -> dict[str, go.Figure]:
    figs = {
        "curves": F.curves(run),
        "curves_list": F.curves([run, run], labels=["a"]),
        "grad_stats": F.grad_stats(run),
        "saturation": F.saturation(run),
        "boundary": F.boundary(run),
        "histograms0": F.histograms(run, "act", frame=0),
        "histograms99": F.histograms(run, "act", frame=99),
        "heatmap-nope": F.heatmap(run, "nope"),
        "histograms-nope": F.histograms(run, "nope"),
    }
    for tap in TAPS:
        figs[f"heatmap-{tap}"] = F.heatmap(run, tap)
        figs[f"histograms-{tap}"] = F.histograms(run, tap)
        figs[f"bands-{tap}"] = F.percentile_bands(run, tap)
        figs[f"compare-{tap}"] = F.compare_histograms([run, run], tap, ["x", "y"])
    return figs


def strict_json(fig: go.Figure) -> dict:
    """Return the figure's JSON parsed strictly (NaN or Infinity would fail)."""

    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(fig.to_json(), parse_constant=refuse)


def annotations(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations if a.text]


def title(fig: go.Figure) -> str:
    return fig.layout.title.text or ""


def subtitle(fig: go.Figure) -> str:
    """The subtitle as one line (figures wrap it with <br> at word boundaries: plotly does not wrap)."""
    return (fig.layout.title.subtitle.text or "").replace("<br>", " ")


def finite(values) -> list:
    return [v for v in values if v is not None and math.isfinite(v)]


def stretch(run: dict, frames: int) -> dict:
    """Return a copy of `run` with its layer history repeated cyclically to `frames` frames."""
    run = copy.deepcopy(run)
    for layer in run["layers"]:
        n = len(layer["steps"])
        idx = [i % n for i in range(frames)]
        every = run["config"]["every"]
        layer["steps"] = [i * every for i in range(frames)]
        for key in ("grad_norm", "weight_norm", "update_ratio"):
            layer[key] = [layer[key][i] for i in idx]
        for tap in layer["taps"].values():
            for key, values in list(tap.items()):
                if key != "hist":
                    tap[key] = [values[i] for i in idx]
            h = tap["hist"]
            for key in ("counts", "under", "over"):
                h[key] = [h[key][i] for i in idx]
    return run


# ----------------------------------------------------------------- robustness


def test_module_does_not_import_streamlit():
    code = "import sys, vizcore.figures; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("which", ["bn", "moons", "diverged", "one_frame", "no_frames", "deep"])
def test_every_figure_builds_for_every_kind_of_run(which, request):
    run = request.getfixturevalue(which)
    for name, fig in all_figures(run).items():
        assert isinstance(fig, go.Figure), name
        assert title(fig), f"{name} has no title"
        strict_json(fig)


def test_every_data_figure_labels_its_axes(bn, moons):
    figs = {**all_figures(bn), "boundary": F.boundary(moons)}
    for name, fig in figs.items():
        if not fig.data:
            continue
        layout = fig.to_dict()["layout"]
        xs = [v.get("title", {}).get("text") for k, v in layout.items() if k.startswith("xaxis")]
        ys = [v.get("title", {}).get("text") for k, v in layout.items() if k.startswith("yaxis")]
        assert any(xs) and any(ys), name


def corrupt(run: dict) -> dict:
    """Return `run` with nulls, NaN and infinities sprinkled everywhere numbers live."""
    run = copy.deepcopy(run)
    bad = [None, math.nan, math.inf, -math.inf]
    rng = np.random.default_rng(0)

    def spoil(values: list) -> None:
        for i in range(len(values)):
            if rng.random() < 0.3:
                values[i] = bad[int(rng.integers(len(bad)))]

    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "step"):
        spoil(run["curves"][key])
    for layer in run["layers"]:
        for key in ("steps", "grad_norm", "weight_norm", "update_ratio"):
            spoil(layer[key])
        for tap in layer["taps"].values():
            for key, values in tap.items():
                if key != "hist":
                    spoil(values)
            spoil(tap["hist"]["under"])
            spoil(tap["hist"]["over"])
            for row in tap["hist"]["counts"]:
                spoil(row)
    if run.get("boundary"):
        for row in run["boundary"]["prob"]:
            spoil(row)
    run["diverged_at"] = math.nan
    return run


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
    F.boundary(run, points=([[0, 0], [math.nan, 1], [2, None]], [0, 1, 1]))


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
    assert F.curves([]).layout.annotations


# ----------------------------------------------------------------- curves


def test_curves_show_train_and_test_loss_and_accuracy(bn):
    fig = F.curves(bn)
    assert len(fig.data) == 4  # (train, test) x (loss, accuracy)
    c = bn["curves"]
    by = {(t.name, t.xaxis): t for t in fig.data}
    assert list(by["train", "x"].y) == finite(c["train_loss"])  # the null at step 0 is left out
    assert list(by["test", "x"].y) == c["test_loss"]
    assert list(by["test", "x2"].y) == c["test_acc"]
    assert list(by["train", "x2"].x) == c["step"][1:]
    assert fig.layout.xaxis.title.text == "training step"
    assert fig.layout.yaxis2.tickformat == ".0%"
    assert not [a for a in annotations(fig) if "diverged" in a]


def test_curves_overlay_runs_with_one_colour_each(bn, moons, deep):
    fig = F.curves([bn, moons, deep], labels=["batch norm", "no norm"])
    assert len(fig.data) == 12
    colours = {}
    for t in fig.data:
        label = t.name.split(" · ")[0]
        colours.setdefault(label, set()).add(t.line.color)
    assert set(colours) == {"batch norm", "no norm", "dataset=digits, depth=5, width=16"}  # named by what differs
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == 3
    # solid train, dashed test
    assert {t.line.dash for t in fig.data if t.name.endswith("train")} == {"solid"}
    assert {t.line.dash for t in fig.data if t.name.endswith("test")} == {"dash"}


def test_curves_default_labels_name_what_differs(bn, moons):
    names = {t.name for t in F.curves([bn, moons]).data}
    assert any("dataset=digits" in n for n in names) and any("dataset=moons" in n for n in names)


def test_curves_mark_divergence(diverged, bn):
    assert diverged["status"] == "diverged"
    at = diverged["diverged_at"]
    fig = F.curves(diverged)
    assert f"diverged at step {at}" in annotations(fig)
    lines = [s for s in fig.layout.shapes if s.name == "diverged"]
    assert len(lines) == 2 and all(s.x0 == s.x1 == at for s in lines)
    # the exploding loss (1e19) runs off the top; it does not flatten the rest
    assert max(finite(diverged["curves"]["train_loss"])) > 1e6
    assert fig.layout.yaxis.range[1] < 100
    # in a comparison the annotation names the run
    fig = F.curves([bn, diverged], labels=["ok", "too fast"])
    assert f"too fast: diverged at step {at}" in annotations(fig)


def test_curves_log_loss_axis(bn):
    fig = F.curves(bn, log_loss=True)
    assert fig.layout.yaxis.type == "log"


# ----------------------------------------------------------------- heatmap


@pytest.mark.parametrize("tap", TAPS)
def test_heatmap_z_is_log_counts_of_the_run(bn, tap):
    fig = F.heatmap(bn, tap)
    assert len(fig.data) == len(bn["layers"]) == 3
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        h = layer["taps"][tap]["hist"]
        z = np.array(trace.z, dtype=float)
        expect = np.log10(1 + np.array(h["counts"], dtype=float)).T  # rows = bins, columns = frames
        assert z.shape == expect.shape == (64, 20)
        np.testing.assert_allclose(z / F.Z_LEVELS, expect, atol=0.5 / F.Z_LEVELS + 1e-9)  # uint8 levels
        assert list(trace.x) == layer["steps"]
        edges = np.array(h["edges"])
        np.testing.assert_allclose(trace.y, (edges[:-1] + edges[1:]) / 2, rtol=1e-5, atol=1e-9)
        assert trace.coloraxis == "coloraxis"  # one shared colour bar
    assert len(json.dumps(strict_json(fig)["layout"]["template"])) < 1500  # not plotly's 8 KB default theme
    assert fig.layout.xaxis3.title.text == "training step"


def test_subtitles_are_wrapped_to_fit_half_a_page(bn):
    for fig in (F.histograms(bn, "act"), F.percentile_bands(bn, "act"), F.grad_stats(bn)):
        lines = fig.layout.title.subtitle.text.split("<br>")
        assert len(lines) > 1 and max(map(len, lines)) <= F.SUBTITLE_CHARS
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y < 0  # below the plots, not on the title


def test_heatmap_subtitle_gives_range_and_share_outside(bn, diverged):
    lo, hi = bn["layers"][0]["taps"]["norm"]["hist"]["edges"][::64]
    assert f"fixed range [{lo:.3g}, {hi:.3g}]" in subtitle(F.heatmap(bn, "norm"))
    assert "0.0% of all recorded values fell outside" in subtitle(F.heatmap(bn, "norm"))
    inside = under = over = 0
    for layer in diverged["layers"]:
        h = layer["taps"]["linear"]["hist"]
        inside += sum(map(sum, h["counts"]))
        under, over = under + sum(h["under"]), over + sum(h["over"])
    pct = 100 * (under + over) / (inside + under + over)
    assert pct > 5
    text = subtitle(F.heatmap(diverged, "linear"))
    assert f"{pct:.1f}% of all recorded values fell outside" in text
    assert f"{100 * under / (inside + under + over):.1f}% below" in text


def test_heatmap_payload_stays_small(bn):
    big = stretch(bn, 256)
    one_block = {**big, "layers": big["layers"][:1]}
    fig = F.heatmap(one_block, "norm")
    assert np.array(fig.data[0].z).shape == (64, 256)
    size = len(fig.to_json())
    assert size < 30_000, size  # a 64 x 256 heatmap at one byte per cell
    whole = len(F.heatmap(big, "norm").to_json())
    assert whole < 100_000, whole  # three blocks x 256 frames in one update


# ----------------------------------------------------------------- histograms


@pytest.mark.parametrize("frame", [-1, 0, 7])
def test_histogram_bars_are_the_runs_counts(bn, frame):
    fig = F.histograms(bn, "act", frame=frame)
    assert len(fig.data) == len(bn["layers"])
    step = bn["layers"][0]["steps"][frame]
    assert f"step {step}" in title(fig)
    for trace, layer in zip(fig.data, bn["layers"], strict=True):
        h = layer["taps"]["act"]["hist"]
        assert list(trace.y) == h["counts"][frame]
        edges = np.array(h["edges"])
        np.testing.assert_allclose(trace.x, (edges[:-1] + edges[1:]) / 2, rtol=1e-5, atol=1e-9)


def test_histograms_share_one_x_range(bn):
    fig = F.histograms(bn, "linear")
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
    full = F.histograms(bn, "linear", full_range=True)
    assert tuple(full.layout.xaxis.range) == (edges[0], edges[-1])


@pytest.mark.parametrize("frame", [-1, 3])
def test_histogram_percentile_lines_sit_at_the_runs_percentiles(bn, frame):
    fig = F.histograms(bn, "norm", frame=frame)
    for k, layer in enumerate(bn["layers"], start=1):
        xref = "x" if k == 1 else f"x{k}"
        lines = {s.name: s for s in fig.layout.shapes if s.xref == xref}
        tap = layer["taps"]["norm"]
        assert set(lines) == {"p15", "p50", "p85"}
        for key in ("p15", "p50", "p85"):
            assert lines[key].x0 == lines[key].x1 == pytest.approx(tap[key][frame])
        assert lines["p50"].line.dash == "solid" and lines["p15"].line.dash == "dash"


def test_histograms_note_values_outside_the_range(diverged):
    fig = F.histograms(diverged, "linear")
    assert any("outside the range" in a for a in annotations(fig))


def test_histograms_wrap_into_rows(deep):
    fig = F.histograms(deep, "act", max_cols=2)
    assert len(fig.data) == 5
    assert [t.xaxis for t in fig.data] == ["x", "x2", "x3", "x4", "x5"]
    assert fig.layout.yaxis3.title.text == "count" and fig.layout.yaxis5.title.text == "count"  # first column
    assert fig.layout.xaxis5.title.text == "value" and fig.layout.xaxis4.title.text == "value"  # lowest per column
    assert "xaxis6" not in fig.to_dict()["layout"]  # no empty sixth cell


def test_histograms_clamp_the_frame(bn):
    last = F.histograms(bn, "act", frame=-1)
    assert F.histograms(bn, "act", frame=10_000).data[0].y == last.data[0].y
    assert F.histograms(bn, "act", frame=-10_000).data[0].y == F.histograms(bn, "act", frame=0).data[0].y


# ----------------------------------------------------------------- percentile bands


@pytest.mark.parametrize("tap", ["linear", "act"])
def test_percentile_bands_follow_the_runs_percentiles(moons, tap):
    fig = F.percentile_bands(moons, tap)
    assert len(fig.data) == 3 * len(moons["layers"])  # lower edge, upper edge (filled), median
    for i, layer in enumerate(moons["layers"]):
        lower, upper, median = fig.data[3 * i : 3 * i + 3]
        t = layer["taps"][tap]
        assert list(lower.y) == t["p15"] and list(upper.y) == t["p85"] and list(median.y) == t["p50"]
        assert list(median.x) == layer["steps"]
        assert upper.fill == "tonexty"
    assert fig.layout[f"xaxis{len(moons['layers'])}"].title.text == "training step"


def test_percentile_bands_single_frame_use_error_bars(one_frame):
    fig = F.percentile_bands(one_frame, "norm")
    median = fig.data[2]
    t = one_frame["layers"][0]["taps"]["norm"]
    assert median.error_y.array[0] == pytest.approx(t["p85"][0] - t["p50"][0])
    assert median.error_y.arrayminus[0] == pytest.approx(t["p50"][0] - t["p15"][0])


# ----------------------------------------------------------------- gradients and saturation


def test_grad_stats_log_axes_and_reference_line(bn):
    fig = F.grad_stats(bn)
    n = len(bn["layers"])
    assert len(fig.data) == 2 * n + 1
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    for i, layer in enumerate(bn["layers"]):
        assert list(fig.data[2 * i].y) == layer["grad_norm"]
        assert list(fig.data[2 * i + 1].y) == layer["update_ratio"]
        assert fig.data[2 * i + 1].xaxis == "x2"
    ref = fig.data[-1]
    assert "Karpathy" in ref.name and "rule of thumb" in ref.name
    assert list(ref.y) == [1e-3, 1e-3] and ref.line.dash == "dot" and ref.xaxis == "x2"


def test_grad_stats_leave_out_what_a_log_axis_cannot_show(diverged):
    fig = F.grad_stats(diverged)
    for trace in fig.data:
        assert all(v is not None and v > 0 and math.isfinite(v) for v in trace.y)
    # the frame where the loss blew up has no gradients
    assert diverged["layers"][0]["grad_norm"][-1] is None
    assert len(fig.data[0].y) == len(diverged["layers"][0]["grad_norm"]) - 1


def test_saturation_per_block(moons, bn):
    fig = F.saturation(moons)
    assert len(fig.data) == len(moons["layers"])
    for trace, layer in zip(fig.data, moons["layers"], strict=True):
        assert list(trace.y) == layer["taps"]["act"]["saturated"]
    assert "0.015" in subtitle(fig)  # the sigmoid's saturation rule
    assert fig.layout.yaxis.tickformat == ".0%"
    linear = Trainer(RunConfig(activation="linear", steps=20, depth=2, width=8)).run()
    assert "never saturates" in annotations(F.saturation(linear))[0]


# ----------------------------------------------------------------- boundary


def test_boundary_contour_is_the_runs_grid(moons):
    b = moons["boundary"]
    fig = F.boundary(moons)
    contour = fig.data[0]
    assert contour.type == "contour"
    np.testing.assert_allclose(np.array(contour.z, dtype=float), np.array(b["prob"]), atol=5e-4 + 1e-9)
    assert list(contour.x) == b["x"] and list(contour.y) == b["y"]
    line = fig.data[1]
    assert line.contours.start == line.contours.end == 0.5


def test_boundary_points_by_class(moons):
    d = for_config(RunConfig(**moons["config"]))
    fig = F.boundary(moons, points=(d.x_train.numpy(), d.y_train.numpy()))
    pts = [t for t in fig.data if t.type == "scatter"]
    assert [t.name for t in pts] == ["class 0", "class 1"]
    assert sum(len(t.x) for t in pts) == len(d.y_train)
    fig = F.boundary(moons, points={"x": [0.0, 1.0], "y": [0.5, None], "label": [0, 1]})
    assert sum(len(t.x) for t in fig.data if t.type == "scatter") == 1


def test_boundary_missing_says_why(bn, no_frames):
    assert not F.boundary(bn).data
    assert "digits" in annotations(F.boundary(bn))[0]
    assert "when the run finishes" in annotations(F.boundary(no_frames))[0]


# ----------------------------------------------------------------- missing taps, few frames


def test_missing_norm_tap_gives_empty_figure_with_annotation(moons):
    figs = [
        F.heatmap(moons, "norm"),
        F.histograms(moons, "norm"),
        F.percentile_bands(moons, "norm"),
        F.compare_histograms([moons], "norm", ["no norm"]),
    ]
    for fig in figs:
        assert not fig.data
        assert "this run has no norm layer" in annotations(fig)


def test_no_frames_gives_empty_figures(no_frames):
    for fig in (F.heatmap(no_frames, "act"), F.histograms(no_frames, "act"), F.percentile_bands(no_frames, "act")):
        assert not fig.data
        assert "no snapshots recorded yet" in annotations(fig)
    test_loss = [t for t in F.curves(no_frames).data if t.name == "test" and t.xaxis == "x"]
    assert list(test_loss[0].y) == no_frames["curves"]["test_loss"]  # the step-0 evaluation


def test_one_frame_figures(one_frame):
    fig = F.heatmap(one_frame, "act")
    assert [np.array(t.z).shape for t in fig.data] == [(64, 1), (64, 1)]
    assert [len(t.y) for t in F.histograms(one_frame, "act").data] == [64, 64]


# ----------------------------------------------------------------- compare


def test_compare_histograms_rows_are_runs_columns_are_blocks(bn, deep, moons):
    fig = F.compare_histograms([bn, deep, moons], "act", ["bn", "deep", "moons"])
    assert len(fig.data) == 3 + 5 + 4
    titles = annotations(fig)
    assert [f"block{i}" for i in range(1, 6)] == titles[:5]
    ylabels = [fig.layout[f"yaxis{'' if k == 1 else k}"].title.text for k in (1, 6, 11)]
    assert ylabels == ["bn", "deep", "moons"]
    for trace, layer in zip(fig.data[:3], bn["layers"], strict=True):
        h = layer["taps"]["act"]["hist"]
        total = sum(h["counts"][-1]) + h["under"][-1] + h["over"][-1]
        np.testing.assert_allclose(trace.y, np.array(h["counts"][-1]) / total, atol=1e-5)
    xs = {fig.layout[k].matches or k.replace("axis", "") for k in fig.layout if k.startswith("xaxis")}
    assert len(xs) == 1  # one shared x range
    # percentile lines at each run's last frame
    p50 = [s.x0 for s in fig.layout.shapes if s.name == "p50" and s.xref == "x6"]
    assert p50 == [pytest.approx(deep["layers"][0]["taps"]["act"]["p50"][-1])]


def test_compare_histograms_marks_a_run_without_the_tap(bn, moons):
    fig = F.compare_histograms([bn, moons], "norm", ["bn", "no norm"])
    assert len(fig.data) == len(bn["layers"])
    assert "this run has no norm layer" in annotations(fig)
