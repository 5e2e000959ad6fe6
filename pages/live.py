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
    boundary = ["Decision boundary"] * (shown.run["config"]["dataset"] != "digits")
    name, tab = live.open_tab(["Over time", "Histograms", "Gradients", "Saturation", *boundary, "Inside the norm"])
    if name == "Over time":  # only the open tab is built and sent
        live.draw(tab, "heatmap", "heatmap", shown, view, view.tap)
        tab.caption(f"Each block's distribution over time, on {on} (colour = log count).")
        live.draw(tab, "percentile_bands", "bands", shown, view, view.tap)
        tab.caption(f"15th-85th percentile band and median, on {on}, pooled over a block's units.")
    elif name == "Histograms":
        live.draw(tab, "histograms", "hists", shown, view, view.tap)
        tab.caption(f"Histograms at the latest snapshot, on {on}; lines mark the 15th, 50th and 85th percentiles.")
    elif name == "Gradients":
        live.draw(tab, "grad_stats", "grads", shown, view)
        tab.caption("Gradient norms and update:data ratios (log scale); Karpathy's 1e-3 is a rough guide.")
    elif name == "Saturation":
        live.draw(tab, "saturation", "sat", shown, view)
        tab.caption("Saturated activations pass (almost) no gradient back. ReLU's exact zeros are normal.")
    elif name == "Decision boundary":
        grid = (shown.snap.boundary if shown.snap else None) or shown.run.get("boundary")
        live.draw(tab, "boundary", "boundary", shown, view, grid)
    else:
        inside_the_norm(tab, shown, view)  # one real mini-batch through the first block's norm layer
    if not (shown.snap and shown.snap.state in ("running", "waiting", "new")):
        downloads(shown.run)


lecture()
details()
