"""Runs the figure tests draw: trained once per session (they take seconds) and never changed by a test."""

import pytest

from vizcore import RunConfig, Trainer


@pytest.fixture(scope="session")
def bn():
    """Digits, batch norm, 3 blocks, 20 frames."""
    return Trainer(RunConfig(depth=3, width=32, steps=200, every=10, eval_every=50)).run()


@pytest.fixture(scope="session")
def moons():
    """2-D data, no norm layer, sigmoid, 4 blocks: has a decision boundary."""
    return Trainer(RunConfig(dataset="moons", norm="none", activation="sigmoid", steps=200)).run()


@pytest.fixture(scope="session")
def diverged():
    """Blows up at step 3; a frame every step, so the last frames hold huge values."""
    return Trainer(RunConfig(lr=1e6, steps=100, every=1)).run()


@pytest.fixture(scope="session")
def one_frame():
    return Trainer(RunConfig(steps=1, depth=2, width=16)).run()


@pytest.fixture(scope="session")
def no_frames():
    """Exported before the first step: curves hold step 0 only, no layer frames, no boundary."""
    return Trainer(RunConfig(dataset="moons", steps=10)).export()


@pytest.fixture(scope="session")
def deep():
    """A different number of blocks (5) for side-by-side comparisons."""
    return Trainer(RunConfig(depth=5, width=16, steps=60, every=20)).run()


@pytest.fixture(scope="session")
def family():
    """Two runs of one family (relu after batch norm) whose first batches gave different histogram edges."""
    return [Trainer(RunConfig(depth=2, width=16, steps=20, every=10, batch_size=b)).run() for b in (2, 64)]
