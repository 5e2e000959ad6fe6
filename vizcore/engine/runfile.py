"""Run files: the JSON export format shared by the engine, app, command line and tests.

Strict JSON (no NaN or Infinity: non-finite numbers are written as null), and
versioned by its `format` field. See docs/run-format.md.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from vizcore.engine.config import RunConfig

FORMAT = "vizcore.run/3"  # /2 adds layers[i].probe, /3 norm_sample
# Older versions load as they are: a /1 run has no probe, a /1 or /2 run no norm_sample.
READABLE = ("vizcore.run/1", "vizcore.run/2", FORMAT)
SAMPLE_MAX = 8  # norm_sample: at most 8 examples x 8 units
STATUSES = ("completed", "diverged", "stopped", "running", "ready")


class RunFileError(ValueError):
    """A file that is not a readable vizcore run file."""


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(run: dict, indent: "int | None" = None) -> str:
    """Return `run` as strict JSON text (non-finite floats become null)."""
    return json.dumps(_clean(run), indent=indent, allow_nan=False, separators=None if indent else (",", ":"))


def loads(text: "str | bytes") -> dict:
    """Return the run dict parsed from JSON text; raise RunFileError if it is not a run file."""

    def no_constants(name: str) -> None:
        raise RunFileError(f"not strict JSON: {name} is not allowed")

    try:
        run = json.loads(text, parse_constant=no_constants)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFileError(f"not valid JSON: {e}") from None
    check(run)
    return run


def check(run: Any) -> None:
    """Raise RunFileError naming the first problem if `run` is not a valid run dict."""
    if not isinstance(run, dict):
        raise RunFileError("a run file holds a JSON object")
    fmt = run.get("format")
    if not isinstance(fmt, str) or not fmt.startswith("vizcore.run/"):
        raise RunFileError(f"format: expected {FORMAT!r}, got {fmt!r}")
    if fmt not in READABLE:
        raise RunFileError(f"format: this version reads {', '.join(map(repr, READABLE))}, the file is {fmt!r}")
    for key in ("config", "status", "steps_done", "curves", "layers"):
        if key not in run:
            raise RunFileError(f"{key}: missing")
    try:
        RunConfig.from_dict(run["config"])
    except ValueError as e:
        raise RunFileError(f"config: {e}") from None
    if run["status"] not in STATUSES:
        raise RunFileError(f"status: {run['status']!r} is not one of {', '.join(STATUSES)}")
    curves = run["curves"]
    n = len(curves.get("step", []))
    for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
        if len(curves.get(k, [])) != n:
            raise RunFileError(f"curves.{k}: expected {n} values aligned with curves.step")
    for layer in run["layers"]:
        m = len(layer.get("steps", []))
        for k in ("grad_norm", "weight_norm", "update_ratio"):
            if len(layer.get(k, [])) != m:
                raise RunFileError(f"layers.{layer.get('name')}.{k}: expected {m} values aligned with steps")
        for part in ("taps", "probe"):
            for tap, d in layer.get(part, {}).items():
                if len(d.get("hist", {}).get("counts", [])) != m or len(d.get("mean", [])) != m:
                    raise RunFileError(f"layers.{layer.get('name')}.{part}.{tap}: expected {m} frames")
    _check_sample(run.get("norm_sample"))


def _check_sample(sample: Any) -> None:
    """Raise RunFileError if a run's `norm_sample` is neither null nor a bounded, rectangular sample."""
    if sample is None:
        return
    if not isinstance(sample, dict) or not isinstance(sample.get("x"), list):
        raise RunFileError("norm_sample: expected an object with a list x, or null")
    x = sample["x"]
    cols = len(x[0]) if x and isinstance(x[0], list) else 0
    if len(x) > SAMPLE_MAX or cols > SAMPLE_MAX:
        raise RunFileError(f"norm_sample.x: at most {SAMPLE_MAX} x {SAMPLE_MAX} values, got {len(x)} x {cols}")
    for key in ("x", "mean", "var"):
        rows = sample.get(key)
        if key == "mean" and rows is None:  # RMS norm subtracts no mean
            continue
        if (
            not isinstance(rows, list)
            or len(rows) != len(x)
            or any(not isinstance(r, list) or len(r) != cols for r in rows)
        ):
            raise RunFileError(f"norm_sample.{key}: expected {len(x)} rows of {cols} values")


def config_of(run: dict) -> RunConfig:
    """Return the RunConfig a run dict was trained with."""
    return RunConfig.from_dict(run["config"])


def save(run: dict, path: "str | os.PathLike") -> Path:
    """Write `run` to `path` atomically (temporary file, then rename); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dumps(run))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: "str | os.PathLike") -> dict:
    """Return the run stored at `path`; raise RunFileError if it is not a run file."""
    return loads(Path(path).read_bytes())
