"""Compare: variants of one base config that differ in a single knob, and the readout of their runs.

Everything the Compare page computes lives here, free of Streamlit: which knobs can
be varied and their preset values, building the variants (`base.replace(knob=value)`,
with rejected values explained), a sentence on what stays identical between the
variants, the state line of each variant, and the difference readout (final
accuracy and loss, steps to a target accuracy, divergence, deltas from the first).
Functions take RunConfigs or run dicts (the run-file format) and return plain
dicts, lists and strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vizcore.engine.config import ACTIVATIONS, NORMS, PLACEMENTS, ConfigError, RunConfig, fitting_groups
from vizcore.runs.queries import finite, last_finite, steps_to_reach

MIN_VARIANTS, MAX_VARIANTS = 2, 4
TARGET_FRACTION = 0.9  # "steps to reach 90% of the best test accuracy of any variant"
FINISHED = ("completed", "diverged", "stopped")


@dataclass(frozen=True)
class Knob:
    """A config field the Compare page can vary: its label, preset values and default selection."""

    label: str
    presets: tuple[Any, ...]
    default: tuple[Any, ...]


KNOBS: dict[str, Knob] = {
    "norm": Knob("Normalization", NORMS, ("none", "batch", "layer", "group")),
    "batch_size": Knob("Batch size", (1, 2, 4, 16, 64, 256), (4, 16, 64, 256)),
    "placement": Knob("Norm placement", PLACEMENTS, PLACEMENTS),
    "lr": Knob("Learning rate", (0.001, 0.01, 0.1, 1.0, 10.0), (0.01, 0.1, 1.0)),
    "activation": Knob("Activation", ACTIVATIONS, ("relu", "tanh", "sigmoid")),
    "init_scale": Knob("Init scale", (0.1, 0.5, 1.0, 2.0, 5.0), (0.5, 1.0, 2.0)),
}

# What differs between the variants besides the knob itself, given equal seeds.
_SIDE_EFFECTS: dict[str, str] = {
    "norm": "Norm layers start at scale 1 and shift 0, so every Linear weight starts identical.",
    "batch_size": "The initial weights are identical. The shuffles are the same, but batches of another size "
    "slice them differently, so batch contents and epoch boundaries differ after the first step.",
    "placement": "Every initial weight is identical: moving the norm changes no layer's shape.",
    "lr": "Every initial weight is identical; only the step size differs.",
    "activation": "The initial weights are identical, except with init 'he', whose scale depends on the "
    "activation's gain (same random draws, another factor).",
    "init_scale": "The initial weights are the same random draws multiplied by a different factor.",
}


def options(knob: str) -> list[Any]:
    """Return the preset values offered for `knob`, in display order."""
    return list(KNOBS[knob].presets)


def fmt_value(value: Any) -> str:
    """Return `value` as shown in a label: floats in short `g` form, everything else as str."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def variant_label(knob: str, value: Any) -> str:
    """Return the label of the variant with `knob` set to `value`, e.g. "norm=batch" or "lr=0.01"."""
    return f"{knob}={fmt_value(value)}"


def make_variants(base: RunConfig, knob: str, values: Sequence[Any]) -> tuple[list[dict], list[dict]]:
    """Return (variants, rejected) for `base` with `knob` set to each of `values` in order.

    variants: [{"label", "value", "config": RunConfig}], at most MAX_VARIANTS, duplicates
    (after conversion, e.g. "0.1" and 0.1) dropped. rejected: [{"label", "error"}] for
    values RunConfig refuses (the ConfigError's message) and for values beyond the cap.
    """
    if knob not in KNOBS:
        raise ValueError(f"unknown knob {knob!r}; choose one of {', '.join(KNOBS)}")
    variants: list[dict] = []
    rejected: list[dict] = []
    seen: set[Any] = set()
    for raw in values:
        try:
            changes = {knob: raw}
            if knob == "norm" and raw == "group":  # a base that never used group norm need not have fitting groups
                changes["groups"] = fitting_groups(base.width, base.groups, base.model)
            cfg = base.replace(**changes)
        except ConfigError as e:
            rejected.append({"label": variant_label(knob, raw), "error": e.message})
            continue
        value = getattr(cfg, knob)
        if value in seen:
            continue
        seen.add(value)
        label = variant_label(knob, value) + (f" ({cfg.groups} groups)" if cfg.groups != base.groups else "")
        if len(variants) == MAX_VARIANTS:
            rejected.append({"label": label, "error": f"at most {MAX_VARIANTS} variants are trained side by side"})
            continue
        variants.append({"label": label, "value": value, "config": cfg})
    return variants, rejected


def held_fixed(knob: str) -> str:
    """Return a sentence on what stays identical between variants of `knob` and what differs besides it."""
    return _SIDE_EFFECTS[knob]


# ----------------------------------------------------------------- state of one variant

_STATE_WORDS = {
    "new": "starting",
    "running": "training",
    "paused": "paused",
    "idle": "paused: nobody was watching",
}


class JobState(Protocol):
    """What `state_text` reads of a variant's job: a `vizcore.workers.jobs.JobSnapshot` has it."""

    @property
    def state(self) -> str: ...

    @property
    def error(self) -> str | None: ...

    @property
    def slots_busy(self) -> int: ...

    @property
    def slots_total(self) -> int: ...


def state_text(run: Mapping, snap: JobState | None = None) -> str:
    """Return a variant's state in words, from its run dict and its Job snapshot (None: a reused stored run).

    One of: "waiting for a slot (b/n busy)", "starting", "training", "paused", "done",
    "diverged at step N", "stopped at step N", "error: ...", each prefixed with
    "reused saved run · " when there is no job.
    """
    status, steps = run.get("status"), run.get("steps_done", 0)
    if snap is not None and snap.error:
        return f"error: {snap.error}"
    state = snap.state if snap is not None else "done"
    if state == "waiting":
        return f"waiting for a slot ({snap.slots_busy}/{snap.slots_total} busy)"
    if state in _STATE_WORDS and status not in ("completed", "diverged", "stopped"):
        return _STATE_WORDS[state]
    if status == "diverged":
        words = f"diverged at step {run.get('diverged_at')}"
    elif status == "stopped":
        words = f"stopped at step {steps}"
    elif status == "completed":
        words = "done"
    else:
        words = str(status)
    return words if snap is not None else f"reused saved run · {words}"


def progress(run: Mapping) -> float:
    """Return the fraction of the configured steps done, in [0, 1]."""
    total = (run.get("config") or {}).get("steps") or 0
    return min(1.0, max(0.0, run.get("steps_done", 0) / total)) if total else 0.0


# ----------------------------------------------------------------- the difference readout


def best_test_acc(runs: Sequence[Mapping]) -> float | None:
    """Return the highest finite test accuracy recorded by any of `runs`, or None."""
    accs = [finite(v) for r in runs for v in (r.get("curves") or {}).get("test_acc") or []]
    accs = [a for a in accs if a is not None]
    return max(accs) if accs else None


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def readout(runs: Sequence[Mapping], labels: Sequence[str], fraction: float = TARGET_FRACTION) -> dict:
    """Return the difference readout of `runs` (the first is the reference).

    Returns {"best_acc", "target", "rows"}: best_acc is the highest test accuracy any run
    recorded, target = fraction * best_acc (None when no accuracy is recorded). Each row is
    {"variant", "status", "steps_done", "test_acc", "train_loss", "steps_to_target",
    "diverged_at", "d_test_acc", "d_train_loss", "d_steps_to_target"}: final values are the
    last finite recorded ones (None before the run's first step: the step-0 evaluation is
    not a result), steps_to_target is None if the run has not reached the target, and the
    d_* are differences from the first run (None where either side is missing).
    """
    best = best_test_acc(runs)
    target = fraction * best if best is not None else None
    rows: list[dict] = []
    for run, label in zip(runs, labels, strict=True):
        c = run.get("curves") or {}
        started = run.get("steps_done", 0) > 0
        rows.append(
            {
                "variant": label,
                "status": run.get("status"),
                "steps_done": run.get("steps_done", 0),
                "test_acc": last_finite(c.get("test_acc")) if started else None,
                "train_loss": last_finite(c.get("train_loss")) if started else None,
                "steps_to_target": steps_to_reach(run, target),
                "diverged_at": run.get("diverged_at"),
            }
        )
    for row in rows:
        ref = rows[0]
        for key in ("test_acc", "train_loss", "steps_to_target"):
            row[f"d_{key}"] = _delta(row[key], ref[key])
    return {"best_acc": best, "target": target, "rows": rows}


def _signed(v: float | None, fmt: str, factor: float = 1.0, unit: str = "") -> str:
    return "n/a" if v is None else format(factor * v, "+" + fmt) + unit


def format_readout(result: Mapping) -> list[dict[str, str]]:
    """Return the readout's rows as display strings, one dict per variant (column name -> text).

    Accuracies are percentages, differences in percentage points ("pts"); a finished run that
    never reached the target reads "never", one still training "not yet"; a run that has not
    trained a step reads "not started"; the first row's differences read "reference".
    """
    out = []
    for i, r in enumerate(result["rows"]):
        acc, loss, reach = r["test_acc"], r["train_loss"], r["steps_to_target"]
        first, missing = i == 0, "n/a" if r["steps_done"] else "not started"
        never = "never" if r["status"] in FINISHED else "not yet"
        out.append(
            {
                "Variant": r["variant"],
                "Steps done": f"{r['steps_done']:,}",
                "Final test acc": missing if acc is None else f"{100 * acc:.1f}%",
                "Δ test acc": "reference" if first else _signed(r["d_test_acc"], ".1f", 100, " pts"),
                "Final train loss": missing if loss is None else f"{loss:.4f}",
                "Δ train loss": "reference" if first else _signed(r["d_train_loss"], ".4f"),
                "Steps to target": never if reach is None else f"{reach:,}",
                "Δ steps": "reference" if first else _signed(r["d_steps_to_target"], ",.0f"),
                "Diverged at": "—" if r["diverged_at"] is None else f"step {r['diverged_at']:,}",
            }
        )
    return out


def with_histograms(runs: Sequence[Mapping], labels: Sequence[str], tap: str) -> tuple[list, list[str], list[str]]:
    """Return (runs, labels) of the runs with at least one recorded histogram of `tap`, and notes on the others.

    A note reads "<label>: no snapshot recorded yet" (a run still waiting for a slot) or
    "<label>: no '<tap>' tap" (e.g. the norm tap of a run without normalization).
    """
    kept: list = []
    names: list[str] = []
    notes: list[str] = []
    for run, label in zip(runs, labels, strict=True):
        layers = [la for la in run.get("layers") or [] if isinstance(la, Mapping)]
        taps = [(la.get("taps") or {}).get(tap) for la in layers]
        if layers and all(t is None for t in taps):
            notes.append(f"{label}: no '{tap}' tap")
        elif not any(isinstance(t, Mapping) and (t.get("hist") or {}).get("counts") for t in taps):
            notes.append(f"{label}: no snapshot recorded yet")
        else:
            kept.append(run)
            names.append(label)
    return kept, names, notes
