"""AppTest tests of the Experiments page's Run: a fresh run on the server's pool draws its progress and verdict,
Cancel ends it, and a cached outcome shows at once, says it is cached and when it was trained, and trains fresh."""

import pytest

from tests.helpers import figures, open_app, wait_for
from vizcore.experiments import get
from vizcore.ui import experiment_cache
from vizcore.workers import sweep

EXP = "depth"
BUDGET = 0.25  # the slider's smallest


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    experiment_cache.clear()
    yield
    experiment_cache.clear()


def page(exp: str = EXP):
    at = open_app()
    at.query_params["exp"] = exp
    at.switch_page("pages/experiments.py").run()
    e = get(exp)
    at.radio(key=f"guess_{exp}").set_value(e.expectations[0]).run()
    at.select_slider(key=f"budget_{exp}").set_value(BUDGET).run()
    return at


def run_button(at):
    return next(b for b in at.button if b.label == "Run")


def task(at, exp: str = EXP):
    return at.session_state[f"task_{exp}"]


def texts(at) -> str:
    return " ".join(str(e.value) for kind in (at.info, at.success, at.markdown, at.caption) for e in kind)


def test_run_trains_on_the_shared_pool_and_shows_the_verdict():
    at = page()
    run_button(at).click().run()
    t = task(at)
    assert t.cached is None  # nothing cached: trained fresh
    assert at.get("progress"), "the progress bar is drawn while the runs train"
    wait_for(lambda: len(t.partial) >= 2 or not t.alive, timeout=300)
    at.run()
    if t.alive:  # runs finished on the pool's two workers are drawn while the others train
        charts = figures(at)
        assert charts and "finished so far" in charts[-1]["layout"]["title"]["text"]
    t.join(300)
    assert t.state == "done", t.error
    at.run()
    assert "From the server's cache" not in texts(at)
    assert t.result.verdict.label in ("supported", "not supported", "it depends")
    assert sweep._shared is not None and not sweep._shared.broken  # trained on the server's pool
    assert experiment_cache.get(get(EXP), BUDGET).result is t.result  # kept for the next Run


def test_cancel_ends_a_run_on_the_pool():
    at = page("ioffe-fig1")
    run_button(at).click().run()
    t = task(at, "ioffe-fig1")
    wait_for(lambda: t.state == "running")
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert t.join(60)
    assert t.state == "cancelled"
    at.run()
    assert any("Cancelled" in str(w.value) for w in at.warning)


def test_a_cached_outcome_shows_at_once_says_when_and_trains_fresh():
    exp = get(EXP)
    hit = experiment_cache.put(exp, exp.run(budget=BUDGET), 12.0, experiment_cache.WARMED)
    at = page()
    run_button(at).click().run()
    t = task(at)
    assert t.cached is hit and t.result is hit.result and not t.alive and t.state == "done"
    shown = texts(at)
    assert "From the server's cache" in shown and "when this server started" in shown
    assert "27 runs" in shown and "in 12 s" in shown
    fresh = next(b for b in at.button if b.label == "Train them fresh")
    fresh.click().run()
    t2 = task(at)
    assert t2 is not t and t2.cached is None
    assert t2.join(300) and t2.state == "done"
    at.run()
    assert "From the server's cache" not in texts(at)
