"""Settings: every NORMLAB_* variable is named in workers/settings.py and read there (the store reads its folder),
with its default when unset or not a number."""

import os
import re
from pathlib import Path

from vizcore.runs import store
from vizcore.workers import settings
from vizcore.workers.sweep import pool_workers

ROOT = Path(__file__).resolve().parents[2]


def test_every_normlab_variable_is_named_in_settings_and_read_only_there():
    named, readers = set(), set()
    for path in (ROOT / "vizcore").rglob("*.py"):
        text = path.read_text()
        named |= set(re.findall(r"NORMLAB_[A-Z_]+", text))
        if "os.environ" in text or "getenv" in text:
            readers.add(str(path.relative_to(ROOT)))
    assert named <= set(settings.NAMES), named - set(settings.NAMES)
    assert readers == {"vizcore/workers/settings.py", "vizcore/runs/store.py"}
    assert store.ENV_VAR == settings.RUNS


def test_defaults_and_values_that_are_not_numbers(monkeypatch):
    for name in settings.NAMES:
        monkeypatch.delenv(name, raising=False)
    assert (settings.idle_pause(), settings.idle_stop(), settings.max_run_seconds()) == (20.0, 180.0, 600.0)
    assert settings.max_training() == (os.cpu_count() or 1) and settings.sweep_processes()
    monkeypatch.setenv("NORMLAB_IDLE_STOP", "soon")
    monkeypatch.setenv("NORMLAB_IDLE_PAUSE", "0.5")
    monkeypatch.setenv("NORMLAB_MAX_TRAINING", "3")
    assert (settings.idle_stop(), settings.idle_pause(), settings.max_training()) == (180.0, 0.5, 3)


def test_pool_workers_follow_the_server_cap(monkeypatch):
    monkeypatch.setenv("NORMLAB_SWEEP_PROCESSES", "0")
    assert not settings.sweep_processes()
    monkeypatch.delenv("NORMLAB_SWEEP_PROCESSES")
    assert settings.sweep_processes()
    assert 1 <= pool_workers() <= (os.cpu_count() or 1)
