"""Saved runs: every finished run, reloadable after a refresh or a server restart."""

import streamlit as st

from vizcore import RunConfig
from vizcore.engine.config import NORM_LABELS
from vizcore.ui.live_jobs import ago
from vizcore.ui.roles import is_teacher, sign_in
from vizcore.ui.routing import use_app_router
from vizcore.ui.text import plain
from vizcore.ui.widgets import downloads, get_store, open_page

use_app_router()  # first: a direct link to a fresh server must still go through app.py

st.title("Saved runs")
sign_in()
store = get_store()
runs = store.list()
st.caption(
    f"Finished runs are saved in `{store.root}` (set `NORMLAB_RUNS` to move it). "
    "In the Live lab, Start always trains live; for settings saved here, "
    "**Show the saved run** beside it plays that run back."
)
for name, problem in store.problems:
    st.warning(f"Skipped {plain(name)}: {plain(problem, limit=300)}")
if not runs:
    st.info("No saved runs yet. Train one in the Live lab.")
    st.stop()

rows = [
    {
        "norm": NORM_LABELS.get(r.norm, r.norm),
        "activation": r.activation,
        "batch": r.batch_size,
        "lr": r.lr,
        "seed": r.seed,
        "data": f"{r.dataset}, {r.model}",
        "saved": ago(r.created),
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
names = {
    r.id: f"{NORM_LABELS.get(r.norm, r.norm)} · {r.activation} · batch {r.batch_size} · lr {r.lr:g} · "
    f"seed {r.seed} · {r.dataset} · saved {ago(r.created)}"
    for r in runs
}
chosen = st.selectbox("Run", list(names), format_func=names.get)
run = store.get(chosen)
c1, c2 = st.columns(2)
if c1.button("Open in the Live lab", type="primary"):
    st.session_state["live_job_loaded"] = run
    for key in ("live_job", "live_twin", "live_twin_loaded"):
        st.session_state.pop(key, None)
    open_page("pages/live.py", "live_", RunConfig.from_dict(run["config"]))  # the sidebar shows its settings
if is_teacher():  # shared work: only the teacher deletes it, after a second click
    with c2.popover("Delete"):
        st.write(f"Remove {plain(names[chosen])} from the store? This cannot be undone.")
        if st.button("Delete the run file", type="primary"):
            store.delete(chosen)
            st.rerun()
downloads(run)
st.json(run["config"], expanded=False)
