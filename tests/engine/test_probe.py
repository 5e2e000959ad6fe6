"""The probe set: recorded on fixed examples at every snapshot, against independent hooks, and invisible to training."""

import copy
import json

import numpy as np
import pytest
import torch

from vizcore import ConfigError, RunConfig, Trainer, dumps, loads
from vizcore.engine import runfile

CONFIGS = [
    RunConfig(steps=60, every=5, eval_every=10),
    RunConfig(dataset="moons", norm="batch", norm_noise=0.3, activation="sigmoid", batch_size=8, steps=80, every=3),
    RunConfig(model="cnn", norm="group", groups=4, width=8, optimizer="adam", lr=0.01, steps=30, every=7),
    RunConfig(norm="batch", momentum=0.0, batch_size=4, steps=60, every=1, max_snapshots=16),  # thins
    RunConfig(norm="layer", placement="after", optimizer="momentum", steps=50, every=4),
    RunConfig(dataset="moons", norm="batch", lr=1e6, steps=60, every=2),  # diverges
]


def without_probe(run: dict) -> str:
    """Return the run as JSON minus what the probe adds (its taps, its size, the wall-clock time)."""
    run = copy.deepcopy(run)
    run.pop("elapsed_s")
    run["config"].pop("probe_size")
    for layer in run["layers"]:
        layer.pop("probe", None)
    return json.dumps(run, sort_keys=True)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.dataset}-{c.model}-{c.norm}-noise{c.norm_noise}")
def test_the_probe_changes_no_training_number(cfg):
    with_probe, plain = Trainer(cfg).run(), Trainer(cfg.replace(probe_size=0)).run()
    assert "probe" in with_probe["layers"][0] and "probe" not in plain["layers"][0]
    assert without_probe(with_probe) == without_probe(plain)  # bit for bit: curves, taps, weights, boundary


def test_probe_taps_are_the_network_on_fixed_examples_in_train_mode():
    cfg = RunConfig(norm="batch", depth=3, width=16, batch_size=16, steps=41, every=20, lr=0.5)
    t = Trainer(cfg)
    probe_x = t.probe_x.clone()
    nets = {}
    for step in (0, 20, 40):  # a copy of the network at each snapshot, before that step's update
        t.step(step - t.steps_done)
        nets[step] = copy.deepcopy(t.net)
    t.step(1)
    run = t.export()
    assert run["layers"][0]["steps"] == [0, 20, 40]
    for k, (step, net) in enumerate(nets.items()):
        outs, handles = {}, []
        for i, b in enumerate(net.blocks):
            for tap in ("linear", "norm", "act"):
                hook = lambda mod, a, o, key=(i, tap), into=outs: into.__setitem__(key, o.detach())  # noqa: E731
                handles.append(getattr(b, tap).register_forward_hook(hook))
        net.train()  # train mode: batch norm uses the probe's own mean and variance
        with torch.no_grad():
            net(probe_x)
        for i, layer in enumerate(run["layers"]):
            for tap, rec in layer["probe"].items():
                x = outs[(i, tap)].numpy().ravel()
                want = [x.mean(), x.std(), *np.percentile(x, [15, 50, 85]), x.min(), x.max()]
                got = [rec[q][k] for q in ("mean", "std", "p15", "p50", "p85", "min", "max")]
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"step {step} block {i} {tap}")
                edges = np.array(rec["hist"]["edges"])
                assert sum(rec["hist"]["counts"][k]) + rec["hist"]["under"][k] + rec["hist"]["over"][k] == x.size
                assert rec["hist"]["counts"][k] == np.histogram(x, bins=edges)[0].tolist()


def test_the_probe_is_drawn_once_from_the_seed():
    a, b, c = (Trainer(RunConfig(seed=s, steps=1)) for s in (3, 3, 4))
    assert a.probe_x.shape == (256, 64) and torch.equal(a.probe_x, b.probe_x) and not torch.equal(a.probe_x, c.probe_x)
    small = Trainer(RunConfig(dataset="moons", train_size=40, batch_size=8, steps=1))
    assert small.probe_x.shape[0] == 40  # never more examples than the training set has
    with pytest.raises(ConfigError, match="probe_size"):
        RunConfig(probe_size=1)


def test_run_format_2_carries_the_probe_and_format_1_still_loads():
    run = Trainer(RunConfig(dataset="moons", steps=20, every=5)).run()
    assert run["format"] == "vizcore.run/3"  # /3 adds norm_sample; the probe came in /2
    again = loads(dumps(run))
    assert again["layers"][0]["probe"]["act"]["p50"] == run["layers"][0]["probe"]["act"]["p50"]
    old = copy.deepcopy(run)
    old["format"] = "vizcore.run/1"
    for layer in old["layers"]:
        layer.pop("probe")
    old["config"].pop("probe_size")
    assert "probe" not in loads(dumps(old))["layers"][0]  # a /1 file loads as it is
    broken = copy.deepcopy(run)
    broken["layers"][0]["probe"]["act"]["mean"].pop()
    with pytest.raises(runfile.RunFileError, match="probe.act"):
        runfile.check(broken)
