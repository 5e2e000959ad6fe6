"""Decision boundary: the run's own probability grid, the data by class, and why a run has none."""

import colorsys
import json

import numpy as np
import pytest

from tests.figures.helpers import annotations
from vizcore import RunConfig
from vizcore.engine.data import for_config
from vizcore.figures.boundary import boundary
from vizcore.figures.theme import BOUNDARY_COLOURS


def test_boundary_contour_is_the_runs_grid(moons):
    b = moons["boundary"]
    fig = boundary(moons)
    contour = fig.data[0]
    assert contour.type == "contour"
    np.testing.assert_allclose(np.array(contour.z, dtype=float), np.array(b["prob"]), atol=5e-4 + 1e-9)
    assert list(contour.x) == b["x"] and list(contour.y) == b["y"]
    line = fig.data[1]
    assert line.contours.start == line.contours.end == 0.5


def test_boundary_points_by_class(moons):
    d = for_config(RunConfig(**moons["config"]))
    fig = boundary(moons, points=(d.x_train.numpy(), d.y_train.numpy()))
    pts = [t for t in fig.data if t.type == "scatter"]
    assert [t.name for t in pts] == ["class 0", "class 1"]
    assert sum(len(t.x) for t in pts) == len(d.y_train)
    fig = boundary(moons, points={"x": [0.0, 1.0], "y": [0.5, None], "label": [0, 1]})
    assert sum(len(t.x) for t in fig.data if t.type == "scatter") == 1


def test_boundary_missing_says_why(bn, no_frames):
    assert not boundary(bn).data
    assert "digits" in annotations(boundary(bn))[0]
    assert "when the run finishes" in annotations(boundary(no_frames))[0]


def test_the_runs_own_training_points_are_drawn_by_class(moons):
    d = for_config(RunConfig(**moons["config"]))
    n = len(moons["boundary"]["points"]["x"])
    assert n == 300  # bounded: a sample of the 1,000 training points
    fig = boundary(moons)
    pts = {t.name: np.column_stack([t.x, t.y]) for t in fig.data if t.type == "scatter"}
    assert set(pts) == {"class 0", "class 1"}
    x, y = d.x_train[:n].numpy(), d.y_train[:n].numpy()
    for c in (0, 1):  # the very points of engine.data's training split, to the run file's rounding
        np.testing.assert_allclose(pts[f"class {c}"], x[y == c], atol=5e-4 + 1e-7)
    colours = {t.name: t.marker.color for t in fig.data if t.type == "scatter"}
    regions = dict(BOUNDARY_COLOURS)  # class 0's region is where P(class 1) is 0, class 1's where it is 1
    assert hue(colours["class 0"]) == pytest.approx(hue(regions[0.0]), abs=0.03)
    assert hue(colours["class 1"]) == pytest.approx(hue(regions[1.0]), abs=0.03)
    assert "300 training points" in fig.layout.title.subtitle.text


def hue(colour: str) -> float:
    return colorsys.rgb_to_hls(*(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]


def test_a_run_without_points_still_draws_and_bad_points_are_left_out(moons):
    old = {**moons, "boundary": {k: v for k, v in moons["boundary"].items() if k != "points"}}
    fig = boundary(old)
    assert [t.type for t in fig.data] == ["contour", "contour"]
    assert "training points" not in fig.layout.title.subtitle.text
    for bad in ({"x": 3, "y": [1]}, {"x": [1, 2], "y": [1]}, {"x": [0.5, "a"], "y": [1, 2], "label": "no"}, "zzz"):
        fig = boundary({**moons, "boundary": {**moons["boundary"], "points": bad}})
        json.loads(fig.to_json())
