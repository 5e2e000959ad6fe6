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
from vizcore.engine.config import CHOICES, FIELD_TYPES, RANGES, count_params
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


# ----- one rule for out-of-range values: refused everywhere, even where the norm ignores the field -----
def _outside(name: str) -> st.SearchStrategy:
    """Values of field `name` outside its range: below or above RANGES, an unknown choice, junk for a bool."""
    if name in CHOICES:
        return st.sampled_from(["bogus", "Batch", ""])
    if FIELD_TYPES[name] is bool:
        return st.sampled_from(["maybe", "2", "-1"])
    if name == "train_size":  # its top depends on the dataset (digits, the default: 1,437)
        return st.one_of(st.integers(-(10**12), -1), st.integers(1438, 10**12))
    lo, hi = RANGES[name]
    if FIELD_TYPES[name] is int:
        return st.one_of(st.integers(-(10**12), int(lo) - 1), st.integers(int(hi) + 1, 10**12))
    return st.one_of(
        st.floats(max_value=lo, exclude_max=True, allow_nan=False),
        st.floats(min_value=hi, exclude_min=True, allow_nan=False),
        st.sampled_from([math.nan]),
    )


def edges(name: str) -> list:
    """The nearest out-of-range values of field `name` on each side (deterministic, for the tables)."""
    if name in CHOICES:
        return ["bogus"]
    if FIELD_TYPES[name] is bool:
        return ["maybe"]
    if name == "train_size":
        return [-1, 1438]
    lo, hi = RANGES[name]
    if FIELD_TYPES[name] is int:
        return [int(lo) - 1, int(hi) + 1]
    return [lo / 10 if lo > 0 else lo - 1, hi * 10 if hi > 0 else hi + 1]


def context(norm: str) -> dict[str, str]:
    """Link or command-line settings for `norm` that are valid by themselves (instance norm needs a cnn)."""
    return {"norm": norm, **({"model": "cnn"} if norm == "instance" else {})}


def cli_error(values: dict[str, object]) -> tuple[int, str]:
    """Run the command line in-process with `--name=value` options; return (exit status, stderr)."""
    args = ["run", *(f"--{k.replace('_', '-')}={v}" for k, v in values.items())]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli_main(args)
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


RANGED = [n for n in NAMES if n != "norm"]  # every field has a range, a choice list or a type


@settings(max_examples=150 * SCALE, deadline=None)
@given(st.sampled_from(RANGED).flatmap(lambda n: st.tuples(st.just(n), _outside(n))), st.sampled_from(CHOICES["norm"]))
def test_out_of_range_is_refused_whatever_the_norm(field_value, norm):
    # The rule (docs/reliability.md): a value outside its field's range is refused on the command line
    # and in links even where the norm ignores the field; `--groups 0` with batch norm used to train.
    name, value = field_value
    raw = str(value)
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({**context(norm), name: raw})
    assert e.value.field == name
    if FIELD_TYPES[name] is not bool:  # the command line's booleans are flags (--affine/--no-affine), no value
        code, text = cli_error({**context(norm), name: raw})
        assert code == 2 and text.startswith(f"error: {name}: ") and text.count("\n") == 1, text
    cfg, notices = parse_params({**context(norm), name: raw})
    assert getattr(cfg, name) == getattr(RunConfig(), name)
    assert any(f"`{name}={raw}`" in n for n in notices), notices


@pytest.mark.parametrize("norm", CHOICES["norm"])
@pytest.mark.parametrize("name", RANGED)
def test_every_field_refuses_its_edges_under_every_norm(name, norm):
    for value in edges(name):
        raw = str(value)
        if FIELD_TYPES[name] is not bool:
            code, text = cli_error({**context(norm), name: raw})
            assert code == 2 and text.startswith(f"error: {name}: ") and text.count("\n") == 1, (name, raw, text)
        cfg, notices = parse_params({**context(norm), name: raw})
        assert getattr(cfg, name) == getattr(RunConfig(), name) and cfg.norm == norm or name == "model"
        assert any(f"`{name}={raw}`" in n for n in notices), (name, raw, notices)


def test_ranges_cover_every_number_field():
    # A new number field without a range would slip past the rule above.
    numbers = {n for n in NAMES if FIELD_TYPES[n] in (int, float)}
    assert numbers - set(RANGES) == {"train_size"}  # train_size's top depends on the dataset


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
