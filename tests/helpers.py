"""Shared test helpers: the app in AppTest, and polling."""

import json
import re
import string
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def open_app(page: str | None = None) -> AppTest:
    """Return the app run once in AppTest, switched to `page` if given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    if page is not None:
        at.switch_page(page).run()
    return at


def stop_jobs(at: AppTest) -> None:
    """Stop the session's Live-lab job and its twin, and wait for their threads to end."""
    for key in ("live_job", "live_twin"):
        job = at.session_state[key] if key in at.session_state else None
        if job is not None:
            job.stop()
            assert job.join(30)


def figures(at: AppTest) -> list[dict]:
    """Return every chart's plotly figure on the page, in page order: st.plotly_chart and the live charts."""
    out = []
    for el in _walk(at.main):
        if el.type == "plotly_chart":
            out.append(json.loads(el.proto.spec))
        elif el.type == "bidi_component":
            out.append(json.loads(el.proto.bytes)["figure"])
    return out


def _walk(node):
    children = getattr(node, "children", None)
    if children is None:
        yield node
        return
    for child in children.values() if isinstance(children, dict) else children:
        yield from _walk(child)


def shown(markdown: str) -> str:
    """Return the text a reader sees of `markdown`'s backslash escapes (ui.text.plain escapes outside values).

    The invisible word joiners plain puts into `http://`, `www.` and `a@b` (so Streamlit links none) are dropped.
    """
    return re.sub("\\\\([" + re.escape(string.punctuation) + "])", r"\1", markdown).replace("\u2060", "")


def comparable(run: dict) -> dict:
    """Return the run as JSON reads it back, without the wall-clock time (the one field that is not reproducible)."""
    from vizcore import dumps

    out = json.loads(dumps(run))
    out.pop("elapsed_s", None)
    return out


def wait_for(cond, timeout: float = 60.0) -> None:
    """Poll `cond` until it is true (AppTest fires no timers and does not wait for threads)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def assert_valid_result(exp, result, n_figures: int) -> None:
    """Check what every experiment's Result must be: a valid label, finite or missing numbers,
    strict JSON, and `n_figures` figures that build, each with a caption."""
    import json
    import math

    from vizcore.engine import runfile

    assert result.verdict.label in ("supported", "not supported", "it depends")
    for k, v in result.verdict.numbers.items():
        assert v is None or (isinstance(v, (int, float)) and math.isfinite(v)), k
    json.loads(runfile.dumps(result.to_dict()))
    figs = exp.figures(result)
    assert len(figs) == n_figures and all(caption for _, caption in figs)
    for fig, _ in figs:
        fig.to_json()


def assert_reproducible_verdict(exp, label: str, workers: int = 1):
    """Run `exp` at its default budget twice (the second with `workers` processes), check both give the
    same verdict and that its label is `label`; return the first Result for further checks."""
    a, b = exp.run(), exp.run(workers=workers)
    assert a.verdict == b.verdict
    assert a.verdict.label == label
    return a
