"""The Live lab builds its charts without plotly's validation: the JSON each chart sends must not change."""

import json

import pytest

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.figures.boundary import boundary
from vizcore.figures.kit import trusted
from vizcore.figures.norm_inside import STEPS, norm_inside
from vizcore.ui.live import FIGURES, ends, styled
from vizcore.ui.live_chart import figure_spec, prepare


@pytest.fixture(scope="module")
def pair() -> list[dict]:
    """A network and its twin without normalization, mid-run, with every recorded part (probe, norm sample)."""
    out = []
    for norm in ("batch", "none"):
        t = Trainer(RunConfig(dataset="moons", steps=400, every=10, eval_every=20, seed=3, norm=norm))
        t.step(130)
        run = t.export()
        run["boundary"] = t.decision_grid(40)
        out.append(run)
    return out


def _builds(pair: list[dict]):
    run = pair[0]
    for name, f in FIGURES.items():
        if name == "curves":
            yield name, lambda f=f: f(pair, ["BN", "none"])
        elif name == "compare_histograms":
            yield name, lambda f=f: f([{**r, "layers": ends(r["layers"])} for r in pair], "act", ["BN", "none"])
        elif name in ("grad_stats", "saturation"):
            yield name, lambda f=f: f(run)
        else:
            for tap in ("linear", "norm", "act"):
                yield f"{name}/{tap}", lambda f=f, tap=tap: f(run, tap)
    yield "boundary", lambda: boundary(run)
    for step in STEPS:
        for mode in ("train", "eval"):
            yield f"norm_inside/{step}/{mode}", lambda step=step, mode=mode: norm_inside(run, step, mode)


@pytest.mark.parametrize("present", [False, True])
def test_every_live_chart_sends_the_same_json_built_trusted(pair, present):
    names = []
    for name, build in _builds(pair):
        checked = styled(build(), "500", present)
        with trusted():
            fast = styled(build(), "500", present)
        assert json.loads(fast.to_json()) == json.loads(checked.to_json()), name
        assert figure_spec(fast) == figure_spec(checked), name
        names.append(name)
    assert len(names) == len(set(names)) >= 15  # every figure the Live lab draws was compared


def test_a_payload_is_the_figure_and_its_view(pair):
    fig = FIGURES["curves"](pair, ["BN", "none"])
    raw = prepare(fig, "all-False").data
    msg = json.loads(raw)
    assert msg["figure"] == figure_spec(fig) and msg["uirevision"] == "all-False"
    assert msg["src"].endswith("/static/plotly.min.js")
    assert json.loads(prepare(fig, "500-True").data)["uirevision"] == "500-True"


def test_an_invalid_property_is_still_caught_outside_trusted():
    from vizcore.figures.kit import Fig, scatter

    bad = Fig().add_trace(scatter(x=[1], y=[2], colour="red"))
    with pytest.raises(ValueError, match="colour"):
        bad.figure()
    with trusted():
        assert bad.figure().data[0].type == "scatter"  # trusted: not checked, which is why the tests above exist
