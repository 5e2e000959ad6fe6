"""Shared fixtures: a fresh run store per test; hypothesis profiles."""

import os

import pytest

# The servers and pages tests start must not train every experiment in the background (minutes of both cores).
os.environ.setdefault("NORMLAB_WARM_EXPERIMENTS", "0")
from hypothesis import settings

# `make test` (and so CI) is derandomized: the same examples every run, so a red CI means a change broke
# something, not that a new random draw found an old bug. `make fuzz` explores fresh random examples.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("fuzz")  # random draws; tests/test_properties.py also takes 10x the examples
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """Point the app's run store at a fresh folder for one test; yield that folder."""
    monkeypatch.setenv("NORMLAB_RUNS", str(tmp_path / "runs"))
    from vizcore.ui.widgets import get_store

    get_store.clear()
    yield tmp_path / "runs"
    get_store.clear()
