"""The Experiments page's parts: choosing an experiment, its Task, live partial results and the verdict."""

from __future__ import annotations

import time

import streamlit as st

from vizcore.experiments import Experiment, Result, Verdict, all_experiments
from vizcore.experiments.grading import ANSWERS, WORDS
from vizcore.figures.experiments import band_figure
from vizcore.ui import experiment_cache, watch
from vizcore.ui.text import plain
from vizcore.ui.widgets import open_page
from vizcore.workers.sweep import shared_pool
from vizcore.workers.tasks import Task

# Every verdict is a finding, whichever way it goes: no red error box, and the words and icon say which (not the
# colour alone).
VERDICT_BOXES = {
    "supported": (st.success, ":material/check_circle:", "the claim held in these runs"),
    "not supported": (st.info, ":material/do_not_disturb_on:", "the claim did not hold in these runs"),
    "it depends": (st.info, ":material/balance:", "these runs do not give the claim one answer"),
}
GRADE_MARKS = {"right": "✓", "partly right": "◐", "wrong": "✗"}  # text glyphs: emoji fonts are not everywhere
MATCH = {0.0: "✓", 0.5: "◐", -0.5: "◐", 1.0: "✗", -1.0: "✗"}  # by predicted minus found (grading.ANSWERS)
ANSWER_WORDS = {"yes": "yes", "no": "no", "neither": "neither clearly"}


def choose() -> Experiment:
    """Draw the experiment picker (seeded from `?exp=`, which it keeps in the URL); return the chosen one."""
    experiments = {e.name: e for e in all_experiments()}
    names = list(experiments)
    wanted = st.query_params.get("exp")
    if wanted and wanted not in names:
        st.warning(f"There is no experiment {plain(wanted)} (valid: {', '.join(names)}); showing the first.")
    name = st.selectbox(
        "Experiment",
        names,
        index=names.index(wanted) if wanted in names else 0,
        key="exp",
        format_func=lambda n: f"{experiments[n].number}. {experiments[n].title}",
    )
    st.query_params["exp"] = name
    return experiments[name]


def task(exp: Experiment) -> Task | None:
    """Return this session's task for `exp`, or None."""
    return st.session_state.get(f"task_{exp.name}")


def alive(exp: Experiment) -> bool:
    """Return True while `exp` runs in this session."""
    return (t := task(exp)) is not None and t.alive


def start(exp: Experiment, budget: float) -> Task:
    """Return a started Task training `exp` fresh at `budget`, its runs on the server's warm process pool."""
    pool = shared_pool()
    return Task(lambda progress, cancel: experiment_cache.run(exp, budget, progress, cancel, pool)).start()


def buttons(exp: Experiment, guess: str | None, budget: float) -> None:
    """Draw Run (after a prediction), Cancel and Try it yourself, and act on them.

    Run shows the server's cached outcome of the same runs at once when it has one, says so, and offers to
    train them fresh.
    """
    t = task(exp)
    c1, c2, c3 = st.columns([1, 1, 3])
    if c1.button("Run", type="primary", disabled=guess is None or alive(exp)):
        hit = experiment_cache.get(exp, budget)
        st.session_state[f"task_{exp.name}"] = Task.finished(hit.result, hit) if hit else start(exp, budget)
        st.rerun()
    if c2.button("Cancel", disabled=not alive(exp)) and t is not None:
        t.stop()
    if guess is None:
        c3.caption("Make a prediction first: the page compares it with what the runs show.")
    if c3.button("Try it yourself", help="Open these settings in the Live lab or Compare"):
        _, cfg = exp.variants(1.0)[-1]
        live = exp.try_page == "live"
        open_page("pages/live.py" if live else "pages/compare.py", "live_" if live else "cmp_", cfg)
    if t is not None and t.cached is not None:
        cached_note(exp, t.cached)
        if st.button("Train them fresh", help="Train every run of this experiment again now and judge them anew"):
            st.session_state[f"task_{exp.name}"] = start(exp, budget)
            st.rerun()


def cached_note(exp: Experiment, hit: experiment_cache.Cached) -> None:
    """Say that the verdict below comes from runs trained earlier on this server: when, and what that means."""
    n = sum(len(v) for v in hit.result.runs.values())
    when = time.strftime("%H:%M:%S UTC", time.gmtime(hit.finished))
    ago = max(0, round((time.time() - hit.finished) / 60))
    by = "when this server started" if hit.how == experiment_cache.WARMED else "for an earlier Run on this server"
    if exp.name in experiment_cache.TIMED:
        what = f"These timings of {n} variants were measured {by}"
        same = "A fresh Run measures them again, and timings vary from run to run."
    else:
        what = f"These {n} runs were trained {by}"
        same = "The same settings and seeds give the same numbers, so a fresh Run gives this verdict again."
    st.info(
        f"**From the server's cache.** {what}, at {when} ({ago} min ago), in {hit.seconds:.0f} s. {same}",
        icon=":material/history:",
    )


def progress(t: Task) -> None:
    """Draw a running task's progress and the runs finished so far, grouped as the verdict will group them."""
    s = t.status()
    what = watch.waiting_text(s.slots_busy, s.slots_total) if s.state == "waiting" else f"{s.done} of {s.total} runs"
    st.progress(s.done / s.total if s.total else 0.0, text=f"{what} · {s.elapsed:.0f} s")
    if t.partial:  # the runs finished so far, drawn as they come in
        groups: dict = {}
        for label, run in t.partial:
            groups.setdefault(label, []).append(run)
        title = "Test accuracy of the runs finished so far"
        st.plotly_chart(band_figure(groups, "test_acc", title, "test accuracy"), key="partial", theme=None)
        st.caption("Live: each finished run joins its group. The verdict comes when all runs are done.")


def ended(exp: Experiment, t: Task, guess: str | None) -> None:
    """Draw how a finished task ended: its error, its cancellation, or its result."""
    s = t.status()
    if s.state == "error":
        st.error(f"The experiment failed: {plain(s.error, limit=400)}")
    elif s.state == "cancelled":
        st.warning("Cancelled. Press Run to start again.")
    elif t.result is not None:
        show(exp, t.result, guess)


def prediction(exp: Experiment, verdict: Verdict, guess: str) -> None:
    """Draw whether the student's prediction `guess` was right, partly right or wrong, and on which points."""
    g = exp.grade(guess, verdict)
    with st.container(border=True):
        if g is None:
            st.markdown(
                f"You expected: *{guess}*. These runs cannot grade that prediction: they did not give the "
                "answers it is about (the verdict above says why)."
            )
            return
        st.markdown(f"{GRADE_MARKS[g.word]} **Your prediction was {g.word}.** You expected: *{guess}*.")
        lines = []
        for statement, p, f in g.checked:
            said = exp.answer_words.get(statement) or WORDS.get(statement, ANSWER_WORDS)
            lines.append(
                f"- {MATCH[ANSWERS[p] - ANSWERS[f]]} {statement[0].upper()}{statement[1:]}? The runs: **{said[f]}**"
                + ("" if p == f else f" (you expected {said[p]})")
            )
        st.markdown("\n".join(lines))


def show(exp: Experiment, result: Result, guess: str | None) -> None:
    """Draw the verdict (its plain sentence first, numbers after), the graded prediction, the rule and numbers
    behind it, the figures and the paper's own numbers."""
    v = result.verdict
    box, icon, meaning = VERDICT_BOXES[v.label]
    head = v.headline or v.summary
    box(f"**{head}**\n\nVerdict: **{v.label}**, {meaning}.", icon=icon)
    if guess:
        prediction(exp, v, guess)
    detail = v.summary.removeprefix(v.headline).strip() if v.headline else ""
    if detail:
        st.markdown(f"**The numbers.** {detail}")
    with st.expander("How the verdict is decided, and the numbers that decided it"):
        st.write(v.rule)
        st.table({k: [("n/a" if x is None else f"{x:.4g}")] for k, x in v.numbers.items()})
    for i, (fig, caption) in enumerate(exp.figures(result)):
        st.plotly_chart(fig, key=f"fig_{i}", theme=None)
        st.caption(caption)
    if exp.paper:
        scaled = ""
        if result.budget != 1:
            scaled = (
                f" (Step counts here are at budget 1; this result used budget {result.budget:g}, so "
                f"{result.budget:g} times as many.)"
            )
        st.markdown(
            f"**In the paper** ({exp.paper.citation}): {exp.paper.reported}\n\n*What differs here:* "
            f"{exp.paper.differs}{scaled}"
        )
