"""The norm sample: the first block's norm input at the latest snapshot, as torch.nn computes it; no run changes."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from vizcore import RunConfig, Trainer, dumps, loads
from vizcore.engine import runfile
from vizcore.engine.norm_sample import SHOW, inner_norm, shown_units
from vizcore.figures.norm_inside import computed

CONFIGS = [
    RunConfig(steps=60, every=5, eval_every=10),
    RunConfig(dataset="moons", norm="batch", norm_noise=0.3, activation="sigmoid", batch_size=8, steps=80, every=3),
    RunConfig(model="cnn", norm="group", groups=4, width=8, optimizer="adam", lr=0.01, steps=30, every=7),
    RunConfig(norm="batch", momentum=0.0, batch_size=2, steps=60, every=1, max_snapshots=16),  # thins
    RunConfig(norm="layer", placement="after", optimizer="momentum", steps=50, every=4),
    RunConfig(dataset="moons", norm="batch", lr=1e6, steps=60, every=2),  # diverges
]


def without_sample(run: dict) -> str:
    """Return the run as JSON minus the sample and the wall-clock time."""
    run = copy.deepcopy(run)
    run.pop("elapsed_s")
    run.pop("norm_sample", None)
    return json.dumps(run, sort_keys=True)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.dataset}-{c.model}-{c.norm}-b{c.batch_size}")
def test_the_sample_changes_no_training_number(cfg):
    sampled = Trainer(cfg).run()
    plain = Trainer(cfg)
    plain.recorder.sampler = None
    plain = plain.run()
    assert sampled["norm_sample"] is not None and plain["norm_sample"] is None
    assert without_sample(sampled) == without_sample(plain)  # bit for bit: curves, taps, probe, weights, boundary


def fresh(norm: str, model: str, width: int, cfg: RunConfig, affine: bool) -> nn.Module:
    """Return a new torch.nn module of the kind `norm` is in a `model`, built here, not by the engine."""
    spatial = model == "cnn"
    if norm == "batch":
        cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        return cls(width, eps=cfg.eps, momentum=cfg.momentum, affine=affine)
    if norm == "layer":
        return nn.GroupNorm(1, width, eps=cfg.eps, affine=affine) if spatial else nn.LayerNorm(width, cfg.eps, affine)
    if norm == "group":
        return nn.GroupNorm(cfg.groups, width, eps=cfg.eps, affine=affine)
    if norm == "instance":
        return nn.InstanceNorm2d(width, eps=cfg.eps, affine=affine)
    shape = [width, 8, 8] if spatial else [width]  # the first block of a cnn on digits: 8x8 maps
    return nn.RMSNorm(shape, eps=cfg.eps, elementwise_affine=affine)


CASES = [
    RunConfig(norm="batch", width=32, batch_size=16),
    RunConfig(norm="batch", width=32, batch_size=2),
    RunConfig(norm="batch", batch_size=2, placement="after", activation="tanh"),
    RunConfig(norm="layer", width=32, batch_size=16),
    RunConfig(norm="group", groups=4, width=32, batch_size=16),
    RunConfig(norm="group", groups=16, width=32, batch_size=4),
    RunConfig(norm="rms", width=32, batch_size=16),
    RunConfig(norm="batch", width=16, norm_noise=0.5, batch_size=8),
    RunConfig(norm="layer", width=16, affine=False, batch_size=8),
    RunConfig(model="cnn", norm="batch", width=8, batch_size=8),
    RunConfig(model="cnn", norm="batch", width=8, batch_size=2),
    RunConfig(model="cnn", norm="layer", width=8, batch_size=8),
    RunConfig(model="cnn", norm="group", groups=2, width=8, batch_size=8),
    RunConfig(model="cnn", norm="instance", width=8, batch_size=8),
    RunConfig(model="cnn", norm="rms", width=8, batch_size=8),
]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: f"{c.model}-{c.norm}-b{c.batch_size}-{c.placement}")
def test_the_sample_equals_torch_nn_on_the_same_batch(cfg):
    cfg = cfg.replace(steps=20, every=5, eval_every=100, probe_size=0, lr=0.2 if cfg.model == "mlp" else 0.05)
    t = Trainer(cfg)
    t.step(5)  # the next step, 5, is a snapshot: weights after 5 updates
    module = inner_norm(t.net)
    before = copy.deepcopy(module)  # its state before batch 5: running averages, gamma, beta
    seen = {}
    handle = module.register_forward_pre_hook(lambda m, a: seen.__setitem__("x", a[0].detach().clone()))
    t.step(1)
    handle.remove()
    sample = t.export()["norm_sample"]
    assert sample["step"] == 5 and sample["batch_size"] == cfg.batch_size == seen["x"].shape[0]
    units = sample["units"]
    assert units == shown_units(cfg.width, cfg.norm, cfg.groups)

    def cells(out: torch.Tensor) -> np.ndarray:
        out = out[:SHOW][:, units]
        if out.dim() == 4:
            h, w = sample["position"]
            out = out[:, :, h, w]
        return out.double().numpy()

    def reference(affine: bool, train: bool) -> np.ndarray:
        ref = fresh(cfg.norm, cfg.model, cfg.width, cfg, affine and cfg.affine)
        state = {k: v for k, v in before.state_dict().items() if affine or k not in ("weight", "bias")}
        ref.load_state_dict(state)
        ref.train(train)
        with torch.no_grad():
            return cells(ref(seen["x"]))

    n = min(SHOW, cfg.batch_size)
    np.testing.assert_array_equal(sample["x"], cells(seen["x"]))
    for mode, train in (("train", True), ("eval", False)):
        got = computed(sample, mode)
        assert got["x"].shape == (n, len(units))
        np.testing.assert_allclose(got["xhat"], reference(False, train), rtol=1e-4, atol=1e-4, err_msg=mode)
        np.testing.assert_allclose(got["y"], reference(True, train), rtol=1e-4, atol=1e-4, err_msg=mode)
    if cfg.norm != "batch":  # no running averages: eval mode computes what training does
        np.testing.assert_array_equal(computed(sample, "eval")["y"], computed(sample, "train")["y"])
    if cfg.norm == "batch" and cfg.batch_size == 2 and cfg.model == "mlp":
        # every unit becomes -1 or +1 (eps aside): -gamma + beta or +gamma + beta. Not in a cnn, whose
        # statistics also average over the map's positions.
        xhat = computed(sample, "train")["xhat"]
        apart = np.abs(np.diff(np.asarray(sample["x"]), axis=0))[0] > 0.1
        assert apart.any()
        np.testing.assert_allclose(np.abs(xhat[:, apart]), 1.0, atol=1e-2)
        np.testing.assert_allclose(xhat[0], -xhat[1], atol=1e-6)
    assert not module._forward_pre_hooks and not module._forward_hooks  # every hook removed itself


def test_only_the_latest_snapshot_is_kept_and_it_is_bounded():
    cfg = RunConfig(norm="layer", width=512, depth=2, batch_size=512, steps=43, every=20, probe_size=0)
    t = Trainer(cfg)
    t.step(25)
    assert t.export()["norm_sample"]["step"] == 20
    run = t.run()
    sample = run["norm_sample"]
    assert sample["step"] == 40 and np.shape(sample["x"]) == (SHOW, SHOW) == np.shape(sample["var"])
    assert len(dumps(sample)) < 6000  # a 512-example, 512-unit batch: still 8 x 8 values
    # the statistics are over the whole example (all 512 units), not only the 8 shown
    row = np.asarray(sample["x"][0])
    assert not np.allclose(sample["mean"][0][0], row.mean())


def test_group_norm_shows_units_of_at_least_two_groups():
    assert shown_units(64, "group", 8) == [0, 1, 2, 3, 8, 9, 10, 11]
    assert shown_units(64, "group", 32) == [0, 1, 2, 3, 4, 5, 6, 7]  # groups of 2: four groups
    assert shown_units(64, "group", 1) == list(range(8))
    assert shown_units(4, "batch", 8) == [0, 1, 2, 3]


def test_no_norm_layer_no_sample_and_format_3_reads_1_and_2():
    run = Trainer(RunConfig(dataset="moons", norm="none", steps=10, every=5)).run()
    assert run["format"] == "vizcore.run/3" and run["norm_sample"] is None
    run = Trainer(RunConfig(dataset="moons", steps=10, every=5)).run()
    assert loads(dumps(run))["norm_sample"] == json.loads(dumps(run))["norm_sample"]
    for old in ("vizcore.run/1", "vizcore.run/2"):
        older = {k: v for k, v in copy.deepcopy(run).items() if k != "norm_sample"}
        older["format"] = old
        assert "norm_sample" not in loads(dumps(older))
    big = copy.deepcopy(run)
    big["norm_sample"]["x"] = [[0.0] * 9] * 9
    with pytest.raises(runfile.RunFileError, match="at most 8 x 8"):
        runfile.check(big)
    ragged = copy.deepcopy(run)
    ragged["norm_sample"]["var"][0].pop()
    with pytest.raises(runfile.RunFileError, match="norm_sample.var"):
        runfile.check(ragged)
