"""The network diagram on the pages: on the Live lab a click on a tap charts that tap; on About it explains them."""

from __future__ import annotations

from typing import Any

import streamlit as st

from vizcore.engine.config import RunConfig
from vizcore.figures.diagram import diagram, summary, tap_roles
from vizcore.ui.live_jobs import PREFIX, keep_view_in_link

KEY = f"{PREFIX}diagram"
TAP = f"{PREFIX}tap"  # the Live lab's tap control: the diagram and the control share it
CONFIG = {"displayModeBar": False, "scrollZoom": False}


def clicked_tap(event: Any) -> str | None:
    """Return the tap a diagram selection event names (the last point clicked), or None."""
    selection = event.get("selection") if hasattr(event, "get") else None
    points = selection.get("points") if hasattr(selection, "get") else None
    taps = [p.get("customdata") for p in points or [] if hasattr(p, "get")]
    taps = [t for t in taps if t in ("linear", "norm", "act")]
    return taps[-1] if taps else None


def _on_click() -> None:
    tap = clicked_tap(st.session_state.get(KEY))
    if tap is not None:
        st.session_state[TAP] = tap
        keep_view_in_link()


def presenting() -> bool:
    """Return True in presenter mode (as the app's style decides it: the session's choice, else the link)."""
    return st.session_state.get(f"{PREFIX}present", st.query_params.get("present")) == "1"


def live(where: Any, cfg: RunConfig | None, tap: str) -> None:
    """Draw the network of `cfg` in `where` with `tap` chosen; a click on another tap charts that one."""
    if cfg is None:
        where.caption("The network is drawn once its settings fit together.")
        return
    where.plotly_chart(
        diagram(cfg.to_dict(), tap, present=presenting()),
        theme=None,  # the app's own template: Streamlit's theme would restyle the type
        key=KEY,
        on_select=_on_click,
        selection_mode="points",
        config=CONFIG,
    )


def explain(cfg: RunConfig) -> None:
    """Draw the network of `cfg` beside what each of its taps shows."""
    left, right = st.columns([2, 3], gap="large")
    left.plotly_chart(diagram(cfg.to_dict(), None, clickable=False, present=presenting()), theme=None, config=CONFIG)
    roles = tap_roles(cfg)
    lines = [f"- **{tap}**: {role}." for tap, role in roles.items()]
    right.markdown(
        f"The Live lab's default network: {summary(cfg)}. Every block records three **taps**, in forward order:\n\n"
        + "\n".join(lines)
        + "\n\nWith the norm **after** the activation the order is Linear, activation, norm, and the norm's output "
        "is what the next block receives. Without a norm a block has two taps. The charts show one tap of every "
        "block at once: choose it with *Tap*, or click a tap on the Live lab's diagram."
    )
