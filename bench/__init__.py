"""NormLab benchmarks: recording overhead and memory of long runs.

Run them all with `python -m bench` (or `make bench`); `python -m bench --quick`
is the few-second smoke version CI runs. Nothing here asserts a timing: the
numbers are printed beside their aims, and docs/performance.md explains them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Row:
    """One line of the results table."""

    name: str  # stable row name (the smoke test looks for it)
    result: str  # the measurement, human-readable
    ratio: "float | None" = None  # against the reference row (bare loop, or the short run)
    aim: str = ""
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers for --json

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return asdict(self)


def single_thread() -> None:
    """Pin this process to one intra-op (and, if still possible, one inter-op) torch thread."""
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work has started: harmless
        pass


def format_table(rows: list[Row]) -> str:
    """Return `rows` as a fixed-width text table (benchmark, result, ratio, aim, note)."""
    head = ("benchmark", "result", "ratio", "aim", "note")
    body = [(r.name, r.result, "-" if r.ratio is None else f"{r.ratio:.2f}x", r.aim or "-", r.note) for r in rows]
    widths = [max(len(line[k]) for line in [head, *body]) for k in range(4)]

    def fmt(line: tuple[str, ...]) -> str:
        cells = [c.ljust(w) for c, w in zip(line[:4], widths, strict=True)]
        return "  ".join([*cells, line[4]]).rstrip()

    rule = "  ".join("-" * w for w in widths) + "  ----"
    return "\n".join([fmt(head), rule, *(fmt(line) for line in body)])
