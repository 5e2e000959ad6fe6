"""The Live lab's session: its Job, the buttons that command it, and memoized drawing of its snapshots."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from vizcore.engine.config import RunConfig
from vizcore.figures.boundary import boundary
from vizcore.figures.curves import curves
from vizcore.figures.distributions import heatmap, histograms, percentile_bands
from vizcore.figures.gradients import grad_stats, saturation
from vizcore.figures.readers import probe_view
from vizcore.figures.theme import empty
from vizcore.ui import watch
from vizcore.ui.text import plain
from vizcore.ui.widgets import config_from_state, get_store, on_full_run
from vizcore.workers.jobs import Job, JobSnapshot, poll_factor, server_jobs, server_watchers

PREFIX = "live_"
# The run figures `draw` builds by name: the name is part of the job's memo key.
FIGURES: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (curves, heatmap, histograms, percentile_bands, grad_stats, saturation)
}
STATE_WORDS = {
    "idle": "paused: nobody was watching",
    "paused": "paused",
    "running": "training",
    "error": "error",
    "new": "starting",
}
SAVED = "This exact configuration (settings and seed) was trained before: its saved run is shown. "
SAVED += "Change the seed to train it afresh."
SHARED = "This exact configuration is already training in another session on this server: "
SHARED += "you are watching that same run (only its owner can pause or stop it)."


def token() -> str:
    """Return this browser session's id: who owns a job, and who watches."""
    return st.session_state.setdefault(f"{PREFIX}token", uuid.uuid4().hex)


def job() -> Job | None:
    """Return this session's job (its own, or another session's it watches), or None."""
    return st.session_state.get(f"{PREFIX}job")


def owns(j: Job | None) -> bool:
    """Return True if this session may command `j` (a shared run is its owner's to control)."""
    return j is None or server_jobs().owner(j) in (token(), None)


@on_full_run
def command(action: str) -> None:
    """Carry out a button's action. A callback: it runs before the script, so this run draws the new state."""
    ss, j, new = st.session_state, job(), config_from_state(PREFIX)
    if action == "reset" or (action == "start" and j is not None and (j.cfg != new or not j.alive)):
        if j is not None and owns(j):
            j.stop()  # the worker saves what it has
        for key in ("job", "loaded", "notice"):
            ss.pop(PREFIX + key, None)
        j = None
    if action in ("start", "step") and j is None and new is not None:
        store = get_store()
        cached = store.find(new) if action == "start" else None
        if cached is not None:
            ss[f"{PREFIX}loaded"], ss[f"{PREFIX}notice"] = cached, SAVED
            return
        j, shared = server_jobs().start(new, token(), store=store, start_paused=action == "step")
        ss[f"{PREFIX}job"] = j
        if action == "start":
            j.wait_progress(0.5)  # a moment for the first steps, so the page draws with data at once
        if shared:
            ss[f"{PREFIX}notice"] = SHARED
            return
    if j is None or not owns(j):  # watchers never command someone else's run
        return
    if j.paused and action in ("start", "resume"):
        j.resume()
    elif action == "pause":
        j.pause()
    elif action == "step":
        j.step_once(1)
    elif action == "stop":
        j.stop()
        j.join(5)


def buttons(cfg: RunConfig | None) -> None:
    """Draw Start, Pause/Resume, Step, Stop and Reset, each enabled when it can act."""
    j = job()
    mine, running = owns(j), j is not None and j.alive
    row = st.container(horizontal=True)  # each button as wide as its label: columns cut "Pause" at 1024 px
    row.button(
        "Start",
        type="primary",
        disabled=cfg is None,
        help="Start, or restart with the new settings",
        on_click=command,
        args=("start",),
    )
    toggle = "resume" if running and j is not None and j.paused else "pause"  # a repeated click does the same
    row.button(toggle.title(), disabled=not running or not mine, on_click=command, args=(toggle,))
    row.button(
        "Step",
        disabled=cfg is None or not mine,
        help="Train one step, then stay paused",
        on_click=command,
        args=("step",),
    )
    row.button("Stop", disabled=not running or not mine, on_click=command, args=("stop",))
    row.button("Reset", on_click=command, args=("reset",))


def notices(cfg: RunConfig | None) -> None:
    """Say why a saved or shared run is shown, and that changed settings wait for Start."""
    j, notice = job(), st.session_state.get(f"{PREFIX}notice")
    if notice and (f"{PREFIX}loaded" in st.session_state or not owns(j)):
        st.info(notice)
    if j is not None and cfg is not None and j.alive and j.cfg != cfg:
        st.info("You changed settings while this run trains: they apply when you press **Start**, which restarts.")


def keep_one(key: str, default: str) -> Callable[[], None]:
    """Return an on_change that keeps an option selected: clicking the selected one again would clear it."""

    def keep() -> None:
        if not st.session_state.get(key):
            st.session_state[key] = default

    return keep


def view_controls() -> tuple[str, bool, bool]:
    """Draw the tap choice, the data the distributions show and the freeze toggle; return (tap, probe, freeze)."""
    freeze = st.toggle(
        "Freeze charts (to zoom in)",
        help="While they update, the charts are still images (redrawing them interactive three times a second "
        "is most of the browser's work). Freeze them, or let the run end, to hover and zoom.",
    )
    tap = st.segmented_control(
        "Tap",
        ["linear", "norm", "act"],
        default="act",
        key=f"{PREFIX}tap",
        on_change=keep_one(f"{PREFIX}tap", "act"),
        help="Which point in each block: Linear output, norm output, activation output.",
    )
    data = st.segmented_control(
        "Distributions of",
        ["batch", "probe"],
        default="batch",
        key=f"{PREFIX}data",
        on_change=keep_one(f"{PREFIX}data", "batch"),
        format_func={"batch": "each training batch", "probe": "fixed probe examples"}.get,
        help="Each training batch: what the next layer really sees, batch-to-batch sampling noise included. "
        "Fixed probe examples: the same 256 training examples at every snapshot, so only the network's own "
        "change moves the distribution: internal covariate shift without the sampling noise.",
    )
    return tap or "act", data == "probe", freeze


def polling(freeze: bool) -> tuple[bool, float]:
    """Return (poll now?, interval factor) for this full run; the session counts as watching."""
    j = job()
    live = j is not None and j.alive and not freeze
    server_watchers().seen(token())
    # Many sessions polling at once would starve the training threads: the more sessions have this
    # page open, the slower it polls. Decided on full reruns only: a full rerun triggered from a
    # polling fragment can lose the page's timers in Streamlit 1.67 when queued polls preempt it.
    return live, poll_factor(server_watchers().count()) if live else 1.0


def poll(every: float, freeze: bool, idle_every: float | None = None) -> Callable[[Callable[[], None]], Any]:
    """Return a decorator: a fragment redrawing the job every `every` s (scaled by the class's size)."""
    live, pace = polling(freeze)
    return watch.poll(PREFIX[:-1], live, every * pace, lambda: (j := job()) is not None and j.alive, idle_every)


def warming() -> bool:
    """Return True until the page has drawn its first (empty) chart, which makes the browser load plotly."""
    return job() is None and f"{PREFIX}loaded" not in st.session_state and not st.session_state.get(f"{PREFIX}warm")


def current() -> tuple[JobSnapshot | None, dict | None]:
    """Return (snapshot of the live job or None, run to draw or None)."""
    j = job()
    snap = j.snapshot() if j is not None else None
    return snap, (snap.run if snap else st.session_state.get(f"{PREFIX}loaded"))


def before_start() -> None:
    """Invite a Start; once the page is usable, draw an empty chart so the browser loads plotly early."""
    st.info("Press **Start** to train, or **Step** to go one step at a time.")
    # Parsing plotly's bundle before the page is usable would delay the page itself: wait 0.8 s.
    if st.session_state.get(f"{PREFIX}warm"):
        st.plotly_chart(empty("Training curves", "press Start to train"), key="curves", theme=None)
    elif time.monotonic() >= st.session_state.setdefault(f"{PREFIX}warm_at", time.monotonic() + 0.8):
        st.session_state[f"{PREFIX}warm"] = True
        st.rerun()  # a full rerun draws it and stops this timer


def status(snap: JobSnapshot | None, run: dict) -> None:
    """Draw the progress line (step, state, speed) and what went wrong, if anything."""
    c, state = run["config"], snap.state if snap else "loaded"
    if snap is not None and state == "waiting":
        words = watch.waiting_text(snap.slots_busy, snap.slots_total)
    elif state in ("done", "loaded"):
        words = run["status"] if state == "done" else f"loaded ({run['status']})"
    else:
        words = STATE_WORDS.get(state, state)
    rate = f" · {snap.steps_per_s:,.0f} steps/s" if snap and state == "running" else ""
    st.progress(
        min(1.0, run["steps_done"] / c["steps"]), text=f"Step {run['steps_done']:,} of {c['steps']:,} · {words}{rate}"
    )
    if snap and snap.error:
        st.error(plain(snap.error, limit=400))
    if snap and snap.notice:
        st.warning(snap.notice)
    if run["status"] == "diverged":
        st.error(
            f"Diverged at step {plain(run.get('diverged_at'))}: the loss became infinite or NaN. The charts show "
            "everything up to there. Try a smaller learning rate, or add normalization."
        )
    server_watchers().seen(token())


def draw(
    where: Any, name: str, key: str, snap: JobSnapshot | None, run: dict, arg: object = None, probe: bool = False
) -> None:
    """Draw FIGURES[name](run[, arg]) in `where`, built once per snapshot for every session watching the job.

    For "boundary", `arg` is the decision grid to draw (the job's latest, or the run's own).
    With `probe`, distributions are those of the run's fixed probe examples (when it has them).
    """

    def build() -> Any:
        if name == "boundary":
            return boundary({**run, "boundary": arg})
        shown = (probe_view(run) or run) if probe else run
        return FIGURES[name](shown, *([] if arg is None else [arg]))

    j = job()
    if snap is None or j is None:
        fig = build()
    elif name != "boundary":
        fig = j.memo(run, (name, arg, probe), build)
    else:
        made_from, fig = j.memo(run, (name,), lambda: (arg, build()))
        fig = fig if made_from is arg else build()  # the worker drew a newer grid since
    watch.chart(where, fig, key, static=st.session_state.get(f"{PREFIX[:-1]}_polling", False))
