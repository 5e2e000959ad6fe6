"""Live lab: train one network and watch every layer's distributions as it learns."""

import time
import uuid

import streamlit as st

from vizcore.figures.boundary import boundary
from vizcore.figures.curves import curves
from vizcore.figures.distributions import heatmap, histograms, percentile_bands
from vizcore.figures.gradients import grad_stats, saturation
from vizcore.figures.theme import empty
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import (
    config_controls,
    config_from_state,
    downloads,
    explain_invalid,
    get_store,
    on_full_run,
    share_link,
)
from vizcore.workers.jobs import Job, JobSnapshot, poll_factor, server_jobs, server_watchers

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Live lab")
cfg = config_controls("live_")
store = get_store()
me = st.session_state.setdefault("live_token", uuid.uuid4().hex)


def owns(job: Job | None) -> bool:
    """Return True if this session may command `job` (a shared run is its owner's to control)."""
    return job is None or server_jobs().owner(job) in (me, None)


@on_full_run
def command(action: str) -> None:
    """Carry out a button's action. A callback: it runs before the script, so this run draws the new state."""
    ss = st.session_state
    job, new = ss.get("live_job"), config_from_state("live_")
    if action == "reset" or (action == "start" and job is not None and (job.cfg != new or not job.alive)):
        if job is not None and owns(job):
            job.stop()  # the worker saves what it has
        for key in ("live_job", "live_loaded", "live_notice"):
            ss.pop(key, None)
        job = None
    if action in ("start", "step") and job is None and new is not None:
        cached = store.find(new) if action == "start" else None
        if cached is not None:
            ss["live_loaded"] = cached
            ss["live_notice"] = (
                "This exact configuration (settings and seed) was trained before: "
                "its saved run is shown. Change the seed to train it afresh."
            )
            return
        job, shared = server_jobs().start(new, me, store=store, start_paused=action == "step")
        ss["live_job"] = job
        if action == "start":
            job.wait_progress(0.5)  # a moment for the first steps, so the page draws with data at once
        if shared:
            ss["live_notice"] = (
                "This exact configuration is already training in another session on this server: "
                "you are watching that same run (only its owner can pause or stop it)."
            )
            return
    if job is None or not owns(job):  # watchers never command someone else's run
        return
    if job.paused and action in ("start", "resume"):
        job.resume()
    elif action == "pause":
        job.pause()
    elif action == "step":
        job.step_once(1)
    elif action == "stop":
        job.stop()
        job.join(5)


job: Job | None = st.session_state.get("live_job")
mine = owns(job)
running = job is not None and job.alive
row = st.container(horizontal=True)  # each button as wide as its label: columns cut "Pause" to "Pa…" at 1024 px
row.button(
    "Start",
    type="primary",
    disabled=cfg is None,
    help="Start, or restart with the new settings",
    on_click=command,
    args=("start",),
)
toggle = "resume" if running and job.paused else "pause"  # named, not "toggle": a repeated click does the same
row.button(toggle.title(), disabled=not running or not mine, on_click=command, args=(toggle,))
row.button(
    "Step", disabled=cfg is None or not mine, help="Train one step, then stay paused", on_click=command, args=("step",)
)
row.button("Stop", disabled=not running or not mine, on_click=command, args=("stop",))
row.button("Reset", on_click=command, args=("reset",))
if cfg is None:
    explain_invalid("Start and Step are")

if st.session_state.get("live_notice") and ("live_loaded" in st.session_state or not mine):
    st.info(st.session_state["live_notice"])
if job is not None and cfg is not None and job.alive and job.cfg != cfg:
    st.info("You changed settings while this run trains: they apply when you press **Start**, which restarts.")
if cfg is not None:
    with st.popover("Share this configuration"):
        st.code(share_link(cfg), language=None)
        st.caption("Anyone opening the link gets these settings. Add `&classroom=1` to hide the advanced controls.")


def keep_a_tap() -> None:
    """Clicking the selected tap again would leave none selected while the charts show "act": keep one."""
    if not st.session_state.get("live_tap"):
        st.session_state["live_tap"] = "act"


live = job is not None and job.alive
freeze = st.toggle(
    "Freeze charts (to zoom in)",
    help="While they update, the charts are still images (redrawing "
    "them interactive three times a second is most of the browser's work). Freeze them, or let the "
    "run end, to hover and zoom.",
)
tap = (
    st.segmented_control(
        "Tap",
        ["linear", "norm", "act"],
        default="act",
        key="live_tap",
        help="Which point in each block: Linear output, norm output, activation output.",
        on_change=keep_a_tap,
    )
    or "act"
)
polling = st.session_state["live_polling"] = live and not freeze
server_watchers().seen(me)
# Many sessions polling at once would starve the training threads: the more sessions have this
# page open, the slower it polls. Decided on full reruns only (Start, any control): a full rerun
# triggered from a polling fragment can lose the page's timers in Streamlit 1.67 when queued
# polls preempt it (seen in bench/classroom.py), so the pace is never changed mid-run.
pace = poll_factor(server_watchers().count()) if polling else 1.0


def current() -> tuple[JobSnapshot | None, dict | None]:
    """Return (snapshot of the live job or None, run to draw or None)."""
    job = st.session_state.get("live_job")
    snap = job.snapshot() if job is not None else None
    return snap, (snap.run if snap else st.session_state.get("live_loaded"))


# The run figures `draw` builds by name: the name is part of the job's memo key.
FIGURES = {f.__name__: f for f in (curves, heatmap, histograms, percentile_bands, grad_stats, saturation)}


def draw(snap: JobSnapshot | None, run: dict, name: str, arg: object = None) -> object:
    """Return FIGURES[name](run[, arg]), built once per snapshot for every session watching this job.

    For "boundary", `arg` is the decision grid to draw (the job's latest, or the run's own).
    """

    def build() -> object:
        if name == "boundary":
            return boundary({**run, "boundary": arg})
        return FIGURES[name](run, *([] if arg is None else [arg]))

    job = st.session_state.get("live_job")
    if snap is None or job is None:
        return build()
    if name != "boundary":
        return job.memo(run, (name, arg), build)
    made_from, fig = job.memo(run, (name,), lambda: (arg, build()))
    return fig if made_from is arg else build()  # the worker drew a newer grid since


def chart(where: object, fig: object, key: str) -> None:
    """Draw `fig` in `where`; a static image while the page polls (no hover or zoom layers to rebuild)."""
    static = st.session_state.get("live_polling", False)
    where.plotly_chart(fig, key=key, theme=None, config={"staticPlot": True} if static else None)


# Before anything is shown, a one-off timer draws the empty chart (see progress_and_curves).
warm_up = job is None and "live_loaded" not in st.session_state and not st.session_state.get("live_warm")


@st.fragment(run_every=0.3 * pace if polling else (1.0 if warm_up else None))
def progress_and_curves() -> None:
    snap, run = current()
    if run is None:
        st.info("Press **Start** to train, or **Step** to go one step at a time.")
        # An empty chart in its place makes the browser load its plotly bundle before Start rather
        # than after it; but only once the page is usable (a second after it loads), since parsing
        # that bundle first would delay the page itself.
        if st.session_state.get("live_warm"):
            st.plotly_chart(empty("Training curves", "press Start to train"), key="curves", theme=None)
        elif time.monotonic() >= st.session_state.setdefault("live_warm_at", time.monotonic() + 0.8):
            st.session_state["live_warm"] = True
            st.rerun()  # a full rerun draws it and stops this timer
        return
    c = run["config"]
    state = snap.state if snap else "loaded"
    words = {
        "waiting": f"waiting for a free slot ({snap and snap.slots_busy}/{snap and snap.slots_total} busy)",
        "idle": "paused: nobody was watching",
        "paused": "paused",
        "running": "training",
        "done": run["status"],
        "error": "error",
        "new": "starting",
        "loaded": f"loaded ({run['status']})",
    }
    rate = f" · {snap.steps_per_s:,.0f} steps/s" if snap and state == "running" else ""
    st.progress(
        min(1.0, run["steps_done"] / c["steps"]),
        text=f"Step {run['steps_done']:,} of {c['steps']:,} · {words.get(state, state)}{rate}",
    )
    if snap and snap.error:
        st.error(snap.error)
    if snap and snap.notice:
        st.warning(snap.notice)
    if run["status"] == "diverged":
        st.error(
            f"Diverged at step {run['diverged_at']}: the loss became infinite or NaN. The charts show "
            "everything up to there. Try a smaller learning rate, or add normalization."
        )
    # The progress and the curves are all this fast fragment draws: every chart re-rendered is
    # browser work, and the browser, not the server, is what limits the update rate (docs/performance.md).
    chart(st, draw(snap, run, "curves"), "curves")
    st.caption("Loss and accuracy. Test is measured in eval mode: batch norm uses its running averages there.")
    server_watchers().seen(me)
    job = st.session_state.get("live_job")
    if st.session_state.get("live_polling") and (job is None or not job.alive):
        st.session_state["live_polling"] = False
        st.rerun()  # the run ended: a full rerun stops the polling and refreshes the buttons


@st.fragment(run_every=1.5 * pace if polling else None)
def distributions() -> None:
    snap, run = current()
    if run is None:
        return
    side = None  # where the saturation chart goes
    if run["config"]["dataset"] != "digits":  # 2-D data: the decision boundary is the picture to watch
        left, right = st.columns(2)
        grid = (snap.boundary if snap else None) or run.get("boundary")
        chart(left, draw(snap, run, "boundary", grid), "boundary")
        left.caption("The decision boundary: where the network's answer flips from one class to the other.")
        side = right
    chart(st, draw(snap, run, "heatmap", tap), "heatmap")
    st.caption(
        "Each block's distribution over time (colour = log count). Drift up or down, widening or "
        "narrowing is the shift the next layer has to keep up with."
    )
    left, right = st.columns(2)
    chart(left, draw(snap, run, "histograms", tap), "hists")
    left.caption("Histograms at the latest snapshot; lines mark the 15th, 50th and 85th percentiles.")
    chart(right, draw(snap, run, "percentile_bands", tap), "bands")
    right.caption("15th-85th percentile band and median over time, as in Ioffe & Szegedy's Figure 1.")
    left, right = st.columns(2)
    chart(left, draw(snap, run, "grad_stats"), "grads")
    left.caption(
        "Gradient norms and update:data ratios per block (log scale). The dotted 1e-3 is Karpathy's "
        "rule of thumb: a rough guide, not a threshold."
    )
    side = side or right
    chart(side, draw(snap, run, "saturation"), "sat")
    side.caption("Fraction of saturated activations: units there pass (almost) no gradient back.")
    if not (snap and snap.state in ("running", "waiting", "new")):
        downloads(run)


progress_and_curves()
distributions()
