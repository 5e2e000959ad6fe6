"""Saved runs: every finished run, reloadable after a refresh or a server restart."""

import streamlit as st

from vizcore import RunConfig
from vizcore.ui.routing import use_app_router
from vizcore.ui.text import plain
from vizcore.ui.widgets import downloads, get_store, open_page

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Saved runs")
store = get_store()
runs = store.list()
st.caption(
    f"Finished runs are saved in `{store.root}` (set `NORMLAB_RUNS` to move it). "
    "An identical configuration is never trained twice: Start loads the saved run."
)
for name, problem in store.problems:
    st.warning(f"Skipped {plain(name)}: {plain(problem, limit=300)}")
if not runs:
    st.info("No saved runs yet. Train one in the Live lab.")
    st.stop()

rows = [
    {
        "id": r.id,
        "dataset": r.dataset,
        "model": r.model,
        "norm": r.norm,
        "batch": r.batch_size,
        "status": r.status,
        "steps": r.steps_done,
        "test acc": r.test_acc,
    }
    for r in runs
]
st.dataframe(
    rows,
    hide_index=True,
    width="stretch",  # accuracy in percent, as on every other page
    column_config={"test acc": st.column_config.NumberColumn(format="percent")},
)
chosen = st.selectbox(
    "Run",
    [r.id for r in runs],
    format_func=lambda i: next(
        f"{r.id} · {r.dataset} · {r.norm} · batch {r.batch_size} · {r.status}" for r in runs if r.id == i
    ),
)
run = store.get(chosen)
c1, c2 = st.columns(2)
if c1.button("Open in the Live lab", type="primary"):
    st.session_state["live_job_loaded"] = run
    for key in ("live_job", "live_twin", "live_twin_loaded"):
        st.session_state.pop(key, None)
    open_page("pages/live.py", "live_", RunConfig.from_dict(run["config"]))  # the sidebar shows its settings
with c2.popover("Delete"):  # a second click: deleting cannot be undone
    st.write(f"Remove `{chosen}` from the store? This cannot be undone.")
    if st.button("Delete the run file", type="primary"):
        store.delete(chosen)
        st.rerun()
downloads(run)
st.json(run["config"], expanded=False)
