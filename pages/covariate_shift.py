"""Covariate shift: do layer inputs stop moving under normalization, and what if the test data moves?"""

import streamlit as st

from vizcore.labs.shift import DEFAULT_BASE
from vizcore.ui import shift_view as view
from vizcore.ui.routing import use_app_router
from vizcore.ui.watch import poll
from vizcore.ui.widgets import config_controls

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Covariate shift")
st.markdown(
    "**Internal covariate shift** (Ioffe & Szegedy 2015): a layer's inputs keep changing because the layers "
    "before it keep learning; batch norm was introduced to reduce it. Santurkar et al. (2018) measured it as "
    "the change of a layer's gradient when only the earlier layers update, found that batch norm does not "
    "reduce it, and that batch norm with noise that shifts every layer's inputs at every step still trains "
    "about as well. This page runs both measures on the same runs: the numbers decide, not the papers."
)
cfg = config_controls("shift_", sync_url=False, base=DEFAULT_BASE, hide=("shift", "scale"))  # part 2's sliders
ok = view.check(cfg)  # both parts can run it
view.buttons(cfg, ok)  # the session's ShiftLab


@poll("shift", view.alive(), every=1.0, alive=view.alive)
def progress() -> None:
    view.status(ok)


progress()
snap = view.finished()
if snap is not None and snap.internal is not None:
    try:
        view.internal(snap.internal)
    except Exception as e:
        view.watch.failed("Could not draw part 1", e)

st.header("External covariate shift")
st.markdown(
    "The test data differs from the training data: every test input x becomes x × scale + shift. Batch "
    "norm can keep its **running statistics** from training or **recompute them on the shifted test "
    "data**; layer and group norm normalize each example by itself and have nothing to recompute."
)
c = st.columns(2)
shift = c[0].slider("Test-time shift", -3.0, 3.0, 0.0, 0.1, key="shift_x", help="Added to every standardized input")
scale = c[1].slider("Test-time scale", 0.25, 3.0, 1.0, 0.05, key="shift_s", help="Multiplies every input first")
view.external(snap, shift, scale)
