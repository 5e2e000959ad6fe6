"""NormLab: watch internal covariate shift and normalization happen, live."""

import streamlit as st

from vizcore.ui.routing import navigation


def main() -> None:
    """Route to the pages (st.navigation) first, then load what they need; every page script lives in pages/."""
    st.set_page_config(page_title="NormLab", page_icon="📊", layout="wide")
    page = navigation()  # NormLab's own navigation reaches the browser before anything heavy is imported
    from vizcore.ui.live_chart import ensure_plotly_js
    from vizcore.ui.plotly_guard import guard
    from vizcore.ui.style import apply as apply_style
    from vizcore.ui.warmup import warm_up

    guard()  # no page imports pandas first: plotly must not see it half-imported by another thread
    ensure_plotly_js()  # the live charts load it from the app's static folder
    apply_style(st.session_state.get("live_present", st.query_params.get("present")) == "1")
    page.run()
    # Once per process, after the first page that ran to its end: a forward or a rerun (an exception) skips
    # it, since the page the visitor waits for is still to come and the warm-up's imports would slow it.
    warm_up()


# A sweep's worker processes are spawned: each imports this main module as __mp_main__,
# where it must draw nothing.
if __name__ != "__mp_main__":
    main()
