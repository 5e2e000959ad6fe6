"""Fixtures for the worker tests."""

import pytest


@pytest.fixture
def jobs():
    """Collect the jobs a test starts; stop them and wait for their threads at its end."""
    made = []
    yield made
    for j in made:
        j.stop()
        assert j.join(30), "worker thread did not exit"
