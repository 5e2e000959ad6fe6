"""The Start-here landing and the mission banner on the Live lab, in AppTest."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT, shown, stop_jobs, wait_for
from vizcore.engine.params import parse_params
from vizcore.labs.missions import BY_ID, MISSIONS

pytestmark = pytest.mark.usefixtures("store_dir")


def landing(**params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    return at.run()


def texts(at: AppTest) -> str:
    return "\n".join(shown(m.value) for m in at.markdown)


def test_the_landing_is_the_default_page_and_says_what_normlab_is_and_the_path():
    at = landing()
    assert not at.exception
    assert at.title[0].value == "NormLab"
    words = texts(at)
    assert "NormLab trains small neural networks" in words and "internal covariate shift" in words
    assert [b.label for b in at.button] == [f"Mission {i}" for i in range(1, len(MISSIONS) + 1)]
    assert all(m.title in words and m.question in words for m in MISSIONS)
    assert "0 of 5 missions done" in words
    assert at.button(key="mission_open_sigmoid").proto.type == "primary"  # the first one not done


@pytest.mark.parametrize("mission", MISSIONS, ids=lambda m: m.id)
def test_a_mission_opens_the_live_lab_with_its_settings_and_its_banner(mission):
    at = landing()
    at.button(key=f"mission_open_{mission.id}").click().run()
    assert not at.exception
    assert at.title[0].value == "Live lab"
    cfg, notices = parse_params({k: at.query_params[k] for k in at.query_params})
    assert cfg == mission.config() and notices == []  # the link reproduces the mission
    assert at.query_params["mission"] == mission.id and at.query_params["pace"] == "100"
    for name, value in mission.setup.items():  # and the sidebar holds it
        assert at.session_state[f"live_{name}"] == value
    assert at.session_state["live_pace"] == "100"
    assert f"Mission {MISSIONS.index(mission) + 1} of 5: {mission.title}" in texts(at)
    assert at.radio(key=f"mission_answer_{mission.id}").label == mission.question
    assert any("press **Start**" in c.value for c in at.caption)


def test_answers_and_done_missions_are_kept_in_the_link_and_a_new_session_restores_them():
    at = landing()
    at.button(key="mission_open_batch2").click().run()
    at.radio(key="mission_answer_batch2").set_value("none").run()
    assert at.query_params["answers"] == "batch2:none"
    link = {k: at.query_params[k] for k in at.query_params}
    fresh = landing(**{k: v for k, v in link.items() if k in ("mission", "answers", "done")})
    assert not fresh.exception and fresh.title[0].value == "NormLab"
    assert "you answered “without normalization”" in texts(fresh)
    assert fresh.query_params["answers"] == "batch2:none"  # the landing keeps it in its own link
    fresh.button(key="mission_open_batch2").click().run()
    assert fresh.radio(key="mission_answer_batch2").value == "none"


def train_mission(at: AppTest) -> list:
    """Press Start at pace max, wait for the run and its twin to end and redraw; return their jobs."""
    at.segmented_control(key="live_pace").set_value("max").run()
    next(b for b in at.button if b.label == "Start").click().run()
    jobs = [at.session_state["live_job"], at.session_state["live_twin"]]
    try:
        wait_for(lambda: not any(j.alive for j in jobs), timeout=120)
    except AssertionError:
        stop_jobs(at)
        raise
    at.run()
    return jobs


def test_a_finished_mission_says_what_happened_marks_it_done_and_the_next_one_opens(store_dir):
    at = landing()
    at.button(key="mission_open_layer2").click().run()
    at.radio(key="mission_answer_layer2").set_value("trains").run()
    jobs = train_mission(at)
    try:
        assert not at.exception
        layer, none = (j.trainer.export()["curves"]["test_acc"][-1] for j in jobs)
        happened = [shown(i.value) for i in at.info if "What happened" in i.value]
        assert len(happened) == 1
        assert f"At the last test, layer norm scored {layer:.0%}; no normalization {none:.0%}" in happened[0]
        expected = "this run agrees" if layer >= none - 0.05 else "points to" if layer <= none - 0.1 else "not settle"
        assert "You answered “no: it ends about as high" in texts(at) and expected in texts(at)
        assert at.query_params["done"] == "layer2" and at.query_params["answers"] == "layer2:trains"
        next(b for b in at.button if b.label.startswith("Next: mission 5")).click().run()
    finally:
        stop_jobs(at)
    assert not at.exception and at.query_params["mission"] == "running" and at.query_params["momentum"] == "0"
    assert "live_job" not in at.session_state  # the last mission's runs are not this one's: an empty lab
    assert at.session_state["live_momentum"] == 0.0 and at.session_state["live_batch_size"] == 64
    at.switch_page("pages/start.py").run()
    assert "1 of 5 missions done" in texts(at) and at.button(key="mission_open_layer2").label == "✓ Mission 4"
    assert at.button(key="mission_open_sigmoid").proto.type == "primary"  # the first not done


def test_leaving_a_mission_hides_its_banner_and_keeps_the_answers():
    at = landing()
    at.button(key="mission_open_sigmoid").click().run()
    at.radio(key="mission_answer_sigmoid").set_value("batch").run()
    next(b for b in at.button if b.label == "Leave the mission").click().run()
    assert not at.exception and "mission" not in at.query_params and at.query_params["answers"] == "sigmoid:batch"
    assert not any("Mission 1 of 5" in m.value for m in at.markdown)


def test_changed_settings_are_named_and_the_mission_can_be_set_up_again():
    at = landing()
    at.button(key="mission_open_layer2").click().run()
    at.sidebar.number_input(key="live_batch_size").set_value(16).run()
    assert any("not this mission's" in shown(i.value) for i in at.info)
    next(b for b in at.button if b.label == "Set this mission up again").click().run()
    assert at.session_state["live_batch_size"] == 2 and not at.exception


def test_classroom_mode_carries_over_and_hides_the_controls_a_mission_sets():
    at = landing(classroom="1")
    assert at.title[0].value == "NormLab"
    at.button(key="mission_open_running").click().run()
    assert at.query_params["classroom"] == "1" and at.query_params["momentum"] == "0"
    keys = {w.key for w in [*at.sidebar.selectbox, *at.sidebar.number_input, *at.sidebar.toggle]}
    assert "live_momentum" not in keys and "live_steps" not in keys and "live_norm" in keys
    assert at.session_state["live_momentum"] == 0.0
    link = next(p for p in at.main.get("page_link") if "All missions" in p.proto.label)
    assert link.proto.page == "start" and link.proto.query_string == "classroom=1&mission=running"  # back, same mode
    assert not at.exception


def test_links_meant_for_the_live_lab_still_open_it_and_bad_progress_is_named():
    at = landing(norm="layer", classroom="1")
    assert at.title[0].value == "Live lab" and at.session_state["live_norm"] == "layer"
    at = landing(mission="nope", done="sigmoid,zzz")
    assert at.title[0].value == "NormLab" and not at.exception
    warned = [shown(w.value) for w in at.warning]
    assert any("mission=nope` is not valid" in w for w in warned) and any("`zzz`" in w for w in warned)
    assert at.query_params["done"] == "sigmoid" and "mission" not in at.query_params


def test_a_mission_run_without_its_twin_asks_for_the_twin():
    at = landing()
    at.button(key="mission_open_batch2").click().run()
    at.toggle(key="live_twin_on").set_value(False).run()
    at.segmented_control(key="live_pace").set_value("max").run()
    next(b for b in at.button if b.label == "Start").click().run()
    job = at.session_state["live_job"]
    try:
        wait_for(lambda: not job.alive, timeout=120)
        at.run()
        assert not at.exception and "live_twin" not in at.session_state
        assert any("switch on **Beside it**" in i.value for i in at.info)
        assert "done" not in at.query_params
    finally:
        stop_jobs(at)


def test_the_placement_mission_compares_with_the_saved_run_of_batch_norm_before_the_activation(store_dir):
    from vizcore import Trainer
    from vizcore.runs.store import RunStore

    before = Trainer(BY_ID["placement"].reference_config()).run()  # what mission 1's twin saves
    RunStore(store_dir).save(before)
    at = landing()
    at.button(key="mission_open_placement").click().run()
    train_mission(at)
    try:
        happened = [shown(i.value) for i in at.info if "What happened" in i.value]
        steps = next(s for s, a in zip(before["curves"]["step"], before["curves"]["test_acc"]) if a >= 0.9)
        assert f"Batch norm before the activation (mission 1) reached 90% test accuracy at step {steps}" in happened[0]
    finally:
        stop_jobs(at)
