"""Shared fixtures: a fresh run store per test."""

import pytest


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """Point the app's run store at a fresh folder for one test; yield that folder."""
    monkeypatch.setenv("NORMLAB_RUNS", str(tmp_path / "runs"))
    from vizcore.widgets import get_store

    get_store.clear()
    yield tmp_path / "runs"
    get_store.clear()
