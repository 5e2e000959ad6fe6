"""labs.missions: every mission's outcome against real short runs (effect shown and not), and progress in the link."""

from functools import cache

import pytest

from vizcore import RunConfig, Trainer
from vizcore.engine.params import NON_CONFIG_PARAMS, PROGRESS_PARAMS, parse_params
from vizcore.labs.missions import (
    BY_ID,
    MISSIONS,
    Progress,
    fits,
    next_mission,
    outcome,
    parse_progress,
    progress_params,
    verdict,
)


@cache
def trained(**changes) -> dict:
    """Return a finished run of the default config with `changes` (cached: each is trained once per session)."""
    return Trainer(RunConfig(**changes)).run()


def first_at(run: dict, target: float) -> int | None:
    """Return the first step whose test accuracy is at least `target`: the reference, read from the curves here."""
    return next((s for s, a in zip(run["curves"]["step"], run["curves"]["test_acc"]) if a >= target), None)


def last(run: dict, key: str = "test_acc") -> float:
    return run["curves"][key][-1]


def test_every_mission_is_a_valid_config_with_distinct_choices_and_the_path_is_ordered():
    assert 4 <= len(MISSIONS) <= 6 and len(BY_ID) == len(MISSIONS)
    for m in MISSIONS:
        assert m.config().steps == m.setup["steps"]
        keys = [k for k, _ in m.choices]
        assert len(set(keys)) == len(keys) >= 2
        assert m.look and m.expect and m.question.endswith("?")
    assert next_mission(MISSIONS[0]) is MISSIONS[1] and next_mission(MISSIONS[-1]) is None
    # the placement mission compares with the sigmoid mission's twin: batch norm before the sigmoid
    assert BY_ID["placement"].reference_config() == BY_ID["sigmoid"].config().replace(norm="batch")


def test_the_link_keeps_progress_and_names_every_bad_value():
    progress = Progress("batch2", {"sigmoid": "batch", "batch2": "none"}, ("sigmoid",))
    params = progress_params(progress)
    assert params == {"mission": "batch2", "answers": "sigmoid:batch,batch2:none", "done": "sigmoid"}
    assert parse_progress(params) == (progress, [])
    assert progress_params(Progress()) == {}
    assert set(PROGRESS_PARAMS) <= NON_CONFIG_PARAMS  # the Live lab keeps them in its link and never calls them unknown
    assert parse_params({"mission": "batch2", "done": "sigmoid"}) == (RunConfig(), [])
    bad = {"mission": "nope", "answers": "sigmoid:maybe,batch2:none,zzz", "done": "layer2,<b>x</b>,,sigmoid"}
    got, notices = parse_progress(bad)
    assert got == Progress(None, {"batch2": "none"}, ("sigmoid", "layer2"))  # path order, the good values kept
    assert len(notices) == 4
    assert "`mission=nope` is not valid (valid: sigmoid, placement, batch2, layer2, running)" in notices[0]
    assert "`sigmoid:maybe`" in notices[1] and "`zzz`" in notices[2] and "`<b>x</b>`" in notices[3]


def test_progress_records_answers_and_done_missions_in_path_order():
    p = Progress().at("layer2").with_answer("layer2", "trains").with_done("layer2").with_done("sigmoid")
    assert p == Progress("layer2", {"layer2": "trains"}, ("sigmoid", "layer2"))
    assert p.with_answer("layer2", "fails").answers == {"layer2": "fails"}


def test_sigmoid_mission_batch_norm_reaches_90_first_and_the_outputs_spread_wider():
    m = BY_ID["sigmoid"]
    run, twin = trained(activation="sigmoid", norm="none", steps=300), trained(activation="sigmoid", steps=300)
    assert first_at(run, 0.9) is None and first_at(twin, 0.9) is not None  # the effect, in the curves themselves
    result = outcome(m, run, twin)
    assert result.finished and result.shown == "batch"
    assert f"batch norm reached 90% test accuracy at step {first_at(twin, 0.9)}" in result.text
    assert f"never reached 90% in 300 steps (it ended at {last(run):.0%})" in result.text
    lo, hi = (run["layers"][-1]["probe"]["act"][q][-1] for q in ("p15", "p85"))
    assert f"no normalization {lo:.2f} to {hi:.2f}" in result.text
    assert verdict(m, result, "batch") == "You answered “the twin, with batch norm”, and this run agrees."
    assert "this run points to “the twin, with batch norm”" in verdict(m, result, "none")
    assert verdict(m, result, None) == ""


def test_sigmoid_mission_too_short_to_show_anything_says_so():
    m = BY_ID["sigmoid"]
    run, twin = trained(activation="sigmoid", norm="none", steps=20), trained(activation="sigmoid", steps=20)
    assert first_at(run, 0.9) is None and first_at(twin, 0.9) is None
    result = outcome(m, run, twin)
    assert result.shown is None and "Neither got to 90%, so this run does not say which is faster" in result.text
    assert "does not settle it" in verdict(m, result, "batch")


def test_placement_mission_compares_with_the_saved_before_run_and_says_when_there_is_none():
    m = BY_ID["placement"]
    run = trained(activation="sigmoid", placement="after", steps=300)
    twin = trained(activation="sigmoid", norm="none", placement="after", steps=300)
    before = trained(activation="sigmoid", steps=300)
    a, b = first_at(before, 0.9), first_at(run, 0.9)
    assert a is not None and b is not None
    result = outcome(m, run, twin, before)
    assert result.shown == ("same" if a == b else "before" if a < b else "after")
    assert f"Batch norm before the activation (mission 1) reached 90% test accuracy at step {a}" in result.text
    assert f"batch norm after the activation reached 90% test accuracy at step {b}" in result.text
    assert "scored every 50 steps" in result.text
    alone = outcome(m, run, twin, None)
    assert alone.shown is None and "not saved on this server" in alone.text


def test_batch2_mission_batch_norm_ends_lower_and_a_tiny_run_shows_no_difference():
    m = BY_ID["batch2"]
    run, twin = trained(batch_size=2, steps=300), trained(norm="none", batch_size=2, steps=300)
    assert last(twin) - last(run) > 0.2  # the effect, in the curves
    result = outcome(m, run, twin)
    assert result.shown == "none"
    assert f"batch norm scored {last(run):.0%}; no normalization {last(twin):.0%}" in result.text
    run, twin = trained(batch_size=2, steps=1, eval_every=1), trained(norm="none", batch_size=2, steps=1, eval_every=1)
    assert abs(last(run) - last(twin)) < 0.05  # one step: nothing has happened yet
    assert outcome(m, run, twin).shown == "same"


def test_layer2_mission_layer_norm_keeps_up_and_a_norm_that_fails_is_called_so():
    m = BY_ID["layer2"]
    none = trained(norm="none", batch_size=2, steps=300)
    run = trained(norm="layer", batch_size=2, steps=300)
    assert last(run) >= last(none) - 0.05
    result = outcome(m, run, none)
    assert result.shown == "trains" and f"layer norm scored {last(run):.0%}" in result.text
    failing = trained(batch_size=2, steps=300)  # batch norm at batch 2 in layer norm's place: the text names it
    result = outcome(m, failing, none)
    assert result.shown == "fails" and f"batch norm scored {last(failing):.0%}" in result.text


def test_running_mission_frozen_averages_fall_below_and_updated_ones_do_not():
    m = BY_ID["running"]
    none = trained(norm="none", steps=300)
    frozen = trained(momentum=0.0, steps=300)
    assert last(frozen, "train_acc") - last(frozen) >= 0.1
    result = outcome(m, frozen, none)
    assert result.shown == "below"
    assert (
        f"Batch norm: {last(frozen, 'train_acc'):.0%} on its last training batches, {last(frozen):.0%}" in result.text
    )
    updated = trained(steps=300)  # momentum 0.1: the averages follow the network
    assert abs(last(updated, "train_acc") - last(updated)) < 0.05
    assert outcome(m, updated, none).shown == "close"


def test_an_unfinished_or_stopped_run_points_nowhere_or_says_where_it_stopped():
    m = BY_ID["batch2"]
    run, twin = trained(batch_size=2, steps=300), trained(norm="none", batch_size=2, steps=300)
    running = outcome(m, {**run, "status": "running"}, twin)
    assert not running.finished and running.shown is None
    stopped = outcome(m, {**run, "status": "stopped", "steps_done": 120}, twin)
    assert stopped.finished and stopped.text.startswith("Stopped at step 120 of 300")


@pytest.mark.parametrize("mission", MISSIONS, ids=lambda m: m.id)
def test_fits_only_the_missions_own_run_and_its_twin(mission):
    cfg = mission.config()
    other = cfg.replace(norm="none", norm_noise=0.0) if cfg.norm != "none" else cfg.replace(norm="batch")
    run, twin = {"config": cfg.to_dict()}, {"config": other.to_dict()}
    assert fits(mission, run, twin)
    assert not fits(mission, twin, run) and not fits(mission, run, None)
    assert not fits(mission, {"config": cfg.replace(seed=1).to_dict()}, twin)
    assert not fits(mission, run, {"config": other.replace(lr=0.5).to_dict()})
