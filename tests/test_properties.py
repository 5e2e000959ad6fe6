"""Property-based tests: any input gives a valid config or one clear message naming a field."""

import contextlib
import io
import math
import os
import re
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vizcore import ConfigError, RunConfig, Trainer
from vizcore.cli import main as cli_main
from vizcore.engine.config import CHOICES, FIELD_TYPES, count_params
from vizcore.engine.params import parse_params, to_params

NAMES = [f.name for f in fields(RunConfig)]
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1  # `make fuzz` draws 10x the examples
# Any value a user could type: numbers of every size and sign, specials, junk strings.
ANY_VALUE = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from([c for choices in CHOICES.values() for c in choices]),
    st.none(),
)


def small(cfg: RunConfig) -> RunConfig:
    """The same config, cheap to train for one step."""
    return cfg.replace(steps=1, eval_every=1, every=1)


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(NAMES), ANY_VALUE, max_size=4))
def test_any_dict_is_a_config_or_one_named_error(values):
    try:
        cfg = RunConfig.from_dict(values)
    except ConfigError as e:
        assert e.field in NAMES or e.field == "config"
        assert str(e).startswith(f"{e.field}: ") and "\n" not in str(e)
        return
    for k, v in cfg.to_dict().items():  # whatever was accepted is a sane value of the right type
        assert isinstance(v, FIELD_TYPES[k])
        if isinstance(v, float):
            assert math.isfinite(v)


VALID = st.builds(
    dict,
    dataset=st.sampled_from(["moons", "xor", "digits"]),
    model=st.sampled_from(["mlp", "cnn"]),
    depth=st.integers(1, 4),
    width=st.sampled_from([2, 4, 8, 12, 16]),
    activation=st.sampled_from(CHOICES["activation"]),
    norm=st.sampled_from(CHOICES["norm"]),
    placement=st.sampled_from(CHOICES["placement"]),
    groups=st.sampled_from([1, 2, 4]),
    batch_size=st.integers(1, 64),
    lr=st.floats(1e-4, 10),
    optimizer=st.sampled_from(CHOICES["optimizer"]),
    init=st.sampled_from(CHOICES["init"]),
    init_scale=st.floats(1e-3, 1e3),
    norm_noise=st.sampled_from([0.0, 0.5]),
    affine=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)


@settings(max_examples=60 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALID)
def test_every_valid_config_builds_and_trains_one_step(values):
    try:
        cfg = small(RunConfig.from_dict(values))
    except ConfigError as e:
        assert e.field in NAMES
        return
    t = Trainer(cfg)
    # The size check's count (count_params, arithmetic) is the real model's.
    assert count_params(cfg) == sum(p.numel() for p in t.net.parameters()) == t.export()["meta"]["n_params"]
    assert t.step(1) == 1 or t.status == "diverged"
    run = t.export()
    assert run["steps_done"] in (0, 1) and run["status"] in ("completed", "diverged")


@settings(max_examples=150 * SCALE, deadline=None)
@given(st.dictionaries(st.sampled_from(NAMES + ["hide", "classroom", "bogus"]), st.text(max_size=10), max_size=5))
def test_any_url_gives_a_valid_config_and_notices(params):
    cfg, notices = parse_params(params)
    assert isinstance(cfg, RunConfig)
    for k, raw in params.items():  # a value that was not taken is named in a notice
        if k in NAMES and str(getattr(cfg, k)) != raw and getattr(RunConfig(), k) == getattr(cfg, k):
            try:
                RunConfig.from_dict({k: raw})
            except ConfigError:
                assert any(f"`{k}" in n for n in notices)


@settings(max_examples=150 * SCALE, deadline=None)
@given(VALID)
def test_every_valid_config_survives_its_link(values):
    # The Share popover's link must give back the same configuration, with no notice.
    try:
        cfg = RunConfig.from_dict(values)
    except ConfigError:
        return
    assert parse_params(to_params(cfg)) == (cfg, [])


@settings(max_examples=40 * SCALE, deadline=None)
@given(st.sampled_from([n for n in NAMES if FIELD_TYPES[n] is not bool]), st.text(max_size=8))
def test_cli_rejects_bad_values_with_one_line(name, raw):
    try:
        RunConfig.from_dict({name: raw})
        return  # a valid value: not this test's business
    except ConfigError:
        pass
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli_main(["run", "--" + name.replace("_", "-"), raw])
        except SystemExit as e:  # argparse's own errors (a value that looks like an option)
            code = e.code
    assert code == 2
    text = err.getvalue()
    assert text.startswith("error: ") and text.count("\n") == 1 and "Traceback" not in text


@pytest.mark.parametrize(
    "changes",
    [
        dict(lr=1e6, norm="none"),
        dict(lr=1e6, norm="batch"),
        dict(init_scale=1e3, norm="none"),
        dict(init_scale=1e3, norm="batch"),
        dict(activation="sigmoid", depth=12, norm="none", init_scale=3.0),
        dict(optimizer="adam", lr=1e4),
    ],
)
def test_hostile_runs_end_as_diverged_or_train_on_and_still_draw(changes):
    from vizcore.engine import runfile
    from vizcore.figures.boundary import boundary
    from vizcore.figures.curves import curves
    from vizcore.figures.distributions import heatmap, histograms, percentile_bands
    from vizcore.figures.gradients import grad_stats, saturation

    cfg = RunConfig(dataset="moons", steps=150, every=5, eval_every=5, **changes)
    run = Trainer(cfg).run()
    assert run["status"] in ("completed", "diverged")
    text = runfile.dumps(run)
    assert not re.search(r"\bNaN\b|Infinity", text)
    for fig in (
        curves(run),
        heatmap(run, "act"),
        histograms(run, "act"),
        percentile_bands(run, "linear"),
        grad_stats(run),
        saturation(run),
        boundary(run),
    ):
        fig.to_json()
