"""Compare page histograms: rows are runs, columns are blocks, one shared x range."""

import numpy as np
import pytest

from tests.figures.helpers import annotations, subtitle
from vizcore.figures.compare import compare_histograms
from vizcore.figures.ranges import percent


def test_compare_histograms_rows_are_runs_columns_are_blocks(bn, deep, moons):
    fig = compare_histograms([bn, deep, moons], "act", ["bn", "deep", "moons"])
    assert len(fig.data) == 3 + 5 + 4
    titles = annotations(fig)
    assert [f"block{i}" for i in range(1, 6)] == titles[:5]
    ylabels = [fig.layout[f"yaxis{'' if k == 1 else k}"].title.text for k in (1, 6, 11)]
    assert ylabels == ["bn", "deep", "moons"]
    for k, (trace, layer) in enumerate(zip(fig.data[:3], bn["layers"], strict=True)):
        h = layer["taps"]["act"]["hist"]
        total = sum(h["counts"][-1]) + h["under"][-1] + h["over"][-1]
        counts = np.array(h["counts"][-1], dtype=float)
        zero = layer["taps"]["act"]["saturated"][-1]
        counts[0] -= round(zero * total)  # relu: the exact zeros are a number of their own, not a bar
        np.testing.assert_allclose(trace.y, counts / total, atol=1e-5)
        note = [a.text for a in fig.layout.annotations if a.xref == ("x domain" if k == 0 else f"x{k + 1} domain")]
        assert note == [f"{percent(zero)} exactly 0"]
    assert "the share exactly 0 is written in each chart" in subtitle(fig)
    xs = {fig.layout[k].matches or k.replace("axis", "") for k in fig.layout if k.startswith("xaxis")}
    assert len(xs) == 1  # one shared x range
    # percentile lines at each run's last frame
    p50 = [s.x0 for s in fig.layout.shapes if s.name == "p50" and s.xref == "x6"]
    assert p50 == [pytest.approx(deep["layers"][0]["taps"]["act"]["p50"][-1])]


def test_compare_histograms_marks_a_run_without_the_tap(bn, moons):
    fig = compare_histograms([bn, moons], "norm", ["bn", "no norm"])
    assert len(fig.data) == len(bn["layers"])
    assert "this run has no norm layer" in annotations(fig)
