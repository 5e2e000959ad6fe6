"""Routing: the app's pages for st.navigation, and the one patch that keeps direct links on that router.

Imports nothing heavy, so a fresh server draws NormLab's own navigation before torch or plotly load.
"""

from __future__ import annotations

import streamlit as st

ROUTED = "normlab_routed"  # set on every run of app.py, before st.navigation
PAGES = (  # (script, title, icon)
    ("pages/start.py", "Start here", ":material/explore:"),
    ("pages/live.py", "Live lab", ":material/biotech:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
    ("pages/batch_size.py", "Batch size", ":material/view_agenda:"),
    ("pages/covariate_shift.py", "Covariate shift", ":material/waves:"),
    ("pages/experiments.py", "Experiments", ":material/science:"),
    ("pages/runs.py", "Saved runs", ":material/folder_open:"),
    ("pages/about.py", "About the charts", ":material/menu_book:"),
)


def navigation() -> st.navigation:
    """Return the app's st.navigation over PAGES (the first is the default), marking this session routed."""
    pages = [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
    st.session_state[ROUTED] = True
    return st.navigation(pages)


def use_app_router() -> None:
    """Make sure this page runs under app.py's st.navigation; call it first in every page.

    Streamlit 1.67 decides at start-up that an app with a `pages/` folder is a legacy
    multipage app, until `st.navigation` first runs. If the first request to a fresh
    server is a direct link (`/compare`), that page runs alone with the legacy menu, and
    keeps doing so for every new session until someone opens `/`. When app.py did not
    run first, switching that flag off and rerunning sends the request through app.py
    (pinned streamlit; tests/ui/test_routing.py and a browser test guard it). It reruns once at most.
    """
    if st.session_state.get(ROUTED):
        return
    from streamlit.runtime.pages_manager import PagesManager

    st.session_state[ROUTED] = "retried"
    PagesManager.uses_pages_directory = False
    st.rerun()
