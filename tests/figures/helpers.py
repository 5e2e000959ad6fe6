"""Shared helpers of the figure tests: every run figure at once, and reading what a figure shows."""

import copy
import json
import math

import numpy as np
import plotly.graph_objects as go

from vizcore.figures.boundary import boundary
from vizcore.figures.compare import compare_histograms
from vizcore.figures.curves import curves
from vizcore.figures.distributions import heatmap, histograms, percentile_bands
from vizcore.figures.gradients import grad_stats, saturation

TAPS = ("linear", "norm", "act")


def all_figures(run: dict) -> dict[str, go.Figure]:
    """Return every run figure of `run`, by a name that says which call drew it."""
    figs = {
        "curves": curves(run),
        "curves_list": curves([run, run], labels=["a"]),
        "grad_stats": grad_stats(run),
        "saturation": saturation(run),
        "boundary": boundary(run),
        "histograms0": histograms(run, "act", frame=0),
        "histograms99": histograms(run, "act", frame=99),
        "heatmap-nope": heatmap(run, "nope"),
        "histograms-nope": histograms(run, "nope"),
    }
    for tap in TAPS:
        figs[f"heatmap-{tap}"] = heatmap(run, tap)
        figs[f"histograms-{tap}"] = histograms(run, tap)
        figs[f"bands-{tap}"] = percentile_bands(run, tap)
        figs[f"compare-{tap}"] = compare_histograms([run, run], tap, ["x", "y"])
    return figs


def strict_json(fig: go.Figure) -> dict:
    """Return the figure's JSON parsed strictly (NaN or Infinity would fail)."""

    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(fig.to_json(), parse_constant=refuse)


def annotations(fig: go.Figure) -> list[str]:
    """Return the texts of the figure's annotations (subplot titles included), each as one line."""
    return [a.text.replace("<br>", " ") for a in fig.layout.annotations if a.text]


def title(fig: go.Figure) -> str:
    """Return the figure's title as one line ("" if none): figures wrap it, some words joined by no-break spaces."""
    return (fig.layout.title.text or "").replace("<br>", " ").replace("\u00a0", " ")


def subtitle(fig: go.Figure) -> str:
    """The subtitle as one line (figures wrap it with <br> at word boundaries: plotly does not wrap)."""
    return (fig.layout.title.subtitle.text or "").replace("<br>", " ")


def finite(values) -> list:
    """Return the values that are neither None nor non-finite."""
    return [v for v in values if v is not None and math.isfinite(v)]


def stretch(run: dict, frames: int) -> dict:
    """Return a copy of `run` with its layer history repeated cyclically to `frames` frames."""
    run = copy.deepcopy(run)
    for layer in run["layers"]:
        n = len(layer["steps"])
        idx = [i % n for i in range(frames)]
        every = run["config"]["every"]
        layer["steps"] = [i * every for i in range(frames)]
        for key in ("grad_norm", "weight_norm", "update_ratio"):
            layer[key] = [layer[key][i] for i in idx]
        for tap in layer["taps"].values():
            for key, values in list(tap.items()):
                if key != "hist":
                    tap[key] = [values[i] for i in idx]
            h = tap["hist"]
            for key in ("counts", "under", "over"):
                h[key] = [h[key][i] for i in idx]
    return run


def corrupt(run: dict) -> dict:
    """Return `run` with nulls, NaN and infinities sprinkled everywhere numbers live."""
    run = copy.deepcopy(run)
    bad = [None, math.nan, math.inf, -math.inf]
    rng = np.random.default_rng(0)

    def spoil(values: list) -> None:
        for i in range(len(values)):
            if rng.random() < 0.3:
                values[i] = bad[int(rng.integers(len(bad)))]

    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "step"):
        spoil(run["curves"][key])
    for layer in run["layers"]:
        for key in ("steps", "grad_norm", "weight_norm", "update_ratio"):
            spoil(layer[key])
        for tap in layer["taps"].values():
            for key, values in tap.items():
                if key != "hist":
                    spoil(values)
            spoil(tap["hist"]["under"])
            spoil(tap["hist"]["over"])
            for row in tap["hist"]["counts"]:
                spoil(row)
    if run.get("boundary"):
        for row in run["boundary"]["prob"]:
            spoil(row)
    run["diverged_at"] = math.nan
    return run
