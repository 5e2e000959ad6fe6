"""Live lab: train one network and watch every layer's distributions as it learns."""

import streamlit as st

from vizcore.ui import live
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import config_controls, downloads, explain_invalid, share_popover

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Live lab")
cfg = config_controls("live_")  # the sidebar; None while its settings do not fit together
live.buttons(cfg)  # the session's Job: Start, Pause/Resume, Step, Stop, Reset
if cfg is None:
    explain_invalid("Start and Step are")
live.notices(cfg)
share_popover(cfg)
tap, probe, freeze = live.view_controls()


@live.poll(every=0.3, freeze=freeze, idle_every=1.0 if live.warming() else None)
def progress_and_curves() -> None:
    snap, run = live.current()
    if run is None:
        live.before_start()
        return
    live.status(snap, run)
    # Only the progress and the curves redraw this fast: every chart re-rendered is browser work.
    live.draw(st, "curves", "curves", snap, run)
    st.caption("Loss and accuracy. Test is measured in eval mode: batch norm uses its running averages there.")


@live.poll(every=1.5, freeze=freeze)
def distributions() -> None:
    snap, run = live.current()
    if run is None:
        return
    side = None  # where the saturation chart goes
    if run["config"]["dataset"] != "digits":  # 2-D data: the decision boundary is the picture to watch
        left, side = st.columns(2)
        grid = (snap.boundary if snap else None) or run.get("boundary")
        live.draw(left, "boundary", "boundary", snap, run, grid)
        left.caption("The decision boundary: where the network's answer flips from one class to the other.")
    on = "the same 256 probe examples at every snapshot" if probe else "each training batch"
    live.draw(st, "heatmap", "heatmap", snap, run, tap, probe)
    st.caption(
        f"Each block's distribution over time, on {on} (colour = log count). Drift up or down, widening or "
        "narrowing is the shift the next layer has to keep up with."
        + ("" if probe else " Batch-to-batch sampling noise is in it too: the fixed probe shows the shift alone.")
    )
    left, right = st.columns(2)
    live.draw(left, "histograms", "hists", snap, run, tap, probe)
    left.caption(f"Histograms at the latest snapshot, on {on}; lines mark the 15th, 50th and 85th percentiles.")
    live.draw(right, "percentile_bands", "bands", snap, run, tap, probe)
    right.caption(
        f"15th-85th percentile band and median over time, on {on}, pooled over all of a block's units "
        "(Ioffe & Szegedy's Figure 1 follows one unit)."
    )
    left, right = st.columns(2)
    live.draw(left, "grad_stats", "grads", snap, run)
    left.caption(
        "Gradient norms and update:data ratios per block (log scale). The dotted 1e-3 is Karpathy's "
        "rule of thumb: a rough guide, not a threshold."
    )
    side = side or right
    live.draw(side, "saturation", "sat", snap, run)
    side.caption("Fraction of saturated activations: units there pass (almost) no gradient back.")
    if not (snap and snap.state in ("running", "waiting", "new")):
        downloads(run)


progress_and_curves()
distributions()
