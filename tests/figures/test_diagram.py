"""The network diagram: its blocks, order, width and taps are those of the network engine.models builds."""

import json

import pytest
import torch
from torch import nn

from vizcore import RunConfig
from vizcore.engine.config import NORM_LABELS
from vizcore.engine.models import build
from vizcore.engine.recording import TAPS
from vizcore.figures.diagram import BOX_LEFT, diagram, tap_roles
from vizcore.figures.theme import PRESENT_TICK


def taps_of(fig) -> list[str]:
    """Return the diagram's tap markers' names, top to bottom."""
    t = next(t for t in fig.data if t.name == "taps")
    return [name for _, name in sorted(zip(t.y, t.customdata, strict=True), reverse=True)]


def boxes_text(fig) -> list[str]:
    """Return the text of every box, top to bottom (the notes placed at a box's centre)."""
    notes = [a for a in fig.layout.annotations if not a.showarrow and a.xanchor != "right"]
    return [a.text for a in sorted(notes, key=lambda a: -a.y)]


def hook_order(cfg: RunConfig) -> list[str]:
    """Return the order in which a real block's Linear/Conv, norm and activation run: the reference."""
    d = {"moons": (2,), "digits": (1, 8, 8)}[cfg.dataset]
    net = build(cfg, d, 2 if cfg.dataset == "moons" else 10)
    order: list[str] = []
    block = net.blocks[0]  # every block is built alike
    for tap in TAPS:
        module = getattr(block, tap)
        if module is not None:
            module.register_forward_hook(lambda *_, tap=tap: order.append(tap))
    with torch.no_grad():
        net.train()
        net(torch.randn(4, *d))
    return order


CASES = [
    RunConfig(),
    RunConfig(placement="after", activation="tanh"),
    RunConfig(norm="none", depth=2, width=16),
    RunConfig(dataset="moons", norm="layer", depth=1, width=8),
    RunConfig(norm="group", groups=4, depth=6, width=32, norm_noise=0.5),
    RunConfig(model="cnn", norm="instance", depth=3, width=8),
    RunConfig(model="cnn", norm="rms", placement="after", depth=1, width=4),
]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: f"{c.model}-{c.norm}-{c.placement}-{c.depth}")
def test_the_diagram_is_the_network_the_engine_builds(cfg):
    fig = diagram(cfg.to_dict(), tap="linear")
    assert taps_of(fig) == hook_order(cfg)  # the taps in the order a forward pass reaches them
    text = boxes_text(fig)
    shape = {"moons": "2 values", "digits": "64 pixels" if cfg.model == "mlp" else "8×8 image"}[cfg.dataset]
    assert text[0] == f"input: {shape}"
    net = build(cfg, (2,) if cfg.dataset == "moons" else (1, 8, 8), 2 if cfg.dataset == "moons" else 10)
    first = net.blocks[0].linear
    width = first.out_features if isinstance(first, nn.Linear) else first.out_channels
    assert str(width) in text[1] and text[1].startswith("Linear" if cfg.model == "mlp" else "Conv 3×3")
    parts = [t.split("<br>")[0] for t in text[1 : 1 + len(hook_order(cfg))]]
    for name, label in zip(hook_order(cfg), parts, strict=True):
        if name == "norm":
            assert label == NORM_LABELS[cfg.norm]
    if cfg.norm == "group":
        assert f"{cfg.groups} groups" in text[2 if cfg.placement == "before" else 3]
    assert text[-1] == f"Linear → {net.head.out_features} classes"
    pools = sum(isinstance(m, nn.MaxPool2d) for m in net.between)
    assert any("max-pool" in t for t in text) == (pools > 0)
    if pools:
        assert (f"blocks 1–{pools}" if pools > 1 else "block 1") in next(t for t in text if "max-pool" in t)
    count = next(a.text for a in fig.layout.annotations if a.xanchor == "right")
    assert count.startswith(f"<b>{len(net.blocks)} block")


def test_each_tap_sits_between_the_part_it_reads_and_the_next():
    fig = diagram(RunConfig().to_dict())
    t = next(t for t in fig.data if t.name == "taps")
    boxes = sorted([s for s in fig.layout.shapes if s.type == "rect" and s.x0 == BOX_LEFT], key=lambda s: -s.y1)
    assert len(boxes) == 5
    # boxes: input, linear, norm, act, head; tap i reads box i + 1 and lies below it, above the next box
    for i, y in enumerate(sorted(t.y, reverse=True)):
        assert boxes[i + 1].y0 > y > boxes[i + 2].y1


def test_the_chosen_tap_is_filled_and_named():
    fig = diagram(RunConfig().to_dict(), tap="norm")
    t = next(t for t in fig.data if t.name == "taps")
    chosen = [c for c, colour in zip(t.customdata, t.marker.color, strict=True) if colour != "white"]
    assert chosen == ["norm"] and "charted" in t.text[list(t.customdata).index("norm")]
    # a tap the network has not (no norm layer) is chosen nowhere
    fig = diagram(RunConfig(norm="none").to_dict(), tap="norm")
    t = next(t for t in fig.data if t.name == "taps")
    assert list(t.customdata) == ["linear", "act"] and set(t.marker.color) == {"white"}


def test_hover_says_what_each_tap_is_and_who_reads_it():
    assert tap_roles(RunConfig()) == {
        "linear": "the Linear output, what the norm layer receives",
        "norm": "the norm layer's output, what the activation receives",
        "act": "the activation's output, what the next block (the last block's: the head) receives",
    }
    after = tap_roles(RunConfig(placement="after"))
    assert list(after) == ["linear", "act", "norm"] and "what the norm layer receives" in after["act"]
    cnn = tap_roles(RunConfig(model="cnn", depth=3))  # engine.models pools after blocks 1 and 2 of an 8x8 map
    assert cnn["linear"].startswith("the convolution's output") and cnn["act"].endswith("after blocks 1–2)")


def test_presenter_type_and_strict_json():
    fig = diagram(RunConfig().to_dict(), present=True)
    sizes = [a.font.size for a in fig.layout.annotations if a.text] + [fig.data[0].textfont.size]
    assert min(sizes) >= PRESENT_TICK
    plain = diagram(RunConfig().to_dict())
    assert fig.layout.height > plain.layout.height  # boxes grow with the type
    json.loads(fig.to_json())


def test_a_run_dict_or_garbage_gives_a_diagram():
    run = {"config": RunConfig(norm="layer").to_dict()}
    assert "layer norm" in boxes_text(diagram(run))
    for bad in ({}, {"config": {"depth": "x"}}, {"norm": "nope"}):
        assert taps_of(diagram(bad)) == ["linear", "norm", "act"]  # the defaults
