"""Training curves: the run's own losses and accuracies, one colour per run, divergence marked."""

from tests.figures.helpers import annotations, finite
from vizcore.figures.curves import curves


def test_curves_show_train_and_test_loss_and_accuracy(bn):
    fig = curves(bn)
    assert len(fig.data) == 4  # (train, test) x (loss, accuracy)
    c = bn["curves"]
    by = {(t.name, t.xaxis): t for t in fig.data}
    assert list(by["train", "x"].y) == finite(c["train_loss"])  # the null at step 0 is left out
    assert list(by["test", "x"].y) == c["test_loss"]
    assert list(by["test", "x2"].y) == c["test_acc"]
    assert list(by["train", "x2"].x) == c["step"][1:]
    assert fig.layout.xaxis.title.text == "training step"
    assert fig.layout.yaxis2.tickformat == ".0%"
    assert not [a for a in annotations(fig) if "diverged" in a]


def test_curves_overlay_runs_with_one_colour_each(bn, moons, deep):
    fig = curves([bn, moons, deep], labels=["batch norm", "no norm"])
    assert len(fig.data) == 12
    colours = {}
    for t in fig.data:
        label = t.name.split(" · ")[0]
        colours.setdefault(label, set()).add(t.line.color)
    assert set(colours) == {"batch norm", "no norm", "dataset=digits, depth=5, width=16"}  # named by what differs
    assert all(len(c) == 1 for c in colours.values())
    assert len({next(iter(c)) for c in colours.values()}) == 3
    # solid train, dashed test
    assert {t.line.dash for t in fig.data if t.name.endswith("train")} == {"solid"}
    assert {t.line.dash for t in fig.data if t.name.endswith("test")} == {"dash"}


def test_curves_default_labels_name_what_differs(bn, moons):
    names = {t.name for t in curves([bn, moons]).data}
    assert any("dataset=digits" in n for n in names) and any("dataset=moons" in n for n in names)


def test_curves_mark_divergence(diverged, bn):
    assert diverged["status"] == "diverged"
    at = diverged["diverged_at"]
    fig = curves(diverged)
    assert f"diverged at step {at}" in annotations(fig)
    lines = [s for s in fig.layout.shapes if s.name == "diverged"]
    assert len(lines) == 2 and all(s.x0 == s.x1 == at for s in lines)
    # the exploding loss (1e19) runs off the top; it does not flatten the rest
    assert max(finite(diverged["curves"]["train_loss"])) > 1e6
    assert fig.layout.yaxis.range[1] < 100
    # in a comparison the annotation names the run
    fig = curves([bn, diverged], labels=["ok", "too fast"])
    assert f"too fast: diverged at step {at}" in annotations(fig)


def test_curves_log_loss_axis(bn):
    fig = curves(bn, log_loss=True)
    assert fig.layout.yaxis.type == "log"
