"""The Experiments page draws a finished result a student can read: the plain sentence first, the prediction graded,
the numbers after; 'not supported' is a finding in a neutral box, not an error; the same with ?classroom=1."""

from types import SimpleNamespace

import pytest

from tests.experiments import test_exp_placement as place_t
from tests.helpers import open_app
from vizcore.experiments import get
from vizcore.experiments.base import Result

EXP = get("placement")


class Finished:
    """A session's task that has ended with `result` (what the page reads of a `workers.tasks.Task`)."""

    alive = False
    state = "done"
    cached = None  # computed here, not taken from the server's cache of earlier outcomes

    def __init__(self, result: Result):
        self.result = result

    def status(self):
        return SimpleNamespace(state="done", error=None)

    def stop(self):
        pass


def result(per_act) -> Result:
    """A finished placement result whose verdict comes from the experiment's real rule on hand-made numbers."""
    measured = place_t.measured(per_act)
    run = {"curves": {"step": [0, 10, 20], "test_acc": [0.1, 0.9, 0.95]}}
    runs = {label: [run] * 4 for label, _ in EXP.variants(0.05)}
    return Result(EXP.name, 0.25, (0, 1, 2, 3), runs, measured, EXP.verdict(measured))


def page(res: Result, guess: str, classroom: bool = False):
    at = open_app()
    at.query_params["exp"] = EXP.name
    if classroom:
        at.query_params["classroom"] = "1"
    at.switch_page("pages/experiments.py").run()
    at.session_state[f"task_{EXP.name}"] = Finished(res)
    at.radio(key=f"guess_{EXP.name}").set_value(guess).run()
    assert not at.exception
    return at


def texts(at) -> list[tuple[str, str]]:
    """Return (element type, text) of every text element on the page, in page order."""
    out = []

    def walk(node):
        children = getattr(node, "children", None)
        if children is None:
            if hasattr(node, "value") and isinstance(node.value, str):
                out.append((node.type, node.value))
            return
        for child in children.values() if isinstance(children, dict) else children:
            walk(child)

    walk(at.main)
    return out


@pytest.mark.parametrize("classroom", [False, True])
def test_not_supported_is_a_finding_with_the_sentence_first_and_the_prediction_graded(store_dir, classroom):
    res = result({"relu": place_t.AFTER_WINS, "sigmoid": place_t.AFTER_WINS})
    assert res.verdict.label == "not supported"
    at = page(res, EXP.expectations[0], classroom)  # "before is better": the opposite of what the runs showed
    assert not at.error and not at.warning  # a finding, not an error
    (box,) = at.info
    assert box.value.startswith(f"**{res.verdict.headline}**") and "Verdict: **not supported**" in box.value
    assert "did not hold in these runs" in box.value and box.icon  # words and an icon, not colour alone
    order = [text for _, text in texts(at)]
    head = order.index(box.value)
    graded = next(i for i, t in enumerate(order) if "Your prediction was" in t)
    numbers = next(i for i, t in enumerate(order) if t.startswith("**The numbers.**"))
    assert head < graded < numbers
    assert "✗ **Your prediction was wrong.**" in order[graded]
    points = order[graded + 1]
    assert points.count("✗") == 2 and "**no, after won**" in points and "(you expected yes, before won)" in points
    assert "ReLU: before 96.0%, after 97.0%" in order[numbers]  # the numbers, after the sentence
    figs = at.get("plotly_chart")
    assert len(figs) == 2


def test_a_partly_right_prediction_and_a_supported_verdict(store_dir):
    res = result({"relu": place_t.BEFORE_WINS, "sigmoid": place_t.BEFORE_WINS})
    at = page(res, "It depends: after for ReLU, before for sigmoid")
    (box,) = at.success
    assert "Verdict: **supported**" in box.value and not at.info and not at.error
    graded = next(t for _, t in texts(at) if "Your prediction was" in t)
    assert graded.startswith("◐ **Your prediction was partly right.**")


def test_a_result_with_no_answers_says_it_cannot_grade(store_dir):
    res = result({"relu": place_t.TIE, "sigmoid": place_t.TIE})
    found = {k: None for k in res.verdict.found}
    res.verdict = type(res.verdict)(**{**res.verdict.__dict__, "found": found, "label": "it depends"})
    at = page(res, EXP.expectations[0])
    assert any("cannot grade that prediction" in t for _, t in texts(at))
    assert not any("Your prediction was" in t for _, t in texts(at)) and not at.error
