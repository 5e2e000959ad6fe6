"""Links: URL parameters to configs and back."""

from vizcore import RunConfig
from vizcore.params import hidden_fields, parse_params, to_params


def test_round_trip():
    cfg = RunConfig(dataset="moons", norm="group", groups=4, lr=0.05, standardize=False, batch_size=8)
    params = to_params(cfg)
    assert params == {"dataset": "moons", "norm": "group", "groups": "4", "lr": "0.05", "standardize": "false",
                      "batch_size": "8"}
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


def test_hidden_fields():
    assert hidden_fields({"hide": "lr, optimizer,nonsense"}) == {"lr", "optimizer"}
    hidden = hidden_fields({"classroom": "1"})
    assert "norm" not in hidden and "batch_size" not in hidden and "eps" in hidden and "every" in hidden
