"""Experiments: popular claims about batch norm, each put to a live test with a computed verdict."""

import streamlit as st

from vizcore.ui import experiment_view as view
from vizcore.ui.routing import use_app_router
from vizcore.ui.watch import poll

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Experiments")
st.caption(
    "Articles about batch normalization repeat a set of claims. Each experiment below trains a few small "
    "networks (several seeds) and decides from those runs alone whether the claim holds here. Predict first: "
    "the verdict says what happened in one sentence, whether your prediction was right, then the numbers."
)
exp = view.choose()
st.markdown(f"> **The claim.** {exp.claim}\n\n**The question.** {exp.question}")
guess = st.radio("What do you expect?", exp.expectations, index=None, key=f"guess_{exp.name}")
budget = st.select_slider(
    "Budget",
    [0.25, 0.5, 1.0, 2.0],
    value=1.0,
    key=f"budget_{exp.name}",
    help="Fraction of the default training steps: smaller is faster and noisier.",
)
view.buttons(exp, guess, budget)  # the session's Task for this experiment


@poll("exp", view.alive(exp), every=0.5, alive=lambda: view.alive(exp))
def outcome() -> None:
    task = view.task(exp)
    if task is None:
        return
    if task.alive:
        view.progress(task)
    else:
        view.ended(exp, task, st.session_state.get(f"guess_{exp.name}"))


outcome()
