"""Batch size: does batch norm break down with small batches (Wu & He 2018, Figure 1)? Measured here."""

import streamlit as st

from vizcore.figures import batch as fb
from vizcore.labs import batch as lab
from vizcore.measures.batch import batch_stat_deviation
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import config_controls, explain_invalid, get_store
from vizcore.workers.batch_sweep import SweepJob, SweepSnapshot
from vizcore.workers.sweep import shared_pool, sweep_limit_error

use_app_router()  # first: a direct link to a fresh server must still go through app.py


st.title("Batch size")
st.markdown(
    "Batch norm normalizes every unit with the mean and variance of the **current mini-batch**. With a "
    "few examples per batch those are noisy guesses of the real statistics. Wu & He (2018) found that on "
    "ImageNet batch norm's error grows sharply below 8 images per GPU (24.8% at 8, 34.7% at 2) while "
    "group norm holds. Does it here? Train a grid of runs and see."
)
st.sidebar.caption(
    "**Base configuration.** The sweep varies norm, batch size and seed; the rest comes from here. "
    "Steps at the base batch size set the budget."
)
base = config_controls("bs_", sync_url=False, base=lab.default_base(), hide=("norm",))  # the sweep varies it
if base is None:
    explain_invalid("Run sweep is")
job: SweepJob | None = st.session_state.get("bs_job")
running = job is not None and job.alive

c = st.columns([3, 2, 1])
batches = c[0].multiselect("Batch sizes", lab.BATCH_OPTIONS, default=lab.DEFAULT_BATCHES, key="bs_batches")
norms = c[1].multiselect(
    "Norms",
    lab.norm_options(base or lab.default_base()),
    default=lab.DEFAULT_NORMS,
    key="bs_norms",
    help="instance norm needs model cnn (sidebar).",
)
seeds = c[2].number_input("Seeds", 1, 5, 2, key="bs_seeds", help="Each seed: other initial weights and batch order.")
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
band = c[2].radio("Bands", ["minmax", "std"], key="bs_band", format_func={"minmax": "min–max", "std": "mean ± std"}.get)

configs, skipped = lab.make_grid(base, batches, norms, seeds, budget, scale_lr) if base else ([], [])
if skipped:
    reasons = sorted({f"{ch['norm']} at batch {ch['batch_size']}" for ch, _ in skipped})
    st.caption(f"Left out (not a valid configuration): {', '.join(reasons[:8])}{' …' if len(reasons) > 8 else ''}.")
b = st.columns([1, 1, 4])
too_big = sweep_limit_error(configs)
if too_big:
    st.error(f"This sweep is too big: {too_big}.")
start = b[0].button("Run sweep", type="primary", disabled=not configs or running or bool(too_big), key="bs_run")
cancel = b[1].button("Cancel", disabled=not running, key="bs_cancel")
b[2].caption(
    f"{len(configs)} runs, {sum(c.steps for c in configs):,} training steps in all. "
    "Runs already in the store are not trained again."
)
if start:
    old = st.session_state.get("bs_job")
    try:
        pool = shared_pool()
        job = SweepJob(
            configs,
            probe_cfg=lab.probe_config(base),
            probe=old.probe if old else None,
            store=get_store(),
            pool=pool,
            workers=pool.workers if pool else 1,
        ).start()
        st.session_state["bs_job"] = job
    except Exception as e:
        st.error(f"Could not start the sweep: {type(e).__name__}: {e}")
    else:
        st.rerun()
if cancel and job is not None:
    job.cancel()
    job.join(5)
    st.rerun()
chance = lab.chance_level(base or lab.default_base())
WORDS = {"new": "starting", "running": "training", "done": "done", "cancelled": "cancelled", "error": "error"}


def drawn(job: SweepJob | None, snap: SweepSnapshot | None) -> dict:
    """Return the page's numbers and figures for this state of the sweep, rebuilt only when it changed."""
    key = (id(job), snap and (snap.done, snap.state), band, chance)
    memo = st.session_state.get("bs_memo")
    if memo is None or memo[0] != key:
        d = lab.digest(job.configs if job else [], snap.runs if snap else [], band)
        d["acc_fig"] = fb.accuracy_vs_batch(d["table"], band, chance)
        d["gap_fig"] = fb.train_eval_figure(d["eval"], d["train"], chance) if d["eval"] else None
        memo = st.session_state["bs_memo"] = (key, d)
    return memo[1]


@st.fragment(run_every=1.0 if running else None)
def results() -> None:
    job = st.session_state.get("bs_job")
    snap = job.snapshot() if job is not None else None
    if snap is None:
        st.info("Choose batch sizes and norms, then press **Run sweep**. The paper's numbers are on the right.")
    else:
        state = snap.state
        word = (
            f"waiting for a free slot ({snap.slots_busy}/{snap.slots_total} busy)"
            if state == "waiting"
            else WORDS.get(state, state)
        )
        where = f" on {snap.workers} worker process(es)" if snap.workers and state == "running" else ""
        st.progress(
            snap.done / max(1, snap.total),
            text=f"{snap.done} of {snap.total} runs · {word}{where} · {snap.elapsed:.0f} s",
        )
        if snap.error:
            st.error(f"The sweep stopped: {snap.error}. The runs that finished are shown; press Run sweep to go on.")
    d = drawn(job, snap)
    if "bs_paper_fig" not in st.session_state:
        st.session_state["bs_paper_fig"] = fb.paper_figure(lab.PAPER_BATCHES, lab.PAPER_ERROR, lab.PAPER_AT_32)
    left, right = st.columns(2)
    left.plotly_chart(d["acc_fig"], key="bs_acc", theme=None)
    left.caption("Look for the batch-norm line falling away at the left while layer and group norm stay flat.")
    right.plotly_chart(st.session_state["bs_paper_fig"], key="bs_paper", theme=None)
    right.caption(f"{lab.PAPER_DIFFERS} Look at the shape, not the level.")
    if snap and snap.state in ("done", "cancelled", "error") and d["table"]:
        note = "" if snap.state == "done" else " (from the runs that finished)"
        st.markdown(f"**Verdict{note}.** {d['verdict']['text']}")
    if d["gap_fig"] is not None:
        st.plotly_chart(d["gap_fig"], key="bs_gap", theme=None)
        st.markdown(d["gap"])
        st.caption(
            "Where the lines part, normalizing with a batch's own statistics (as in training) and with the "
            "running averages (as at test time) give different answers from the same weights."
        )
    with st.expander("Numbers"):
        st.dataframe(d["numbers"], hide_index=True)
        st.dataframe(lab.paper_rows(), hide_index=True)
        st.caption(
            f"{lab.PAPER_CITATION}. At batch 32, layer norm {lab.PAPER_AT_32['layer']}% and instance norm "
            f"{lab.PAPER_AT_32['instance']}% error."
        )
    if st.session_state.get("bs_polling") and (job is None or not job.alive):
        st.session_state["bs_polling"] = False
        st.rerun()  # the sweep ended: a full rerun stops the polling and frees the buttons


@st.fragment(run_every=1.0 if running and job.probe is None else None)
def deviation() -> None:
    job = st.session_state.get("bs_job")
    probe = job.probe if job is not None else None
    st.subheader("How far one batch's statistics stray")
    if probe is None:
        st.info(
            "Each sweep first trains a batch-norm network of the base configuration; its batch statistics appear here."
        )
        return
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
        dev = cache[key]
    except Exception as e:
        st.error(f"Could not measure the batch statistics: {type(e).__name__}: {e}")
        return
    st.plotly_chart(fb.deviation_figure(dev), key="bs_dev", theme=None)
    st.markdown(lab.deviation_sentence(dev))
    st.caption(
        "The input of the block's norm layer, whole training set = population. The narrower both "
        "histograms, the closer training-time normalization is to test-time; the mean's spread shrinks as "
        "1/√B, and at small B the batch variance usually runs low, so training stretches values more."
    )


st.session_state["bs_polling"] = running
results()
deviation()
