"""The Compare page's parts: the knob and its values, the variants' jobs, their status and readout."""

from __future__ import annotations

import streamlit as st

from vizcore.engine.config import RunConfig
from vizcore.labs import compare
from vizcore.ui.text import plain
from vizcore.ui.widgets import explain_invalid, get_store
from vizcore.workers.jobs import Job, JobSnapshot


def variants(base: RunConfig | None) -> list[dict]:
    """Draw the knob and its values; return the valid variants (label, config), saying which were skipped."""
    left, right = st.columns([1, 2])
    knob = left.selectbox(
        "Vary one knob", list(compare.KNOBS), format_func=lambda k: compare.KNOBS[k].label, key="cmp_knob"
    )
    values = right.multiselect(
        f"Values ({compare.MIN_VARIANTS} to {compare.MAX_VARIANTS})",
        compare.options(knob),
        default=list(compare.KNOBS[knob].default),
        format_func=compare.fmt_value,
        key=f"cmp_values_{knob}",
        max_selections=compare.MAX_VARIANTS,
        accept_new_options=True,
        help="Pick presets, or type another value and press Enter. Remove one to add another beyond four.",
    )
    made, rejected = compare.make_variants(base, knob, values) if base is not None else ([], [])
    st.caption(compare.held_fixed(knob))
    if base is None:
        explain_invalid("Start is")
    for r in rejected:  # a typed value: shown as the text it is
        st.warning(f"**{plain(r['label'])}** is skipped: {plain(r['error'], limit=300)}")
    return made


def jobs() -> dict[str, Job]:
    """Return the session's jobs by variant label."""
    return st.session_state.get("cmp_jobs", {})


def alive() -> bool:
    """Return True while any variant trains."""
    return any(j.alive for j in jobs().values())


def buttons(made: list[dict]) -> None:
    """Draw Start, Stop and Reset; train every variant live, or stop them all."""
    b = st.columns([1, 1, 1, 5])
    start = b[0].button(
        "Start",
        type="primary",
        disabled=len(made) < compare.MIN_VARIANTS,
        help="Train every variant (restarts a running comparison)",
    )
    stop = b[1].button("Stop", disabled=not alive(), help="Stop every variant; what each has recorded is kept")
    reset = b[2].button("Reset", disabled="cmp_order" not in st.session_state)
    if not (start or stop or reset):
        return
    for j in jobs().values():
        j.stop()
    for j in jobs().values():
        j.join(5)
    if start or reset:
        for k in ("cmp_jobs", "cmp_loaded", "cmp_order"):
            st.session_state.pop(k, None)
    if start:  # always trained live, also when identical runs were saved before
        store = get_store()
        started = {v["label"]: Job(v["config"], store=store).start() for v in made}
        st.session_state.update(cmp_jobs=started, cmp_loaded={}, cmp_order=[v["label"] for v in made])
    st.rerun()  # redraw the buttons and the polling for the new state


def stale(made: list[dict]) -> None:
    """Say so when the variants on screen are not the ones chosen now."""
    order = st.session_state.get("cmp_order", [])
    if order and [v["label"] for v in made] != order:
        st.info("You changed the variants or the base: press **Start** to train the new ones.")


def current() -> tuple[list[str], list[dict], list[JobSnapshot | None]]:
    """Return (labels, run dicts, Job snapshots or None for reused runs) in variant order."""
    running, loaded = jobs(), st.session_state.get("cmp_loaded", {})
    labels = [lb for lb in st.session_state.get("cmp_order", []) if lb in running or lb in loaded]
    snaps = [running[lb].snapshot() if lb in running else None for lb in labels]
    runs = [s.run if s else loaded[lb] for s, lb in zip(snaps, labels, strict=True)]
    return labels, runs, snaps


def status(labels: list[str], runs: list[dict], snaps: list[JobSnapshot | None]) -> None:
    """Draw one progress line per variant."""
    for label, run, snap in zip(labels, runs, snaps, strict=True):
        steps = f"step {run['steps_done']:,} of {run['config']['steps']:,}"
        state = plain(compare.state_text(run, snap), limit=300)  # may carry a job's error text
        st.progress(compare.progress(run), text=f"**{plain(label)}** · {steps} · {state}")


def readout(labels: list[str], runs: list[dict]) -> None:
    """Draw the differences table (final accuracy, loss, steps to target) and what its target means."""
    result = compare.readout(runs, labels)
    st.dataframe(compare.format_readout(result), hide_index=True)
    target = "n/a" if result["target"] is None else f"{100 * result['target']:.1f}%"
    st.caption(
        f"Differences are from the first variant. *Steps to target*: first evaluation at which test "
        f"accuracy reached {target}, 90% of the best any variant reached; *never* if it did not."
    )
