"""What an experiment is: a claim, a few runs, the numbers they give, and a rule that turns them into a verdict.

A verdict is never written in advance: `Experiment.verdict(measured)` is a pure
function of numbers measured by `Experiment.run`, and its rule is stated in words
beside the result. Tests feed the rule known inputs.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vizcore.engine.config import RunConfig
from vizcore.engine.params import to_params
from vizcore.experiments.grading import Grade, claim_found, grade
from vizcore.runs.queries import final, finite_values
from vizcore.workers.base import Cancelled  # re-exported: experiments raise the one Cancelled every worker knows
from vizcore.workers.sweep import Job, run_many

Progress = Callable[..., None]  # (done, total, what[, run]): a finished run may come with it
LABELS = ("supported", "not supported", "it depends")
CHANCE = 0.1  # 10 digit classes: a diverged network's predictions are worth no more than a guess

# The network most experiments start from, every field they rely on stated here so that the app's
# defaults can change without changing a verdict: a 4 x 64 relu mlp on digits, batch norm before the
# activation, PyTorch's init, plain SGD at 0.1 on batches of 64. Each experiment `.replace`s the rest.
DIGITS_MLP = RunConfig(
    dataset="digits",
    model="mlp",
    depth=4,
    width=64,
    activation="relu",
    norm="batch",
    placement="before",
    init="default",
    init_scale=1.0,
    optimizer="sgd",
    lr=0.1,
    batch_size=64,
)


@dataclass(frozen=True)
class Verdict:
    """The outcome: a label, one plain sentence with the numbers, the deciding numbers, and the rule used.

    `headline` says what happened in words a student knows, computed from the same numbers; `found`
    answers plain statements "yes" / "no" / "neither" for grading predictions (`grading.grade`).
    """

    label: str
    summary: str
    numbers: dict[str, float | None]
    rule: str
    headline: str = ""
    found: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"verdict label must be one of {LABELS}, got {self.label!r}")


@dataclass(frozen=True)
class Paper:
    """What the paper reported, and what differs here."""

    citation: str
    reported: str
    differs: str


@dataclass
class Result:
    """One experiment's outcome: its runs (histograms dropped), measured numbers and verdict."""

    name: str
    budget: float
    seeds: tuple[int, ...]
    runs: dict[str, list[dict]]
    measured: dict[str, Any]
    verdict: Verdict
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d


class Experiment:
    """Base class: subclasses set the texts and implement `variants`, `measure` and `verdict`."""

    number: int = 99  # order on the page
    name: str = ""
    title: str = ""
    claim: str = ""  # as the popular articles state it
    question: str = ""  # what the runs can answer
    expectations: tuple[str, ...] = ()  # choices for "what do you expect?"; the first is "the claim holds"
    predictions: dict[str, dict[str, str]] = {}  # expectation -> the answers it predicts (see `grading`)
    answer_words: dict[str, dict[str, str]] = {}  # statement -> what its yes / no / neither mean, where not plain
    paper: Paper | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    try_page: str = "compare"  # where "Try it yourself" goes: "live" or "compare"
    extras: str | None = None  # what the sweep computes on each finished trainer (workers.sweep.EXTRAS)

    def job(self) -> Job | None:
        """Return the module-level function that trains and measures one run (`run_many(job=...)`), or None."""
        return None

    # ----- to implement -----
    def variants(self, budget: float) -> list[tuple[str, RunConfig]]:
        """Return the labelled configs to train (seed 0 versions; `run` varies the seed)."""
        raise NotImplementedError

    def measure(self, runs: dict[str, list[dict]]) -> dict[str, Any]:
        """Return the numbers the verdict and the charts need, computed from the runs."""
        raise NotImplementedError

    def verdict(self, measured: dict[str, Any]) -> Verdict:
        """Return the verdict the rule gives for `measured` (a pure function)."""
        raise NotImplementedError

    def figures(self, result: Result) -> list[tuple[Any, str]]:
        """Return (plotly figure, one-line caption) pairs for the page."""
        return []

    # ----- shared machinery -----
    def grade(self, guess: str, verdict: Verdict) -> Grade | None:
        """Return how right the expectation `guess` was about `verdict`, or None if the runs cannot tell."""
        return grade(self.predictions.get(guess, {}), {**claim_found(verdict.label), **verdict.found})

    def try_it(self) -> tuple[str, dict[str, str]]:
        """Return (page, URL parameters) that open the Live lab or Compare with this experiment's setting."""
        label, cfg = self.variants(1.0)[-1]
        return self.try_page, to_params(cfg)

    def configs(self, budget: float, seeds: Sequence[int] | None = None) -> list[tuple[str, RunConfig]]:
        """Return every (label, config) to train: each variant at each seed."""
        seeds = tuple(seeds) if seeds is not None else self.seeds
        return [(label, cfg.replace(seed=s)) for label, cfg in self.variants(budget) for s in seeds]

    def train(
        self,
        budget: float,
        seeds: Sequence[int] | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int = 1,
        pool: Any = None,
    ) -> dict[str, list[dict]]:
        """Return {label: [run dict per seed]} for every variant (histograms dropped; `extras` added)."""
        pairs = self.configs(budget, seeds)
        total = len(pairs)
        done = [0]

        def on_result(i: int, run: dict) -> None:
            done[0] += 1
            if progress:
                progress(done[0], total, pairs[i][0], run)

        if progress:
            progress(0, total, "starting")
        runs = run_many(
            [c for _, c in pairs],
            workers=workers,
            on_result=on_result,
            cancel=cancel,
            light=True,
            pool=pool,
            extras=self.extras,
            job=self.job(),
        )
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        out: dict[str, list[dict]] = {}
        for (label, _), run in zip(pairs, runs):
            out.setdefault(label, []).append(run)
        return out

    def run(
        self,
        budget: float = 1.0,
        seeds: Sequence[int] | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int = 1,
        pool: Any = None,
    ) -> Result:
        """Train, measure and judge; return the Result."""
        seeds = tuple(seeds) if seeds is not None else self.seeds
        runs = self.train(budget, seeds, progress, cancel, workers, pool)
        measured = self.measure(runs)
        return Result(self.name, budget, seeds, runs, measured, self.verdict(measured))


# ----- small helpers for measures -----
def steps(n: int, budget: float) -> int:
    """Return `n` scaled by `budget`, at least 20 steps."""
    return max(20, int(round(n * budget)))


def run_accuracy(run: dict) -> float | None:
    """Return a run's final test accuracy; chance level if it diverged (its last evaluation means nothing)."""
    return CHANCE if run["status"] == "diverged" else final(run)


def mean_finite(values: Sequence[float | None]) -> float | None:
    """Return the mean of the finite values, or None if there are none."""
    v = finite_values(values)
    return float(np.mean(v)) if v else None


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    """Return mean, min, max and std (ddof 0) of the finite values; None fields if there are none."""
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return {"mean": None, "min": None, "max": None, "std": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
        "std": float(v.std()),
        "n": int(v.size),
    }


# ----- seed statistics: Student t, since 3 to 6 seeds are far from the normal approximation -----
CONFIDENCE = 0.95  # every rule's two-sided confidence; an equivalence test runs two one-sided tests at 5% each

# Two-sided Student t critical values for 1..30 degrees of freedom (tests check them against a numerical
# integration of the t density), and the normal values they tend to.
_T_TABLE = {
    0.90: (
        6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
        1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
        1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697,
    ),
    0.95: (
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ),
}  # fmt: skip
_Z = {0.90: 1.6449, 0.95: 1.9600}


def t_critical(df: float, confidence: float = CONFIDENCE) -> float:
    """Return t with P(|T| <= t) = `confidence` for Student's T with `df` degrees of freedom (two-sided).

    `confidence` is 0.90 or 0.95. Between whole degrees of freedom (Welch's df is fractional) and
    beyond 30, t is interpolated linearly in 1/df towards the normal value at 1/df = 0. t is convex
    in 1/df, so the interpolation errs on the safe (larger) side: by at most 0.01 from df 3 on and
    0.06 between 2 and 3 (more between 1 and 2).
    """
    if confidence not in _T_TABLE:
        raise ValueError(f"confidence must be one of {sorted(_T_TABLE)}, got {confidence!r}")
    if not df >= 1:  # also catches NaN
        raise ValueError(f"degrees of freedom must be at least 1, got {df!r}")
    table = _T_TABLE[confidence]
    if math.isinf(df):
        return _Z[confidence]
    if df == int(df) and df <= len(table):
        return table[int(df) - 1]
    lo = min(int(df), len(table))
    t_lo, t_hi = table[lo - 1], table[lo] if lo < len(table) else _Z[confidence]
    x_lo, x_hi = 1 / lo, 1 / (lo + 1) if lo < len(table) else 0.0
    return t_lo + (t_hi - t_lo) * (x_lo - 1 / df) / (x_lo - x_hi)


def welch(a: dict[str, Any], b: dict[str, Any]) -> tuple[float | None, float | None]:
    """Return (standard error, Welch degrees of freedom) of mean(a) - mean(b) from two `spread` dicts.

    A side with fewer than 2 seeds adds nothing (its noise is unknown); (None, None) if neither has 2.
    """
    parts = []
    for s in (a, b):
        n, std = s.get("n") or 0, s.get("std")
        if n > 1 and std is not None:
            parts.append(((std * math.sqrt(n / (n - 1))) ** 2 / n, n - 1))  # sample variance of the mean, df
    if not parts:
        return None, None
    var = sum(v for v, _ in parts)
    if var == 0:
        return 0.0, float(sum(d for _, d in parts))
    return math.sqrt(var), var**2 / sum(v**2 / d for v, d in parts)


def diff_bound(a: dict[str, Any], b: dict[str, Any], confidence: float = CONFIDENCE) -> float:
    """Return the half-width of the two-sided Student-t interval of mean(a) - mean(b) (Welch), from `spread` dicts.

    0.0 when neither side has 2 seeds: the noise is unknown, and callers' fixed thresholds decide alone.
    """
    se, df = welch(a, b)
    return 0.0 if se is None or df is None else t_critical(df, confidence) * se


def paired(values: Sequence[float | None]) -> dict[str, Any]:
    """Return the mean, standard error (sample std, ddof 1), degrees of freedom and count of per-seed differences.

    se and df are None with fewer than 2 finite values; mean is None with none.
    """
    v = finite_values(values)
    n = len(v)
    if n < 2:
        return {"mean": v[0] if v else None, "se": None, "df": None, "n": n}
    return {"mean": float(np.mean(v)), "se": float(np.std(v, ddof=1) / math.sqrt(n)), "df": float(n - 1), "n": n}


def bound(se: float | None, df: float | None, confidence: float = CONFIDENCE) -> float | None:
    """Return the half-width t x se of the two-sided Student-t interval, or None if the noise is unknown."""
    return None if se is None or df is None else t_critical(df, confidence) * se


def equivalent(
    mean: float | None, se: float | None, df: float | None, margin: float, confidence: float = CONFIDENCE
) -> bool:
    """Return True if two one-sided t tests, each at level 1 - `confidence`, put the true mean inside +-`margin`.

    That is: the two-sided interval at 2 x confidence - 1 (90% for 95%) lies inside (-margin, margin).
    Never True when the noise is unknown (fewer than 2 seeds): a null result is not equivalence.
    """
    if mean is None or se is None or df is None:
        return False
    half = t_critical(df, round(2 * confidence - 1, 6)) * se
    return -margin < mean - half and mean + half < margin


def diff_se(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Return the standard error of mean(a) - mean(b) from two `spread` dicts (sample std, ddof 1).

    A side with a single seed adds nothing (its noise is unknown): callers then rely on a fixed threshold.
    """
    total = 0.0
    for s in (a, b):
        n, std = s.get("n") or 0, s.get("std")
        if n > 1 and std is not None:
            total += (std * math.sqrt(n / (n - 1))) ** 2 / n
    return math.sqrt(total)


def pct(x: float | None) -> str:
    """Return `x` as a percentage with one decimal, or 'n/a'."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


def columns(cells: Sequence[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Return `spread` cells as the columns a band figure draws: {"mean": [...], "min": [...], "max": [...]}."""
    return {k: [c[k] for c in cells] for k in ("mean", "min", "max")}
