"""Watching a background worker from a page: polling fragments, status lines, charts.

Every page that starts a worker draws its state in `@st.fragment(run_every=...)` bodies
made by `poll`: they rerun while the worker is alive, and when it ends they trigger one
full rerun, which stops the polling (run_every is read on full runs only) and refreshes
the buttons outside the fragments.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from vizcore.ui.text import plain


def waiting_text(busy: int, total: int) -> str:
    """Return the status words for a worker queued behind the server's cap."""
    return f"waiting for a free slot ({busy}/{total} busy)"


def poll(
    key: str, running: bool, every: float, alive: Callable[[], bool], idle_every: float | None = None
) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Return a decorator making a body a fragment that reruns every `every` s while `running`.

    `alive()` says whether the watched worker still runs; the first time a polling run finds
    it ended, a full rerun follows. `idle_every` keeps a timer going while nothing runs.
    """
    flag = f"{key}_polling"
    st.session_state[flag] = running

    def decorate(body: Callable[[], None]) -> Callable[[], None]:
        @functools.wraps(body)
        def fragment_body() -> None:
            body()
            if st.session_state.get(flag) and not alive():
                st.session_state[flag] = False
                st.rerun()  # the worker ended: a full rerun stops the polling and refreshes the buttons

        return st.fragment(fragment_body, run_every=every if running else idle_every)

    return decorate


def failed(what: str, error: BaseException) -> None:
    """Show that `what` failed, naming the error as plain text (its message may echo outside input)."""
    st.error(f"{what}: {plain(type(error).__name__)}: {plain(error, limit=400)}")
