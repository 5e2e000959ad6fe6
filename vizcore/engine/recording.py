"""Recording: forward hooks that turn each block's three taps into summaries.

Hooks live only inside `Recorder.capture()` (a context manager that always removes
them) and hold the tap outputs until `commit()` reduces them to numbers; raw
tensors never enter the history. History is preallocated at `max_snapshots`
frames and thinned 2:1 when full, so memory is flat in the number of steps.

Histograms use edges fixed at the first snapshot (shared by every block of a tap,
so blocks compare on one axis) and count values below/above the range in separate
`under`/`over` bins instead of folding them into the edge bins.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from vizcore.engine.config import RunConfig
from vizcore.engine.models import ACTIVATIONS, Net, act_input_tap
from vizcore.engine.norm_sample import NormSampler

TAPS = ("linear", "norm", "act")
STATS = ("mean", "std", "p15", "p50", "p85", "min", "max", "saturated", "dead", "nonfinite")
QUANTILES = (0.15, 0.5, 0.85)


def nice_ceil(x: float) -> float:
    """Return the smallest of 1, 2, 5 x 10^k that is >= x (x > 0)."""
    exp = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10**exp >= x * (1 - 1e-12):
            return float(m * 10**exp)
    return float(10 ** (exp + 1))  # pragma: no cover


def auto_edges(lo: float, hi: float, bins: int, bounds: "tuple[float, float] | None" = None) -> np.ndarray:
    """Return fixed histogram edges for values first seen in [lo, hi].

    Bounded activations use their exact output range. Otherwise the range is
    twice the largest magnitude seen, rounded up to 1/2/5 x 10^k, so the
    distribution can grow without leaving the axis; it is [0, R] if nothing was
    negative and [-R, R] otherwise.
    """
    if bounds is not None:
        return np.linspace(bounds[0], bounds[1], bins + 1)
    mag = max(abs(lo), abs(hi)) if math.isfinite(lo) and math.isfinite(hi) else 0.0
    r = nice_ceil(2 * mag) if mag > 0 else 1.0
    return np.linspace(0.0 if lo >= 0 else -r, r, bins + 1)


def quantiles(s: np.ndarray, qs: "tuple[float, ...]" = QUANTILES) -> np.ndarray:
    """Return (rows, len(qs)) quantiles of rows sorted ascending, as numpy's "linear" method."""
    m = s.shape[1]
    pos = np.array(qs) * (m - 1)
    lo = np.floor(pos).astype(np.intp)
    hi, t = np.minimum(lo + 1, m - 1), pos - lo
    a, b = s[:, lo].astype(np.float64), s[:, hi].astype(np.float64)
    # numpy's _lerp: exact at both ends of the interval
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


def counts_sorted(row: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return [under, bins..., over] counts of a sorted, finite row.

    Bins are [e_i, e_i+1) except the last, which includes its right edge, exactly as
    numpy.histogram (whose explicit-edges path also searches sorted data).
    """
    left = np.searchsorted(row, edges, side="left")
    right = int(np.searchsorted(row, edges[-1], side="right"))
    counts = np.empty(len(edges) + 1, dtype=np.int64)
    counts[0] = left[0]
    counts[1:-2] = np.diff(left[:-1])
    counts[-2] = right - left[-2]
    counts[-1] = row.size - right
    return counts


def counts_rows(sd: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return (rows, bins + 2) [under, bins..., over] counts of sorted, finite float64 rows.

    `edges` is one edge array for every row, or (rows, bins + 1), one per row. The same
    rule as `counts_sorted` (numpy.histogram's, the last bin including its right edge),
    for every row in one batched `torch.searchsorted`, which compares in float64 as
    numpy's searchsorted does: the number of values below each edge, and below the
    float64 just above the last edge (= at most the last edge).
    """
    rows, n = sd.shape
    e = np.asarray(edges, dtype=np.float64)
    probe = _probe(e.tobytes(), e.shape, rows)
    below = torch.searchsorted(torch.from_numpy(np.ascontiguousarray(sd)), probe).numpy()
    counts = np.empty((rows, e.shape[-1] + 1), dtype=np.int64)
    counts[:, 0] = below[:, 0]
    counts[:, 1:-2] = np.diff(below[:, :-2], axis=1)  # [e_i, e_i+1); the last bin...
    counts[:, -2] = below[:, -1] - below[:, -3]  # ...includes its right edge
    counts[:, -1] = n - below[:, -1]
    return counts


@functools.lru_cache(maxsize=64)
def _probe(edges: bytes, shape: tuple[int, ...], rows: int) -> torch.Tensor:
    """Return `counts_rows`'s search values, (rows, E + 1): the edges, then the float64 after the last."""
    e = np.broadcast_to(np.frombuffer(edges, dtype=np.float64).reshape(shape), (rows, shape[-1]))
    return torch.from_numpy(np.ascontiguousarray(np.concatenate([e, np.nextafter(e[:, -1:], np.inf)], axis=1)))


def _mean_std(sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per-row mean and std (ddof 0) of float64 rows, computed as numpy's mean and _var."""
    n = sd.shape[1]
    m = sd.sum(1) / n
    d = sd - m[:, None]
    np.multiply(d, d, out=d)
    return m, np.sqrt(d.sum(1) / n)


def sorted_stats(s: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (stats, counts) for rows sorted ascending by np.sort (non-finite values at the ends).

    `edges` is one edge array for every row, or (rows, bins + 1), one per row.
    stats is (rows, 8): mean, std (ddof 0), p15, p50, p85, min, max and the
    fraction of non-finite values, all over the finite values only; counts is
    (rows, bins + 2): [under, bins..., over], non-finite values not counted.
    """
    rows, n = s.shape
    if np.isfinite(s[:, 0]).all() and np.isfinite(s[:, -1]).all():  # sorted: the ends decide
        sd = s.astype(np.float64)  # float64: huge finite values must not overflow
        stats = np.empty((rows, 8))
        stats[:, 0], stats[:, 1] = _mean_std(sd)
        stats[:, 2:5] = quantiles(sd)
        stats[:, 5], stats[:, 6], stats[:, 7] = sd[:, 0], sd[:, -1], 0.0
        return stats, counts_rows(sd, edges)
    stats = np.full((rows, 8), np.nan)
    row_edges = np.broadcast_to(edges, (rows, np.shape(edges)[-1]))
    counts = np.zeros((rows, row_edges.shape[1] + 1), dtype=np.int64)
    for r in range(rows):
        row = s[r]
        lo = int(np.searchsorted(row, -np.inf, side="right"))
        hi = int(np.searchsorted(row, np.inf, side="left"))  # +inf and NaN sort last
        f = row[lo:hi]
        stats[r, 7] = 1 - f.size / n
        if f.size:
            stats[r, 0], stats[r, 1] = f.mean(dtype=np.float64), f.std(dtype=np.float64)
            stats[r, 2:5] = quantiles(f[None, :])[0]
            stats[r, 5], stats[r, 6] = f[0], f[-1]
            counts[r] = counts_sorted(f, row_edges[r])
    return stats, counts


def saturation(x: "np.ndarray | torch.Tensor", saturated) -> tuple[np.ndarray, np.ndarray]:
    """Return (saturated, dead) per row of `x` (rows, batch, units, ...).

    `saturated` is the fraction of values in the activation's flat region; `dead`
    the fraction of units (dim 2) saturated for every example and position. Both
    are float32 ratios of counts (as a float32 mean of the mask), in float64.
    """
    x = np.asarray(x)
    rows, batch = x.shape[0], x.shape[1]
    units = x.shape[2] if x.ndim > 2 else 1
    mask = saturated(x).reshape(rows, batch, units, -1)
    sat = np.count_nonzero(mask.reshape(rows, -1), axis=1)
    dead = np.count_nonzero(mask.all(axis=3).all(axis=1), axis=1)
    return _ratio(sat, mask[0].size), _ratio(dead, units)


def _ratio(count: np.ndarray, n: int) -> np.ndarray:
    return (count.astype(np.float32) / np.float32(n)).astype(np.float64)


class TapHistory:
    """Statistics and histogram counts of one tap of one block: views into the recorder's arrays."""

    def __init__(self, stats: np.ndarray, counts: np.ndarray):
        self.stats, self.counts = stats, counts  # (cap, len(STATS)), (cap, bins + 2)


class LayerHistory:
    """One block's frames: steps, taps on the training batch and on the probe set, weight statistics (views)."""

    def __init__(
        self,
        name: str,
        steps: np.ndarray,
        taps: dict[str, TapHistory],
        weights: np.ndarray,
        probe: dict[str, TapHistory],
    ):
        self.name, self.steps, self.taps, self.probe = name, steps, taps, probe
        self.weights = weights  # (cap, 3): grad_norm, weight_norm, update_ratio


class Recorder:
    """Hooks on every block's taps, and the bounded history they feed."""

    def __init__(self, net: Net, cfg: RunConfig):
        self.net, self.cfg = net, cfg
        self.taps = TAPS if cfg.norm != "none" else ("linear", "act")
        self.activation = ACTIVATIONS[cfg.activation]
        self._act_input = act_input_tap(cfg.norm, cfg.placement)
        self.cap, self.bins = cfg.max_snapshots, cfg.bins
        self.probing = cfg.probe_size > 0
        n_blocks, n_taps = len(net.blocks), len(self.taps)
        # One preallocated array per quantity, (frame, block, tap, ...): a frame is stored, and
        # the history thinned, in one assignment each. The probe's frames share rows with the
        # training batch's (same steps, same edges).
        self._steps = np.zeros(self.cap, dtype=np.int64)
        self._stats = np.full((self.cap, n_blocks, n_taps, len(STATS)), np.nan)
        self._counts = np.zeros((self.cap, n_blocks, n_taps, self.bins + 2), dtype=np.int64)
        self._weights = np.full((self.cap, n_blocks, 3), np.nan)
        probe_cap = self.cap if self.probing else 0
        self._pstats = np.full((probe_cap, n_blocks, n_taps, len(STATS)), np.nan)
        self._pcounts = np.zeros((probe_cap, n_blocks, n_taps, self.bins + 2), dtype=np.int64)
        self.layers = [
            LayerHistory(
                f"block{i + 1}",
                self._steps,
                {t: TapHistory(self._stats[:, i, k], self._counts[:, i, k]) for k, t in enumerate(self.taps)},
                self._weights[:, i],
                {t: TapHistory(self._pstats[:, i, k], self._pcounts[:, i, k]) for k, t in enumerate(self.taps)},
            )
            for i in range(n_blocks)
        ]
        self.edges: dict[str, np.ndarray] = {}
        self._edge_rows: dict[tuple[str, ...], np.ndarray] = {}
        self.count = 0  # frames held
        self.stride = cfg.every  # steps between frames; doubles at each thinning
        # The latest export's values, per field: a frame, once committed, changes only when the history
        # is thinned (the stride doubles), so the next export reuses its values and adds the new frames'.
        self._exported: dict[tuple, tuple[int, int, list]] = {}  # field -> (stride, frames, values)
        self._pending: dict[tuple[int, str], torch.Tensor] = {}  # this step's training batch
        self._probe_pending: dict[tuple[int, str], torch.Tensor] = {}  # the probe set, same weights
        # the first block's norm input at the latest snapshot (None: not sampled)
        self.sampler: NormSampler | None = NormSampler(net, cfg)

    @property
    def pending(self) -> bool:
        """Return True if a capture holds training taps that no commit has reduced yet."""
        return bool(self._pending)

    def due(self, step: int) -> bool:
        """Return True if `step` is a snapshot step."""
        return step % self.stride == 0

    @contextmanager
    def capture(self, probe: bool = False) -> Iterator[None]:
        """Hook every tap for one forward pass (the probe set's if `probe`); the hooks are removed on exit."""
        handles = []
        into = self._probe_pending if probe else self._pending
        into.clear()
        try:
            for i, block in enumerate(self.net.blocks):
                for tap in self.taps:
                    module = getattr(block, tap)
                    handles.append(module.register_forward_hook(self._hook(into, i, tap)))
            sample = self.sampler.hook() if self.sampler is not None and not probe else None
            if sample is not None:
                handles.append(sample)
            yield
        finally:
            for h in handles:
                h.remove()

    @staticmethod
    def _hook(into: dict[tuple[int, str], torch.Tensor], i: int, tap: str) -> Any:
        def hook(module, inputs, output):
            into[(i, tap)] = output.detach()

        return hook

    def commit(self, step: int, weight_stats: "np.ndarray | None" = None) -> None:
        """Reduce the captured taps (and the probe's, if captured) to one frame at `step`.

        `weight_stats` is (blocks, 3) or None.
        """
        if not self._pending:
            return
        if self.count == self.cap:
            self._thin()
        row = self.count
        if not self.edges:  # from the training batch alone: a probe never changes a run's own numbers
            for tap in self.taps:
                self._set_edges(tap, [self._pending[(i, tap)] for i in range(len(self.layers))])
        frame, counts = self._reduce(self._pending)
        self._stats[row] = frame.reshape(self._stats.shape[1:])
        self._counts[row] = counts.reshape(self._counts.shape[1:])
        if self.probing and self._probe_pending:
            frame, counts = self._reduce(self._probe_pending)
            self._pstats[row] = frame.reshape(self._pstats.shape[1:])
            self._pcounts[row] = counts.reshape(self._pcounts.shape[1:])
        elif self.probing:
            self._pstats[row], self._pcounts[row] = np.nan, 0
        self._steps[row] = step
        if self.sampler is not None:
            self.sampler.keep(step)
        self._weights[row] = weight_stats if weight_stats is not None else np.nan
        self.count += 1
        self._pending.clear()
        self._probe_pending.clear()

    def _reduce(self, pending: dict[tuple[int, str], torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """Return (rows x STATS, rows x bins + 2) of one forward pass's taps, rows in frame order."""
        # Every output of one shape is reduced in one batch (all of an mlp's taps: one
        # sort, one histogram search, one pass for each statistic), since at this size
        # the per-call overhead, not the arithmetic, is most of the cost.
        keys = [(i, tap) for i in range(len(self.layers)) for tap in self.taps]  # the order of a frame's rows
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, key in enumerate(keys):
            groups.setdefault(tuple(pending[key].shape), []).append(k)
        frame = np.empty((len(keys), len(STATS)))
        counts = np.empty((len(keys), self.bins + 2), dtype=np.int64)
        frame[:, 7:9] = np.nan
        rule = self.activation.saturated
        for members in groups.values():
            rows = slice(members[0], members[-1] + 1) if len(members) == members[-1] - members[0] + 1 else members
            x = torch.stack([pending[keys[k]] for k in members]).numpy()  # our own copy
            acts = [j for j, k in enumerate(members) if keys[k][1] == "act"]
            if acts and rule is not None:
                # the rows the rule reads: each act row itself, or the row of its block's act input
                # (one block's taps share a shape, so they are in one group)
                src = (
                    [members.index(keys.index((keys[members[j]][0], self._act_input))) for j in acts]
                    if self.activation.on_input
                    else acts
                )
                frame[[members[j] for j in acts], 7:9] = np.column_stack(saturation(x[src], rule))
            s = x.reshape(len(members), -1)
            s.sort(axis=1)  # in place: x is not needed unsorted any more
            stats, counts[rows] = sorted_stats(s, self._row_edges(tuple(keys[k][1] for k in members)))
            frame[rows, :7], frame[rows, 9] = stats[:, :7], stats[:, 7]
        return frame, counts

    def _row_edges(self, taps: tuple[str, ...]) -> np.ndarray:
        """Return (len(taps), bins + 1): each row's histogram edges (fixed at the first snapshot)."""
        if taps not in self._edge_rows:
            self._edge_rows[taps] = np.stack([self.edges[t] for t in taps])
        return self._edge_rows[taps]

    def _set_edges(self, tap: str, outs: list[torch.Tensor]) -> None:
        finite = [o[torch.isfinite(o)] for o in outs]
        lo = min((float(f.min()) for f in finite if f.numel()), default=0.0)
        hi = max((float(f.max()) for f in finite if f.numel()), default=0.0)
        bounds = self.activation.bounds if tap == "act" else None  # a norm's output is unbounded
        self.edges[tap] = auto_edges(lo, hi, self.bins, bounds)

    def _thin(self) -> None:
        keep = np.flatnonzero(self._steps[: self.count] % (2 * self.stride) == 0)
        n = len(keep)
        for a in (self._steps, self._stats, self._counts, self._weights, self._pstats, self._pcounts):
            if len(a):  # the probe's arrays are empty when the run has no probe
                a[:n] = a[keep]
        self.count = n
        self.stride *= 2

    def export(self) -> list[dict]:
        """Return the layers' history as JSON-ready dicts (run-file format).

        Successive exports share the values of the frames they have in common (a live run exports
        at every new frame, and a long run's layers are tens of thousands of values): treat them as
        read-only. Each export has lists of its own.
        """
        out = []
        for i, layer in enumerate(self.layers):
            d: dict[str, Any] = {
                "name": layer.name,
                "steps": self._grown((i, "steps"), layer.steps, _ints),
                "taps": self._export_taps(i, "taps", layer.taps),
                "grad_norm": self._grown((i, "grad_norm"), layer.weights[:, 0], _floats),
                "weight_norm": self._grown((i, "weight_norm"), layer.weights[:, 1], _floats),
                "update_ratio": self._grown((i, "update_ratio"), layer.weights[:, 2], _floats),
            }
            if self.probing:
                d["probe"] = self._export_taps(i, "probe", layer.probe)
            out.append(d)
        return out

    def _grown(self, field: tuple, a: np.ndarray, values: Callable[[np.ndarray], list]) -> list:
        """Return `values(a[:count])`, reusing the values of the frames the last export of `field` had."""
        n = self.count
        last = self._exported.get(field)
        if last is not None and last[0] == self.stride and last[1] <= n:
            out = last[2] + values(a[last[1] : n])
        else:
            out = values(a[:n])
        self._exported[field] = (self.stride, n, out)
        return out

    def _export_taps(self, i: int, part: str, taps: dict[str, TapHistory]) -> dict[str, Any]:
        """Return block `i`'s taps (on the training batch or the probe, `part`) in the run-file format."""
        out = {}
        for tap, th in taps.items():
            d: dict[str, Any] = {
                name: self._grown((i, part, tap, name), th.stats[:, k], _floats) for k, name in enumerate(STATS)
            }
            d["hist"] = {
                "edges": self.edges.get(tap, np.zeros(0)).tolist(),
                "counts": self._grown((i, part, tap, "counts"), th.counts[:, 1:-1], _ints),
                "under": self._grown((i, part, tap, "under"), th.counts[:, 0], _ints),
                "over": self._grown((i, part, tap, "over"), th.counts[:, -1], _ints),
            }
            out[tap] = d
        return out


def _ints(a: np.ndarray) -> list:
    """Return `a` as (nested) lists of Python numbers."""
    return a.tolist()


def _floats(a: np.ndarray) -> list:
    """Return `a` as a list with non-finite values as None (strict JSON)."""
    return [float(v) if math.isfinite(v) else None for v in a.tolist()]
