"""Training: every combination learns, runs reproduce, divergence and stops are recorded."""

import copy
import json
import threading

import numpy as np
import pytest
import torch

from vizcore import RunConfig, Trainer, dumps, loads
from vizcore.engine.config import ACTIVATIONS

FAST = dict(
    dataset="gaussians", depth=2, width=8, batch_size=32, steps=120, every=20, eval_every=20, optimizer="adam", lr=0.01
)


def without_timing(run: dict) -> dict:
    run = copy.deepcopy(run)
    run.pop("elapsed_s")
    return run


def loss_falls(run: dict) -> bool:
    loss = [v for v in run["curves"]["train_loss"] if v is not None]
    return loss[-1] < 0.8 * loss[0]


@pytest.mark.parametrize("norm", ["none", "batch", "layer", "group", "rms"])
@pytest.mark.parametrize("placement", ["before", "after"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_mlp_combination_builds_and_learns(norm, placement, activation):
    run = Trainer(RunConfig(norm=norm, placement=placement, activation=activation, groups=2, **FAST)).run()
    assert run["status"] == "completed"
    assert loss_falls(run), run["curves"]["train_loss"]
    taps = set(run["layers"][0]["taps"])
    assert taps == ({"linear", "act"} if norm == "none" else {"linear", "norm", "act"})


@pytest.mark.parametrize("norm", ["none", "batch", "layer", "group", "instance", "rms"])
@pytest.mark.parametrize("placement", ["before", "after"])
def test_every_cnn_norm_builds_and_learns(norm, placement):
    cfg = RunConfig(
        model="cnn",
        norm=norm,
        placement=placement,
        depth=2,
        width=8,
        groups=2,
        batch_size=32,
        steps=60,
        every=20,
        eval_every=20,
        optimizer="adam",
        lr=0.01,
    )
    run = Trainer(cfg).run()
    assert run["status"] == "completed" and loss_falls(run)


def test_digits_default_run_reaches_high_accuracy():
    run = Trainer(RunConfig(steps=600)).run()
    assert run["curves"]["test_acc"][0] < 0.3  # chance is 0.1
    assert run["curves"]["test_acc"][-1] > 0.9


def test_same_config_same_numbers():
    cfg = RunConfig(dataset="moons", steps=200, every=10)
    assert without_timing(Trainer(cfg).run()) == without_timing(Trainer(cfg).run())
    other = without_timing(Trainer(cfg.replace(seed=1)).run())
    assert other["curves"]["train_loss"] != without_timing(Trainer(cfg).run())["curves"]["train_loss"]


def test_chunked_steps_equal_one_call():
    cfg = RunConfig(steps=100, every=7, eval_every=9)
    a = Trainer(cfg)
    for n in (1, 6, 13, 50, 100):
        a.step(n)
    b = Trainer(cfg)
    b.step(100)
    assert a.done and b.done
    assert without_timing(a.export()) == without_timing(b.export())


def test_runs_in_threads_reproduce_sequential_runs():
    cfgs = [RunConfig(steps=150, seed=s, norm=n) for s, n in ((0, "batch"), (1, "layer"), (2, "none"))]
    alone = [without_timing(Trainer(c).run()) for c in cfgs]
    together = [None] * len(cfgs)

    def work(i):
        together[i] = without_timing(Trainer(cfgs[i]).run(chunk=10))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cfgs))]
    for th in threads:
        th.start()
    # Global-RNG traffic from the main thread must not disturb them either.
    for _ in range(200):
        torch.rand(10)
    for th in threads:
        th.join()
    assert together == alone


def test_same_initial_weights_and_batches_across_norms():
    nets = [Trainer(RunConfig(norm=n)) for n in ("none", "batch", "group")]
    first = [t._next_batch()[0] for t in nets]
    for a, batch in zip(nets[1:], first[1:]):
        for la, lb in zip(nets[0].net.blocks, a.net.blocks):
            assert torch.equal(la.linear.weight, lb.linear.weight)
        assert torch.equal(first[0], batch)


def test_peek_batch_is_the_next_batch_and_consumes_nothing():
    cfg = RunConfig(**{**FAST, "batch_size": 300, "steps": 7})  # 1,000 examples: a new epoch every 3 steps
    peeker, twin, stream = Trainer(cfg), Trainer(cfg), Trainer(cfg)
    for _ in range(cfg.steps):  # across two epoch boundaries
        x, y = peeker.peek_batch()
        again = peeker.peek_batch()
        nx, ny = stream._next_batch()  # the batch order does not depend on training
        assert torch.equal(x, again[0]) and torch.equal(x, nx) and torch.equal(y, ny)
        peeker.step(1)
        twin.step(1)
    assert without_timing(peeker.export()) == without_timing(twin.export())
    assert torch.equal(peeker._order_gen.get_state(), twin._order_gen.get_state())


def test_inits_and_init_scale():
    inits = ("default", "he", "xavier", "normal")
    w = {i: Trainer(RunConfig(init=i, width=256)).net.blocks[1].linear.weight.detach() for i in inits}
    fan_in = 256
    assert w["default"].abs().max() <= 1 / np.sqrt(fan_in)  # PyTorch's default: U(-1/sqrt(fan_in), +)
    assert float(w["he"].std()) == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)
    assert float(w["xavier"].std()) == pytest.approx(np.sqrt(2 / (fan_in + 256)), rel=0.05)
    assert float(w["normal"].std()) == pytest.approx(1.0, rel=0.05)
    small = Trainer(RunConfig(init="he", init_scale=0.01, width=256)).net.blocks[1].linear.weight
    torch.testing.assert_close(small, w["he"] * 0.01)


def test_divergence_is_recorded_and_kept():
    cfg = RunConfig(dataset="moons", lr=1e6, norm="none", steps=500, every=1)
    run = Trainer(cfg).run()
    assert run["status"] == "diverged"
    k = run["diverged_at"]
    assert k is not None and run["steps_done"] == k < 500
    assert run["layers"][0]["steps"][-1] == k  # the frame that blew up is kept
    text = dumps(run)
    assert "NaN" not in text and "Infinity" not in text
    assert loads(text)["status"] == "diverged"


def test_stop_keeps_what_was_recorded():
    t = Trainer(RunConfig(steps=1000))
    t.step(130)
    t.stop()
    run = t.export()
    assert run["status"] == "stopped" and run["steps_done"] == 130
    assert run["curves"]["step"][-1] == 130
    assert t.step(10) == 0  # a stopped run stays stopped


def test_curves_align_and_windows_cover_steps():
    cfg = RunConfig(steps=130, eval_every=50)
    run = Trainer(cfg).run()
    c = run["curves"]
    assert c["step"] == [0, 50, 100, 130]
    assert c["train_loss"][0] is None and all(v is not None for v in c["train_loss"][1:])
    assert all(len(v) == 4 for v in c.values())


def test_strict_json_roundtrip_and_rejects_nan():
    run = Trainer(RunConfig(dataset="moons", steps=20)).run()
    text = dumps(run)
    assert loads(text)["curves"] == json.loads(text)["curves"]
    with pytest.raises(ValueError, match="strict JSON"):
        loads(text.replace('"test_acc":[', '"test_acc":[NaN,', 1))


def test_boundary_grid_for_points_only():
    run = Trainer(RunConfig(dataset="moons", steps=300, lr=0.5)).run()
    b = run["boundary"]
    p = np.array(b["prob"])
    assert p.shape == (60, 60) and p.min() < 0.1 and p.max() > 0.9
    assert Trainer(RunConfig(steps=1)).run()["boundary"] is None


def test_noisy_norm_shifts_train_mode_only_and_reproduces():
    cfg = RunConfig(norm="batch", norm_noise=0.5, steps=300, every=5)
    a, b = Trainer(cfg).run(), Trainer(cfg).run()
    assert without_timing(a) == without_timing(b)
    plain = Trainer(cfg.replace(norm_noise=0.0)).run()
    # At step 0 (gamma 1, beta 0) plain batch norm gives std 1; per-unit scales s ~ U(1, 1.5)
    # and shifts m ~ U(-0.5, 0.5) make it sqrt(E[s^2] + Var(m)) ~ 1.3.
    assert plain["layers"][0]["taps"]["norm"]["std"][0] == pytest.approx(1.0, abs=0.01)
    assert a["layers"][0]["taps"]["norm"]["std"][0] == pytest.approx(1.3, abs=0.1)
    t = Trainer(cfg)
    t.net.eval()
    z = torch.randn(8, 64)
    torch.testing.assert_close(t.net.blocks[0].norm(z), t.net.blocks[0].norm.inner(z) * 1.25)  # E[s] = 1 + a/2
    assert a["status"] == "completed" and a["curves"]["test_acc"][-1] > 0.5
