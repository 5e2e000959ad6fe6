"""The Start-here path: missions that set up the Live lab, and what each run showed, in words (no Streamlit).

A mission is a configuration the Live lab trains beside its twin (the same network with
normalization switched), what to look at, a question with choices, and an outcome computed
from the two finished runs: numbers first-hand from their curves and snapshots, and which
choice they point to, or that they do not settle it. Progress (the current mission, the
answers given, the missions done) lives in the link as `mission`, `answers` and `done`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vizcore.engine.config import NORM_LABELS, RunConfig
from vizcore.engine.params import PROGRESS_PARAMS
from vizcore.runs.queries import final, finite, steps_to_reach

FINISHED = ("completed", "diverged", "stopped")
TARGET = 0.9  # "reached 90% test accuracy": well above chance (10%) and below what every healthy run here ends at
CLOSE = 0.05  # final accuracies this close are "about the same" for one run of one seed
GAP = 0.10  # a train-test gap this large is "well below"; under CLOSE it is "close"
PACE = "100"  # steps a second: a 600-step mission takes about 6 s, slow enough to watch the curves rise


@dataclass(frozen=True)
class Mission:
    """One step of the path: a configuration, what to watch, a question, and how its outcome is read."""

    id: str
    title: str
    setup: Mapping[str, Any]  # the RunConfig fields that differ from the defaults
    look: str
    expect: str
    question: str
    choices: tuple[tuple[str, str], ...]  # (key, words)
    kind: str  # how the outcome is read: "reach", "final", "keeps_up" or "gap"
    reference: Mapping[str, Any] | None = None  # another mission's setup whose saved run this one compares with

    def config(self) -> RunConfig:
        """Return the configuration this mission trains."""
        return RunConfig.from_dict({**RunConfig().to_dict(), **self.setup})

    def reference_config(self) -> RunConfig | None:
        """Return the configuration of the saved run this mission compares with, or None."""
        return None if self.reference is None else RunConfig.from_dict({**RunConfig().to_dict(), **self.reference})

    def choice(self, key: str | None) -> str | None:
        """Return the words of choice `key`, or None."""
        return dict(self.choices).get(key) if key is not None else None


SIGMOID = {"activation": "sigmoid", "norm": "none", "steps": 600}
MISSIONS: tuple[Mission, ...] = (
    Mission(
        "sigmoid",
        "A deep sigmoid network without normalization",
        SIGMOID,
        "The accuracy curves (left): yours, without normalization, and its twin with batch norm. On the right, "
        "how widely each network's sigmoid outputs spread in its first and last block.",
        "Both start near 10% (chance: 10 digits). Watch which curve leaves 10% first, and whether the outputs "
        "spread over (0, 1) or bunch near 0.5, where every example looks alike to the next layer.",
        "Which network reaches 90% test accuracy first?",
        (("none", "mine, without normalization"), ("batch", "the twin, with batch norm"), ("same", "about the same")),
        "reach",
    ),
    Mission(
        "placement",
        "Batch norm after the activation instead of before",
        {**SIGMOID, "norm": "batch", "placement": "after"},
        "The same sigmoid network, now with batch norm after each sigmoid (Linear -> sigmoid -> norm). The "
        "outcome compares it with mission 1's twin, where batch norm came before the sigmoid.",
        "Ioffe and Szegedy normalize before the activation, so the sigmoid's inputs are the normalized values. "
        "After it, the sigmoid sees raw Linear outputs and batch norm rescales what it passes on.",
        "Which placement reaches 90% test accuracy first?",
        (
            ("before", "before the sigmoid (mission 1)"),
            ("after", "after the sigmoid (this one)"),
            ("same", "about the same"),
        ),
        "reach",
        reference={**SIGMOID, "norm": "batch"},
    ),
    Mission(
        "batch2",
        "Batch norm with 2 examples a batch",
        {"norm": "batch", "batch_size": 2, "steps": 600},
        "The accuracy curves of batch norm and its twin without normalization, both trained on 2 examples at a time.",
        "Batch norm's mean and variance now come from 2 examples. Watch whether its test accuracy climbs the way it "
        "does at the default 64 a batch, and how steady each curve is.",
        "With 2 examples a batch, which network ends with the higher test accuracy?",
        (("batch", "batch norm"), ("none", "without normalization"), ("same", "about the same")),
        "final",
    ),
    Mission(
        "layer2",
        "Layer norm instead, still at batch size 2",
        {"norm": "layer", "batch_size": 2, "steps": 600},
        "The accuracy curves of layer norm and its twin without normalization, 2 examples a batch.",
        "Layer norm averages over the units of one example, not over the batch: the batch size does not enter "
        "its statistics at all.",
        "At batch size 2, does layer norm fail the way batch norm did?",
        (
            ("fails", "yes: it ends well below the network without normalization"),
            ("trains", "no: it ends about as high as the network without normalization, or higher"),
        ),
        "keeps_up",
    ),
    Mission(
        "running",
        "Running statistics at test time",
        {"norm": "batch", "momentum": 0.0, "steps": 600},
        "Training accuracy (measured on the training batches, with their own statistics) against test accuracy "
        "(the test set, where batch norm uses its running averages), for batch norm and its twin.",
        "Here the running averages' momentum is 0: they never move from their start, mean 0 and variance 1, so "
        "at test time batch norm rescales with numbers that are not this network's statistics.",
        "How does batch norm's test accuracy compare with its training accuracy?",
        (("close", "close to it"), ("below", "well below it")),
        "gap",
    ),
)
BY_ID = {m.id: m for m in MISSIONS}


def mission_number(mission: Mission) -> int:
    """Return the mission's place on the path, from 1."""
    return MISSIONS.index(mission) + 1


def next_mission(mission: Mission) -> Mission | None:
    """Return the mission after `mission` on the path, or None at the end."""
    i = MISSIONS.index(mission)
    return MISSIONS[i + 1] if i + 1 < len(MISSIONS) else None


# ----------------------------------------------------------------- progress in the link


@dataclass(frozen=True)
class Progress:
    """Where a student is on the path: the current mission, the answers given, the missions done (path order)."""

    mission: str | None = None
    answers: Mapping[str, str] = field(default_factory=dict)
    done: tuple[str, ...] = ()

    def with_answer(self, mission_id: str, key: str) -> Progress:
        """Return this progress with `key` as the answer to `mission_id`."""
        return Progress(self.mission, {**self.answers, mission_id: key}, self.done)

    def with_done(self, mission_id: str) -> Progress:
        """Return this progress with `mission_id` done."""
        done = set(self.done) | {mission_id}
        return Progress(self.mission, self.answers, tuple(m.id for m in MISSIONS if m.id in done))

    def at(self, mission_id: str | None) -> Progress:
        """Return this progress with `mission_id` as the current mission."""
        return Progress(mission_id, self.answers, self.done)


def parse_progress(params: Mapping[str, str]) -> tuple[Progress, list[str]]:
    """Return (progress, notices) from URL parameters; each bad value is named and left out."""
    mission_param, answers_param, done_param = PROGRESS_PARAMS
    notices: list[str] = []
    valid_ids = ", ".join(BY_ID)
    mission = params.get(mission_param)
    if mission is not None and mission not in BY_ID:
        notices.append(f"Link parameter `{mission_param}={mission}` is not valid (valid: {valid_ids}); using none.")
        mission = None
    answers: dict[str, str] = {}
    for item in _items(params.get(answers_param)):
        mid, _, key = item.partition(":")
        if mid in BY_ID and BY_ID[mid].choice(key) is not None:
            answers[mid] = key
        else:
            valid = f"a mission and one of its answers, such as batch2:none; missions: {valid_ids}"
            notices.append(f"Link parameter `{answers_param}` holds `{item}`, not an answer (valid: {valid}); ignored.")
    done: list[str] = []
    for item in _items(params.get(done_param)):
        if item in BY_ID:
            done.append(item)
        else:
            notices.append(
                f"Link parameter `{done_param}` holds `{item}`, not a mission (valid: {valid_ids}); ignored."
            )
    return Progress(mission, answers, tuple(m.id for m in MISSIONS if m.id in done)), notices


def _items(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


def progress_params(progress: Progress) -> dict[str, str]:
    """Return the URL parameters for `progress`: only the parts that are set."""
    mission_param, answers_param, done_param = PROGRESS_PARAMS
    out = {}
    if progress.mission:
        out[mission_param] = progress.mission
    if progress.answers:
        out[answers_param] = ",".join(f"{m.id}:{progress.answers[m.id]}" for m in MISSIONS if m.id in progress.answers)
    if progress.done:
        out[done_param] = ",".join(progress.done)
    return out


# ----------------------------------------------------------------- what the runs showed


@dataclass(frozen=True)
class Outcome:
    """What a mission's runs showed: the text, the choice they point to (None: not settled) and whether they ended."""

    text: str
    shown: str | None
    finished: bool


def fits(mission: Mission, run: Mapping[str, Any] | None, twin: Mapping[str, Any] | None) -> bool:
    """Return True if `run` trained this mission's configuration and `twin` the same network, norm switched."""
    if run is None or twin is None:
        return False
    cfg, other = dict(run.get("config") or {}), dict(twin.get("config") or {})
    switched = "none" if cfg.get("norm") != "none" else "batch"
    same_network = {**other, "norm": cfg.get("norm"), "norm_noise": cfg.get("norm_noise")} == cfg
    return cfg == mission.config().to_dict() and other.get("norm") == switched and same_network


def _name(run: Mapping[str, Any]) -> str:
    cfg = run["config"]
    words = NORM_LABELS.get(cfg["norm"], str(cfg["norm"]))
    return words if cfg["norm"] == "none" or cfg["placement"] == "before" else f"{words} after the activation"


def _pct(v: float | None) -> str:
    return "no finite value" if v is None else f"{v:.0%}"


def _reached(run: Mapping[str, Any]) -> str:
    at = steps_to_reach(run, TARGET)
    if at is not None:
        return f"reached {TARGET:.0%} test accuracy at step {at}"
    return f"never reached {TARGET:.0%} in {run['steps_done']} steps (it ended at {_pct(final(run))})"


def _spread(run: Mapping[str, Any]) -> tuple[float, float] | None:
    """Return the middle 70% (15th to 85th percentile) of the last block's activation outputs at the last snapshot."""
    layers = run.get("layers") or []
    if not layers:
        return None
    layer = layers[-1]
    taps = layer.get("probe") or layer.get("taps") or {}
    act = taps.get("act") or {}
    lo, hi = (finite((act.get(q) or [None])[-1]) for q in ("p15", "p85"))
    return None if lo is None or hi is None else (lo, hi)


def _reach_outcome(pair: list[Mapping[str, Any]], names: list[str], keys: list[str]) -> tuple[str, str | None]:
    """Return (sentences, the key of the run that reached TARGET first, "same", or None if neither did)."""
    text = "; ".join(f"{name} {_reached(r)}" for name, r in zip(names, pair, strict=True)) + "."
    text = text[0].upper() + text[1:]
    a, b = (steps_to_reach(r, TARGET) for r in pair)
    if a is None and b is None:
        return text + f" Neither got to {TARGET:.0%}, so this run does not say which is faster.", None
    every = pair[0]["config"]["eval_every"]
    if a == b:
        return text + f" They got there at the same test (the test set is scored every {every} steps).", "same"
    if a is not None and b is not None:
        n = abs(a - b) // every
        text += f" The test set is scored every {every} steps: that is {n} test{'s' * (n != 1)} apart."
    return text, keys[0] if b is None or (a is not None and a < b) else keys[1]


def outcome(
    mission: Mission, run: Mapping[str, Any], twin: Mapping[str, Any], reference: Mapping[str, Any] | None = None
) -> Outcome:
    """Return what the mission's run and its twin (and, for a comparing mission, the saved `reference`) showed.

    Every number is read from the runs; when they do not show the expected effect, the text says so.
    """
    ended = run.get("status") in FINISHED and twin.get("status") in FINISHED
    stopped = [r for r in (run, twin) if r.get("status") == "stopped"]
    prefix = ""
    if stopped:
        prefix = f"Stopped at step {stopped[0]['steps_done']} of {run['config']['steps']}: this is as far as it got. "
    if run.get("status") == "diverged" or twin.get("status") == "diverged":
        prefix += "A run diverged (its loss became infinite or NaN): the numbers below stop there. "
    if mission.kind == "reach" and mission.reference is None:
        text, shown = _reach_outcome(
            [run, twin], [_name(run), _name(twin)], [run["config"]["norm"], twin["config"]["norm"]]
        )
        spreads = [(r, _spread(r)) for r in (run, twin)]
        parts = [f"{_name(r)} {lo:.2f} to {hi:.2f}" for r, s in spreads if s is not None for lo, hi in [s]]
        if parts:
            text += " The last block's middle 70% of sigmoid outputs at the end: " + "; ".join(parts) + "."
    elif mission.kind == "reach":
        if reference is None:
            text = (
                f"{_name(run)} {_reached(run)}; {_name(twin)} {_reached(twin)}. Mission 1's batch-norm twin (batch "
                "norm before the sigmoid) is not saved on this server, so there is nothing to compare placements with: "
                "run mission 1 first."
            )
            shown = None
        else:
            names = ["batch norm before the activation (mission 1)", _name(run)]
            text, shown = _reach_outcome([reference, run], names, ["before", "after"])
            text += f" Without normalization: {_reached(twin)}."
    elif mission.kind == "final":
        a, b = final(run), final(twin)
        text = f"At the last test, {_name(run)} scored {_pct(a)}; {_name(twin)} {_pct(b)} (one run of one seed)."
        if a is None or b is None:
            shown = None
        elif abs(a - b) < CLOSE:
            shown = "same"
        else:
            shown = run["config"]["norm"] if a > b else twin["config"]["norm"]
    elif mission.kind == "keeps_up":  # the norm against its twin without one: does it fall behind?
        a, b = final(run), final(twin)
        text = f"At the last test, {_name(run)} scored {_pct(a)}; {_name(twin)} {_pct(b)} (one run of one seed)."
        shown = None if a is None or b is None else "fails" if a <= b - GAP else "trains" if a >= b - CLOSE else None
        if a is not None and b is not None and shown is None:
            text += f" {b - a:.0%} behind is neither far behind nor level: this run does not settle it."
    else:  # "gap": batch norm's test accuracy (running averages) against its training accuracy (batch statistics)
        rows = [(r, final(r, "train_acc"), final(r)) for r in (run, twin)]
        text = " ".join(
            f"{_name(r).capitalize()}: {_pct(tr)} on its last training batches, {_pct(te)} on the test set."
            for r, tr, te in rows
        )
        tr, te = rows[0][1], rows[0][2]
        gap = None if tr is None or te is None else tr - te
        shown = None if gap is None else "below" if gap >= GAP else "close" if gap < CLOSE else None
        if gap is not None and shown is None:
            text += f" A gap of {gap:.0%} is neither close nor far: this run does not settle it."
    return Outcome(prefix + text, shown if ended else None, ended)


def verdict(mission: Mission, result: Outcome, answer: str | None) -> str:
    """Return one sentence on the student's answer against what the run showed ("" before an answer)."""
    said = mission.choice(answer)
    if said is None:
        return ""
    if result.shown is None:
        return f"You answered “{said}”: this run does not settle it. Look at the chart again."
    if result.shown == answer:
        return f"You answered “{said}”, and this run agrees."
    return f"You answered “{said}”; this run points to “{mission.choice(result.shown)}”. Look at the chart to see why."
