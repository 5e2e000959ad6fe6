"""The server's warm-up starts the shared pool's workers and caches every experiment, unless turned off."""

import types

from vizcore.experiments import all_experiments
from vizcore.ui import experiment_cache, warmup
from vizcore.workers import settings, sweep


def test_warm_experiments_starts_the_pool_then_caches_every_experiment(monkeypatch):
    calls = []
    monkeypatch.setattr(experiment_cache, "warm", lambda exps, **kw: calls.append([e.name for e in exps]))
    monkeypatch.setattr(sweep, "shared_pool", lambda: types.SimpleNamespace(warm=lambda: calls.append("pool")))
    warmup._warm_experiments()
    assert calls == ["pool", [e.name for e in all_experiments()]]


def test_the_setting_turns_it_off(monkeypatch):
    monkeypatch.setenv("NORMLAB_WARM_EXPERIMENTS", "0")
    assert not settings.warm_experiments()
    monkeypatch.setenv("NORMLAB_WARM_EXPERIMENTS", "1")
    assert settings.warm_experiments()
    monkeypatch.delenv("NORMLAB_WARM_EXPERIMENTS")
    assert settings.warm_experiments()  # on by default: a server answers Run from the cache
