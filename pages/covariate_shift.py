"""Covariate shift: do layer inputs stop moving under normalization, and what if the test data moves?"""

import streamlit as st

from vizcore.engine.config import ConfigError
from vizcore.figures import shift as fs
from vizcore.labs.shift import DEFAULT_BASE, NOISY_TOLERANCE, external_configs, internal_configs
from vizcore.ui.routing import use_app_router
from vizcore.ui.widgets import config_controls, explain_invalid
from vizcore.workers.shift_lab import ShiftLab

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
problem = None
if cfg is None:
    none = st.session_state.get("shift_norm") == "none"
    explain_invalid("Run is", "This page compares a normalization with none: choose one there." if none else "")
else:
    try:
        internal_configs(cfg)
        external_configs(cfg)
    except (ConfigError, ValueError) as e:
        problem = e.message if isinstance(e, ConfigError) else str(e)
        st.error(f"Cannot run this configuration: {problem}.")
lab: ShiftLab | None = st.session_state.get("shift_lab")
running = lab is not None and lab.alive

b = st.columns([1, 1, 6])
start = b[0].button(
    "Run",
    type="primary",
    disabled=cfg is None or problem is not None,
    help="Train and measure every run of both parts (restarts a running one)",
)
stop = b[1].button("Stop", disabled=not running)
if (start or stop) and lab is not None:
    lab.stop()
    lab.join(10)
if start and cfg is not None:
    try:
        st.session_state["shift_lab"] = ShiftLab(cfg, reuse=lab).start()
    except Exception as e:
        st.error(f"Could not start: {e}")
        start = False
if start or stop:
    st.rerun()  # redraw the buttons and start or stop the polling
st.session_state["shift_polling"] = running
if cfg is not None and problem is None:
    norm = internal_configs(cfg)[1][1]
    noisy = (
        f" and **noisy {norm}** (noise {cfg.norm_noise:g}: *Noisy norm* in the sidebar, 0 leaves it out)"
        if cfg.norm_noise > 0
        else " (set *Noisy norm* in the sidebar above 0 to add a noisy run)"
    )
    b[2].caption(
        f"Part 1 trains the sidebar's configuration **without normalization**, with **{norm}**{noisy}; "
        "part 2 trains none, batch, layer and group norm. Same seed: same batches in the same order."
    )


@st.fragment(run_every=1.0 if running else None)
def progress() -> None:
    lab = st.session_state.get("shift_lab")
    if lab is None:
        if cfg is not None and problem is None:
            st.info("Press **Run**: about 10-20 seconds on two free cores with the default settings.")
        return
    snap = lab.snapshot()
    text = {
        "waiting": f"waiting for a free slot ({snap.slots_busy}/{snap.slots_total} busy)",
        "running": f"training: {snap.message}",
    }.get(snap.state, snap.message)
    st.progress(snap.progress, text=text)
    if snap.error:
        st.error(f"The runs failed: {snap.error}")
    if st.session_state.get("shift_polling") and not lab.alive:
        st.session_state["shift_polling"] = False
        st.rerun()  # finished: a full rerun draws the results, stops the polling and refreshes the buttons


def draw_internal(res: dict) -> None:
    st.subheader("What this run shows")
    st.markdown("\n".join(f"- {line}" for line in res["verdict"]))
    st.caption(
        f'Computed from the numbers below. "Trains about as well" means within {NOISY_TOLERANCE:g} '
        "percentage points of final test accuracy; ratios within 10% of 1 count as about the same."
    )
    relative = st.toggle(
        "Drift relative to spread",
        value=True,
        key="shift_relative",
        help="Divide W1 by the distribution's std, so runs and layers of different scale compare.",
    )
    st.plotly_chart(fs.drift(res, relative), key="shift_drift", theme=None)
    where = (
        "the activation output: with Linear → norm → activation that is what the next layer reads, after the norm"
        if res["tap"] == "act"
        else "the norm output: with Linear → activation → norm the norm comes last"
    )
    st.caption(f"Lower lines = steadier inputs for the next layer. Each panel follows a block's output, {where}.")
    st.plotly_chart(fs.gradient_shift(res), key="shift_gshift", theme=None)
    st.caption(
        f"Measured every {res['every']} steps on the batch being trained on: a higher top line or a lower "
        "bottom line means the layer's gradient moved more when the earlier layers updated."
    )
    st.plotly_chart(fs.accuracy(res), key="shift_acc", theme=None)
    st.caption("Look at the gap between the lines at the end: the legend gives each run's final test accuracy.")


progress()
snap = lab.snapshot() if lab is not None and not running else None
if snap is not None and snap.internal is not None:
    try:
        draw_internal(snap.internal)
    except Exception as e:
        st.error(f"Could not draw part 1: {type(e).__name__}: {e}")

st.header("External covariate shift")
st.markdown(
    "The test data differs from the training data: every test input x becomes x × scale + shift. Batch "
    "norm can keep its **running statistics** from training or **recompute them on the shifted test "
    "data**; layer and group norm normalize each example by itself and have nothing to recompute."
)
c = st.columns(2)
shift = c[0].slider("Test-time shift", -3.0, 3.0, 0.0, 0.1, key="shift_x", help="Added to every standardized input")
scale = c[1].slider("Test-time scale", 0.25, 3.0, 1.0, 0.05, key="shift_s", help="Multiplies every input first")


def external_part() -> None:
    if snap is None or not snap.external_ready:
        st.info("The four models train after part 1; their chart appears here when everything is done.")
        return
    try:
        curves = lab.curves(scale, shift)
        st.plotly_chart(fs.shifted_accuracy(curves), key="shift_ext", theme=None)
    except Exception as e:
        st.error(f"Could not compute the shifted accuracies: {type(e).__name__}: {e}")
        return
    at = " · ".join(
        f"{s['label'].split(',')[0]}{' recomputed' if 'recomputed' in s['key'] else ''} "
        f"{curves['at']['acc'][s['key']]:.1%}"
        for s in curves["series"]
    )
    st.caption(
        f"The further a line stays up as you move away from 0, the more robust the model. At shift {shift:g}: {at}."
    )
    base = lab.base
    caveat = (
        ""
        if base.placement == "before" and base.model == "mlp"
        else " **Not exactly here**: "
        + (
            "with the norm after the activation, the shift passes through the nonlinearity first."
            if base.placement == "after"
            else "in a cnn the zero padding is not shifted, so W·c differs between border and centre."
        )
    )
    st.markdown(
        "**Recomputing the statistics fully undoes a constant shift** (a flat dashed line) for Linear → batch "
        "norm: shifting every input by c adds the same W·c to a unit's pre-activation for every example, and "
        "subtracting the recomputed mean removes exactly that (a positive scale is divided out by the std too)."
        f"{caveat} Layer and group norm do not undo it: they subtract a mean over the units of one example, which "
        "removes only the average of W·c across units, not how it differs from unit to unit."
    )


external_part()
