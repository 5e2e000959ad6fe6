"""The Batch size page's parts: the sweep's controls, its worker, and what it draws."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from vizcore.engine.config import RunConfig
from vizcore.figures import batch as fb
from vizcore.labs import batch as lab
from vizcore.measures.batch import batch_stat_deviation
from vizcore.ui import watch
from vizcore.ui.text import plain
from vizcore.ui.widgets import get_store
from vizcore.workers.batch_sweep import SweepJob, SweepSnapshot
from vizcore.workers.sweep import shared_pool, sweep_limit_error

WORDS = {"new": "starting", "running": "training", "done": "done", "cancelled": "cancelled", "error": "error"}


@dataclass(frozen=True)
class Plan:
    """What the controls ask for: the runs to train and how to draw their spread."""

    configs: list[RunConfig]
    band: str  # "minmax" or "std"
    chance: float  # accuracy of guessing, drawn as a floor line


def job() -> SweepJob | None:
    """Return this session's sweep, or None."""
    return st.session_state.get("bs_job")


def plan(base: RunConfig | None) -> Plan:
    """Draw the sweep's controls (batch sizes, norms, seeds, budget, lr scaling, bands); return the plan."""
    base_or_default = base or lab.default_base()
    c = st.columns([4.7, 3.9, 1.7])  # room for all four norms at 1366 px wide
    batches = c[0].multiselect("Batch sizes", lab.BATCH_OPTIONS, default=lab.DEFAULT_BATCHES, key="bs_batches")
    norms = c[1].multiselect(
        "Norms",
        lab.norm_options(base_or_default),
        default=lab.DEFAULT_NORMS,
        key="bs_norms",
        help="instance norm needs model cnn (sidebar).",
    )
    seeds = c[2].number_input("Seeds", 1, 5, 2, key="bs_seeds", help="Each seed: other initial weights and batches.")
    c = st.columns([2, 2, 1])
    budget = (
        c[0].segmented_control(
            "Budget", list(lab.BUDGETS), default="samples", key="bs_budget", format_func=lambda b: f"equal {b}"
        )
        or "samples"
    )
    c[0].caption(lab.BUDGETS[budget])
    scale_lr = c[1].toggle("Scale the learning rate with the batch", value=True, key="bs_scale_lr")
    c[1].caption(lab.LR_SCALING)
    band = c[2].radio(
        "Bands", ["minmax", "std"], key="bs_band", format_func={"minmax": "min–max", "std": "mean ± std"}.get
    )
    configs, skipped = lab.make_grid(base, batches, norms, seeds, budget, scale_lr) if base else ([], [])
    if skipped:
        reasons = sorted({f"{ch['norm']} at batch {ch['batch_size']}" for ch, _ in skipped})
        more = " …" if len(reasons) > 8 else ""
        st.caption(f"Left out (not a valid configuration): {', '.join(reasons[:8])}{more}.")
    return Plan(configs, band or "minmax", lab.chance_level(base_or_default))


def buttons(p: Plan, base: RunConfig | None) -> None:
    """Draw Run sweep and Cancel, and start or cancel the session's sweep when pressed."""
    j = job()
    running = j is not None and j.alive
    b = st.columns([1, 1, 4])
    too_big = sweep_limit_error(p.configs)
    if too_big:
        st.error(f"This sweep is too big: {too_big}.")
    start = b[0].button("Run sweep", type="primary", disabled=not p.configs or running or bool(too_big), key="bs_run")
    cancel = b[1].button("Cancel", disabled=not running, key="bs_cancel")
    steps = sum(c.steps for c in p.configs)
    b[2].caption(
        f"{len(p.configs)} runs, {steps:,} training steps in all. Runs already in the store are not trained again."
    )
    if start and base is not None:
        try:
            pool = shared_pool()
            st.session_state["bs_job"] = SweepJob(
                p.configs,
                probe_cfg=lab.probe_config(base),
                probe=j.probe if j else None,
                store=get_store(),
                pool=pool,
                workers=pool.workers if pool else 1,
            ).start()
        except Exception as e:
            watch.failed("Could not start the sweep", e)
        else:
            st.rerun()
    if cancel and j is not None:
        j.cancel()
        j.join(5)
        st.rerun()


def alive() -> bool:
    """Return True while the session's sweep trains."""
    return (j := job()) is not None and j.alive


def digest(j: SweepJob | None, snap: SweepSnapshot | None, p: Plan) -> dict:
    """Return the page's numbers and figures for this state of the sweep, rebuilt only when it changed."""
    key = (id(j), snap and (snap.done, snap.state), p.band, p.chance)
    memo = st.session_state.get("bs_memo")
    if memo is None or memo[0] != key:
        d = lab.digest(j.configs if j else [], snap.runs if snap else [], p.band)
        d["acc_fig"] = fb.accuracy_vs_batch(d["table"], p.band, p.chance)
        d["gap_fig"] = fb.train_eval_figure(d["eval"], d["train"], p.chance) if d["eval"] else None
        memo = st.session_state["bs_memo"] = (key, d)
    return memo[1]


def status(snap: SweepSnapshot) -> None:
    """Draw the sweep's progress line and its error, if any."""
    word = watch.waiting_text(snap.slots_busy, snap.slots_total) if snap.state == "waiting" else WORDS.get(snap.state)
    where = f" on {snap.workers} worker process(es)" if snap.workers and snap.state == "running" else ""
    text = f"{snap.done} of {snap.total} runs · {word or snap.state}{where} · {snap.elapsed:.0f} s"
    st.progress(snap.done / max(1, snap.total), text=text)
    if snap.error:
        st.error(f"The sweep stopped: {plain(snap.error)}. The runs that finished are shown; press Run sweep to go on.")


def paper_figure() -> object:
    """Return Wu & He's Figure 1 redrawn, built once per session."""
    if "bs_paper_fig" not in st.session_state:
        st.session_state["bs_paper_fig"] = fb.paper_figure(lab.PAPER_BATCHES, lab.PAPER_ERROR, lab.PAPER_AT_32)
    return st.session_state["bs_paper_fig"]


def numbers(d: dict) -> None:
    """Draw the table of every cell and the paper's table, in an expander."""
    with st.expander("Numbers"):
        st.dataframe(d["numbers"], hide_index=True)
        st.dataframe(lab.paper_rows(), hide_index=True)
        at32 = lab.PAPER_AT_32
        st.caption(
            f"{lab.PAPER_CITATION}. At batch 32, layer norm {at32['layer']}% and instance norm "
            f"{at32['instance']}% error."
        )


def deviation() -> bool:
    """Draw how far one batch's statistics stray from the population's; return True if it was drawn."""
    j = job()
    probe = j.probe if j is not None else None
    if probe is None:
        st.info(
            "Each sweep first trains a batch-norm network of the base configuration; its batch statistics appear here."
        )
        return False
    c = st.columns(2)
    layer = c[0].selectbox("Block", range(probe.cfg.depth), format_func=lambda i: f"block {i + 1}", key="bs_layer")
    sizes = [x for x in lab.BATCH_OPTIONS if 2 <= x <= probe.data.x_train.shape[0]]
    size = c[1].select_slider("Batch size", sizes, value=4 if 4 in sizes else sizes[0], key="bs_dev_batch")
    cache = st.session_state.setdefault("bs_dev_cache", {})
    key = (probe.cfg.key, layer, size)
    try:
        if key not in cache:
            cache.clear()
            cache[key] = batch_stat_deviation(probe, layer, size)
    except Exception as e:
        watch.failed("Could not measure the batch statistics", e)
        return False
    st.plotly_chart(fb.deviation_figure(cache[key]), key="bs_dev", theme=None)
    st.markdown(lab.deviation_sentence(cache[key]))
    return True
