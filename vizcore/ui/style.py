"""The app's few style rules: legible captions everywhere, a compact top, and large type for a projector."""

from __future__ import annotations

import streamlit as st

# Streamlit's caption grey on white is about 3.9:1; #4a4a4a is 8.9:1 (WCAG AA asks 4.5:1 for text).
BASE = """
<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { color: #4a4a4a; }
[data-testid="stWidgetLabel"] p { color: #2b2b2b; }
.block-container { padding-top: 2.2rem; }
h1 { padding-top: 0.2rem; padding-bottom: 0.3rem; }
/* Below 1200 px side-by-side charts get too narrow for their labels: stack them instead. */
@media (max-width: 1200px) {
  [data-testid="stHorizontalBlock"] { flex-wrap: wrap; }
  [data-testid="stColumn"] { min-width: 100% !important; }
}
</style>
"""
# A projector: type that grows with the window, never below 16 px, and bold enough to read at the back.
PRESENTER = """
<style>
html, .stApp { font-size: clamp(17px, 1.15vw, 26px); }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1rem; color: #333; }
[data-testid="stMarkdownContainer"] p, [data-testid="stWidgetLabel"] p { font-size: 1rem; }
</style>
"""


def apply(present: bool = False) -> None:
    """Add the app's style rules to this page (and the presenter's, if `present`)."""
    st.html(BASE + (PRESENTER if present else ""))
