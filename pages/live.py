"""Live lab: train one network, and the same network with normalization switched, and watch every layer."""

import streamlit as st

from vizcore.ui import diagram, live, live_jobs, missions
from vizcore.ui.norm_panel import inside_the_norm
from vizcore.ui.roles import sign_in
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import config_controls, downloads, explain_invalid

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Live lab")
network = st.sidebar.container()  # the network diagram heads the sidebar, drawn once the settings are read
cfg = config_controls("live_")  # the sidebar; None while its settings do not fit together
sign_in()  # a teacher (NORMLAB_TEACHER_TOKEN) may stop anyone's run
live_jobs.view_from_link()  # pace, zoom and presenter mode from the link
missions.banner(cfg)  # the Start-here mission this session is on, if any: what to look at, its question, its outcome
live_jobs.buttons(cfg)  # the session's Job and its twin: Start, Pause/Resume, Step, Stop, Reset, pace
if cfg is None:
    explain_invalid("Start and Step are")
live.notices(cfg)
view = live.view_controls(cfg)
diagram.live(network, cfg, view.tap)  # a click on one of its taps charts that tap
LECTURE = 400  # px: the lecture row's charts, on one 1366 x 768 screen with the controls above them


@live.poll(every=0.15)  # up to 6-7 curve drawings a second: the curves move with every step
def lecture() -> None:
    shown = live.current()
    if shown.run is None:
        live.before_start(view.present)
        return
    live.status(shown)
    left, right = st.columns(2)
    live.draw(left, "curves", "curves", shown, view, both=True, height=LECTURE)  # loss and accuracy, both runs
    if shown.twin_run is not None:  # the first and last blocks' distributions now, one row per run
        live.draw(right, "compare_histograms", "pair", shown, view, view.tap, both=True, height=LECTURE)
    else:
        live.draw(right, "percentile_bands", "pair", shown, view, view.tap, height=LECTURE)


@live.poll(every=1.5)
def details() -> None:
    shown = live.current()
    if shown.run is None:
        return
    on = "the same 256 probe examples at every snapshot" if view.probe else "each training batch"
    tabs = st.tabs(
        ["Over time", "Histograms", "Gradients", "Saturation"]
        + ["Decision boundary"] * (shown.run["config"]["dataset"] != "digits")
        + ["Inside the norm"]
    )
    live.draw(tabs[0], "heatmap", "heatmap", shown, view, view.tap)
    tabs[0].caption(f"Each block's distribution over time, on {on} (colour = log count).")
    live.draw(tabs[0], "percentile_bands", "bands", shown, view, view.tap)
    tabs[0].caption(f"15th-85th percentile band and median, on {on}, pooled over a block's units.")
    live.draw(tabs[1], "histograms", "hists", shown, view, view.tap)
    tabs[1].caption(f"Histograms at the latest snapshot, on {on}; lines mark the 15th, 50th and 85th percentiles.")
    live.draw(tabs[2], "grad_stats", "grads", shown, view)
    tabs[2].caption("Gradient norms and update:data ratios (log scale); Karpathy's 1e-3 is a rough guide.")
    live.draw(tabs[3], "saturation", "sat", shown, view)
    tabs[3].caption("Saturated activations pass (almost) no gradient back. ReLU's exact zeros are normal.")
    if len(tabs) > 4:
        grid = (shown.snap.boundary if shown.snap else None) or shown.run.get("boundary")
        live.draw(tabs[4], "boundary", "boundary", shown, view, grid)
    inside_the_norm(tabs[-1], shown, view)  # one real mini-batch through the first block's norm layer
    if not (shown.snap and shown.snap.state in ("running", "waiting", "new")):
        downloads(shown.run)


lecture()
details()
