"""Batch size: does batch norm break down with small batches (Wu & He 2018, Figure 1)? Measured here."""

import streamlit as st

from vizcore.labs import batch as lab
from vizcore.ui import batch_view as view
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import config_controls, explain_invalid

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Batch size")
st.markdown(
    "Batch norm normalizes every unit with the mean and variance of the **current mini-batch**. With a "
    "few examples per batch those are noisy guesses of the real statistics. Wu & He (2018) found that on "
    "ImageNet batch norm's error grows sharply below 8 images per GPU (24.8% at 8, 34.7% at 2) while "
    "group norm holds. Does it here? Train a grid of runs and see."
)
st.sidebar.caption(
    "**Base configuration.** The sweep varies norm, batch size and seed; the rest comes from here. "
    "Steps at the base batch size set the budget."
)
base = config_controls("bs_", sync_url=False, base=lab.default_base(), hide=("norm",))  # the sweep varies it
if base is None:
    explain_invalid("Run sweep is")
plan = view.plan(base)  # batch sizes x norms x seeds
view.buttons(plan, base)  # the session's SweepJob
running = view.alive()


@view.watch.poll("bs", running, every=1.0, alive=view.alive)
def results() -> None:
    job = view.job()
    snap = job.snapshot() if job is not None else None
    if snap is None:
        st.info("Choose batch sizes and norms, then press **Run sweep**. The paper's numbers are on the right.")
    else:
        view.status(snap)
    d = view.digest(job, snap, plan)
    left, right = st.columns(2)
    left.plotly_chart(d["acc_fig"], key="bs_acc", theme=None)
    left.caption("Look for the batch-norm line falling away at the left while layer and group norm stay flat.")
    right.plotly_chart(view.paper_figure(), key="bs_paper", theme=None)
    right.caption(f"{lab.PAPER_DIFFERS} Look at the shape, not the level.")
    if snap and snap.state in ("done", "cancelled", "error") and d["table"]:
        note = "" if snap.state == "done" else " (from the runs that finished)"
        st.markdown(f"**Verdict{note}.** {d['verdict']['text']}")
    if d["gap_fig"] is not None:
        st.plotly_chart(d["gap_fig"], key="bs_gap", theme=None)
        st.markdown(d["gap"])
        st.caption(
            "Where the lines part, normalizing with a batch's own statistics (as in training) and with the "
            "running averages (as at test time) give different answers from the same weights."
        )
    view.numbers(d)


@st.fragment(run_every=1.0 if running and view.job().probe is None else None)
def deviation() -> None:
    st.subheader("How far one batch's statistics stray")
    if view.deviation():
        st.caption(
            "The input of the block's norm layer, whole training set = population. The narrower both "
            "histograms, the closer training-time normalization is to test-time; the mean's spread shrinks as "
            "1/√B, and at small B the batch variance usually runs low, so training stretches values more."
        )


results()
deviation()
