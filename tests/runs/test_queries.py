"""Queries on run dicts: the last finite value of a curve, and the first step at an accuracy."""

import math

import pytest

from vizcore import RunConfig, Trainer
from vizcore.runs.queries import (
    final,
    finite,
    finite_values,
    last_finite,
    steps_to_reach,
    steps_to_reach_interpolated,
)


def run_of(**curves) -> dict:
    return {"curves": curves}


def test_finite_numbers_only():
    assert finite(0.5) == 0.5 and finite(3) == 3.0 and isinstance(finite(3), float)
    for bad in (None, math.nan, math.inf, -math.inf, True, False, "0.5", [0.5]):
        assert finite(bad) is None, bad
    assert finite_values([None, 0.1, math.nan, 2, math.inf, 0.3]) == [0.1, 2.0, 0.3]
    assert finite_values(None) == []


def test_last_finite_skips_null_and_non_finite_tails():
    assert last_finite([0.1, 0.2, None]) == 0.2
    assert last_finite([0.1, math.nan, math.inf]) == 0.1
    assert last_finite([None, None]) is None and last_finite([]) is None and last_finite(None) is None
    assert last_finite(iter([0.3, 0.4])) == 0.4  # any iterable, read once


def test_final_reads_a_curve_of_the_run():
    run = run_of(step=[0, 10, 20], test_acc=[0.1, 0.8, None], train_loss=[2.0, 0.5, 0.4])
    assert final(run) == 0.8
    assert final(run, "train_loss") == 0.4
    assert final(run, "train_acc") is None  # not recorded
    assert final(None) is None and final({}) is None


def test_steps_to_reach_is_the_first_step_at_or_above_the_target():
    run = run_of(step=[0, 20, 40, 60], test_acc=[0.1, 0.9, None, 0.95])
    assert steps_to_reach(run, 0.9) == 20  # "at least": equality counts
    assert steps_to_reach(run, 0.92) == 60
    assert steps_to_reach(run, 0.99) is None
    assert steps_to_reach(run, None) is None  # no target (nothing recorded to take it from)
    assert steps_to_reach(run_of(step=[0, 5], test_acc=[math.nan, 0.5]), 0.4) == 5
    assert steps_to_reach({}, 0.5) is None


def test_steps_to_reach_interpolated_between_the_straddling_evaluations():
    run = run_of(step=[0, 20, 40, 60], test_acc=[0.1, 0.8, 1.0, 0.95])
    assert steps_to_reach(run, 0.9) == 40  # the cadence's multiple
    assert steps_to_reach_interpolated(run, 0.9) == pytest.approx(30.0)  # halfway from 0.8 to 1.0
    assert steps_to_reach_interpolated(run, 0.8) == 20.0  # reached exactly at an evaluation
    assert steps_to_reach_interpolated(run, 0.45) == pytest.approx(10.0)  # the first crossing, not a later one
    assert steps_to_reach_interpolated(run, 0.05) == 0.0  # there from the first evaluation: nothing to interpolate
    assert steps_to_reach_interpolated(run, 1.01) is None and steps_to_reach_interpolated(run, None) is None
    # a missing evaluation is skipped: the line runs from the last finite point below the target
    gap = run_of(step=[0, 20, 40, 60], test_acc=[0.5, None, math.nan, 0.9])
    assert steps_to_reach_interpolated(gap, 0.7) == pytest.approx(30.0)
    assert steps_to_reach_interpolated(run_of(step=[0, 20], test_acc=[None, 0.95]), 0.9) == 20.0
    assert steps_to_reach_interpolated({}, 0.5) is None


def test_on_a_real_run():
    run = Trainer(RunConfig(dataset="moons", steps=60, eval_every=20, every=20)).run()
    c = run["curves"]
    assert final(run) == c["test_acc"][-1] == last_finite(c["test_acc"])
    first = steps_to_reach(run, c["test_acc"][-1])
    assert first is not None and first in c["step"] and isinstance(first, int)
    assert all(a < c["test_acc"][-1] for s, a in zip(c["step"], c["test_acc"]) if s < first)


def test_upto_plays_a_run_back_as_it_stood_at_a_step():
    from vizcore import RunConfig, Trainer, loads
    from vizcore.engine.runfile import check, dumps
    from vizcore.runs.queries import upto

    cfg = RunConfig(dataset="moons", steps=100, every=10, eval_every=25)
    whole = Trainer(cfg).run()
    t = Trainer(cfg)
    t.step(50)
    halfway = t.export()
    part = upto(whole, 50)
    assert part["curves"]["step"] == [s for s in whole["curves"]["step"] if s <= 50]
    assert part["layers"][0]["steps"] == halfway["layers"][0]["steps"] == [0, 10, 20, 30, 40]
    assert part["layers"][1]["taps"]["act"]["p50"] == halfway["layers"][1]["taps"]["act"]["p50"]
    assert (
        part["layers"][1]["probe"]["norm"]["hist"]["counts"] == halfway["layers"][1]["probe"]["norm"]["hist"]["counts"]
    )
    assert part["status"] == "running" and part["steps_done"] == 50 and part["boundary"] is None
    check(loads(dumps(part)))  # still a valid run file
    assert upto(whole, 1000) == whole
