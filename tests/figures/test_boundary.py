"""Decision boundary: the run's own probability grid, the data by class, and why a run has none."""

import numpy as np

from tests.figures.helpers import annotations
from vizcore import RunConfig
from vizcore.engine.data import for_config
from vizcore.figures.boundary import boundary


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
