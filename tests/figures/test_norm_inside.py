"""Inside the norm: the figure's numbers against numpy, the axis each norm averages over, steps, empty states."""

import copy

import numpy as np
import plotly.graph_objects as go
import pytest

from vizcore import RunConfig, Trainer
from vizcore.figures.norm_inside import STEPS, norm_inside
from vizcore.figures.theme import present


@pytest.fixture(scope="module")
def runs():
    """Short runs of every norm (an mlp, and a cnn for instance norm), their last snapshot at step 20."""
    base = RunConfig(depth=2, width=16, batch_size=16, steps=21, every=10, probe_size=0)
    cfgs = {
        "batch": base,
        "layer": base.replace(norm="layer"),
        "group": base.replace(norm="group", groups=4),
        "rms": base.replace(norm="rms"),
        "instance": base.replace(model="cnn", norm="instance", width=8),
        "batch2": base.replace(batch_size=2),
        "cnn_batch2": base.replace(model="cnn", width=8, batch_size=2),
    }
    return {k: Trainer(c).run() for k, c in cfgs.items()}


def heat(fig: go.Figure, k: int) -> np.ndarray:
    """Return the z values of the heatmap in subplot `k` (1-based, row-major)."""
    axis = "x" if k == 1 else f"x{k}"
    trace = next(t for t in fig.data if (t.xaxis or "x") == axis)
    return np.array(trace.z, dtype=float)


def reference(sample: dict, mode: str) -> dict:
    """Return mean, sigma, x-hat and y of the sample, computed with numpy from the formulas."""
    x = np.array(sample["x"], dtype=float)
    if mode == "eval" and sample["running_mean"] is not None:
        mean = np.tile(sample["running_mean"], (len(x), 1))
        var = np.tile(sample["running_var"], (len(x), 1))
    else:
        mean = np.zeros_like(x) if sample["mean"] is None else np.array(sample["mean"], dtype=float)
        var = np.array(sample["var"], dtype=float)
    sigma = np.sqrt(var + sample["eps"])
    xhat = (x - mean) / sigma
    beta = np.zeros(x.shape[1]) if sample["beta"] is None else np.array(sample["beta"])
    return {"x": x, "mean": mean, "sigma": sigma, "xhat": xhat, "y": np.array(sample["gamma"]) * xhat + beta}


@pytest.mark.parametrize("name", ["batch", "layer", "group", "rms", "instance", "batch2"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_figure_shows_the_numbers_numpy_computes(runs, name, mode):
    sample = runs[name]["norm_sample"]
    fig = norm_inside(runs[name], "output", mode)
    want = reference(sample, mode)
    np.testing.assert_allclose(heat(fig, 1), want["x"], atol=1e-6)
    if sample["norm"] != "rms":
        np.testing.assert_allclose(heat(fig, 2), want["mean"], atol=1e-6)
    np.testing.assert_allclose(heat(fig, 3), want["sigma"], atol=1e-6)
    np.testing.assert_allclose(heat(fig, 4), want["xhat"], atol=1e-5)
    np.testing.assert_allclose(heat(fig, 6), want["y"], atol=1e-5)
    assert heat(fig, 5)[0].tolist() == pytest.approx(sample["gamma"], abs=1e-6)


def outlines(fig: go.Figure, axis: str = "x") -> list[tuple[float, float, float, float]]:
    """Return the outlined cell ranges (x0, x1, y0, y1) drawn on subplot `axis`."""
    return [(s.x0, s.x1, s.y0, s.y1) for s in fig.layout.shapes if s.xref == axis]


def test_each_norm_outlines_what_one_statistic_is_computed_over(runs):
    n, u = 8, 8
    columns = outlines(norm_inside(runs["batch"], "statistics"))
    assert columns == [(c - 0.5, c + 0.5, -0.5, n - 0.5) for c in range(u)]  # one unit across the batch
    rows = outlines(norm_inside(runs["layer"], "statistics"))
    assert rows == [(-0.5, u - 0.5, r - 0.5, r + 0.5) for r in range(n)]  # one example across its units
    assert outlines(norm_inside(runs["rms"], "statistics")) == rows
    sample = runs["group"]["norm_sample"]
    assert sample["units"] == [0, 1, 2, 3, 4, 5, 6, 7]  # width 16, 4 groups of 4: two groups shown
    groups = outlines(norm_inside(runs["group"], "statistics"))
    assert groups == [(a - 0.5, b + 0.5, r - 0.5, r + 0.5) for r in range(n) for a, b in ((0, 3), (4, 7))]
    assert outlines(norm_inside(runs["instance"], "statistics")) == []  # each value its own channel's statistics
    # eval mode: batch norm's running averages are per unit again
    assert outlines(norm_inside(runs["batch"], "statistics", "eval"), "x2") == [
        (c - 0.5, c + 0.5, -0.5, n - 0.5) for c in range(u)
    ]
    # the values that share a statistic share its number
    mean = heat(norm_inside(runs["layer"], "statistics"), 2)
    assert (mean == mean[:, :1]).all() and not (mean == mean[:1, :]).all()


def test_the_steps_reveal_one_stage_at_a_time(runs):
    counts = [len([t for t in norm_inside(runs["batch"], s).data if t.type == "heatmap"]) for s in STEPS]
    assert counts == [1, 3, 4, 6]
    rms = norm_inside(runs["rms"], "statistics")
    assert len(rms.data) == 2 and any("RMS norm subtracts nothing" in a.text for a in rms.layout.annotations)
    later = norm_inside(runs["batch"], "values")
    assert any(a.text == "next: x̂" for a in later.layout.annotations)


def test_batch_two_says_why_every_unit_is_plus_or_minus_one(runs):
    fig = norm_inside(runs["batch2"], "x-hat")
    xhat = heat(fig, 4)
    near = int(np.count_nonzero(np.abs(np.abs(xhat) - 1) < 0.01))
    assert f"{near} of {xhat.size} values within 0.01 of ±1" in fig.layout.title.subtitle.text
    x = heat(fig, 1)
    apart = np.abs(x[0] - x[1]) > 0.1  # where the two values nearly coincide, eps keeps x-hat below 1
    assert apart.sum() >= 4 and (np.abs(np.abs(xhat[:, apart]) - 1) < 0.01).all()
    assert "β − γ or β + γ" in norm_inside(runs["batch2"], "output").layout.title.subtitle.text
    # not in a cnn, whose statistics average over the map's positions too, nor with running averages
    assert "±1" not in norm_inside(runs["cnn_batch2"], "x-hat").layout.title.subtitle.text
    assert "±1" not in norm_inside(runs["batch2"], "x-hat", "eval").layout.title.subtitle.text


def test_rms_norm_subtracts_no_mean(runs):
    words = norm_inside(runs["rms"], "x-hat").layout.title.subtitle.text
    assert "x̂ = x / rms" in words and "nothing is subtracted" in words and "σ" not in words


def test_eval_mode_says_which_norms_have_no_running_averages(runs):
    words = norm_inside(runs["batch"], "statistics", "eval").layout.title.subtitle.text
    assert "running averages" in words and "play no part" in words
    for name in ("layer", "group", "rms"):
        for step in STEPS:  # said at every step, not only where the statistics are
            assert "no running averages" in norm_inside(runs[name], step, "eval").layout.title.subtitle.text
        np.testing.assert_array_equal(
            heat(norm_inside(runs[name], "output", "eval"), 6), heat(norm_inside(runs[name], "output"), 6)
        )


def note(fig: go.Figure) -> str:
    return fig.layout.annotations[0].text.replace("<br>", " ")


def test_empty_states_say_why(runs):
    none = Trainer(RunConfig(dataset="moons", norm="none", steps=5)).run()
    assert "no norm layer" in note(norm_inside(none)) and "Normalization" in note(norm_inside(none))
    old = {k: v for k, v in runs["batch"].items() if k != "norm_sample"}
    assert "older than the norm sample" in note(norm_inside(old))
    fresh = Trainer(RunConfig(steps=5)).export()  # before the first step
    assert "no snapshot yet" in note(norm_inside(fresh))
    playing = {**runs["batch"], "status": "running", "steps_done": 15}  # a saved run played back to step 15
    assert "appears when playback passes it" in note(norm_inside(playing))


def test_odd_samples_draw_without_raising(runs):
    odd = copy.deepcopy(runs["batch"])
    odd["norm_sample"]["x"][0][0] = None
    odd["norm_sample"]["var"][1] = "oops"
    odd["norm_sample"]["gamma"] = None
    fig = norm_inside(odd, "bogus", "nonsense")  # an unknown step or mode: the whole computation, in training
    assert np.isnan(heat(fig, 1)[0, 0]) and np.isnan(heat(fig, 3)[1]).all()
    assert any("affine off" in a.text for a in fig.layout.annotations)


def test_presenter_mode_keeps_it_valid(runs):
    fig = present(norm_inside(runs["group"], "output"))
    go.Figure(fig.to_dict())  # validates
    assert fig.layout.title.font.size > 17
