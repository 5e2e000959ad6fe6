"""Experiment 10: what does a normalization layer cost per training step? Timed side by side, as ratios.

Nothing is trained to the end here: for each network (setup) and each normalization, a
bare training step (forward, cross-entropy, backward, SGD update; no recording) is timed
on the same batches, all variants interleaved in alternating order for several rounds, on
one torch thread. A round's times are divided by the same round's time without
normalization, so a machine that slows down for a while slows both sides of a ratio.
Absolute times are never shown: they say more about the machine than about the norm.

`Result.runs` holds one timing record per variant instead of a run dict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F

from vizcore.engine.config import RunConfig
from vizcore.engine.training import Trainer
from vizcore.experiments import headlines as words
from vizcore.experiments.base import DIGITS_MLP, Cancelled, Experiment, Paper, Progress, Result, Verdict
from vizcore.experiments.grading import all_some_none
from vizcore.figures.experiments import bar_figure
from vizcore.figures.theme import TEMPLATE

SLOWER = 1.1  # batch norm "slows training" if a step takes at least 10% longer than without it (see `verdict`)
ROUNDS = 12  # rounds at budget 1: enough for quartiles of the per-round ratios
N_BATCHES = 8  # distinct batches cycled through: the same for every norm of a setup
NO_MORE = "batch norm's step cost no more than the costliest other norm's (median ratios)"
ANSWER = {"slower": "yes", "not slower": "no", "unclear": "neither"}


@dataclass(frozen=True)
class Setup:
    """A network to time: its short key, name, config, the norms compared, and steps per timed chunk."""

    key: str
    name: str
    config: RunConfig
    norms: tuple[str, ...]
    chunk: int  # steps per timed chunk: each chunk is ~20-50 ms, far above the clock's resolution


SETUPS = (
    Setup(
        "small_mlp",
        "small MLP (4 x 64, batch 64)",
        DIGITS_MLP,
        ("none", "batch", "layer", "group", "rms"),
        40,
    ),
    Setup(
        "small_cnn",
        "small CNN (3 conv x 16 channels, batch 64)",
        DIGITS_MLP.replace(model="cnn", depth=3, width=16),
        ("none", "batch", "layer", "group", "instance", "rms"),
        15,
    ),
    # 64x the multiply-adds per layer of the small MLP: the matrix products, not the Python calls, dominate
    Setup(
        "wide_mlp",
        "wide MLP (4 x 512, batch 256)",
        DIGITS_MLP.replace(width=512, batch_size=256),
        ("none", "batch", "layer"),
        3,
    ),
)


def slows(setup: Setup) -> str:
    """Return the statement graded for `setup`: batch norm slowed its step by 10% or more."""
    return f"batch norm slowed the {setup.name} by 10% or more"


def label_of(setup: Setup, norm: str) -> str:
    """Return the variant label of `norm` in `setup`."""
    return f"{setup.name}: {norm}"


def bare_step(cfg: RunConfig) -> tuple[Any, Any]:
    """Return (step(n), trainer): `step(n)` trains `n` bare steps of `cfg`'s network and returns nothing.

    A bare step is forward, cross-entropy, zero_grad, backward and the optimizer's update, on
    `N_BATCHES` fixed training batches in turn (drawn with the config's seed), with nothing
    recorded: what any training loop pays. The trainer only supplies the network, optimizer
    and data.
    """
    trainer = Trainer(cfg)
    net, opt, d = trainer.net, trainer.opt, trainer.data
    gen = torch.Generator().manual_seed(cfg.seed)
    idx = [torch.randperm(d.x_train.shape[0], generator=gen)[: cfg.batch_size] for _ in range(N_BATCHES)]
    batches = [(d.x_train[i], d.y_train[i]) for i in idx]
    net.train()
    state = [0]

    def step(n: int) -> None:
        for _ in range(n):
            x, y = batches[state[0] % N_BATCHES]
            state[0] += 1
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return step, trainer


def quartiles(values: Sequence[float]) -> dict[str, float | None]:
    """Return the 25th, 50th and 75th percentiles of the finite values (None fields if there are none)."""
    v = np.array([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"q25": None, "median": None, "q75": None, "n": 0}
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    return {"q25": float(q25), "median": float(q50), "q75": float(q75), "n": int(v.size)}


def _ratio_figure(measured: dict[str, Any]) -> go.Figure:
    """Return one horizontal bar per norm and setup: the median ratio to no norm, whiskers at the quartiles."""
    fig = go.Figure()
    for setup in measured["setups"].values():
        norms = {n: q for n, q in setup["norms"].items() if n != "none" and q["median"] is not None}
        names = list(norms)
        med = [norms[n]["median"] for n in names]
        fig.add_trace(
            go.Bar(
                y=names,
                x=med,
                orientation="h",
                name=setup["name"],
                error_x=dict(
                    type="data",
                    symmetric=False,
                    array=[norms[n]["q75"] - norms[n]["median"] for n in names],
                    arrayminus=[norms[n]["median"] - norms[n]["q25"] for n in names],
                ),
            )
        )
    fig.add_vline(x=1.0, line_dash="dot", annotation_text="no norm")
    fig.add_vline(x=SLOWER, line_dash="dash", annotation_text=f"{SLOWER:g}x", annotation_position="bottom right")
    fig.update_layout(
        template=TEMPLATE,
        barmode="group",
        height=440,
        xaxis_title="time per step / time without norm",
        title="Cost of a training step, relative to no normalization (whiskers: quartiles of rounds)",
    )
    return fig


class Cost(Experiment):
    number = 10
    name = "cost"
    title = "Cost: does batch norm slow training down?"
    claim = "Batch normalization adds computational overhead that slows training."
    question = (
        "How much longer does one training step take with batch norm than without, and than with the other "
        "normalizations, on a small MLP, a small CNN and a wide MLP, timed side by side on this machine?"
    )
    predictions = {
        "Batch norm clearly slows every step": {slows(s): "yes" for s in SETUPS},
        "Only on small networks; on big layers it is noise": {
            **{slows(s): "yes" for s in SETUPS[:2]},
            slows(SETUPS[2]): "no",
        },
        "Batch norm costs no more than the other norms": {NO_MORE: "yes"},
        "No real difference": {slows(s): "no" for s in SETUPS},
    }
    expectations = tuple(predictions)
    paper = Paper(
        "Ioffe & Szegedy (2015), Batch Normalization, abstract and Section 4.2",
        "The paper counts training steps, not seconds: with batch norm, Inception reached the same accuracy in 14 "
        "times fewer steps. It does not report the time of one step with and without batch norm, so the per-step "
        "overhead this claim is about is not measured there.",
        "Here: tiny networks on a CPU with one thread, where a step takes well under a millisecond to a few "
        "milliseconds and the fixed cost of each extra layer call weighs a lot; on a GPU, with large layers, the "
        "balance is different. Timings are noisy and depend on the machine, so only ratios measured side by side "
        "are shown.",
    )
    seeds = (0,)
    try_page = "compare"

    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        # The last variant is what "Try it yourself" opens: the app's default network with batch norm.
        out = [(label_of(s, n), s.config.replace(norm=n)) for s in SETUPS for n in s.norms]
        last = label_of(SETUPS[0], "batch")
        return [v for v in out if v[0] != last] + [v for v in out if v[0] == last]

    def run(
        self,
        budget: float = 1.0,
        seeds: Sequence[int] | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int = 1,
        pool: Any = None,
    ) -> Result:
        """Time every variant, interleaved, for max(3, round(ROUNDS x budget)) rounds; return the Result.

        `Result.runs[label]` is a one-element list with the timing record
        {"setup" (key), "name", "norm", "chunk", "thread_s": [per round], "wall_s": [per round]}: CPU time of
        this thread (what the rule uses: other threads and processes do not add to it) and wall
        time, per step. `workers` and `pool` are not used: concurrent timing would disturb itself.
        """
        seeds = tuple(seeds) if seeds is not None else self.seeds
        seed = seeds[0] if seeds else 0
        rounds = max(3, int(round(ROUNDS * budget)))
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            steps, records = {}, {}
            for s in SETUPS:
                for n in s.norms:
                    label = label_of(s, n)
                    fn, _ = bare_step(s.config.replace(norm=n, seed=seed))
                    fn(3)  # warm-up: first calls allocate and pick kernels
                    steps[label] = (fn, s.chunk)
                    records[label] = {
                        "setup": s.key,
                        "name": s.name,
                        "norm": n,
                        "chunk": s.chunk,
                        "thread_s": [],
                        "wall_s": [],
                    }
            order = list(steps)
            if progress:
                progress(0, rounds, "starting")
            for r in range(rounds):
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                # Alternate the order so no variant always runs right after the same neighbour (cache, frequency).
                for label in order if r % 2 == 0 else reversed(order):
                    fn, k = steps[label]
                    t0, w0 = time.thread_time(), time.perf_counter()
                    fn(k)
                    records[label]["thread_s"].append((time.thread_time() - t0) / k)
                    records[label]["wall_s"].append((time.perf_counter() - w0) / k)
                if progress:
                    progress(r + 1, rounds, f"round {r + 1}")
        finally:
            torch.set_num_threads(before)
        runs = {label: [rec] for label, rec in records.items()}
        measured = self.measure(runs)
        return Result(self.name, budget, seeds, runs, measured, self.verdict(measured))

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        """Return {"setups": {key: {"name", "norms": {norm: quartiles of the ratio to no norm}}}, "rounds": n}.

        `runs` holds timing records (see `run`). Ratios are of thread CPU time, round by round.
        """
        setups: dict[str, dict[str, Any]] = {}
        for rs in runs.values():
            rec = rs[0]
            setups.setdefault(rec["setup"], {"name": rec["name"], "times": {}})["times"][rec["norm"]] = rec["thread_s"]
        rounds = 0
        for setup in setups.values():
            times = setup.pop("times")
            base = times.get("none")
            setup["norms"] = {}
            for norm, ts in times.items():
                ratios = [t / b for t, b in zip(ts, base) if b > 0] if base is not None else []
                rounds = max(rounds, len(ratios))
                setup["norms"][norm] = quartiles(ratios)
        return {"setups": setups, "rounds": rounds}

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        rule = (
            f"Per network, batch norm's time per step is divided by the time without normalization, round by "
            f"round (same batches, interleaved, one thread, CPU time of the timing thread). Batch norm is slower "
            f"there if the lower quartile of those ratios is at least {SLOWER:g}, not slower if the upper "
            f"quartile is below {SLOWER:g}, unclear otherwise. Supported if slower on every network; not "
            "supported if not slower on any; it depends otherwise."
        )
        numbers: dict[str, float | None] = {}
        states: dict[str, str] = {}
        not_costliest: list[bool] = []  # per network: batch norm's median ratio no higher than another norm's
        parts = []
        empty = {"q25": None, "median": None, "q75": None}
        for key, setup in measured["setups"].items():
            norms = setup["norms"]
            q = norms.get("batch", empty)
            numbers[f"bn_ratio_{key}"] = q["median"]
            numbers[f"bn_ratio_q25_{key}"] = q["q25"]
            numbers[f"bn_ratio_q75_{key}"] = q["q75"]
            if q["median"] is None:
                states[key] = "unclear"
                parts.append(f"{setup['name']}: no numbers")
                continue
            # SLOWER = 1.1: a tenth more time per step is a slowdown a user notices over a whole training run.
            # Judging by quartiles of paired per-round ratios (not the median alone) keeps a noisy machine from
            # deciding: a setup whose quartiles straddle 1.1 stays "unclear".
            if q["q25"] >= SLOWER:
                states[key] = "slower"
            elif q["q75"] < SLOWER:
                states[key] = "not slower"
            else:
                states[key] = "unclear"
            rest = [v["median"] for n, v in norms.items() if n not in ("none", "batch") and v["median"] is not None]
            if rest:
                not_costliest.append(q["median"] <= max(rest))
            others = ", ".join(
                f"{n} {v['median']:.2f}x"
                for n, v in norms.items()
                if n not in ("none", "batch") and v["median"] is not None
            )
            parts.append(
                f"{setup['name']}: batch norm {q['median']:.2f}x ({q['q25']:.2f} to {q['q75']:.2f}, "
                f"{states[key]})" + (f"; the other norms {others}" if others else "")
            )
        vals = list(states.values())
        if vals and all(s == "slower" for s in vals):
            label = "supported"
        elif vals and all(s == "not slower" for s in vals):
            label = "not supported"
        else:
            label = "it depends"
        summary = (
            f"Time per training step relative to no normalization (median of {measured.get('rounds', 0)} "
            "rounds, quartiles in brackets): " + ". ".join(parts) + "."
        )
        small = [numbers.get(f"bn_ratio_{k}") for k in ("small_mlp", "small_cnn")]
        wide = numbers.get("bn_ratio_wide_mlp")
        if wide is not None and None not in small and wide < min(small):  # type: ignore[type-var]
            summary += (
                " The overhead is smallest on the wide network: consistent with a roughly fixed cost per "
                "norm layer (a few more operator calls), which weighs most when the layers are cheap."
            )
        if label == "not supported":
            summary += (
                f" 'Not slower' means under {SLOWER - 1:.0%} more per step: a smaller overhead may be real, "
                "but it is not counted as slowing training."
            )
        names = {key: setup["name"] for key, setup in measured["setups"].items()}
        setups = {s.key: s for s in SETUPS}
        found: dict[str, str | None] = {slows(setups[k]): ANSWER[st] for k, st in states.items() if k in setups}
        found[NO_MORE] = all_some_none(not_costliest) if not_costliest else None
        return Verdict(label, summary, numbers, rule, words.cost({names[k]: st for k, st in states.items()}), found)

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        m = result.measured["setups"]
        bn = {"batch norm": {s["name"]: s["norms"].get("batch", {}).get("median") for s in m.values()}}
        return [
            (
                _ratio_figure(result.measured),
                f"Bars right of the dashed line ({SLOWER:g}x) mean a step costs at least 10% more than without a norm.",
            ),
            (
                bar_figure(bn, "Batch norm's time per step / time without, by network", "ratio"),
                "Does the overhead stay the same as the layers get bigger (small MLP to wide MLP)?",
            ),
        ]


EXPERIMENT = Cost()
