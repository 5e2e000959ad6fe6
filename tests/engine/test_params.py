"""Links: URL parameters to configs and back."""

from vizcore import RunConfig
from vizcore.engine.params import VIEW_DEFAULTS, hidden_fields, parse_params, parse_view, to_params


def test_round_trip():
    cfg = RunConfig(dataset="moons", norm="group", groups=4, lr=0.05, standardize=False, batch_size=8)
    params = to_params(cfg)
    assert params == {
        "dataset": "moons",
        "norm": "group",
        "groups": "4",
        "lr": "0.05",
        "standardize": "false",
        "batch_size": "8",
    }
    assert parse_params(params) == (cfg, [])


def test_defaults_make_an_empty_link():
    assert to_params(RunConfig()) == {}


def test_bad_values_fall_back_with_a_notice_naming_them():
    cfg, notices = parse_params({"lr": "banana", "depth": "99", "norm": "weird", "color": "red", "width": "32"})
    assert (cfg.lr, cfg.depth, cfg.norm, cfg.width) == (0.1, 4, "batch", 32)
    text = " ".join(notices)
    for bad in ("lr=banana", "depth=99", "norm=weird", "`color`"):
        assert bad in text


def test_conflicting_values_reset_the_culprit():
    cfg, notices = parse_params({"norm": "batch", "batch_size": "1"})
    assert cfg == RunConfig()  # with the default batch norm, batch 1 is rejected: back to the defaults
    assert notices


def test_conflict_between_two_valid_values():
    cfg, notices = parse_params({"norm": "group", "groups": "3"})  # 3 does not divide 64
    assert cfg.norm == "group" and cfg.groups == 8 and any("groups" in n for n in notices)


def test_values_are_judged_together_not_each_on_the_defaults():
    # Links the Share popover writes: each value alone clashes with a default (mlp, batch norm, batch 64)
    for params in (
        {"model": "cnn", "norm": "instance"},
        {"norm": "instance", "model": "cnn"},
        {"norm": "layer", "batch_size": "1"},
        {"train_size": "10", "batch_size": "8"},
    ):
        cfg, notices = parse_params(params)
        assert notices == [] and to_params(cfg) == params


def test_a_default_that_clashes_drops_the_latest_link_value_and_says_why():
    cfg, notices = parse_params({"norm": "group", "width": "100"})  # the default 8 groups do not divide 100
    assert (cfg.norm, cfg.width) == ("group", 64)
    assert len(notices) == 1 and "`width=100`" in notices[0] and "groups do not divide width 100" in notices[0]


def test_out_of_range_values_are_refused_even_where_the_norm_ignores_them():
    # One rule with the command line: `groups=0` under batch norm used to be taken silently.
    for params, bad in (
        ({"groups": "0"}, "groups=0"),
        ({"norm": "layer", "groups": "-2"}, "groups=-2"),
        ({"norm": "none", "groups": "100000"}, "groups=100000"),
        ({"norm": "layer", "momentum": "5"}, "momentum=5"),
        ({"norm": "none", "eps": "0"}, "eps=0"),
        ({"dataset": "digits", "noise": "-1"}, "noise=-1"),
    ):
        cfg, notices = parse_params(params)
        name = bad.split("=")[0]
        assert getattr(cfg, name) == getattr(RunConfig(), name)
        assert len(notices) == 1 and f"`{bad}` is not valid" in notices[0] and "between" in notices[0], notices


def test_group_error_lists_only_valid_group_counts():
    cfg, notices = parse_params({"norm": "group", "groups": "5"})
    assert "valid: 1, 2, 4, 8, 16, 32)" in notices[0]  # not 64: one unit a group is refused for an mlp
    _, notices = parse_params({"model": "cnn", "norm": "group", "groups": "5", "width": "16"})
    assert "valid: 1, 2, 4, 8, 16)" in notices[0]  # a cnn's group also spans positions: width is fine


def test_floats_round_trip_exactly():
    cfg = RunConfig(lr=0.123456789, init_scale=1 / 3)
    assert parse_params(to_params(cfg)) == (cfg, [])
    assert to_params(RunConfig(lr=0.05))["lr"] == "0.05"  # short where short is exact


def test_hidden_fields():
    assert hidden_fields({"hide": "lr, optimizer,nonsense"}) == {"lr", "optimizer"}
    hidden = hidden_fields({"classroom": "1"})
    assert "norm" not in hidden and "batch_size" not in hidden and "eps" in hidden and "every" in hidden


def test_view_settings_come_from_the_link_and_bad_ones_are_named():
    view, notices = parse_view({"pace": "100", "zoom": "500", "present": "1", "norm": "batch"})
    assert view == {"pace": "100", "zoom": "500", "present": "1", "tap": "act"} and notices == []
    view, notices = parse_view({"pace": "fast", "zoom": "-3"})
    assert view == VIEW_DEFAULTS
    assert len(notices) == 2 and "pace=fast" in notices[0] and "valid: 5, 25, 100, 400, max" in notices[0]
    cfg, notices = parse_params({"pace": "fast", "present": "1", "norm": "layer"})
    assert cfg.norm == "layer" and notices == []  # view settings are not config fields
