"""The training points a decision boundary carries: engine.data's own, bounded, rounded, with their labels."""

import numpy as np
import pytest

from vizcore import RunConfig, Trainer
from vizcore.engine.data import for_config
from vizcore.engine.training import BOUNDARY_POINTS


@pytest.mark.parametrize("dataset,seed", [("moons", 0), ("spirals", 3), ("xor", 7)])
def test_the_boundary_carries_the_first_training_points(dataset, seed):
    cfg = RunConfig(dataset=dataset, seed=seed, steps=5, probe_size=0)
    pts = Trainer(cfg).run()["boundary"]["points"]
    d = for_config(cfg)
    assert len(pts["x"]) == len(pts["y"]) == len(pts["label"]) == BOUNDARY_POINTS
    xy = np.column_stack([pts["x"], pts["y"]])
    np.testing.assert_allclose(xy, d.x_train[:BOUNDARY_POINTS].numpy(), atol=5e-4 + 1e-7)
    assert pts["label"] == d.y_train[:BOUNDARY_POINTS].tolist()
    assert 0.35 < np.mean(pts["label"]) < 0.65  # a sample of both classes, not one class first


def test_a_small_training_set_gives_all_of_its_points_and_the_live_grid_has_them_too():
    cfg = RunConfig(dataset="circles", train_size=40, batch_size=8, steps=5, probe_size=0)
    t = Trainer(cfg)
    t.step(2)
    live = t.decision_grid(40)  # what a live job publishes while the run trains
    assert live is not None and len(live["points"]["x"]) == 40
    assert live["points"] == t.run()["boundary"]["points"]
    assert Trainer(RunConfig(steps=1, probe_size=0)).run()["boundary"] is None  # digits: no plane to draw
