"""The Live lab's jobs: the session's run and its twin, the buttons that command them, and their pace."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:  # the jobs (and torch) load on the first Start, not before the page can be used
    from vizcore.workers.jobs import Job

from vizcore.engine.config import ConfigError, RunConfig
from vizcore.engine.params import VIEW_CHOICES, VIEW_DEFAULTS, parse_view
from vizcore.ui.roles import is_teacher
from vizcore.ui.widgets import config_from_state, get_store, on_full_run, share_popover

PREFIX = "live_"
# the link's pace -> steps per second (max: as fast as it goes)
PACES = {p: None if p == "max" else float(p) for p in VIEW_CHOICES["pace"]}
SAVED = "The saved run of these settings, played back at the chosen pace: **Start** trains them live again."
SHARED = "This exact configuration is already training in another session on this server: "
SHARED += "you are watching that same run (only its owner can pause or stop it)."


def token() -> str:
    """Return this browser session's id: who owns a job, and who watches."""
    return st.session_state.setdefault(f"{PREFIX}token", uuid.uuid4().hex)


def job() -> Job | None:
    """Return this session's job (its own, or another session's it watches), or None."""
    return st.session_state.get(f"{PREFIX}job")


def twin() -> Job | None:
    """Return the job training the same network beside it with normalization switched, or None."""
    return st.session_state.get(f"{PREFIX}twin")


def twin_config(cfg: RunConfig) -> RunConfig | None:
    """Return the same network without normalization (or with batch norm, if `cfg` has none); None if invalid.

    Same seed: the same initial weights wherever the layers match, and the same batches in the same order.
    """
    try:
        if cfg.norm != "none":
            return cfg.replace(norm="none", norm_noise=0.0)
        return cfg.replace(norm="batch")
    except ConfigError:
        return None


def owns(j: Job | None) -> bool:
    """Return True if this session may command `j`: a shared run is its owner's (or the teacher's) to control."""
    if j is None:  # before any Start: the first screen must not import the jobs (and torch)
        return True
    from vizcore.workers.jobs import server_jobs  # loaded already: `j` exists

    return server_jobs().owner(j) in (token(), None) or is_teacher()


def pace() -> float | None:
    """Return the pace chosen on the page, in steps per second (None: as fast as it goes)."""
    return PACES[st.session_state.get(f"{PREFIX}pace") or VIEW_DEFAULTS["pace"]]


def _launch(cfg: RunConfig, key: str, action: str) -> Job:
    """Train `cfg` live as this session's `key` job (or join the same run already training elsewhere)."""
    from vizcore.workers.jobs import server_jobs

    ss, store = st.session_state, get_store()
    j, shared = server_jobs().start(cfg, token(), store=store, start_paused=action == "step")
    if not shared:
        j.set_pace(pace())
    ss[f"{PREFIX}{key}"] = j
    if shared:
        ss[f"{PREFIX}notice"] = SHARED
    return j


def _command_one(j: Job | None, action: str) -> None:
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


@on_full_run
def command(action: str) -> None:
    """Carry out a button's action on the session's job and its twin. A callback: it runs before the script."""
    ss, j, new = st.session_state, job(), config_from_state(PREFIX)
    if action == "reset" or (action == "start" and j is not None and (j.cfg != new or not j.alive)):
        for old in (j, twin()):
            if old is not None and owns(old):
                old.stop()  # the worker saves what it has
        j = None
    if action == "reset" or (action in ("start", "step") and j is None):
        for key in ("job", "twin", "job_loaded", "twin_loaded", "notice", "playback"):
            ss.pop(PREFIX + key, None)
    if action in ("start", "step") and j is None and new is not None:
        j = _launch(new, "job", action)
        pair = twin_config(new) if ss.get(f"{PREFIX}twin_on", True) else None
        if pair is not None:
            _launch(pair, "twin", action)
        if action == "start":
            j.wait_progress(0.5)  # a moment for the first steps, so the page draws with data at once
        return
    for one in (j, twin()):
        _command_one(one, action)


def saved_run(cfg: RunConfig | None) -> tuple[dict, float] | None:
    """Return (the stored run of exactly `cfg`, when it was saved), or None if there is none."""
    when = saved_at(cfg)
    run = get_store().find(cfg) if cfg is not None and when is not None else None
    return (run, when) if run is not None and when is not None else None


def saved_at(cfg: RunConfig | None) -> float | None:
    """Return when a reusable run of exactly `cfg` was saved, or None: a stat per page run, a read per file version."""
    if cfg is None:
        return None
    store = get_store()
    when = store.saved_at(cfg.key)
    return when if when is not None and _reusable(str(store.root), cfg, when) else None


@functools.lru_cache(maxsize=256)
def _reusable(root: str, cfg: RunConfig, when: float) -> bool:
    return get_store().find(cfg) is not None  # parses the whole run file: once per saved version, not per rerun


@on_full_run
def show_saved() -> None:
    """Play the saved runs of these settings (and of the twin) back at the page's pace, instead of training."""
    ss, new = st.session_state, config_from_state(PREFIX)
    for old in (job(), twin()):
        if old is not None and owns(old):
            old.stop()
    for key in ("job", "twin", "job_loaded", "twin_loaded", "notice"):
        ss.pop(PREFIX + key, None)
    found = saved_run(new)
    if new is None or found is None:
        return
    ss[f"{PREFIX}job_loaded"] = found[0]
    pair = twin_config(new) if ss.get(f"{PREFIX}twin_on", True) else None
    twin_found = saved_run(pair)
    if twin_found is not None:
        ss[f"{PREFIX}twin_loaded"] = twin_found[0]
    ss[f"{PREFIX}playback"] = time.monotonic()  # played back from step 0 at the page's pace
    ss[f"{PREFIX}notice"] = SAVED


def playback_step() -> float | None:
    """Return how far the saved run being played back has got (steps), or None if none is played back."""
    started = st.session_state.get(f"{PREFIX}playback")
    if started is None:
        return None
    steps_per_s = pace()
    return float("inf") if steps_per_s is None else (time.monotonic() - started) * steps_per_s


def ago(when: float) -> str:
    """Return how long ago a time (seconds since the epoch) was, in words."""
    s = max(0.0, time.time() - when)
    if s < 90:
        return "just now"
    if s < 90 * 60:
        return f"{s / 60:.0f} minutes ago"
    if s < 36 * 3600:
        return f"{s / 3600:.0f} hours ago"
    return f"{s / 86400:.0f} days ago"


def apply_pace() -> None:
    """Give the chosen pace to the session's own running jobs at once, and keep it in the link."""
    for j in (job(), twin()):
        if j is not None and owns(j):
            j.set_pace(pace())
    keep_view_in_link()


def pace_control(where: Any) -> None:
    """Draw the pace (steps per second) in `where`: changeable while training, kept in the link."""
    where.segmented_control(
        "Pace (steps/s)",
        list(PACES),
        key=f"{PREFIX}pace",
        on_change=keep_one(f"{PREFIX}pace", VIEW_DEFAULTS["pace"], then=apply_pace),
        help="How many training steps a second, changeable while it trains; never changes the numbers. "
        "At 5 a second every step is recorded; max: as fast as the server goes.",
    )


def buttons(cfg: RunConfig | None) -> None:
    """Draw Start, Pause/Resume, Step, Stop and Reset (and the saved run, if any), each enabled when it can act."""
    j = job()
    mine, running = owns(j), j is not None and j.alive
    row = st.container(horizontal=True, vertical_alignment="bottom")  # each button as wide as its label
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
    when = saved_at(cfg) if not running else None
    if when is not None:
        row.button(
            f"Show the saved run (trained {ago(when)})",
            on_click=show_saved,
            help="These exact settings and seed were trained before: play that run back at the chosen pace. "
            "Start always trains live.",
        )
    share_popover(cfg, row)


def keep_one(key: str, default: str, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """Return an on_change that keeps an option selected (clicking the selected one clears it), then runs `then`."""

    def keep() -> None:
        if not st.session_state.get(key):
            st.session_state[key] = default
        if then is not None:
            then()

    return keep


def view_from_link() -> None:
    """Seed the pace, zoom and presenter mode from the link, once per session, naming any bad value."""
    if f"{PREFIX}view_seeded" in st.session_state:
        return
    view, notices = parse_view({k: st.query_params[k] for k in st.query_params})
    for name, value in view.items():
        st.session_state[f"{PREFIX}{name}"] = value
    st.session_state[f"{PREFIX}view_notices"] = notices
    st.session_state[f"{PREFIX}view_seeded"] = True


def keep_view_in_link() -> None:
    """Write the view settings that differ from their defaults into the link (the rest out of it)."""
    for name, default in VIEW_DEFAULTS.items():
        value = st.session_state.get(f"{PREFIX}{name}") or default
        if value != default:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]
