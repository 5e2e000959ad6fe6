"""A live run's curves end at the latest step: the batches since the last point, as one more point."""

import numpy as np

from vizcore import RunConfig, Trainer

CFG = RunConfig(dataset="moons", depth=2, width=16, steps=70, eval_every=50, every=10)


def test_a_live_export_ends_with_the_batches_since_the_last_point():
    t = Trainer(CFG)
    t.step(30)
    c = t.export()["curves"]
    assert c["step"] == [0, 30] and c["test_loss"][-1] is None and c["test_acc"][-1] is None
    # the same 30 batches closed as a point of their own (a test pass consumes no training randomness)
    ref = Trainer(CFG.replace(eval_every=30))
    ref.step(30)
    r = ref.export()["curves"]
    assert r["step"] == [0, 30]
    np.testing.assert_allclose([c["train_loss"][-1], c["train_acc"][-1]], [r["train_loss"][-1], r["train_acc"][-1]])
    assert r["test_loss"][-1] is not None


def test_the_open_point_moves_with_each_step_and_becomes_the_closed_one():
    t = Trainer(CFG)
    seen = []
    for _ in range(50):
        t.step(1)
        seen.append(t.export()["curves"]["step"][-1])
    assert seen == list(range(1, 51))  # every step shows
    c = t.export()["curves"]
    assert c["step"] == [0, 50] and c["test_loss"][-1] is not None  # closed at 50 with its test pass: no double


def test_a_finished_or_fresh_run_has_no_open_point():
    t = Trainer(CFG)
    assert t.export()["curves"]["step"] == [0]
    run = t.run(chunk=7)
    assert run["curves"]["step"] == [0, 50, 70] and None not in run["curves"]["test_loss"]
    stopped = Trainer(CFG)
    stopped.step(12)
    stopped.stop()
    assert stopped.export()["curves"]["step"] == [0, 12]  # the stop closes the window with a test pass
    assert stopped.export()["curves"]["test_loss"][-1] is not None


def test_snapshots_every_n_steps_on_top_of_the_cadence_change_no_other_number():
    plain = Trainer(CFG).run()
    t = Trainer(CFG)
    t.dense = 8
    run = t.run(chunk=5)
    assert run["layers"][0]["steps"] == sorted(set(range(0, 70, 8)) | set(range(0, 70, 10)))
    assert run["curves"] == plain["curves"]
    at = {s: i for i, s in enumerate(run["layers"][0]["steps"])}
    for a, b in zip(plain["layers"], run["layers"], strict=True):  # the shared frames are the same frames
        for i, s in enumerate(a["steps"]):
            assert a["taps"]["act"]["p50"][i] == b["taps"]["act"]["p50"][at[s]]
            assert a["grad_norm"][i] == b["grad_norm"][at[s]]


def test_exports_between_two_snapshots_share_their_layers():
    t = Trainer(CFG)  # a frame every 10 steps
    t.step(1)
    a = t.export()
    t.step(5)
    b = t.export()
    assert b["layers"] is a["layers"] and b["curves"] != a["curves"]  # the curves moved, the frames did not
    t.step(4)  # step 10 is trained after the export: no frame yet
    assert t.export()["layers"] is a["layers"]
    t.step(1)  # the frame at step 10
    c = t.export()
    assert c["layers"] is not a["layers"] and c["layers"][0]["steps"] == [0, 10]
    fresh = Trainer(CFG)
    fresh.step(11)
    assert fresh.export()["layers"] == c["layers"]  # what was shared is what an export made anew gives
