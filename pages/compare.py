"""Compare: two to four variants of one configuration, trained side by side, differing in one knob."""

import streamlit as st

from vizcore.figures.compare import compare_histograms
from vizcore.figures.curves import curves
from vizcore.labs import compare
from vizcore.ui import compare_view as view
from vizcore.ui.routing import use_app_router
from vizcore.ui.watch import poll
from vizcore.ui.widgets import config_controls

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Compare")
st.markdown(
    "Set a base configuration in the sidebar, then vary **one knob**: each variant is the base with only that "
    "knob changed. All variants share the seed, so they start from the **same initial weights** (they differ "
    "only where layer shapes differ) and draw the **same batches in the same order** (unless the batch size "
    "differs). What differs in the charts comes from the knob, and from chance: with one seed, small "
    "differences can be noise (the Experiments page runs several seeds)."
)
base = config_controls("cmp_", sync_url=False)
variants = view.variants(base)  # the base with one knob changed
view.buttons(variants)  # one Job per variant
view.stale(variants)
live = view.alive()
TAP_HELP = "Which point in each block: Linear output, norm output, activation output."


@poll("cmp", live, every=0.5, alive=view.alive)
def results() -> None:
    labels, runs, snaps = view.current()
    if not runs:
        st.info("Choose a knob and its values, then press **Start**.")
        return
    view.status(labels, runs, snaps)
    st.plotly_chart(curves(runs, labels), key="cmp_curves", theme=None)
    st.caption(
        "Look for the gap between the colours: which variant's loss falls first and how far apart the "
        "accuracies end. Solid is train, dashed is test (eval mode)."
    )
    view.readout(labels, runs)


@st.fragment(run_every=2.0 if live else None)  # slower: small multiples cost ~10x the curves to build
def distributions() -> None:
    labels, runs, _ = view.current()
    if not runs:
        return
    tap = st.segmented_control("Tap", ["linear", "norm", "act"], default="act", key="cmp_tap", help=TAP_HELP)
    shown, names, notes = compare.with_histograms(runs, labels, tap or "act")
    if shown:
        st.plotly_chart(compare_histograms(shown, tap or "act", names), key="cmp_hists", theme=None)
        st.caption(
            "One row per variant, one column per block: look for rows whose deep blocks widen, drift off "
            "centre or pile up at an edge, compared with the rows above and below."
        )
    if notes:
        st.caption("Not shown: " + "; ".join(notes) + ".")


results()
distributions()
