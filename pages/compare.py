"""Compare: two to four variants of one configuration, trained side by side, differing in one knob."""

import streamlit as st

from vizcore.figures.compare import compare_histograms
from vizcore.figures.curves import curves
from vizcore.labs import compare
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import config_controls, explain_invalid, get_store
from vizcore.workers.jobs import Job, JobSnapshot

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Compare")
st.markdown(
    "Set a base configuration in the sidebar, then vary **one knob**: each variant is the base with only that "
    "knob changed. All variants share the seed, so they start from the **same initial weights** (they differ "
    "only where layer shapes differ) and draw the **same batches in the same order** (unless the batch size "
    "differs). What differs in the charts comes from the knob, and from chance: with one seed, small "
    "differences can be noise (the Experiments page runs several seeds)."
)
base = config_controls("cmp_", sync_url=False)
store = get_store()

left, right = st.columns([1, 2])
knob = left.selectbox(
    "Vary one knob", list(compare.KNOBS), format_func=lambda k: compare.KNOBS[k].label, key="cmp_knob"
)
values = right.multiselect(
    f"Values ({compare.MIN_VARIANTS} to {compare.MAX_VARIANTS})",
    compare.options(knob),
    default=list(compare.KNOBS[knob].default),
    format_func=compare.fmt_value,
    key=f"cmp_values_{knob}",
    max_selections=compare.MAX_VARIANTS,
    accept_new_options=True,
    help="Pick presets, or type another value and press Enter. Remove one to add another beyond four.",
)
variants, rejected = compare.make_variants(base, knob, values) if base is not None else ([], [])
st.caption(compare.held_fixed(knob))
if base is None:
    explain_invalid("Start is")
for r in rejected:
    st.warning(f"**{r['label']}** is skipped: {r['error']}")

jobs: dict[str, Job] = st.session_state.get("cmp_jobs", {})
running = any(j.alive for j in jobs.values())
b = st.columns([1, 1, 1, 5])
start = b[0].button(
    "Start",
    type="primary",
    disabled=len(variants) < compare.MIN_VARIANTS,
    help="Train every variant (restarts a running comparison)",
)
stop = b[1].button("Stop", disabled=not running, help="Stop every variant; what each has recorded is kept")
reset = b[2].button("Reset", disabled="cmp_order" not in st.session_state)
if start or stop or reset:
    for j in jobs.values():
        j.stop()
    for j in jobs.values():
        j.join(5)
if start or reset:
    for k in ("cmp_jobs", "cmp_loaded", "cmp_order"):
        st.session_state.pop(k, None)
if start:
    jobs, loaded = {}, {}
    for v in variants:
        cached = store.find(v["config"])
        if cached is not None:  # trained before with exactly these settings and seed: reuse it
            loaded[v["label"]] = cached
        else:
            jobs[v["label"]] = Job(v["config"], store=store).start()
    st.session_state.update(cmp_jobs=jobs, cmp_loaded=loaded, cmp_order=[v["label"] for v in variants])
if start or stop or reset:
    st.rerun()  # redraw the buttons and the polling for the new state

order = st.session_state.get("cmp_order", [])
if order and [v["label"] for v in variants] != order:
    st.info("You changed the variants or the base: press **Start** to train the new ones.")
live = any(j.alive for j in jobs.values())
st.session_state["cmp_polling"] = live


def current() -> tuple[list[str], list[dict], list[JobSnapshot | None]]:
    """Return (labels, run dicts, Job snapshots or None for reused runs) in variant order."""
    jobs, loaded = st.session_state.get("cmp_jobs", {}), st.session_state.get("cmp_loaded", {})
    labels = [lb for lb in st.session_state.get("cmp_order", []) if lb in jobs or lb in loaded]
    snaps = [jobs[lb].snapshot() if lb in jobs else None for lb in labels]
    runs = [s.run if s else loaded[lb] for s, lb in zip(snaps, labels, strict=True)]
    return labels, runs, snaps


@st.fragment(run_every=0.5 if live else None)
def results() -> None:
    labels, runs, snaps = current()
    if not runs:
        st.info("Choose a knob and its values, then press **Start**.")
        return
    for label, run, snap in zip(labels, runs, snaps, strict=True):
        st.progress(
            compare.progress(run),
            text=f"**{label}** · step {run['steps_done']:,} of "
            f"{run['config']['steps']:,} · {compare.state_text(run, snap)}",
        )
    st.plotly_chart(curves(runs, labels), key="cmp_curves", theme=None)
    st.caption(
        "Look for the gap between the colours: which variant's loss falls first and how far apart the "
        "accuracies end. Solid is train, dashed is test (eval mode)."
    )
    result = compare.readout(runs, labels)
    st.dataframe(compare.format_readout(result), hide_index=True)
    target = "n/a" if result["target"] is None else f"{100 * result['target']:.1f}%"
    st.caption(
        f"Differences are from the first variant. *Steps to target*: first evaluation at which test "
        f"accuracy reached {target}, 90% of the best any variant reached; *never* if it did not."
    )
    jobs = st.session_state.get("cmp_jobs", {})
    if st.session_state.get("cmp_polling") and not any(j.alive for j in jobs.values()):
        st.session_state["cmp_polling"] = False
        st.rerun()  # every run ended: a full rerun stops the polling and refreshes the buttons


@st.fragment(run_every=2.0 if live else None)  # slower: small multiples cost ~10x the curves to build
def distributions() -> None:
    labels, runs, _ = current()
    if not runs:
        return
    tap = st.segmented_control(
        "Tap",
        ["linear", "norm", "act"],
        default="act",
        key="cmp_tap",
        help="Which point in each block: Linear output, norm output, activation output.",
    )
    shown, names, notes = compare.with_histograms(runs, labels, tap or "act")
    if shown:
        st.plotly_chart(compare_histograms(shown, tap or "act", names), key="cmp_hists", theme=None)
        st.caption(
            "One row per variant, one column per block: look for rows whose deep blocks widen, drift off "
            "centre or pile up at an edge, compared with the rows above and below."
        )
    if notes:
        st.caption("Not shown: " + "; ".join(notes) + ".")


results()
distributions()
