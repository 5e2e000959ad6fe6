"""Gradient norms, update ratios and saturation per block: the run's own numbers, on axes that can show them."""

import math

from tests.figures.helpers import annotations, subtitle
from vizcore import RunConfig, Trainer
from vizcore.figures.gradients import grad_stats, saturation


def test_grad_stats_log_axes_and_reference_line(bn):
    fig = grad_stats(bn)
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
    fig = grad_stats(diverged)
    for trace in fig.data:
        assert all(v is not None and v > 0 and math.isfinite(v) for v in trace.y)
    # the frame where the loss blew up has no gradients
    assert diverged["layers"][0]["grad_norm"][-1] is None
    assert len(fig.data[0].y) == len(diverged["layers"][0]["grad_norm"]) - 1


def test_saturation_per_block(moons, bn):
    fig = saturation(moons)
    assert len(fig.data) == len(moons["layers"])
    for trace, layer in zip(fig.data, moons["layers"], strict=True):
        assert list(trace.y) == layer["taps"]["act"]["saturated"]
    assert "0.015" in subtitle(fig)  # the sigmoid's saturation rule
    assert fig.layout.yaxis.tickformat == ".0%"
    linear = Trainer(RunConfig(activation="linear", steps=20, depth=2, width=8)).run()
    assert "never saturates" in annotations(saturation(linear))[0]
