"""Experiments: popular claims about batch norm, each put to a live test with a computed verdict."""

import streamlit as st

from vizcore.experiments import all_experiments
from vizcore.figures.experiments import band_figure
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import open_page
from vizcore.workers.tasks import Task

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Experiments")
st.caption(
    "Articles about batch normalization repeat a set of claims. Each experiment below trains a few small "
    "networks (several seeds) and decides from those runs alone whether the claim holds here."
)
experiments = {e.name: e for e in all_experiments()}
names = list(experiments)
wanted = st.query_params.get("exp")
if wanted and wanted not in names:
    st.warning(f"There is no experiment `{wanted}` (valid: {', '.join(names)}); showing the first.")
exp = experiments[
    st.selectbox(
        "Experiment",
        names,
        index=names.index(wanted) if wanted in names else 0,
        format_func=lambda n: f"{experiments[n].number}. {experiments[n].title}",
        key="exp",
    )
]
st.query_params["exp"] = exp.name

st.markdown(f"> **The claim.** {exp.claim}\n\n**The question.** {exp.question}")
guess = st.radio("What do you expect?", exp.expectations, index=None, key=f"guess_{exp.name}")
task: Task | None = st.session_state.get(f"task_{exp.name}")
budget = st.select_slider(
    "Budget",
    [0.25, 0.5, 1.0, 2.0],
    value=1.0,
    key=f"budget_{exp.name}",
    help="Fraction of the default training steps: smaller is faster and noisier.",
)
c1, c2, c3 = st.columns([1, 1, 3])
if c1.button("Run", type="primary", disabled=guess is None or (task is not None and task.alive)):
    task = Task(lambda progress, cancel: exp.run(budget=budget, progress=progress, cancel=cancel)).start()
    st.session_state[f"task_{exp.name}"] = task
    st.rerun()
if c2.button("Cancel", disabled=task is None or not task.alive):
    task.stop()
if guess is None:
    c3.caption("Make a prediction first: the page compares it with what the runs show.")
if c3.button("Try it yourself", help="Open these settings in the Live lab or Compare"):
    label, cfg = exp.variants(1.0)[-1]
    open_page(
        "pages/live.py" if exp.try_page == "live" else "pages/compare.py",
        "live_" if exp.try_page == "live" else "cmp_",
        cfg,
    )

running = task is not None and task.alive


@st.fragment(run_every=0.5 if running else None)
def outcome() -> None:
    task = st.session_state.get(f"task_{exp.name}")
    if task is None:
        return
    s = task.status()
    if task.alive:
        frac = s.done / s.total if s.total else 0.0
        what = "waiting for a free slot" if s.state == "waiting" else f"{s.done} of {s.total} runs"
        st.progress(frac, text=f"{what} · {s.elapsed:.0f} s")
        if task.partial:  # the runs finished so far, drawn as they come in
            groups: dict = {}
            for label, run in task.partial:
                groups.setdefault(label, []).append(run)
            st.plotly_chart(
                band_figure(groups, "test_acc", "Test accuracy of the runs finished so far", "test accuracy"),
                key="partial",
                theme=None,
            )
            st.caption("Live: each finished run joins its group. The verdict comes when all runs are done.")
        return
    if s.state == "error":
        st.error(f"The experiment failed: {s.error}")
    elif s.state == "cancelled":
        st.warning("Cancelled. Press Run to start again.")
    elif task.result is not None:
        show(task.result, st.session_state.get(f"guess_{exp.name}"))
    if st.session_state.get("exp_polling"):
        st.session_state["exp_polling"] = False
        st.rerun()


def show(result, guess) -> None:
    v = result.verdict
    box = {"supported": st.success, "not supported": st.error, "it depends": st.warning}[v.label]
    box(f"**Verdict: {v.label}.** {v.summary}")
    if guess:
        st.write(f"You expected: *{guess}*.")
    with st.expander("How the verdict is decided, and the numbers that decided it"):
        st.write(v.rule)
        st.table({k: [("n/a" if x is None else f"{x:.4g}")] for k, x in v.numbers.items()})
    for i, (fig, caption) in enumerate(exp.figures(result)):
        st.plotly_chart(fig, key=f"fig_{i}", theme=None)
        st.caption(caption)
    if exp.paper:
        scaled = (
            f" (Step counts here are at budget 1; this result used budget {result.budget:g}, so "
            f"{result.budget:g} times as many.)"
            if result.budget != 1
            else ""
        )
        st.markdown(
            f"**In the paper** ({exp.paper.citation}): {exp.paper.reported}\n\n*What differs here:* "
            f"{exp.paper.differs}{scaled}"
        )


st.session_state["exp_polling"] = running
outcome()
