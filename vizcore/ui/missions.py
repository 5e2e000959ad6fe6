"""The Start-here path in the app: the landing's mission list, opening a mission in the Live lab, and its banner there.

Progress (the current mission, answers, missions done) is seeded from the link once per session,
kept in the session, and written back to the link on every page that shows it.
"""

from __future__ import annotations

import streamlit as st

from vizcore.engine.config import RunConfig
from vizcore.engine.params import PROGRESS_PARAMS, to_params
from vizcore.labs.missions import (
    BY_ID,
    MISSIONS,
    PACE,
    Mission,
    Progress,
    fits,
    mission_number,
    next_mission,
    outcome,
    parse_progress,
    progress_params,
    verdict,
)
from vizcore.ui import live, live_jobs
from vizcore.ui.text import plain
from vizcore.ui.widgets import get_store

KEY = "missions_progress"
LIVE = "pages/live.py"
# What the landing reads from a link; any other parameter was meant for the Live lab, which "/" used to be.
LANDING_PARAMS = {"classroom", "hide", "present", *PROGRESS_PARAMS}
CARRIED = ("classroom", "hide", "present", "zoom")  # kept from the current link when a mission opens


def _params() -> dict[str, str]:
    return {k: st.query_params[k] for k in st.query_params}


def progress() -> Progress:
    """Return this session's progress on the path, seeded from the link the first time (bad values named)."""
    if KEY not in st.session_state:
        st.session_state[KEY], st.session_state[f"{KEY}_notices"] = parse_progress(_params())
    return st.session_state[KEY]


def save(new: Progress) -> None:
    """Keep `new` in the session and in the link (parts not set leave the link)."""
    st.session_state[KEY] = new
    wanted = progress_params(new)
    for name in PROGRESS_PARAMS:
        if name in wanted and st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]
        elif name not in wanted and name in st.query_params:
            del st.query_params[name]


def notices() -> None:
    """Name the link's bad progress values, once per session's seeding."""
    progress()
    for text in st.session_state.get(f"{KEY}_notices", []):
        st.warning(plain(text, limit=400))


def forward_live_links() -> None:
    """Send a link meant for the Live lab (`/?norm=layer&classroom=1`, from before the landing existed) on to it.

    Only in a session that has not opened the Live lab yet: a link typed or clicked starts a new session.
    """
    params = _params()
    if set(params) - LANDING_PARAMS and live_jobs.PREFIX + "seeded" not in st.session_state:
        st.switch_page(LIVE, query_params=params)


def open_mission(mission: Mission) -> None:
    """Set the Live lab up for `mission` (its settings, pace and twin, in the link too) and go there."""
    save(progress().at(mission.id))
    cfg, j = mission.config(), live_jobs.job()
    if j is not None and j.cfg != cfg or live_jobs.PREFIX + "job_loaded" in st.session_state:
        live_jobs.command("reset")  # the previous run is another mission's: an empty lab until Start
    for name in ("seeded", "view_seeded", "twin_on", "tap"):  # the link below seeds them again
        st.session_state.pop(live_jobs.PREFIX + name, None)
    current = _params()
    carried = {k: current[k] for k in CARRIED if k in current}
    st.switch_page(LIVE, query_params={**to_params(cfg), **carried, "pace": PACE, **progress_params(progress())})


# The landing is projected: type that grows with the window (16 px at 1366, 20 at 1920), rows close together.
LANDING_STYLE = """
<style>
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p { font-size: clamp(16px, 1.05vw, 22px); }
[data-testid="stMainBlockContainer"] h1 { font-size: clamp(36px, 2.4vw, 52px); }
</style>
"""


def path() -> None:
    """Draw the missions in order: what each asks, which are done, and a button that opens each."""
    now = progress()
    save(now)  # the link keeps the progress on this page too
    st.html(LANDING_STYLE)
    upcoming = next((m for m in MISSIONS if m.id not in now.done), None)
    st.markdown(f"**Start here** · {len(now.done)} of {len(MISSIONS)} missions done")
    for m in MISSIONS:
        row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
        done, answer = m.id in now.done, m.choice(now.answers.get(m.id))
        label = f"{'✓ ' if done else ''}Mission {mission_number(m)}"
        kind = "primary" if m is upcoming else "secondary"
        if row.button(label, key=f"mission_open_{m.id}", type=kind, width=150):
            open_mission(m)
        said = f" · you answered “{answer}”" if answer else ""
        row.markdown(f"**{m.title}**{said}  \n{m.question}")


def _reference(mission: Mission) -> dict | None:
    """Return the saved run this mission compares with (read once per session), or None."""
    cfg = mission.reference_config()
    if cfg is None:
        return None
    cache = st.session_state.setdefault(f"{KEY}_refs", {})
    if cache.get(cfg.key) is None:
        cache[cfg.key] = get_store().find(cfg)
    return cache[cfg.key]


def _answered() -> None:
    mid = progress().mission
    if mid is not None:
        save(progress().with_answer(mid, st.session_state[f"mission_answer_{mid}"]))


def banner(settings: RunConfig | None) -> None:
    """Draw the current mission on the Live lab: what to look at, the question, and, after the run, what happened.

    `settings`: the sidebar's configuration (None while invalid), to say when it is not the mission's.
    """
    notices()
    now = progress()
    save(now)
    mission = BY_ID.get(now.mission or "")
    if mission is None:
        return
    box = st.container(border=True)
    head = box.container(horizontal=True, vertical_alignment="center")
    head.markdown(f"**Mission {mission_number(mission)} of {len(MISSIONS)}: {mission.title}**")
    head.page_link("pages/start.py", label="All missions", icon=":material/explore:", query_params=_landing_query())
    if head.button("Leave the mission", key="mission_leave"):
        save(now.at(None))
        st.rerun()
    shown = live.current()
    # Once a run is on screen the charts need the room: the guidance folds into one line.
    guide = box if shown.run is None else box.expander("What to look at, and what you should see")
    look, expect = guide.columns(2)
    look.markdown(f"**Look at:** {mission.look}")
    expect.markdown(f"**You should see:** {mission.expect}")
    keys = [k for k, _ in mission.choices]
    answer = now.answers.get(mission.id)
    box.radio(
        mission.question,
        keys,
        index=keys.index(answer) if answer in keys else None,
        format_func=mission.choice,
        key=f"mission_answer_{mission.id}",
        on_change=_answered,
        horizontal=True,
    )
    if not fits(mission, shown.run, shown.twin_run):
        if settings is not None and settings != mission.config():
            box.info("The settings in the sidebar are not this mission's: its outcome is read from its own.")
            if box.button("Set this mission up again", key="mission_again"):
                open_mission(mission)
        elif shown.run is not None and shown.twin_run is None:
            box.info("This mission reads its outcome from both runs: switch on **Beside it** and press **Start**.")
        else:
            box.caption("Answer, then press **Start**: when both runs end, what happened shows here.")
        return
    assert shown.run is not None and shown.twin_run is not None
    result = outcome(mission, shown.run, shown.twin_run, _reference(mission))
    if not result.finished:
        box.caption("Training: what happened shows here when both runs end.")
        return
    if mission.id not in now.done:
        save(now.with_done(mission.id))
    box.info(f"**What happened:** {result.text}")  # neutral: a run that shows no effect is a finding too
    said = verdict(mission, result, progress().answers.get(mission.id))
    if said:
        box.markdown(said)
    after = next_mission(mission)
    if after is not None and box.button(f"Next: mission {mission_number(after)}, {after.title}", type="primary"):
        open_mission(after)


def _landing_query() -> dict[str, str]:
    """Return the link parameters the landing keeps: the progress, and the class's modes."""
    current = _params()
    return {**{k: current[k] for k in ("classroom", "hide", "present") if k in current}, **progress_params(progress())}
