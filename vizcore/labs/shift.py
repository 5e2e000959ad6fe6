"""Covariate-shift lab: the runs and measurements behind the Covariate shift page (no Streamlit).

Part 1, internal covariate shift: the same base configuration trained without normalization,
with the chosen norm, and (optionally) with Santurkar et al.'s "noisy" norm. Each run is
driven by `shift.gradient_shift` (Santurkar's measure: how much a layer's gradient changes when
only the earlier layers update), and its recorded snapshots give `shift.distribution_drift` (how
far each layer's output, the next layer's input, moved between snapshots). `summarize` reduces
the numbers to a few medians and `verdict` turns those into plain sentences, never pre-written.

Part 2, external covariate shift: four models (none, batch, layer, group norm) trained once,
then `shift.shifted_accuracy` on test inputs x * scale + shift.

`ShiftLab` runs both parts in one background thread per browser session, holding only plain
Python objects; the page reads `snapshot()` (a copy taken under a lock) and sends `stop()`.
Trained models are reused by config (`reuse=` the previous lab), so changing only the noise
retrains only the noisy run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from vizcore.engine.config import RunConfig, fitting_groups
from vizcore.engine.training import Trainer
from vizcore.measures.shift import distribution_drift, gradient_shift, shifted_accuracy
from vizcore.workers.jobs import Slots, Worker, server_slots

# The page's defaults: digits, 600 steps, Santurkar's measure every 30 steps, noisy run at 0.3.
DEFAULT_BASE = RunConfig(steps=600, every=20, eval_every=30, norm_noise=0.3)
MEASUREMENTS = 20  # gradient-shift measurements per run (every = steps // MEASUREMENTS)
NOISY_TOLERANCE = 2.0  # percentage points: "trains about as well" means within this of the plain norm
SAME_BAND = 0.1  # ratios within 1 +- 10% count as "about the same"
SHIFTS = tuple(float(v) for v in np.round(np.linspace(-3.0, 3.0, 25), 4))  # test-time shift grid
CACHE_SIZE = 16  # trained models kept per session
NORM_NAMES = {
    "none": "no normalization",
    "batch": "batch norm",
    "layer": "layer norm",
    "group": "group norm",
    "instance": "instance norm",
    "rms": "RMS norm",
}

ProgressFn = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised when the cancel event is set; the work done so far is discarded."""


def next_input_tap(cfg: RunConfig) -> str:
    """Return the tap that is the next layer's input: `act` (Linear -> norm -> act, or no norm), else `norm`."""
    return "norm" if cfg.norm != "none" and cfg.placement == "after" else "act"


def _clean(cfg: RunConfig, **changes: Any) -> RunConfig:
    """Return `cfg` with `changes`, no noise and no test-time shift (the sliders do that)."""
    return cfg.replace(**{"norm_noise": 0.0, "shift": 0.0, "scale": 1.0, **changes})


def internal_configs(base: RunConfig) -> list[tuple[str, str, RunConfig]]:
    """Return [(key, label, config)] for part 1: none, the chosen norm, and noisy if `base.norm_noise` > 0.

    Raises ValueError if `base.norm` is none (there is nothing to compare), ConfigError if a variant is invalid.
    """
    if base.norm == "none":
        raise ValueError("choose a normalization in the sidebar: this page compares it with no normalization")
    name = NORM_NAMES.get(base.norm, base.norm)
    out = [("none", "no normalization", _clean(base, norm="none")), ("norm", name, _clean(base))]
    if base.norm_noise > 0:
        out.append(("noisy", f"noisy {name} ({base.norm_noise:g})", _clean(base, norm_noise=base.norm_noise)))
    return out


def external_configs(base: RunConfig) -> list[tuple[str, str, RunConfig]]:
    """Return [(key, label, config)] for part 2: none, batch, layer and group norm on `base`.

    Group norm uses `base.groups` if it divides the width, else their greatest common divisor;
    never one unit per group on an mlp (that normalizes every unit to 0).
    """
    groups = fitting_groups(base.width, base.groups, base.model)
    return [
        ("none", "no normalization", _clean(base, norm="none")),
        ("batch", "batch norm", _clean(base, norm="batch")),
        ("layer", "layer norm", _clean(base, norm="layer")),
        ("group", f"group norm ({groups} groups)", _clean(base, norm="group", groups=groups)),
    ]


def _check(cancel: "threading.Event | None") -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def _test_acc(run: dict) -> "float | None":
    accs = [a for a in run["curves"]["test_acc"] if a is not None]
    return accs[-1] if accs else None


def relative_drift(run: dict, drift: dict, tap: str) -> list[list]:
    """Return, per layer, W1 divided by the mean of the two snapshots' std (None where undefined).

    This makes layers and runs of different scale comparable: 0.1 means the distribution moved
    a tenth of its own spread between the two snapshots.
    """
    out = []
    for layer, d in zip(run["layers"], drift["layers"]):
        std = layer["taps"][tap]["std"]
        rel = []
        for i, w in enumerate(d["w1"], start=1):
            a, b = std[i - 1], std[i]
            spread = (a + b) / 2 if a is not None and b is not None else None
            rel.append(w / spread if w is not None and spread and math.isfinite(spread) else None)
        out.append(rel)
    return out


def measure(
    trainer: Trainer,
    every: int,
    cancel: "threading.Event | None" = None,
    on_steps: "Callable[[int], None] | None" = None,
    chunk: int = 100,
) -> dict[str, Any]:
    """Train `trainer` to the end under `gradient_shift`, measuring every `every` steps.

    Trains in chunks of at most `chunk` steps, checking `cancel` and calling `on_steps(n)` between.

    Returns {"config", "status", "final_test_acc", "curves": {step, test_acc}, "tap",
    "drift": distribution_drift of the next layer's input with "w1_rel" added per layer,
    "gshift": gradient_shift with "rel" = l2 / ||G|| added per layer}. Raises Cancelled.
    """
    gs: dict[str, Any] = {"steps": [], "layers": []}
    while not trainer.done:
        _check(cancel)
        before = trainer.steps_done
        part = gradient_shift(trainer, min(every, chunk), every)  # measures when a multiple of `every` is due
        if not gs["layers"]:
            gs["layers"] = [{"name": la["name"], "l2": [], "cos": [], "grad_norm": []} for la in part["layers"]]
        gs["steps"] += part["steps"]
        for acc, la in zip(gs["layers"], part["layers"]):
            for k in ("l2", "cos", "grad_norm"):
                acc[k] += la[k]
        if on_steps is not None:
            on_steps(trainer.steps_done - before)
        if trainer.steps_done == before:
            break
    for la in gs["layers"]:
        la["rel"] = [l2 / g if l2 is not None and g else None for l2, g in zip(la["l2"], la["grad_norm"])]
    run = trainer.export()
    tap = next_input_tap(trainer.cfg)
    drift = distribution_drift(run, tap)
    for la, rel in zip(drift["layers"], relative_drift(run, drift, tap)):
        la["w1_rel"] = rel
    return {
        "config": run["config"],
        "status": run["status"],
        "final_test_acc": _test_acc(run),
        "curves": {"step": run["curves"]["step"], "test_acc": run["curves"]["test_acc"]},
        "tap": tap,
        "drift": drift,
        "gshift": gs,
    }


def _median(values: list) -> "float | None":
    ok = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(ok)) if ok else None


def _ratio(a: "float | None", b: "float | None") -> "float | None":
    return a / b if a is not None and b else None


def summarize(runs: Sequence[dict]) -> dict[str, Any]:
    """Return the numbers the verdict rests on, from part 1's run records (`measure` plus "key", "label").

    Per run key: "gshift" = median of l2/||G|| over blocks 2..n and every measured step (block 1
    has no earlier layers), "drift" = median of W1/spread over every block and snapshot pair,
    "acc" = final test accuracy. Then "gshift_ratio" and "drift_ratio" (norm / none),
    "noisy_drift_ratio" (noisy / norm) and "noisy_gap" (noisy minus plain norm accuracy, in
    percentage points), each None where undefined.
    """
    by = {r["key"]: r for r in runs}
    out: dict[str, Any] = {"labels": {k: r["label"] for k, r in by.items()}, "gshift": {}, "drift": {}, "acc": {}}
    for k, r in by.items():
        out["gshift"][k] = _median([v for la in r["gshift"]["layers"][1:] for v in la["rel"]])
        out["drift"][k] = _median([v for la in r["drift"]["layers"] for v in la["w1_rel"]])
        out["acc"][k] = r["final_test_acc"]
    out["gshift_ratio"] = _ratio(out["gshift"].get("norm"), out["gshift"].get("none"))
    out["drift_ratio"] = _ratio(out["drift"].get("norm"), out["drift"].get("none"))
    out["noisy_drift_ratio"] = _ratio(out["drift"].get("noisy"), out["drift"].get("norm"))
    noisy, plain = out["acc"].get("noisy"), out["acc"].get("norm")
    out["noisy_gap"] = 100 * (noisy - plain) if noisy is not None and plain is not None else None
    return out


def _compare(ratio: float) -> str:
    if ratio > 1 + SAME_BAND:
        return "higher"
    if ratio < 1 - SAME_BAND:
        return "lower"
    return "same"


def verdict(summary: dict[str, Any], tolerance: float = NOISY_TOLERANCE) -> list[str]:
    """Return plain-language sentences (markdown) on what `summary`'s numbers show; nothing pre-judged.

    Ratios within 1 +- SAME_BAND count as "about the same"; noisy norm "trains about as well"
    if its final test accuracy is within `tolerance` percentage points of the plain norm's.
    """
    labels = summary["labels"]
    name = labels.get("norm", "the norm")
    out = []
    r = summary.get("gshift_ratio")
    if r is None:
        out.append("Santurkar et al.'s measure could not be compared: a run has no finite values (did it diverge?).")
    else:
        head = f"In this run, {name}'s gradient shift (median ‖G − G′‖ / ‖G‖) was **{r:.2g} times** the plain network's"
        tail = {
            "higher": f": {name} did **not** reduce this measure of internal covariate shift, it raised it, "
            "as Santurkar et al. found it can.",
            "same": f": about the same, so {name} did **not** reduce this measure, as Santurkar et al. found.",
            "lower": f": here {name} **did** reduce this measure, unlike what Santurkar et al. found for batch "
            "norm on their networks.",
        }[_compare(r)]
        out.append(head + tail)
    d = summary.get("drift_ratio")
    if d is not None:
        word = {"higher": "more", "same": "about as much", "lower": "less"}[_compare(d)]
        line = (
            f"The next layer's inputs moved **{word}** with {name}: median drift per snapshot (W1 over "
            f"spread) was {d:.2g} times the plain network's."
        )
        if r is not None and {_compare(r), _compare(d)} == {"higher", "lower"}:
            line += " The two measures disagree here: " + (
                "steadier input distributions did not mean a steadier gradient."
                if _compare(d) == "lower"
                else "the inputs moved more, yet the gradient less."
            )
        out.append(line)
    gap, acc = summary.get("noisy_gap"), summary["acc"]
    if "noisy" in acc:
        noisy = labels["noisy"]
        nd = summary.get("noisy_drift_ratio")
        moved = "" if nd is None else f" (its layers' inputs moved {nd:.2g} times as much as plain {name}'s)"
        if gap is None:
            out.append(f"{noisy} has no final test accuracy to compare (did it diverge?).")
        else:
            where = "above" if gap > 0 else "below"
            head = (
                f"**{noisy}**{moved} reached {100 * acc['noisy']:.1f}% test accuracy vs {100 * acc['norm']:.1f}% "
                f"for plain {name}: "
            )
            if abs(gap) <= tolerance:
                out.append(
                    head + f"within {tolerance:g} points ({abs(gap):.1f} {where}), so it trained about as well "
                    "although noise shifted its layers' inputs at every step, as Santurkar et al. found."
                )
            elif gap < 0:
                out.append(
                    head + f"{abs(gap):.1f} points below, more than {tolerance:g}: in this run the injected "
                    "shift did hurt training, so here Santurkar et al.'s finding does not hold (one seed: a "
                    "few points can be chance; run it again with another seed to see)."
                )
            else:
                out.append(
                    head + f"{gap:.1f} points above, more than {tolerance:g}: in this run the noisy version did better."
                )
    if acc.get("none") is not None and acc.get("norm") is not None:
        out.append(
            f"Final test accuracy: {100 * acc['none']:.1f}% without normalization, "
            f"{100 * acc['norm']:.1f}% with {name}."
        )
    return out


def run_internal(
    base: RunConfig,
    every: "int | None" = None,
    progress: "ProgressFn | None" = None,
    cancel: "threading.Event | None" = None,
    cache: "dict | None" = None,
) -> dict[str, Any]:
    """Train and measure part 1's runs; return {"tap", "every", "runs": [record...], "summary", "verdict"}.

    Each record is `measure(...)` plus "key" and "label". `every` defaults to steps // MEASUREMENTS.
    `cache` (config key -> {"trainer", "measured"}) is read and filled, so a run measured before is
    reused. `progress(fraction, message)` is called as steps are done. Raises Cancelled.
    """
    plan = internal_configs(base)
    every = every or max(1, base.steps // MEASUREMENTS)
    cache = {} if cache is None else cache
    ck = {key: f"{cfg.key}/m{every}" for key, _, cfg in plan}
    total = sum(cfg.steps for key, _, cfg in plan if ck[key] not in cache) or 1
    done = 0
    runs = []
    for key, label, cfg in plan:
        if ck[key] not in cache:
            _check(cancel)
            trainer = Trainer(cfg)

            def on_steps(n: int, label: str = label) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(done / total, f"measuring {label}")

            rec = measure(trainer, every, cancel, on_steps)
            cache[ck[key]] = {"trainer": trainer, "measured": rec}
            cache[cfg.key] = {"trainer": trainer, "measured": None}
        runs.append({"key": key, "label": label, **cache[ck[key]]["measured"]})
    summary = summarize(runs)
    return {"tap": runs[1]["tap"], "every": every, "runs": runs, "summary": summary, "verdict": verdict(summary)}


def train_external(
    base: RunConfig,
    progress: "ProgressFn | None" = None,
    cancel: "threading.Event | None" = None,
    cache: "dict | None" = None,
    chunk: int = 50,
) -> list[tuple[str, str, Trainer]]:
    """Train (or reuse from `cache`) part 2's four models; return [(key, label, trainer)]. Raises Cancelled."""
    plan = external_configs(base)
    cache = {} if cache is None else cache
    total = sum(cfg.steps for _, _, cfg in plan if cfg.key not in cache) or 1
    done, out = 0, []
    for key, label, cfg in plan:
        if cfg.key not in cache:
            t = Trainer(cfg)
            while not t.done:
                _check(cancel)
                done += t.step(chunk)
                if progress is not None:
                    progress(done / total, f"training {label}")
            cache[cfg.key] = {"trainer": t, "measured": None}
        out.append((key, label, cache[cfg.key]["trainer"]))
    return out


def external_curves(
    models: Sequence[tuple[str, str, Trainer]], scale: float, shifts: Sequence[float] = SHIFTS
) -> dict[str, Any]:
    """Return test accuracy against shift at `scale` for each model: {"scale", "shifts", "series"}.

    Series, in order: none, batch norm with running statistics, batch norm with statistics
    recomputed on the shifted test data, layer norm, group norm; each {"key", "label", "acc"} with
    one accuracy per shift.
    """
    series = []
    for key, label, t in models:
        res = shifted_accuracy(t, shifts, [scale])
        if res["recomputed"] is None:
            series.append({"key": key, "label": label, "acc": res["running"]})
        else:
            series.append({"key": key, "label": f"{label}, running statistics", "acc": res["running"]})
            series.append(
                {
                    "key": f"{key}_recomputed",
                    "label": f"{label}, statistics recomputed on the test data",
                    "acc": res["recomputed"],
                }
            )
    return {"scale": float(scale), "shifts": [float(s) for s in shifts], "series": series}


def with_point(curves: dict[str, Any], models: Sequence[tuple[str, str, Trainer]], shift: float) -> dict[str, Any]:
    """Return `curves` with `shift` inserted into the grid (so a marker there sits on each line) and
    "at" = {"shift": shift, "acc": {series key: accuracy}}."""
    point = external_curves(models, curves["scale"], [shift])
    at = {s["key"]: s["acc"][0] for s in point["series"]}
    shifts = list(curves["shifts"])
    if shift in shifts:
        return {**curves, "at": {"shift": shift, "acc": at}}
    i = int(np.searchsorted(shifts, shift))
    series = [{**s, "acc": [*s["acc"][:i], at[s["key"]], *s["acc"][i:]]} for s in curves["series"]]
    return {**curves, "shifts": [*shifts[:i], shift, *shifts[i:]], "series": series, "at": {"shift": shift, "acc": at}}


class ShiftLab(Worker):
    """Both parts in one background thread; `snapshot()` is safe from any thread.

    The worker takes one server slot (`server_slots()`) while it trains, trains part 1 then
    part 2, and stores results in a dict guarded by a lock. If nobody calls `snapshot()` for
    `idle_stop` seconds (the tab was closed), it stops and frees its slot. Construction validates
    the configurations (ValueError/ConfigError) before any thread starts.
    """

    THREAD_NAME = "normlab-shift-lab"

    def __init__(
        self,
        base: RunConfig,
        reuse: "ShiftLab | None" = None,
        slots: "Slots | None" = None,
        every: "int | None" = None,
        idle_stop: float = 60.0,
    ):
        self.base = base
        self.idle_stop = idle_stop
        self._last_seen = time.monotonic()
        self.every = every
        self.plan = internal_configs(base) + external_configs(base)  # validates
        self.slots = slots if slots is not None else server_slots()
        self.cache: dict[str, dict] = dict(reuse.finished_cache()) if reuse is not None else {}
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._state = {
            "state": "new",
            "progress": 0.0,
            "message": "starting",
            "internal": None,
            "external_ready": False,
            "error": None,
        }
        self._models: list[tuple[str, str, Trainer]] = []
        self._curves: dict[float, dict] = {}

    def stop(self) -> None:
        """Ask the worker to stop after the current chunk."""
        self.cancel.set()

    def snapshot(self) -> dict[str, Any]:
        """Return a copy of {"state", "progress", "message", "internal", "external_ready", "error", "slots_*"};
        marks the lab as watched."""
        self._last_seen = time.monotonic()
        with self._lock:
            snap = dict(self._state)
        snap.update(slots_busy=self.slots.busy, slots_total=self.slots.n)
        return snap

    def finished_cache(self) -> dict[str, dict]:
        """Return the trained models (and measurements) this lab holds, newest last, at most CACHE_SIZE."""
        with self._lock:
            items = list(self.cache.copy().items())  # dict.copy is atomic: safe while the worker adds
        return dict([(k, v) for k, v in items if v["trainer"].done][-CACHE_SIZE:])

    def curves(self, scale: float, shift: float) -> "dict[str, Any] | None":
        """Return part 2's `external_curves` at `scale` with the point at `shift`, or None until trained."""
        with self._lock:
            if not self._state["external_ready"]:
                return None
            models = list(self._models)
            key = round(float(scale), 6)
            if key not in self._curves:
                self._curves = {key: external_curves(models, key)}  # one scale kept: memory stays flat
            return with_point(self._curves[key], models, float(shift))

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._state.update(kw)

    def _progress(self, part: int, share: float) -> ProgressFn:
        def report(fraction: float, message: str) -> None:
            self._watched()
            self._set(state="running", progress=min(1.0, (part + fraction) * share), message=message)

        return report

    def _watched(self) -> None:
        """Cancel (raising Cancelled at the next check) if nobody has looked for `idle_stop` seconds."""
        if time.monotonic() - self._last_seen > self.idle_stop:
            self.cancel.set()

    def _loop(self) -> None:
        torch.set_num_threads(1)
        holding = False
        try:
            self._set(state="waiting", message="waiting for a free slot")
            while not (holding := self.slots.acquire(timeout=0.25)):
                self._watched()
                _check(self.cancel)
            self._set(state="running", message="starting")
            internal = run_internal(self.base, self.every, self._progress(0, 0.5), self.cancel, self.cache)
            self._set(internal=internal)
            models = train_external(self.base, self._progress(1, 0.5), self.cancel, self.cache)
            with self._lock:
                self._models = models
                self._state.update(external_ready=True, state="done", progress=1.0, message="done")
        except Cancelled:
            idle = time.monotonic() - self._last_seen > self.idle_stop
            self._set(state="stopped", message="stopped: nobody was watching" if idle else "stopped")
        except Exception as e:
            self._set(state="error", error=f"{type(e).__name__}: {e}", message="error")
        finally:
            if holding:
                self.slots.release()
            self._prune()

    def _prune(self) -> None:
        with self._lock:
            keep = list(self.cache.items())[-CACHE_SIZE:]
            self.cache = dict(keep)

    def wait(self, timeout: float = 60.0, poll: float = 0.05) -> bool:
        """Block until the worker exits or `timeout` passes; return True if it exited (for tests and scripts)."""
        end = time.monotonic() + timeout
        while self.alive and time.monotonic() < end:
            time.sleep(poll)
        return not self.alive
