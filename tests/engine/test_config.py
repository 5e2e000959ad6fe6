"""RunConfig validation: every invalid value names its field and what would be valid."""

import subprocess
import sys
from pathlib import Path

import pytest

from vizcore import ConfigError, RunConfig


@pytest.mark.parametrize(
    "changes, field, hint",
    [
        (dict(norm="batch", batch_size=1), "batch_size", "at least 2"),
        (dict(norm="group", width=12, groups=5), "groups", "valid: 1, 2, 3, 4, 6"),
        (dict(norm="group", width=4, groups=4), "groups", "fewer groups (1, 2)"),
        (dict(norm="instance", model="mlp"), "norm", "model cnn"),
        (dict(lr=0.0), "lr", "positive"),
        (dict(lr=-1.0), "lr", "positive"),
        (dict(lr=float("nan")), "lr", "finite"),
        (dict(lr=float("inf")), "lr", "finite"),
        (dict(norm="weird"), "norm", "none, batch, layer, group, instance, rms"),
        (dict(dataset="mnist"), "dataset", "digits"),
        (dict(activation="swish"), "activation", "relu"),
        (dict(batch_size=5000), "batch_size", "between 1 and 2048"),
        (dict(dataset="moons", batch_size=1001), "batch_size", "larger than the training set (1000"),
        (dict(train_size=50, batch_size=64), "batch_size", "larger than the training set (50"),
        (dict(depth=0), "depth", "between 1 and 12"),
        (dict(width=1), "width", "between 2 and 512"),
        (dict(model="cnn", dataset="moons"), "model", "digits"),
        (dict(steps=0), "steps", "between 1"),
        (dict(every=0), "every", "between 1"),
        (dict(train_size=99999), "train_size", "1 to 1437"),
        (dict(init_scale=0.0), "init_scale", "between"),
        (dict(depth=12, width=512, model="cnn"), "width", "128 channels"),
        (dict(depth=12, width=512), "width", "parameters"),
    ],
)
def test_invalid_configs_name_the_field(changes, field, hint):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes)
    assert e.value.field == field
    assert hint in str(e.value)
    assert str(e.value).startswith(f"{field}: ")


def test_wrong_types_are_config_errors():
    with pytest.raises(ConfigError, match="depth: expected a whole number"):
        RunConfig(depth=2.5)
    with pytest.raises(ConfigError, match="standardize: expected true or false"):
        RunConfig(standardize="yes please")
    with pytest.raises(ConfigError, match="lr: expected a number"):
        RunConfig.from_dict({"lr": "fast"})
    with pytest.raises(ConfigError, match="colour: unknown field"):
        RunConfig.from_dict({"colour": "red"})


def test_from_dict_parses_strings_as_urls_and_the_cli_give_them():
    cfg = RunConfig.from_dict({"depth": "3", "lr": "0.05", "standardize": "false", "norm": "layer"})
    assert (cfg.depth, cfg.lr, cfg.standardize, cfg.norm) == (3, 0.05, False, "layer")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_frozen_and_replace_validates():
    cfg = RunConfig()
    with pytest.raises(AttributeError):
        cfg.lr = 1.0  # type: ignore[misc]
    assert cfg.replace(batch_size=8).batch_size == 8
    with pytest.raises(ConfigError):
        cfg.replace(batch_size=1)


def test_key_identifies_config_and_seed():
    assert RunConfig().key == RunConfig().key
    assert RunConfig(seed=1).key != RunConfig().key
    assert len(RunConfig().key) == 16


def test_valid_corner_cases_are_accepted():
    RunConfig(model="cnn", dataset="digits", norm="group", width=12, groups=12)  # G = C: instance-like
    RunConfig(norm="group", groups=1)  # G = 1: layer-like
    RunConfig(norm="layer", batch_size=1)  # layer norm does not need a batch
    RunConfig(model="cnn", norm="instance", width=16)


def test_training_fields_never_change_the_modules():
    # The size check counts the network from the architecture fields alone; each of these must leave it alone.
    from vizcore.engine.models import build

    base = RunConfig(dataset="digits", train_size=500)
    other = {
        "lr": 0.3,
        "optimizer": "adam",
        "steps": 7,
        "seed": 11,
        "every": 3,
        "eval_every": 9,
        "bins": 16,
        "max_snapshots": 32,
        "batch_size": 8,
        "train_size": 100,
        "shift": 1.0,
        "scale": 2.0,
        "noise": 0.3,
        "standardize": False,
        "init": "xavier",
        "init_scale": 0.5,
    }

    def shapes(cfg: RunConfig) -> list[tuple[str, tuple[int, ...]]]:
        return [(n, tuple(p.shape)) for n, p in build(cfg, (1, 8, 8), 10).named_parameters()]

    for model in ("mlp", "cnn"):
        cfg = base.replace(model=model)
        for name, value in other.items():
            changed = cfg.replace(**{name: value})
            assert getattr(changed, name) != getattr(cfg, name)
            assert shapes(changed) == shapes(cfg), name


def test_group_error_offers_only_valid_counts():
    with pytest.raises(ConfigError) as e:  # an mlp's width is refused as a group count: not on the list
        RunConfig(norm="group", width=12, groups=5)
    assert str(e.value).endswith("valid: 1, 2, 3, 4, 6")
    with pytest.raises(ConfigError) as e:  # a cnn's is fine
        RunConfig(model="cnn", norm="group", width=12, groups=5)
    assert str(e.value).endswith("valid: 1, 2, 3, 4, 6, 12")


def test_fitting_groups():
    from vizcore.engine.config import fitting_groups

    assert fitting_groups(64, 8) == 8 and fitting_groups(100, 8) == 4 and fitting_groups(12, 5) == 1
    assert fitting_groups(16, 16) == 8 and fitting_groups(16, 16, "cnn") == 16  # one unit a group: mlp only
    for width in range(2, 80):
        for groups in (1, 3, 8, 32):
            g = fitting_groups(width, groups)
            RunConfig(norm="group", width=width, groups=g)  # always valid
            assert g <= groups


def test_a_config_validates_without_torch_or_scikit_learn():
    # figures read engine.config and must not pull torch in: validation needs only config's own facts.
    code = (
        "import sys\nfrom vizcore.engine.config import RunConfig\n"
        "RunConfig(model='cnn', norm='rms', depth=12, width=128)\n"
        "try:\n    RunConfig(depth=12, width=512)\nexcept ValueError:\n    pass\n"
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, 'config imported torch'"
    )
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert p.returncode == 0, p.stderr
