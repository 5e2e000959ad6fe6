"""Inside one norm layer: a real mini-batch's values, the statistics the norm uses, x-hat and the output.

Reads the run's `norm_sample` (docs/run-format.md): at most 8 examples x 8 units of the first block's norm
input, with the mean and variance the layer used for each shown value (over everything it averages, not
only the shown values), gamma, beta and, for batch norm, the running averages eval mode uses instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from vizcore.engine.config import NORM_LABELS
from vizcore.figures.kit import Fig, spacing
from vizcore.figures.theme import BOUNDARY_COLOURS, NORM_COLOURS, NOTE, NOTE_SIZE, empty, style

STEPS = ("values", "statistics", "x-hat", "output")
STEP_LABELS = {"values": "values", "statistics": "statistics", "x-hat": "x̂", "output": "γ x̂ + β"}
MODES = ("train", "eval")
TITLE = "Inside the norm layer"
# Panels in reading order (a 3 x 2 grid, row by row: wide enough cells for numbers in presenter type),
# and the step that reveals each.
PANELS = (
    ("x", "values"),
    ("mean", "statistics"),
    ("sigma", "statistics"),
    ("xhat", "x-hat"),
    ("affine", "output"),
    ("y", "output"),
)
_AXIS_WORDS = {
    "unit": "one mean and one σ per unit (column), over all {batch} examples of the batch{pos}",
    "example": "one mean and one σ per example (row), over all {width} of its units{pos}",
    "group": "one mean and one σ per example and group (outlined), over all {size} units of the group{pos}",
    "channel": "one mean and one σ per example and channel, over the channel's {positions} positions",
}


def _grid(v: Any, shape: tuple[int, int]) -> np.ndarray:
    """Return `v` (rows of numbers, None for missing) as a float array of `shape`, nan where unreadable."""
    out = np.full(shape, np.nan)
    if not isinstance(v, list):
        return out
    for i, row in enumerate(v[: shape[0]]):
        if isinstance(row, list):
            for j, x in enumerate(row[: shape[1]]):
                if isinstance(x, (int, float)) and not isinstance(x, bool):
                    out[i, j] = x
    return out


def _row(v: Any, n: int, default: float) -> np.ndarray:
    """Return a per-unit list as a float array of length `n`; `default` if there is none."""
    if not isinstance(v, list):
        return np.full(n, default)
    return _grid([v], (1, n))[0]


def has_running(sample: Mapping) -> bool:
    """Return True if the sampled norm keeps running averages (batch norm), which eval mode uses."""
    return isinstance(sample.get("running_mean"), list) and isinstance(sample.get("running_var"), list)


def computed(sample: Mapping, mode: str = "train") -> dict[str, Any]:
    """Return the panel arrays: x, mean (None for RMS norm), sigma = sqrt(var + eps), xhat, gamma, beta, y.

    In "eval" mode a norm with running averages uses them (every example alike); any other norm computes
    in eval mode what it computes in training. Arrays are (examples, units); gamma and beta (units,).
    """
    raw = sample.get("x") if isinstance(sample.get("x"), list) else []
    shape = (len(raw), len(raw[0]) if raw and isinstance(raw[0], list) else 0)
    xs = _grid(raw, shape)
    eps = float(sample.get("eps") or 0.0)
    if mode == "eval" and has_running(sample):
        mean = np.broadcast_to(_row(sample["running_mean"], shape[1], np.nan), shape).copy()
        var = np.broadcast_to(_row(sample["running_var"], shape[1], np.nan), shape).copy()
    else:
        mean = None if sample.get("mean") is None else _grid(sample.get("mean"), shape)
        var = _grid(sample.get("var"), shape)
    sigma = np.sqrt(var + eps)
    xhat = (xs - (mean if mean is not None else 0.0)) / sigma
    gamma = _row(sample.get("gamma"), shape[1], 1.0)
    beta = _row(sample.get("beta"), shape[1], 0.0)
    return {"x": xs, "mean": mean, "sigma": sigma, "xhat": xhat, "gamma": gamma, "beta": beta, "y": gamma * xhat + beta}


def _regions(sample: Mapping, n: int, units: list[int], mode: str) -> list[tuple[int, int, int, int]]:
    """Return (row0, row1, col0, col1) cell ranges (inclusive) that share one statistic: the axis highlighted."""
    axis = "unit" if mode == "eval" and has_running(sample) else sample.get("axis")
    if axis == "unit":
        return [(0, n - 1, c, c) for c in range(len(units))]
    if axis == "example":
        return [(r, r, 0, len(units) - 1) for r in range(n)]
    if axis == "group":
        width, groups = int(sample.get("width") or 1), int(sample.get("groups") or 1)
        size = max(1, width // max(1, groups))
        spans: list[tuple[int, int]] = []
        for c, u in enumerate(units):
            if spans and units[spans[-1][0]] // size == u // size:
                spans[-1] = (spans[-1][0], c)
            else:
                spans.append((c, c))
        return [(r, r, a, b) for r in range(n) for a, b in spans]
    return []  # instance norm: every shown value has its own (its channel's positions are not shown)


def _words(sample: Mapping, run: Mapping, step: str, mode: str, arrays: dict[str, Any]) -> str:
    """Return the subtitle: what this step shows, computed from the sample (eval mode says what it changes)."""
    text = _step_words(sample, run, step, mode, arrays)
    if mode == "eval" and not has_running(sample):
        label = NORM_LABELS.get(str(sample.get("norm")), str(sample.get("norm")))
        return f"{label[0].upper()}{label[1:]} has no running averages: eval mode computes the same. {text}"
    return text


def _step_words(sample: Mapping, run: Mapping, step: str, mode: str, arrays: dict[str, Any]) -> str:
    """Return what `step` shows, computed from the sample."""
    norm = str(sample.get("norm"))
    label = NORM_LABELS.get(norm, norm)
    batch, width = sample.get("batch_size"), sample.get("width")
    positions, pos = int(sample.get("positions") or 1), sample.get("position")
    n, u = arrays["x"].shape
    where = f", each at the centre position {tuple(pos)} of its {positions}-value map" if pos else ""
    across = "channel" if pos else "unit"
    if step == "values":
        source = "the activation's output" if sample.get("placement") == "after" else "the linear layer's output"
        return (
            f"{f'{n} of the {batch}' if n != batch else f'the {n}'} examples of the training batch,"
            f" {f'{u} of the {width}' if u != width else f'the {u}'} {across}s:"
            f" the input to the norm ({source}){where}."
        )
    if step == "statistics":
        if mode == "eval" and has_running(sample):
            return (
                f"Eval mode: {label} uses its running averages (momentum {sample.get('momentum')}), one mean and σ per"
                f" {across}, the same for every example: this batch's own statistics play no part."
            )
        if norm == "rms":
            return (
                f"RMS norm: one value per example (row), the root mean square over all {width} units"
                + (f" and {positions} positions" if pos else "")
                + ", with no mean subtracted (μ = 0)."
            )
        size = int(width or 1) // max(1, int(sample.get("groups") or 1))
        extra = f" and all {positions} positions" if pos else ""
        text = (
            _AXIS_WORDS.get(str(sample.get("axis")), "")
            .format(batch=batch, width=width, size=size, positions=positions, pos=extra)
            .replace("unit", across)
        )
        shown = (
            f" ({n} shown)"
            if sample.get("axis") == "unit"
            else f" ({u} shown)"
            if sample.get("axis") == "example"
            else ""
        )
        return f"{label[0].upper()}{label[1:]}: {text}{shown}. σ = √(variance + ε), ε = {sample.get('eps')}."
    if step == "x-hat":
        text = "x̂ = (x − μ) / σ" if arrays["mean"] is not None else "x̂ = x / rms"
        if norm == "batch" and batch == 2 and positions == 1 and mode == "train":
            xh = arrays["xhat"][np.isfinite(arrays["xhat"])]
            near = int(np.count_nonzero(np.abs(np.abs(xh) - 1) < 0.01))
            return (
                f"{text}. With 2 examples, each unit's mean is midway between them and σ is half their distance,"
                f" so x̂ is −1 or +1 ({near} of {xh.size} values within 0.01 of ±1"
                + ("; ε shrinks the rest, where the two were nearly equal" if near < xh.size else "")
                + "):"
                " all that survives of an example is whether it was the larger of the two."
            )
        if arrays["mean"] is None:
            return f"{text}: every value divided by the root mean square of its example; nothing is subtracted."
        return f"{text}: how many of its own σ each value lies from its mean."
    text = "y = γ x̂ + β: the learned scale γ and shift β of each unit"
    if sample.get("beta") is None:
        text = "y = γ x̂: the learned scale γ of each unit (RMS norm has no shift β)"
    if sample.get("gamma") is None:
        text = "y = x̂ (affine off: no γ or β)"
    if norm == "batch" and batch == 2 and positions == 1 and mode == "train":
        text += ", so every unit's output is β − γ or β + γ"
    noise = (run.get("config") or {}).get("norm_noise") if isinstance(run.get("config"), Mapping) else None
    if noise:
        text += f"; the noisy norm then scales and shifts each unit at random (amount {noise}), not shown here"
    return text + "."


def norm_inside(run: Mapping, step: str = "output", mode: str = "train") -> go.Figure:
    """Return the steps of the first block's norm on a sample of one training batch, up to `step`.

    `step` is one of STEPS, `mode` "train" (the batch's own statistics) or "eval" (running averages, where the
    norm has them). A run without a norm layer or without a sample gives an empty figure saying why.
    """
    cfg = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    sample = run.get("norm_sample")
    if not isinstance(sample, Mapping) or not isinstance(sample.get("x"), list) or not sample["x"]:
        if cfg.get("norm") == "none":
            why = "this network has no norm layer: choose one under Normalization in the sidebar to look inside it"
        elif "norm_sample" not in run:
            why = "this run file is older than the norm sample (vizcore.run/3): train it again to see inside"
        else:
            why = "no snapshot yet: press Start or Step"
        return empty(TITLE, why)
    at, done = sample.get("step"), run.get("steps_done")
    if run.get("status") == "running" and isinstance(at, int) and isinstance(done, int) and at >= done:
        # a saved run played back: its sample is from its last snapshot, which playback has not reached
        return empty(TITLE, f"the saved run's sample is from step {at}: it appears when playback passes it")
    step = step if step in STEPS else "output"
    mode = mode if mode in MODES else "train"
    a = computed(sample, mode)
    n, u = a["x"].shape
    units = [int(v) for v in sample.get("units") or range(u)][:u]
    across = "channel" if sample.get("position") else "unit"
    cols = [str(v + 1) for v in units]
    rows = [f"ex {i + 1}" for i in range(n)]
    sigma_title = (
        "rms = √(mean x² + ε)"
        if a["mean"] is None
        else ("σ = √(running var + ε)" if mode == "eval" and has_running(sample) else "σ = √(var + ε)")
    )
    mean_title = "μ: running mean" if mode == "eval" and has_running(sample) else "μ: the mean subtracted"
    titles = [
        "x: the norm's input",
        mean_title,
        sigma_title,
        "x̂",
        "γ and β" if sample.get("beta") is not None else "γ",
        "y = γ x̂ + β",
    ]
    fig = Fig(3, 2, subplot_titles=titles, horizontal_spacing=spacing(2, 0.1), vertical_spacing=spacing(3, 0.12))
    shown = STEPS.index(step)
    colour = NORM_COLOURS.get(str(sample.get("norm")), NOTE)
    for k, (name, reveal) in enumerate(PANELS, start=1):
        r, c = (k - 1) // 2 + 1, (k - 1) % 2 + 1
        missing = (name == "mean" and a["mean"] is None) or (name == "affine" and sample.get("gamma") is None)
        if STEPS.index(reveal) > shown or missing:
            note = f"next: {STEP_LABELS[reveal]}"
            if missing:
                note = "no mean: RMS norm subtracts nothing" if name == "mean" else "affine off: no γ or β"
            # at the middle of the panel, in the figure's coordinates: a hidden axis has no domain to refer to
            xd, yd = (fig.layout.get(f"{ax}axis{'' if k == 1 else k}", {}).get("domain", [0, 1]) for ax in "xy")
            middle = dict(x=sum(xd) / 2, y=sum(yd) / 2, xref="paper", yref="paper")
            fig.add_annotation(text=note, **middle, showarrow=False, font=dict(color=NOTE))
            fig.update_xaxes(row=r, col=c, visible=False)
            fig.update_yaxes(row=r, col=c, visible=False)
            continue
        if name == "affine":
            z = np.vstack([a["gamma"], a["beta"]]) if sample.get("beta") is not None else a["gamma"][None, :]
            ys = ["γ", "β"][: len(z)]
        else:
            z, ys = a[name], rows
        # one colour scale for the input's units (x, mu, sigma) and one for the normalized values
        group = (
            ("affine",)
            if name == "affine"
            else ("x", "mean", "sigma")
            if name in ("x", "mean", "sigma")
            else ("xhat", "y")
        )
        fig.add_trace(_heat(z, cols, ys, _top(a, group)), row=r, col=c)
        fig.update_yaxes(row=r, col=c, autorange="reversed", showgrid=False, ticks="")
        fig.update_xaxes(
            row=r, col=c, showgrid=False, ticks="", tickangle=0, type="category", title_text=across, title_standoff=4
        )
        if name in ("x", "mean", "sigma"):
            xr, yr = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
            for r0, r1, c0, c1 in _regions(sample, n, units, mode):
                fig.add_shape(
                    type="rect",
                    xref=xr,
                    yref=yr,
                    x0=c0 - 0.5,
                    x1=c1 + 0.5,
                    y0=r0 - 0.5,
                    y1=r1 + 0.5,
                    line=dict(color=colour, width=2),
                )
    label = NORM_LABELS.get(str(sample.get("norm")), "norm")
    title = f"Inside the {label} of block {int(sample.get('block') or 0) + 1}, training step {sample.get('step')}"
    style(fig, title, _words(sample, run, step, mode, a), height=860, wrap=110)
    return fig.figure()


def _top(a: dict[str, Any], names: tuple[str, ...]) -> float:
    """Return the largest finite magnitude among the panels `names` (1 if there is none): their colour range."""
    parts = [np.abs(np.concatenate([a["gamma"], a["beta"]]))] if names == ("affine",) else []
    parts += [np.abs(np.ravel(a[k])) for k in names if k != "affine" and a[k] is not None]
    v = np.concatenate(parts) if parts else np.zeros(0)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size and v.max() > 0 else 1.0


def _heat(z: np.ndarray, cols: list[str], rows: list[str], top: float) -> dict:
    """Return an annotated heatmap trace of `z`, coloured blue (negative) to red (positive) within ±`top`."""
    return {
        "type": "heatmap",
        "z": [[None if not np.isfinite(v) else round(float(v), 6) for v in row] for row in z],
        "x": cols,
        "y": rows,
        "colorscale": BOUNDARY_COLOURS,
        "zmin": -top,
        "zmax": top,
        "showscale": False,
        "texttemplate": "%{z:.2f}",
        "textfont": {"size": NOTE_SIZE},
        "hovertemplate": "%{y}, %{x}: %{z:.4f}<extra></extra>",
        "xgap": 1,
        "ygap": 1,
    }
