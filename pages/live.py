"""Live lab: train one network and watch every layer's distributions as it learns."""

import streamlit as st

from vizcore import figures
from vizcore.jobs import Job
from vizcore.widgets import config_controls, downloads, get_store, share_link

st.title("Live lab")
cfg = config_controls("live_")
store = get_store()
job: Job | None = st.session_state.get("live_job")

b = st.columns([1, 1, 1, 1, 1, 3])
start = b[0].button("Start", type="primary", disabled=cfg is None, help="Start (or restart with the settings on the left)")
running = job is not None and job.alive
toggle = b[1].button("Resume" if running and job.paused else "Pause", disabled=not running)
step = b[2].button("Step", disabled=cfg is None, help="Train one step, then stay paused")
stop = b[3].button("Stop", disabled=not running)
reset = b[4].button("Reset")

if reset or (start and job is not None and (job.cfg != cfg or not job.alive)):
    if job is not None:
        job.stop()  # the worker saves what it has
    st.session_state.pop("live_job", None)
    st.session_state.pop("live_loaded", None)
    job = None
if (start or step) and job is None and cfg is not None:
    cached = store.find(cfg) if start else None
    if cached is not None:
        st.session_state["live_loaded"] = cached
        st.toast("This exact configuration was trained before: loaded from the saved runs.")
    else:
        job = st.session_state["live_job"] = Job(cfg, store=store, start_paused=step).start()
if job is not None:
    if start and job.paused:
        job.resume()
    elif toggle and job.paused:
        job.resume()
    elif toggle:
        job.pause()
    elif step:
        job.step_once(1)
    elif stop:
        job.stop()

if job is not None and cfg is not None and job.alive and job.cfg != cfg:
    st.info("You changed settings while this run trains: they apply when you press **Start**, which restarts.")
if cfg is not None:
    with st.popover("Share this configuration"):
        st.code(share_link(cfg), language=None)
        st.caption("Anyone opening the link gets these settings. Add `&classroom=1` to hide the advanced controls.")

live = job is not None and job.alive
freeze = st.toggle("Freeze charts (to zoom in)", help="Updating charts reset zoom; freeze them to explore.")
tap = st.segmented_control("Tap", ["linear", "norm", "act"], default="act", key="live_tap",
                           help="Which point in each block: Linear output, norm output, activation output.") or "act"
st.session_state["live_polling"] = live and not freeze


@st.fragment(run_every=0.3 if live and not freeze else None)
def charts() -> None:
    job = st.session_state.get("live_job")
    snap = job.snapshot() if job is not None else None
    run = snap["run"] if snap else st.session_state.get("live_loaded")
    if run is None:
        st.info("Press **Start** to train, or **Step** to go one step at a time.")
        return
    c = run["config"]
    state = snap["state"] if snap else "loaded"
    words = {"waiting": f"waiting for a free slot ({snap and snap['slots_busy']}/{snap and snap['slots_total']} "
             "busy)", "idle": "paused: nobody was watching", "paused": "paused", "running": "training",
             "done": run["status"], "error": "error", "new": "starting", "loaded": f"loaded ({run['status']})"}
    rate = f" · {snap['steps_per_s']:,.0f} steps/s" if snap and state == "running" else ""
    st.progress(min(1.0, run["steps_done"] / c["steps"]),
                text=f"Step {run['steps_done']:,} of {c['steps']:,} · {words.get(state, state)}{rate}")
    if snap and snap["error"]:
        st.error(snap["error"])
    if run["status"] == "diverged":
        st.error(f"Diverged at step {run['diverged_at']}: the loss became infinite or NaN. The charts show "
                 "everything up to there. Try a smaller learning rate, or add normalization.")
    left, right = st.columns(2)
    left.plotly_chart(figures.curves(run), key="curves")
    left.caption("Loss and accuracy. Test is measured in eval mode: batch norm uses its running averages there.")
    if c["dataset"] != "digits":
        right.plotly_chart(figures.boundary({**run, "boundary": (snap or {}).get("boundary") or run.get("boundary")}),
                           key="boundary")
        right.caption("The decision boundary: where the network's answer flips from one class to the other.")
    else:
        right.plotly_chart(figures.grad_stats(run), key="grads")
        right.caption("Gradient norms and update:data ratios per block (log scale); about 1e-3 is a healthy update.")
    st.plotly_chart(figures.heatmap(run, tap), key="heatmap")
    st.caption("Each block's distribution over time (colour = log count). Drift up or down, widening or "
               "narrowing is the shift the next layer has to keep up with.")
    l2, r2 = st.columns(2)
    l2.plotly_chart(figures.histograms(run, tap), key="hists")
    l2.caption("Histograms at the latest snapshot; lines mark the 15th, 50th and 85th percentiles.")
    r2.plotly_chart(figures.percentile_bands(run, tap), key="bands")
    r2.caption("15th-85th percentile band and median over time, as in Ioffe & Szegedy's Figure 1.")
    if c["dataset"] != "digits":
        l3, r3 = st.columns(2)
        l3.plotly_chart(figures.grad_stats(run), key="grads2")
        l3.caption("Gradient norms and update:data ratios per block (log scale); about 1e-3 is a healthy update.")
        r3.plotly_chart(figures.saturation(run), key="sat")
        r3.caption("Fraction of saturated activations: units there pass (almost) no gradient back.")
    else:
        st.plotly_chart(figures.saturation(run), key="sat")
        st.caption("Fraction of saturated activations: units there pass (almost) no gradient back.")
    if run["status"] != "running" and (job is None or not job.alive):
        downloads(run)
    if st.session_state.get("live_polling") and (job is None or not job.alive):
        st.session_state["live_polling"] = False
        st.rerun()  # the run ended: a full rerun stops the polling and refreshes the buttons


charts()
