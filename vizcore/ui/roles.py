"""Roles: a teacher, who entered the server's NORMLAB_TEACHER_TOKEN in this session, and everyone else.

Destructive or server-wide actions (deleting saved runs, stopping another session's run) are
offered to a teacher only. The token is typed once per session into a password field and never
travels in a link; without a token set on the server, no session is a teacher.
"""

from __future__ import annotations

import hmac

import streamlit as st

from vizcore.workers import settings

KEY = "normlab_teacher"


def is_teacher() -> bool:
    """Return True if this session entered the server's teacher token (and the server still has that token)."""
    token = settings.teacher_token()
    return token is not None and st.session_state.get(KEY) == token


def sign_in() -> None:
    """Draw the teacher's sign-in in the sidebar (only on a server that has a teacher token)."""
    token = settings.teacher_token()
    if token is None:
        return
    box = st.sidebar.expander("Teacher", expanded=False)
    if is_teacher():
        box.caption("Signed in as the teacher: you can delete saved runs and stop anyone's run.")
        if box.button("Sign out", key="teacher_out"):
            st.session_state.pop(KEY, None)
            st.rerun()
        return
    typed = box.text_input("Teacher token", type="password", key="teacher_token_typed")
    if typed:
        if hmac.compare_digest(typed.encode(), token.encode()):
            st.session_state[KEY] = token
            st.session_state.pop("teacher_token_typed", None)
            st.rerun()
        box.error("That is not the server's teacher token.")
