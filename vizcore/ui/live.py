"""The Live lab's views: what the charts show, the status of both runs, and memoized drawing of their snapshots.

The jobs themselves and the buttons that command them are `vizcore.ui.live_jobs`'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:  # the jobs (and torch) load on the first Start, not before the page can be used
    from vizcore.workers.jobs import JobSnapshot

from vizcore.engine.config import NORM_LABELS, RunConfig
from vizcore.figures.boundary import boundary
from vizcore.figures.compare import compare_histograms
from vizcore.figures.curves import curves
from vizcore.figures.distributions import heatmap, histograms, percentile_bands
from vizcore.figures.gradients import grad_stats, saturation
from vizcore.figures.kit import trusted
from vizcore.figures.readers import probe_view
from vizcore.figures.theme import empty
from vizcore.figures.theme import present as present_fig
from vizcore.runs.queries import upto
from vizcore.ui import watch
from vizcore.ui.live_chart import Prepared, live_chart, prepare
from vizcore.ui.live_jobs import (
    PREFIX,
    job,
    keep_one,
    keep_view_in_link,
    owns,
    pace_control,
    playback_step,
    token,
    twin,
)
from vizcore.ui.text import plain
from vizcore.ui.widgets import visible
from vizcore.workers.watchers import poll_factor, server_watchers

# The run figures `draw` builds by name: the name is part of the job's memo key.
FIGURES: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (curves, heatmap, histograms, percentile_bands, grad_stats, saturation, compare_histograms)
}
SHORT = {**NORM_LABELS, "none": "no norm"}  # vertical axis titles: "no normalization" ran into its neighbour
STATE_WORDS = {
    "idle": "paused: nobody was watching",
    "paused": "paused",
    "running": "training",
    "error": "error",
    "new": "starting",
}


@dataclass(frozen=True)
class View:
    """How the page shows the runs: chosen by the controls, the view settings kept in the link."""

    tap: str  # linear, norm or act
    probe: bool  # distributions of the fixed probe examples instead of each training batch
    zoom: str  # "all" steps, or the first "500"
    present: bool  # presenter mode: large type for a projector
    twin: bool  # the same network with normalization switched, trained beside it


@dataclass(frozen=True)
class Shown:
    """What one poll draws: the session's run and its twin, each with its job's snapshot (None when loaded)."""

    snap: JobSnapshot | None
    run: dict | None
    twin_snap: JobSnapshot | None
    twin_run: dict | None


def notices(cfg: RunConfig | None) -> None:
    """Say why a saved or shared run is shown, what a link got wrong, and what small batches do to batch norm."""
    j, notice = job(), st.session_state.get(f"{PREFIX}notice")
    for text in st.session_state.get(f"{PREFIX}view_notices", []):  # they echo the link's values
        st.warning(plain(text, limit=400))
    if notice and (f"{PREFIX}job_loaded" in st.session_state or not owns(j)):
        st.info(notice)
    if j is not None and cfg is not None and j.alive and j.cfg != cfg:
        st.info("You changed settings while this run trains: they apply when you press **Start**, which restarts.")
    if cfg is not None and cfg.norm == "batch" and cfg.batch_size <= 4:
        st.info(
            f"Batch norm with {cfg.batch_size} examples a batch: each unit is normalized with the mean and "
            "variance of just these examples"
            + (
                ", so with 2 every unit becomes exactly −γ + β or +γ + β: what the example was is lost."
                if cfg.batch_size == 2
                else ": noisy estimates."
            )
        )
        st.page_link(
            "pages/batch_size.py", label="How batch size changes batch norm, measured", icon=":material/view_agenda:"
        )


def view_controls(cfg: RunConfig | None) -> View:
    """Draw the controls for what the charts show (presenter mode in the sidebar); return them as a View."""
    row = st.container(horizontal=True, vertical_alignment="bottom")
    pace_control(row)
    other = "without normalization" if cfg is None or cfg.norm != "none" else "with batch norm"
    twin_on = row.toggle(
        f"Beside it: {other.replace('normalization', 'norm')}",
        value=True,
        key=f"{PREFIX}twin_on",
        help=f"The same network {other}, trained together from the same initial weights on the same batches: "
        "what differs is the normalization. Applies from the next Start.",
    )
    tap = row.segmented_control(
        "Tap",
        ["linear", "norm", "act"],
        default=None if f"{PREFIX}tap" in st.session_state else "act",  # seeded from the link
        key=f"{PREFIX}tap",
        on_change=keep_one(f"{PREFIX}tap", "act", then=keep_view_in_link),
        help="Which point in each block: Linear output, norm output, activation output.",
    )
    data = row.segmented_control(
        "Distributions of",
        ["batch", "probe"],
        default="batch",
        key=f"{PREFIX}data",
        on_change=keep_one(f"{PREFIX}data", "batch"),
        format_func={"batch": "each batch", "probe": "fixed probe"}.get,
        help="Each training batch: what the next layer really sees, batch-to-batch sampling noise included. "
        "Fixed probe: the same 256 training examples at every snapshot, so only the network's own change moves "
        "the distribution: internal covariate shift without the sampling noise.",
    )
    zoom = st.sidebar.segmented_control(
        "Steps shown",
        ["all", "500"],
        key=f"{PREFIX}zoom",
        on_change=keep_one(f"{PREFIX}zoom", "all", then=keep_view_in_link),
        format_func={"all": "all", "500": "first 500"}.get,
        help="Most of the change happens early: the first 500 steps fill the width.",
    )
    present = st.sidebar.toggle(
        "Presenter mode",
        value=st.session_state.get(f"{PREFIX}present") == "1",
        help="Large type for a projector (also ?present=1 in the link).",
    )
    if present != (st.session_state.get(f"{PREFIX}present") == "1"):
        st.session_state[f"{PREFIX}present"] = "1" if present else "0"
        keep_view_in_link()
        st.rerun()  # the page's type size is set before the page draws
    tap = tap or "act"
    if tap == "norm" and cfg is not None and cfg.norm == "none":
        st.info("This network has no norm layer: the charts show the activation output instead.")
        tap = "act"
    return View(tap, data == "probe", zoom or "all", present, twin_on)


def alive() -> bool:
    """Return True while the session's run or its twin trains, or a saved run is still being played back."""
    if any(j is not None and j.alive for j in (job(), twin())):
        return True
    step, loaded = playback_step(), st.session_state.get(f"{PREFIX}job_loaded")
    return step is not None and loaded is not None and step < loaded["steps_done"]


def poll(every: float, idle_every: float | None = None) -> Callable[[Callable[[], None]], Any]:
    """Return a decorator: a fragment redrawing the runs every `every` s (slower when many sessions watch)."""
    live = alive()
    server_watchers().seen(token())
    # Many sessions polling at once would starve the training threads: the more sessions have this
    # page open, the slower it polls. Decided on full reruns only: a full rerun triggered from a
    # polling fragment can lose the page's timers in Streamlit 1.67 when queued polls preempt it.
    factor = poll_factor(server_watchers().count()) if live else 1.0
    return watch.poll(PREFIX[:-1], live, every * factor, alive, idle_every)


def current() -> Shown:
    """Return the session's run and its twin as they are now (a saved run as far as its playback has got)."""
    ss, step = st.session_state, playback_step()
    snaps = [j.snapshot() if j is not None else None for j in (job(), twin())]
    runs = [s.run if s else ss.get(f"{PREFIX}{k}_loaded") for s, k in zip(snaps, ("job", "twin"), strict=True)]
    if step is not None:
        runs = [upto(r, step) if r is not None and s is None else r for s, r in zip(snaps, runs, strict=True)]
    return Shown(snaps[0], runs[0], snaps[1], runs[1])


def open_tab(names: list[str]) -> tuple[str, Any]:
    """Return the open tab's name and container; a switch reruns the fragment, which draws only that tab.

    Every tab drawn at every poll was 55-80 KB per update and most of the server's work per poll.
    """
    tabs = st.tabs(names, key=f"{PREFIX}tab", on_change="rerun")
    return next(((n, t) for n, t in zip(names, tabs, strict=True) if t.open), (names[0], tabs[0]))


def before_start(present: bool) -> None:
    """Invite a Start, and draw an empty chart: the browser loads plotly.js while the reader looks at the page."""
    st.info("Press **Start** to train, or **Step** to go one step at a time.")
    live_chart(styled(empty("Training curves", "press Start to train"), "all", present), key="curves")


def label(run: dict) -> str:
    """Return a run's name on the page: its normalization, in words."""
    return NORM_LABELS.get(run["config"]["norm"], run["config"]["norm"])


def _state_words(snap: JobSnapshot | None, run: dict) -> str:
    state = snap.state if snap else "loaded"
    if snap is not None and state == "waiting":
        return watch.waiting_text(snap.slots_busy, snap.slots_total)
    if state == "loaded" and run["status"] == "running":
        return "playing back the saved run"
    if state in ("done", "loaded"):
        return run["status"] if state == "done" else f"loaded ({run['status']})"
    rate = f" · {snap.steps_per_s:,.0f} steps/s" if snap and state == "running" else ""
    return STATE_WORDS.get(state, state) + rate


def fix_hint() -> str:
    """Return what to try after a divergence, naming only the controls this page shows (a link may hide some)."""
    tries = [words for field, words in (("lr", "a smaller learning rate"), ("norm", "normalization")) if visible(field)]
    return f" Try {' or '.join(tries)}." if tries else ""


def status(shown: Shown) -> None:
    """Draw one progress line for both runs (step, state, speed), and what went wrong, if anything."""
    runs = [(s, r) for s, r in ((shown.snap, shown.run), (shown.twin_snap, shown.twin_run)) if r is not None]
    run = runs[0][1]
    words = [f"**{label(r)}** · {_state_words(s, r)}" for s, r in runs]
    text = f"Step {run['steps_done']:,} of {run['config']['steps']:,} · " + " · ".join(words)
    st.progress(min(1.0, run["steps_done"] / run["config"]["steps"]), text=text)
    for snap, r in runs:
        if snap and snap.error:
            st.error(plain(snap.error, limit=400))
        if snap and snap.notice:
            st.warning(snap.notice)
        if r["status"] == "diverged":
            st.error(
                f"{label(r)} diverged at step {plain(r.get('diverged_at'))}: the loss became infinite or NaN. "
                "The charts show everything up to there." + fix_hint()
            )
    server_watchers().seen(token())


def styled(fig: Any, zoom: str, present: bool) -> Any:
    """Return `fig` zoomed to the first 500 steps if asked (axes titled "training step") and in presenter type."""
    if zoom == "500":
        fig.for_each_xaxis(lambda ax: ax.update(range=[0, 500]) if "step" in str(ax.title.text or "") else None)
    return present_fig(fig) if present else fig


def ends(layers: list) -> list:
    """Return the first and the last of a network's blocks (all of them if it has two or fewer)."""
    return layers if len(layers) <= 2 else [layers[0], layers[-1]]


def draw(
    where: Any,
    name: str,
    key: str,
    shown: Shown,
    view: View,
    arg: object = None,
    both: bool = False,
    height: int | None = None,
) -> None:
    """Draw FIGURES[name] of the run (or of both runs, if `both`) in `where`, built once per snapshot.

    Every session watching the job shares one build. For "boundary", `arg` is the decision grid
    (the job's latest, or the run's own). The chart stays mounted and is updated in place.
    """
    run, twin_run = shown.run, shown.twin_run
    assert run is not None

    uirevision = f"{view.zoom}-{view.present}"

    def build() -> Prepared:
        with trusted():  # the same JSON as plotly's validated figure (tests/ui/test_live_figures.py)
            return prepare(_build(), uirevision)

    def _build() -> Any:
        if name == "boundary":
            fig = boundary({**run, "boundary": arg})
        elif both and twin_run is not None:
            runs = [(probe_view(r) or r) if view.probe else r for r in (run, twin_run)]
            if name == "compare_histograms":  # the first and the last block: wide enough to read from the back
                runs = [{**r, "layers": ends(r.get("layers") or [])} for r in runs]
            labels = [SHORT.get(r["config"]["norm"], label(r)) for r in (run, twin_run)]
            fig = FIGURES[name](runs, *([] if arg is None else [arg]), labels)
        else:
            shown_run = (probe_view(run) or run) if view.probe else run
            fig = FIGURES[name](shown_run, *([] if arg is None else [arg]))
        if name == "compare_histograms":  # a panel's last tick label would sit on the next panel's first
            fig.update_xaxes(ticklabeloverflow="hide past domain")
        if height is not None:  # the lecture row: both charts on the first screen at 1366 x 768
            fig.update_layout(height=height)
            legend, margin = fig.layout.legend, fig.layout.margin
            if legend.orientation == "h" and (legend.y or 0) < 0:  # keep it clear of the x-axis title, in pixels
                plot = max(100, height - (margin.t or 80) - (margin.b or 80))
                fig.update_layout(legend_y=-62 / plot, legend_yanchor="top")
        return styled(fig, view.zoom, view.present)

    # The charts of the layers are built from the layers alone, which stay the same object from one
    # snapshot to the next: rebuilt when a frame is added, not at every step the curves take.
    j, of = job(), (lambda r: r if name in ("curves", "boundary") else r["layers"])
    pair = of(twin_run) if both and twin_run is not None else None
    if shown.snap is None or j is None:
        fig = build()
    elif name != "boundary":
        fig = j.memo(of(run), (name, arg, view), build, also=pair)
    else:
        made_from, fig = j.memo(run, (name, view), lambda: (arg, build()), also=pair)
        fig = fig if made_from is arg else build()  # the worker drew a newer grid since
    live_chart(fig, key=key, where=where)
