"""The Covariate shift page's parts: its ShiftLab worker, part 1's drawings and part 2's shifted test data."""

from __future__ import annotations

import streamlit as st

from vizcore.engine.config import ConfigError, RunConfig
from vizcore.figures import shift as fs
from vizcore.labs.shift import NOISY_TOLERANCE, external_configs, internal_configs
from vizcore.ui import watch
from vizcore.ui.text import plain
from vizcore.ui.widgets import explain_invalid
from vizcore.workers.shift_lab import ShiftLab, ShiftSnapshot


def lab() -> ShiftLab | None:
    """Return this session's ShiftLab, or None."""
    return st.session_state.get("shift_lab")


def alive() -> bool:
    """Return True while the session's lab trains or measures."""
    return (w := lab()) is not None and w.alive


def check(cfg: RunConfig | None) -> bool:
    """Return True if both parts can run `cfg`; otherwise say why in the main area."""
    if cfg is None:
        none = st.session_state.get("shift_norm") == "none"
        explain_invalid("Run is", "This page compares a normalization with none: choose one there." if none else "")
        return False
    try:
        internal_configs(cfg)
        external_configs(cfg)
    except (ConfigError, ValueError) as e:
        st.error(f"Cannot run this configuration: {plain(e.message if isinstance(e, ConfigError) else e)}.")
        return False
    return True


def buttons(cfg: RunConfig | None, ok: bool) -> None:
    """Draw Run and Stop (and what part 1 will train); start or stop the session's lab when pressed."""
    b = st.columns([1, 1, 6])
    start = b[0].button(
        "Run",
        type="primary",
        disabled=not ok,
        help="Train and measure every run of both parts (restarts a running one)",
    )
    stop = b[1].button("Stop", disabled=not alive())
    old = lab()
    if (start or stop) and old is not None:
        old.stop()
        old.join(10)
    if start and cfg is not None:
        try:
            st.session_state["shift_lab"] = ShiftLab(cfg, reuse=old).start()
        except Exception as e:
            watch.failed("Could not start", e)
            start = False
    if start or stop:
        st.rerun()  # redraw the buttons and start or stop the polling
    if ok and cfg is not None:
        norm = internal_configs(cfg)[1][1]
        noisy = (
            f" and **noisy {norm}** (noise {cfg.norm_noise:g}: *Noisy norm* in the sidebar; 0 drops it)"
            if cfg.norm_noise > 0
            else " (set *Noisy norm* in the sidebar above 0 to add a noisy run)"
        )
        b[2].caption(
            f"Part 1 trains the sidebar's configuration **without normalization**, with **{norm}**{noisy}; "
            "part 2 trains none, batch, layer and group norm. Same seed: same batches in the same order."
        )


def status(ok: bool) -> None:
    """Draw the lab's progress line, or how long a run takes before one is started."""
    w = lab()
    if w is None:
        if ok:
            st.info("Press **Run**: about 10-20 seconds on two free cores with the default settings.")
        return
    snap = w.snapshot()
    if snap.state == "waiting":
        text = watch.waiting_text(snap.slots_busy, snap.slots_total)
    else:
        text = f"training: {snap.message}" if snap.state == "running" else snap.message
    st.progress(snap.progress, text=text)
    if snap.error:
        st.error(f"The runs failed: {plain(snap.error, limit=400)}")


def finished() -> ShiftSnapshot | None:
    """Return the lab's snapshot once it has stopped running, else None."""
    w = lab()
    return w.snapshot() if w is not None and not w.alive else None


def internal(res: dict) -> None:
    """Draw part 1: the verdict, then drift, gradient shift and accuracy of the runs."""
    st.subheader("What this run shows")
    st.markdown("\n".join(f"- {line}" for line in res["verdict"]))
    st.caption(
        f'Computed from the numbers below. "Trains about as well" means within {NOISY_TOLERANCE:g} '
        "percentage points of final test accuracy; ratios within 10% of 1 count as about the same."
    )
    st.plotly_chart(fs.drift(res), key="shift_drift", theme=None)
    where = (
        "the activation output: with Linear → norm → activation that is what the next layer reads, after the norm"
        if res["tap"] == "act"
        else "the norm output: with Linear → activation → norm the norm comes last"
    )
    st.caption(
        f"Lower solid lines = steadier inputs for the next layer. Each panel follows a block's output, {where}. "
        "Measured on the same probe examples at every snapshot, so a network that stopped learning would read 0; "
        "where a solid line sits near its dotted one, the layer moved no more than one batch differs from another."
    )
    st.plotly_chart(fs.gradient_shift(res), key="shift_gshift", theme=None)
    st.caption(
        f"Measured every {res['every']} steps on the batch being trained on: a higher top line or a lower "
        "bottom line means the layer's gradient moved more when the earlier layers updated."
    )
    st.plotly_chart(fs.accuracy(res), key="shift_acc", theme=None)
    st.caption("Look at the gap between the lines at the end: the legend gives each run's final test accuracy.")


def external(snap: ShiftSnapshot | None, shift: float, scale: float) -> None:
    """Draw part 2: test accuracy of none, batch (running and recomputed statistics), layer and group norm."""
    w = lab()
    if w is None or snap is None or not snap.external_ready:
        st.info("The four models train after part 1; their chart appears here when everything is done.")
        return
    try:
        curves = w.curves(scale, shift)
        st.plotly_chart(fs.shifted_accuracy(curves), key="shift_ext", theme=None)
    except Exception as e:
        watch.failed("Could not compute the shifted accuracies", e)
        return
    at = " · ".join(
        f"{s['label'].split(',')[0]}{' recomputed' if 'recomputed' in s['key'] else ''} "
        f"{curves['at']['acc'][s['key']]:.1%}"
        for s in curves["series"]
    )
    st.caption(
        f"The further a line stays up as you move away from 0, the more robust the model. At shift {shift:g}: {at}."
    )
    base = w.base
    caveat = ""
    if base.placement == "after":
        caveat = " **Not exactly here**: with the norm after the activation, the shift passes the nonlinearity first."
    elif base.model != "mlp":
        caveat = (
            " **Not exactly here**: in a cnn the zero padding is not shifted, so W·c differs between border and centre."
        )
    st.markdown(
        "**Recomputing the statistics fully undoes a constant shift** (a flat dashed line) for Linear → batch "
        "norm: shifting every input by c adds the same W·c to a unit's pre-activation for every example, and "
        "subtracting the recomputed mean removes exactly that (a positive scale is divided out by the std too)."
        f"{caveat} Layer and group norm do not undo it: they subtract a mean over the units of one example, which "
        "removes only the average of W·c across units, not how it differs from unit to unit."
    )
