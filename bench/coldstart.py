"""Cold start: how long a fresh server's first visitor waits for NormLab's navigation and a usable page.

Each round starts a fresh `streamlit run app.py` (bench.browser's `start_server`: loopback port,
a temporary run store), waits until it answers `/_stcore/health`, and opens the Live lab once as
a protocol-level tab (bench.classroom's `Tab`: the websocket and protobufs the frontend speaks,
with no rendering). From opening the websocket it times

- navigation: the first `navigation` message naming NormLab's own pages, and whether an earlier one
  named others (the raw `pages/` file list Streamlit shows before `st.navigation` runs);
- usable: the first full script run finished with Start enabled.

Beside it, in the same round, a trivial Streamlit page (a title and a Start button) started the
same way: the machine is shared, so the ratio NormLab / hello, measured side by side, is what
compares across runs; the absolute times follow the load average. The browser's own download and
parsing of Streamlit's frontend is the same for both and is not in these numbers (bench.browser
measures pages in Chromium).

Nothing asserts: a failure becomes a row reading "failed: ...".
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from . import Row
from .browser import start_server
from .classroom import LOAD_TIMEOUT_S, PACE, Tab, preset_link, stop_tree

NAME = "cold start"
AIM_S = 2.0
HELLO = 'import streamlit as st\n\nst.title("Hello")\nst.button("Start")\n'
NORMLAB_PAGE = "Live lab"  # the default page's title in NormLab's own navigation


async def first_visit(url: str, query: str, start: bool = True) -> dict:
    """Open one tab on a fresh server; return seconds to its navigation and to a usable page, and the page names."""
    tab = Tab(url, query, "first visitor")
    t0 = time.monotonic()
    try:
        await tab.open()
        # The Live lab (and hello) are usable with Start enabled; "/" has no Start: its first full run drawn.
        ready = tab.usable if start else lambda: tab.full_done > 0 and not tab.running
        await tab.wait(ready, t0 + LOAD_TIMEOUT_S, "first page")
        usable = time.monotonic() - t0
    finally:
        await tab.close()
    own = [at for at, pages in tab.navs if NORMLAB_PAGE in pages]
    return {
        "nav_s": own[0] - t0 if own else float("nan"),
        "usable_s": usable,
        "navs": [(round(at - t0, 3), pages) for at, pages in tab.navs],
        "other_first": bool(tab.navs) and NORMLAB_PAGE not in tab.navs[0][1],
        "errors": tab.errors,
    }


def one(root: "str | Path | None", query: str, runs: Path, start: bool = True) -> dict:
    """Start a fresh server in `root` (NormLab's if None), time its first visit, stop it; return the numbers."""
    from .sweeps import load_average

    t = time.monotonic()
    url, proc = start_server(runs, **({} if root is None else {"root": root}))
    try:
        out = {"server_start_s": time.monotonic() - t, "load": load_average()}
        out.update(asyncio.run(first_visit(url, query, start)))
        return out
    finally:
        stop_tree(proc)


def measure(rounds: int = 3) -> dict:
    """Alternate `rounds` fresh NormLab servers (the teacher's Live-lab link, then "/") with hello servers."""
    out: dict = {"normlab": [], "landing": [], "hello": []}
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello"
        hello.mkdir()
        (hello / "app.py").write_text(HELLO)
        for r in range(rounds):
            out["normlab"].append(one(None, preset_link(1500, PACE), Path(tmp) / f"runs{r}"))
            out["hello"].append(one(hello, "", Path(tmp) / f"hello-runs{r}"))
            out["landing"].append(one(None, "", Path(tmp) / f"landing-runs{r}", start=False))
    return out


def run(rounds: int = 3) -> list[Row]:
    """Measure the cold start; return its row ("failed: ..." on error)."""
    try:
        d = measure(rounds)
    except Exception as e:
        return [Row(NAME, f"failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}")]
    nl, hello, landing = d["normlab"], d["hello"], d["landing"]
    usable = statistics.median(v["usable_s"] for v in nl)  # the Live lab: the heavier first page
    nav = statistics.median(v["nav_s"] for v in nl)
    ref = statistics.median(v["usable_s"] for v in hello)
    other = sum(v["other_first"] for v in nl)
    ratios = [a["usable_s"] / b["usable_s"] for a, b in zip(nl, hello, strict=True)]
    errors = [e for v in nl + hello + landing for e in v["errors"]]

    def secs(vs: "list[dict]") -> str:
        return ", ".join(f"{v['usable_s']:.2f}" for v in vs)

    return [
        Row(
            NAME,
            f"usable {usable:.2f} s median (NormLab's navigation {nav:.2f} s; another first in {other} of "
            f"{len(nl)}), a hello page {ref:.2f} s: "
            f'{statistics.median(ratios):.2f}x; "/" (Start here) '
            f"{statistics.median(v['usable_s'] for v in landing):.2f} s",
            usable / AIM_S,
            f"< {AIM_S:g} s",
            f"{rounds} fresh servers each, alternated: websocket open -> first navigation message / first full "
            f"run finished with Start enabled ({preset_link(1500, PACE)}); hello = a title and a Start button, "
            f"started the same way; per round usable {secs(nl)} s vs hello "
            f'{secs(hello)} s, "/" {secs(landing)} s (ratios {", ".join(f"{x:.2f}" for x in ratios)}); '
            f"load avg at each start {', '.join(v['load'] for v in nl)}; {len(errors)} errors"
            + (f", first: {errors[0]}" if errors else "")
            + "; ratio = median usable / aim",
            d,
        )
    ]


def main(argv: "list[str] | None" = None) -> int:
    """`python -m bench.coldstart [--rounds N]`: print the row; return 0."""
    import argparse

    from . import format_table

    p = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3, help="fresh servers of each kind, alternated")
    args = p.parse_args(argv)
    print(format_table(run(args.rounds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
