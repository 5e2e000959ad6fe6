"""AppTest smoke tests: every page renders without exception."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, figures, shown, stop_jobs, wait_for

PAGES = [
    "pages/start.py",
    "pages/live.py",
    "pages/compare.py",
    "pages/batch_size.py",
    "pages/covariate_shift.py",
    "pages/runs.py",
    "pages/about.py",
]


pytestmark = pytest.mark.usefixtures("store_dir")


def app() -> AppTest:
    """Return the app opened on the Live lab (the landing is the default page; these tests are about the lab)."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).switch_page("pages/live.py")


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page):
    at = app().run()
    at.switch_page(page).run()
    assert not at.exception


def test_live_controls_map_to_config_and_a_run_completes(store_dir):
    at = app().run()
    at.sidebar.selectbox(key="live_dataset").set_value("moons")
    at.sidebar.selectbox(key="live_norm").set_value("layer")
    at.sidebar.number_input(key="live_batch_size").set_value(16)
    at.sidebar.number_input(key="live_steps").set_value(200)
    at.run()
    at.toggle(key="live_twin_on").set_value(False).run()  # the run alone: its curves are named train/test
    at.segmented_control(key="live_pace").set_value("max").run()
    at.button[0].click().run()  # Start
    job = at.session_state["live_job"]
    try:
        assert (job.cfg.dataset, job.cfg.norm, job.cfg.batch_size, job.cfg.steps) == ("moons", "layer", 16, 200)
        assert "live_twin" not in at.session_state and job.pace is None
        wait_for(lambda: not job.alive)
        at.run()
        assert not at.exception
        charts = figures(at)
        titles = [fig["layout"]["title"]["text"] for fig in charts]
        assert any("Training curves" in t for t in titles) and not any("boundary" in t.lower() for t in titles)
        at.session_state["live_tab"] = "Decision boundary"  # only the open tab is drawn and sent
        at.run()
        assert any("boundary" in f["layout"]["title"]["text"].lower() for f in figures(at))
        assert not any(f["data"] and f["data"][0]["type"] == "heatmap" for f in figures(at))  # "Over time" closed
        at.session_state["live_tab"] = "Over time"
        at.run()
        run = job.trainer.export()
        curves = next(f for f, t in zip(charts, titles) if "Training curves" in t)
        test_acc = [tr for tr in curves["data"] if tr["name"] == "test" and tr.get("yaxis") == "y2"][0]
        assert test_acc["y"] == pytest.approx(run["curves"]["test_acc"])
        heat = next(f for f in charts if f["data"] and f["data"][0]["type"] == "heatmap")
        assert len([tr for tr in heat["data"] if tr["type"] == "heatmap"]) == job.cfg.depth
        assert job.trainer.status == "completed"
        assert list(store_dir.glob("*.json")), "the finished run was saved"
    finally:
        stop_jobs(at)


def test_invalid_combination_is_explained_not_raised():
    at = app().run()
    at.sidebar.selectbox(key="live_norm").set_value("batch")
    at.sidebar.number_input(key="live_batch_size").set_value(1)
    at.run()
    assert not at.exception
    assert any("at least 2" in e.value for e in at.sidebar.error)
    assert at.button[0].disabled
    # the main area says why Start is off (the sidebar's message may be out of sight)
    assert any("do not fit together" in w.value for w in at.main.warning)


def test_clicking_the_selected_tap_again_keeps_a_tap_selected():
    at = app().run()
    at.segmented_control(key="live_tap").set_value("norm").run()
    assert at.segmented_control(key="live_tap").value == "norm"
    at.segmented_control(key="live_tap").set_value(None).run()  # what a second click on "norm" sends
    assert not at.exception and at.segmented_control(key="live_tap").value == "act"


def test_link_sets_config_and_bad_values_fall_back_with_notice():
    at = app()
    at.query_params["norm"] = "group"
    at.query_params["groups"] = "4"
    at.query_params["lr"] = "banana"
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="live_norm").value == "group"
    assert at.sidebar.number_input(key="live_groups").value == 4
    assert at.sidebar.number_input(key="live_lr").value == 0.1
    assert any("lr=banana" in shown(w.value) for w in at.sidebar.warning)


def test_classroom_link_shows_few_controls_and_no_choice_it_cannot_use():
    at = app()
    at.query_params["classroom"] = "1"
    at.run()
    assert not at.exception
    shown = {w.key for w in [*at.sidebar.selectbox, *at.sidebar.number_input, *at.sidebar.toggle]}
    assert "live_norm" in shown and "live_batch_size" in shown and "live_model" not in shown and "live_eps" not in shown
    # the model is hidden (mlp): instance norm would only say "use model cnn", which the student cannot do
    assert "instance" not in at.sidebar.selectbox(key="live_norm").options
    at = app()
    at.query_params["classroom"] = "1"
    at.query_params["model"] = "cnn"
    at.run()
    assert "instance" in at.sidebar.selectbox(key="live_norm").options


def test_settings_survive_a_page_switch():
    at = app().run()
    at.sidebar.number_input(key="live_depth").set_value(3)
    at.sidebar.selectbox(key="live_norm").set_value("layer")
    at.run()
    at.switch_page("pages/about.py").run()
    at.switch_page("pages/live.py").run()
    assert not at.exception
    assert at.sidebar.number_input(key="live_depth").value == 3
    assert at.sidebar.selectbox(key="live_norm").value == "layer"


def test_saved_run_opens_in_the_live_lab(store_dir):
    from vizcore import RunConfig, Trainer
    from vizcore.runs.store import RunStore

    cfg = RunConfig(dataset="xor", steps=30, norm="layer", depth=2)
    RunStore(store_dir).save(Trainer(cfg).run())
    at = app().run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    next(b for b in at.button if b.label == "Open in the Live lab").click().run()
    assert not at.exception
    assert at.sidebar.selectbox(key="live_dataset").value == "xor"
    assert at.sidebar.number_input(key="live_depth").value == 2
    assert figures(at), "the saved run is drawn"


def test_only_the_teacher_deletes_saved_runs_and_runs_are_named_by_what_they_are(store_dir, monkeypatch):
    from vizcore import RunConfig, Trainer
    from vizcore.runs.store import RunStore

    store = RunStore(store_dir)
    store.save(Trainer(RunConfig(dataset="xor", steps=30, depth=2, activation="tanh", lr=0.05, seed=7)).run())
    at = app().run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception and len(store.list()) == 1
    row = at.dataframe[0].value.iloc[0]  # named by what it is, not by a hex id
    assert (row["norm"], row["activation"], row["batch"], row["lr"], row["seed"]) == ("batch norm", "tanh", 64, 0.05, 7)
    assert row["saved"] == "just now" and "id" not in at.dataframe[0].value.columns
    said = " ".join(c.value for c in at.caption)  # what Start does with a saved run, as the Live lab does it
    assert "Start always trains live" in said and "**Show the saved run**" in said and "loads" not in said
    assert at.selectbox[0].options[0].startswith("batch norm · tanh · batch 64 · lr 0.05 · seed 7")
    assert not any("Delete" in b.label for b in at.button)  # no token on this server: nobody deletes
    assert not any(e.label == "Teacher" for e in at.sidebar.expander)

    monkeypatch.setenv("NORMLAB_TEACHER_TOKEN", "correct horse")
    at = app().run()
    at.switch_page("pages/runs.py").run()
    assert not any("Delete" in b.label for b in at.button)  # a student: not offered
    at.sidebar.text_input(key="teacher_token_typed").input("wrong").run()
    assert any("not the server's teacher token" in e.value for e in at.sidebar.error)
    at.sidebar.text_input(key="teacher_token_typed").input("correct horse").run()
    assert "teacher_token_typed" not in at.query_params and "correct horse" not in str(dict(at.query_params))
    assert not any(b.label == "Delete" for b in at.button)  # the popover's label, not a one-click button
    next(b for b in at.button if b.label == "Delete the run file").click().run()
    assert not at.exception and store.list() == []


def test_a_second_session_watches_the_same_run_instead_of_training_it_again():
    first, second = app().run(), app().run()
    jobs = []
    try:
        for at in (first, second):
            at.sidebar.selectbox(key="live_dataset").set_value("moons")
            at.sidebar.number_input(key="live_steps").set_value(100_000)
            at.run()
            at.button[0].click().run()
            jobs.append(at.session_state["live_job"])
        assert jobs[0] is jobs[1]
        assert not second.exception
        assert any("already training in another session" in i.value for i in second.info)
        assert second.button[1].disabled and second.button[3].disabled  # Pause and Stop are the owner's
        assert not first.button[3].disabled
        assert second.session_state["live_twin"] is first.session_state["live_twin"]  # the twin is shared too
    finally:
        stop_jobs(first)


def test_live_charts_stay_mounted_and_both_runs_train_at_the_chosen_pace():
    at = app()
    at.query_params.update({"dataset": "moons", "steps": "200000", "pace": "100"})
    at.run()
    at.button[0].click().run()  # Start
    job, twin = at.session_state["live_job"], at.session_state["live_twin"]
    try:
        assert job.pace == twin.pace == 100.0
        assert (job.cfg.norm, twin.cfg.norm) == ("batch", "none") and twin.cfg.seed == job.cfg.seed
        # the live charts are components updated in place (the sidebar's network diagram is a plain chart)
        assert not at.main.get("plotly_chart") and at.toggle(key="live_twin_on").value
        live = at.main.get("bidi_component")
        keys = [c.proto.id.rsplit("-", 1)[-1] for c in live]
        assert keys[:2] == ["curves", "pair"]  # updated in place under the same keys, poll after poll
        curves = json.loads(live[0].proto.bytes)["figure"]
        assert {tr["name"].split(" · ")[0] for tr in curves["data"]} == {"batch norm", "no norm"}
        at.segmented_control(key="live_pace").set_value("5").run()
        assert job.pace == twin.pace == 5.0 and at.query_params["pace"] == "5"
        assert not any(t.label.startswith("Freeze") for t in at.toggle)
    finally:
        stop_jobs(at)


def test_live_lab_shows_the_probe_when_asked_and_says_which_data_it_draws():
    at = app().run()
    at.sidebar.number_input(key="live_steps").set_value(60).run()
    next(b for b in at.button if b.label == "Start").click().run()
    try:
        job = at.session_state["live_job"]
        wait_for(lambda: not job.alive)
        at.run()
        assert any("on each training batch" in c.value for c in at.caption)

        def heat():
            return next(f for f in figures(at) if f["data"] and f["data"][0]["type"] == "heatmap")

        batch_heat = heat()
        at.segmented_control(key="live_data").set_value("probe").run()
        assert not at.exception
        assert any("the same 256 probe examples" in c.value for c in at.caption)
        probe_heat = heat()
        assert batch_heat["data"][0]["z"] != probe_heat["data"][0]["z"]  # other examples, other counts
    finally:
        stop_jobs(at)


def test_start_always_trains_live_and_a_saved_run_is_offered_and_played_back(store_dir):
    from vizcore import RunConfig, Trainer
    from vizcore.runs.store import RunStore

    cfg = RunConfig(dataset="moons", steps=60, every=5, eval_every=10)
    store = RunStore(store_dir)
    for c in (cfg, cfg.replace(norm="none")):
        store.save(Trainer(c).run())  # rehearsed before class: both runs are in the store
    at = app()
    at.query_params.update({"dataset": "moons", "steps": "60", "every": "5", "eval_every": "10", "pace": "5"})
    at.run()
    offer = next(b for b in at.button if b.label.startswith("Show the saved run"))
    assert "just now" in offer.label
    at.button[0].click().run()  # Start: trains live, the saved run is not substituted
    try:
        assert at.session_state["live_job"].cfg == cfg and "live_job_loaded" not in at.session_state
        assert not any("saved run" in i.value for i in at.info)
    finally:
        stop_jobs(at)
    at.run()
    next(b for b in at.button if b.label.startswith("Show the saved run")).click().run()
    assert not at.exception and "live_job" not in at.session_state
    progress = at.get("progress")[0].proto.text
    assert "playing back the saved run" in progress and "no normalization" in progress
    curves = figures(at)[0]
    assert max(max(tr["x"]) for tr in curves["data"] if tr.get("x")) < 60  # at 5 steps/s, seconds in: not at the end


def test_share_links_are_valid_with_default_settings_and_offer_a_student_link(monkeypatch):
    from urllib.parse import parse_qs, urlsplit

    at = app().run()
    codes = [c.value for c in at.code]
    student, full = codes[-2], codes[-1]
    for link in (student, full):
        parts = urlsplit(link)
        assert parts.scheme == "http" and parts.netloc and "&" not in parts.netloc  # a URL a browser opens
        assert parts.path == "/live"  # the Live lab by name: "/" is the Start-here landing
    assert parse_qs(urlsplit(student).query) == {"classroom": ["1"]} and urlsplit(full).query == ""
    monkeypatch.setenv("NORMLAB_PUBLIC_URL", "https://normlab.school.example/")
    at = app().run()
    assert at.code[-1].value == "https://normlab.school.example/live"
    at.sidebar.selectbox(key="live_norm").set_value("layer").run()
    assert at.code[-2].value == "https://normlab.school.example/live?norm=layer&classroom=1"


# Words a notice uses to send a student to a control: they must not appear where the link hides that control.
CONTROL_WORDS = {"lr": "learning rate", "seed": "seed", "norm_noise": "noisy norm", "norm": "add normalization"}


@pytest.mark.parametrize("hide", ["classroom=1", "hide=lr", "hide=norm,lr", "hide=seed"])
def test_no_notice_names_a_control_the_link_hides(hide, store_dir):
    from urllib.parse import parse_qs

    from vizcore.engine.params import hidden_fields

    params = {k: v[0] for k, v in parse_qs(hide).items()}
    hidden = hidden_fields(params)
    states = [  # a diverged run, batch norm at batch 2, a saved run played back, settings that do not fit
        {"dataset": "moons", "lr": "1000000", "steps": "40", "pace": "max"},
        {"dataset": "moons", "batch_size": "2", "steps": "40", "pace": "max"},
        {"dataset": "moons", "steps": "40", "pace": "max", "norm": "group", "groups": "5", "width": "16"},
    ]
    for state in states:
        at = app()
        at.query_params.update({**state, **params})
        at.run()
        if not at.button[0].disabled:
            at.button[0].click().run()
            running = jobs_of(at)
            wait_for(lambda running=running: not any(j.alive for j in running))
            at.run()
        notices = " ".join(n.value for kind in (at.info, at.warning, at.error) for n in kind).lower()
        for field in hidden & set(CONTROL_WORDS):
            assert CONTROL_WORDS[field] not in notices, (hide, state, field, notices)
        stop_jobs(at)


def jobs_of(at: AppTest) -> list:
    """Return the Live lab session's jobs (its run and its twin) that exist."""
    return [at.session_state[k] for k in ("live_job", "live_twin") if k in at.session_state]


def test_a_bad_pace_or_zoom_in_a_link_is_named_and_the_default_used():
    at = app()
    at.query_params.update({"pace": "warp", "zoom": "-1"})
    at.run()
    shown_notices = [shown(w.value) for w in at.warning]
    assert any("pace=warp" in w and "valid: 5, 25, 100, 400, max" in w for w in shown_notices)
    assert any("zoom=-1" in w for w in shown_notices)
    assert at.segmented_control(key="live_pace").value == "25"
