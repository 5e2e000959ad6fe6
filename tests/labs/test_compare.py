"""vizcore.compare: variants, state words and the difference readout, against hand-computed values."""

from dataclasses import replace

import pytest
import torch

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer, train
from vizcore.labs import compare
from vizcore.workers.jobs import JobSnapshot

SMALL = RunConfig(dataset="moons", steps=100, eval_every=20, every=20, width=16, depth=2)


def fake_run(steps, test_acc, train_loss, status="completed", diverged_at=None, total=30) -> dict:
    return {
        "config": {"steps": total},
        "status": status,
        "steps_done": steps[-1],
        "diverged_at": diverged_at,
        "curves": {"step": steps, "test_acc": test_acc, "train_loss": train_loss},
    }


# ----------------------------------------------------------------- variants


def test_norm_variants_differ_from_the_base_only_in_norm():
    base = RunConfig(dataset="moons", lr=0.05, seed=3)
    variants, rejected = compare.make_variants(base, "norm", ["none", "batch", "layer"])
    assert rejected == []
    assert [v["label"] for v in variants] == ["norm=none", "norm=batch", "norm=layer"]
    assert [v["config"].norm for v in variants] == ["none", "batch", "layer"]
    for v in variants:
        assert v["config"] == base.replace(norm=v["value"])
        assert {k for k, x in v["config"].to_dict().items() if base.to_dict()[k] != x} <= {"norm"}


def test_invalid_values_are_rejected_with_the_config_error_message():
    base = RunConfig(norm="batch")
    variants, rejected = compare.make_variants(base, "batch_size", [1, 16, 64])
    assert [v["config"].batch_size for v in variants] == [16, 64]
    assert rejected[0]["label"] == "batch_size=1"
    assert "at least 2 examples" in rejected[0]["error"]
    _, rejected = compare.make_variants(base, "lr", ["banana", -1.0, 0.1])
    assert [r["label"] for r in rejected] == ["lr=banana", "lr=-1"]
    assert "expected a number" in rejected[0]["error"] and "positive" in rejected[1]["error"]


def test_typed_duplicates_are_merged_and_at_most_four_variants_are_made():
    variants, rejected = compare.make_variants(RunConfig(), "lr", [0.1, "0.1", "1", 0.01])
    assert [v["label"] for v in variants] == ["lr=0.1", "lr=1", "lr=0.01"]
    assert variants[1]["config"].lr == 1.0 and rejected == []
    variants, rejected = compare.make_variants(RunConfig(), "batch_size", [2, 4, 16, 64, 256])
    assert len(variants) == 4 and [r["label"] for r in rejected] == ["batch_size=256"]
    with pytest.raises(ValueError, match="unknown knob"):
        compare.make_variants(RunConfig(), "width", [8, 16])


def test_every_knob_default_selection_makes_valid_variants_of_the_default_config():
    for knob, k in compare.KNOBS.items():
        assert set(k.default) <= set(compare.options(knob))
        variants, rejected = compare.make_variants(RunConfig(), knob, k.default)
        assert len(variants) == len(k.default) >= 2 and rejected == [], knob
        assert compare.held_fixed(knob)


def test_the_engine_keeps_what_the_page_says_is_held_fixed():
    base = SMALL.replace(init="he")

    def weights(cfg):
        return [b.linear.weight.detach().clone() for b in Trainer(cfg).net.blocks]

    ref = weights(base)
    for knob, value in [("norm", "layer"), ("norm", "none"), ("placement", "after"), ("lr", 1.0), ("batch_size", 16)]:
        assert all(torch.equal(a, b) for a, b in zip(ref, weights(base.replace(**{knob: value})))), knob
    assert all(torch.allclose(2 * a, b) for a, b in zip(ref, weights(base.replace(init_scale=2.0))))
    # he init scales by the activation's gain: same draws, another factor (relu gain sqrt 2, tanh 5/3)
    tanh = weights(base.replace(activation="tanh"))
    assert torch.allclose(ref[0] / 2**0.5, tanh[0] / (5 / 3))
    # same seed and batch size: the same batches in the same order, whatever the norm
    a, b = Trainer(base), Trainer(base.replace(norm="none"))
    for _ in range(5):
        assert all(torch.equal(x, y) for x, y in zip(a._next_batch(), b._next_batch()))


# ----------------------------------------------------------------- readout (hand-computed)


def test_readout_on_hand_made_runs():
    a = fake_run([0, 10, 20, 30], [0.5, 0.7, 0.9, 0.88], [None, 0.6, 0.4, 0.35])
    b = fake_run([0, 10, 20, 30], [0.5, 0.6, 0.8, 0.95], [None, 0.7, 0.5, 0.3])
    c = fake_run([0, 10, 15], [0.5, 0.55, None], [None, 0.9, None], status="diverged", diverged_at=15)
    result = compare.readout([a, b, c], ["A", "B", "C"])
    assert result["best_acc"] == 0.95
    assert result["target"] == pytest.approx(0.855)
    ra, rb, rc = result["rows"]
    assert (ra["test_acc"], ra["train_loss"], ra["steps_to_target"]) == (0.88, 0.35, 20)
    assert (rb["test_acc"], rb["train_loss"], rb["steps_to_target"]) == (0.95, 0.3, 30)
    assert (rc["test_acc"], rc["train_loss"], rc["steps_to_target"], rc["diverged_at"]) == (0.55, 0.9, None, 15)
    assert ra["d_test_acc"] == 0 and ra["d_steps_to_target"] == 0
    assert rb["d_test_acc"] == pytest.approx(0.07)
    assert rb["d_train_loss"] == pytest.approx(-0.05)
    assert rb["d_steps_to_target"] == 10
    assert rc["d_steps_to_target"] is None and rc["d_test_acc"] == pytest.approx(-0.33)

    table = compare.format_readout(result)
    assert table[0]["Δ test acc"] == "reference" and table[0]["Steps to target"] == "20"
    assert table[1] == {
        "Variant": "B", "Steps done": "30", "Final test acc": "95.0%", "Δ test acc": "+7.0 pts",
        "Final train loss": "0.3000", "Δ train loss": "-0.0500", "Steps to target": "30", "Δ steps": "+10",
        "Diverged at": "—",
    }  # fmt: skip
    assert (table[2]["Steps to target"], table[2]["Δ steps"], table[2]["Diverged at"]) == ("never", "n/a", "step 15")
    assert table[2]["Δ test acc"] == "-33.0 pts"


def test_readout_of_runs_not_started_or_still_training():
    done = fake_run([0, 10, 20], [0.5, 0.8, 0.9], [None, 0.6, 0.4])
    training = fake_run([0, 10], [0.5, 0.6], [None, 0.7], status="running")
    waiting = {**fake_run([0], [0.1], [None], status="ready"), "steps_done": 0}
    result = compare.readout([done, training, waiting], ["done", "training", "waiting"])
    assert result["target"] == pytest.approx(0.81)
    assert [r["steps_to_target"] for r in result["rows"]] == [20, None, None]
    assert result["rows"][2]["test_acc"] is None  # the step-0 evaluation is not a result
    table = compare.format_readout(result)
    assert table[1]["Steps to target"] == "not yet" and table[1]["Final test acc"] == "60.0%"
    assert (table[2]["Final test acc"], table[2]["Final train loss"]) == ("not started", "not started")
    assert table[2]["Δ test acc"] == "n/a" and table[2]["Steps to target"] == "not yet"


def test_readout_without_any_accuracy_says_so():
    empty = fake_run([0, 5], [None, None], [None, None], status="diverged", diverged_at=5, total=10)
    result = compare.readout([empty, empty], ["x", "y"])
    assert result["best_acc"] is None and result["target"] is None
    assert [r["steps_to_target"] for r in result["rows"]] == [None, None]
    assert compare.format_readout(result)[1]["Final test acc"] == "n/a"
    assert compare.format_readout(result)[1]["Δ test acc"] == "n/a"


def test_readout_on_real_small_runs():
    runs = [
        train(SMALL.replace(norm="none")),
        train(SMALL.replace(norm="batch")),
        train(SMALL.replace(norm="none", lr=1e6)),
    ]  # the last blows up within a few steps
    result = compare.readout(runs, ["none", "batch", "none, lr 1e6"])
    # by hand from the recorded curves
    best = max(a for r in runs for a in r["curves"]["test_acc"] if a is not None)
    assert result["best_acc"] == best
    for run, row in zip(runs, result["rows"]):
        c = run["curves"]
        assert row["test_acc"] == [a for a in c["test_acc"] if a is not None][-1]
        assert row["train_loss"] == [v for v in c["train_loss"] if v is not None][-1]
        hits = [s for s, a in zip(c["step"], c["test_acc"]) if a is not None and a >= 0.9 * best]
        assert row["steps_to_target"] == (hits[0] if hits else None)
        assert row["steps_done"] == run["steps_done"] and row["status"] == run["status"]
    first, second, blown = result["rows"]
    assert first["status"] == second["status"] == "completed" and first["steps_done"] == 100
    assert second["d_test_acc"] == pytest.approx(second["test_acc"] - first["test_acc"])
    assert second["d_train_loss"] == pytest.approx(second["train_loss"] - first["train_loss"])
    assert blown["status"] == "diverged" and blown["diverged_at"] == runs[2]["diverged_at"] is not None
    assert blown["steps_to_target"] is None
    assert compare.format_readout(result)[2]["Diverged at"] == f"step {runs[2]['diverged_at']}"
    assert compare.state_text(runs[2]) == f"reused saved run · diverged at step {runs[2]['diverged_at']}"
    assert compare.progress(runs[0]) == 1.0


# ----------------------------------------------------------------- state words


def test_state_text_and_progress():
    run = fake_run([0, 10], [0.5, 0.6], [None, 0.5], status="running", total=40)
    assert compare.progress(run) == 0.25
    snap = JobSnapshot("waiting", False, run, 0.0, None, None, None, None, slots_busy=2, slots_total=2, slots_waiting=1)
    assert compare.state_text(run, snap) == "waiting for a slot (2/2 busy)"
    assert compare.state_text(run, replace(snap, state="running")) == "training"
    assert compare.state_text(run, replace(snap, state="new")) == "starting"
    assert compare.state_text({**run, "status": "completed"}, replace(snap, state="done")) == "done"
    assert compare.state_text({**run, "status": "stopped"}, replace(snap, state="done")) == "stopped at step 10"
    diverged = {**run, "status": "diverged", "diverged_at": 7}
    assert compare.state_text(diverged, replace(snap, state="done")) == "diverged at step 7"
    assert compare.state_text(run, replace(snap, state="error", error="boom")) == "error: boom"
    assert compare.state_text({**run, "status": "completed"}) == "reused saved run · done"


def test_with_histograms_keeps_runs_that_have_the_tap_recorded():
    done = train(SMALL.replace(norm="none"))
    waiting = Trainer(SMALL.replace(norm="layer")).export()  # built, not a step trained
    runs, labels, notes = compare.with_histograms([done, waiting], ["none", "layer"], "act")
    assert runs == [done] and labels == ["none"] and notes == ["layer: no snapshot recorded yet"]
    runs, labels, notes = compare.with_histograms([done, train(SMALL)], ["none", "batch"], "norm")
    assert labels == ["batch"] and notes == ["none: no 'norm' tap"]


def test_group_norm_variant_picks_fitting_groups_instead_of_being_skipped():
    # Experiment 1's "Try it yourself" opens Compare on width 100, where the default 8 groups do not fit
    base = RunConfig(width=100, depth=3)
    variants, rejected = compare.make_variants(base, "norm", ["none", "batch", "layer", "group"])
    assert rejected == [] and variants[-1]["label"] == "norm=group (4 groups)"
    assert variants[-1]["config"].groups == 4 and variants[0]["config"].groups == base.groups
    assert compare.make_variants(RunConfig(), "norm", ["group"])[0][0]["label"] == "norm=group"  # 8 fits 64
