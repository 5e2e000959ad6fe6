"""The Live lab's "Inside the norm" tab: one real mini-batch stepped through the first block's norm layer."""

from __future__ import annotations

from typing import Any

import streamlit as st

from vizcore.figures.kit import trusted
from vizcore.figures.norm_inside import STEP_LABELS, STEPS, norm_inside
from vizcore.ui.live import Shown, View, label, styled
from vizcore.ui.live_chart import Prepared, live_chart, prepare
from vizcore.ui.live_jobs import PREFIX, job, keep_one, twin

STEP_KEY, MODE_KEY = f"{PREFIX}inside_step", f"{PREFIX}inside_eval"
# The controls' values while the tab is closed: Streamlit drops a widget's state in a run that does not draw it.
KEPT = f"{PREFIX}inside_kept"


def _run_with_norm(shown: Shown) -> tuple[dict | None, Any]:
    """Return the run to look inside (the session's, or its twin's when only the twin has a norm) and its job."""
    for run, snap, j in ((shown.run, shown.snap, job()), (shown.twin_run, shown.twin_snap, twin())):
        if run is not None and run["config"]["norm"] != "none":
            return run, j if snap is not None else None
    return shown.run, job() if shown.snap is not None else None


def inside_the_norm(where: Any, shown: Shown, view: View) -> None:
    """Draw the step control, the train/eval switch and the figure of the norm layer's steps in `where`."""
    run, j = _run_with_norm(shown)
    if run is None:
        return
    kept = st.session_state.setdefault(KEPT, {STEP_KEY: "values", MODE_KEY: False})
    for key, value in kept.items():
        st.session_state.setdefault(key, value)
    with where:
        row = st.container(horizontal=True, vertical_alignment="bottom")
        step = row.segmented_control(
            "Step through",
            list(STEPS),
            key=STEP_KEY,
            on_change=keep_one(STEP_KEY, "values"),
            format_func=STEP_LABELS.get,
            help="Go through what the norm layer does to a real mini-batch, one step at a time.",
        )
        evaluating = row.toggle(
            "Eval mode",
            key=MODE_KEY,
            help="At test time batch norm normalizes with its running averages instead of the batch's own "
            "statistics. The other norms have none: they compute the same in both modes.",
        )
        mode = "eval" if evaluating else "train"
        kept.update({STEP_KEY: step or "values", MODE_KEY: evaluating})

        def build() -> Prepared:
            with trusted():
                return prepare(styled(norm_inside(run, step or "values", mode), "all", view.present))

        key = ("norm_inside", step, mode, view.present)
        fig = j.memo(run, key, build) if j is not None else build()
        live_chart(fig, key="inside")
        if run is not shown.run:
            st.caption(f"This network has no norm layer: shown is the {label(run)} run trained beside it.")
        st.caption(
            "The first block's norm layer on the latest snapshot's training batch. Each row is an example, each "
            "column a unit (a channel in a cnn); numbers are rounded to 2 decimals (hover for 4)."
        )
