"""Verdicts a student can read: each experiment's plain headline, and grading a prediction right / partly right / wrong.

Each experiment's table runs its real `verdict` on hand-made measurements (the helpers of its own rule tests) and
grades every expectation on the page against it, so a change to a rule, a `found` answer or a prediction shows here.
"""

import pytest

from tests.experiments import test_exp_cost as cost_t
from tests.experiments import test_exp_depth as depth_t
from tests.experiments import test_exp_init_scale as init_t
from tests.experiments import test_exp_learning_rate as lr_t
from tests.experiments import test_exp_placement as place_t
from tests.experiments import test_exp_regularization as reg_t
from tests.experiments import test_exp_running_stats as rs_t
from tests.experiments import test_exp_santurkar as sant_t
from tests.experiments import test_exp_small_batches as sb_t
from tests.experiments import test_experiments as ioffe_t
from vizcore.experiments import Verdict, all_experiments, get
from vizcore.experiments.grading import ANSWERS, CLAIM, check, grade
from vizcore.experiments.headlines import smoothness

R, P, W = "right", "partly right", "wrong"


# ----- the rule -----
@pytest.mark.parametrize(
    "predicted, found, word",
    [
        ({"a": "yes"}, {"a": "yes"}, R),
        ({"a": "yes"}, {"a": "neither"}, P),  # "it depends" against a one-sided outcome
        ({"a": "neither"}, {"a": "no"}, P),  # ... and the other way round
        ({"a": "yes"}, {"a": "no"}, W),  # the opposite
        ({"a": "yes", "b": "no"}, {"a": "yes", "b": "yes"}, P),  # half of it
        ({"a": "yes", "b": "no"}, {"a": "no", "b": "yes"}, W),
        ({"a": "yes", "b": "no"}, {"a": "yes", "b": None}, R),  # only what the runs answered is graded
    ],
)
def test_grade_rule(predicted, found, word):
    g = grade(predicted, found)
    assert g is not None and g.word == word
    assert [s for s, _, _ in g.checked] == [s for s in predicted if found.get(s) is not None]


def test_nothing_answered_grades_nothing_and_bad_answers_are_refused():
    assert grade({"a": "yes"}, {"a": None}) is None and grade({"a": "yes"}, {}) is None
    with pytest.raises(ValueError, match="'maybe'"):
        check({"guess": {"a": "maybe"}})
    with pytest.raises(ValueError, match="predicts nothing"):
        check({"guess": {}})


@pytest.mark.parametrize("exp", all_experiments(), ids=lambda e: e.name)
def test_every_expectation_predicts_answers_and_is_right_against_them(exp):
    assert tuple(exp.predictions) == exp.expectations and len(exp.expectations) >= 2
    check(exp.predictions)
    for guess, answers in exp.predictions.items():
        label = {"yes": "supported", "no": "not supported"}.get(answers.get(CLAIM, ""), "it depends")
        own = Verdict(label, "s", {}, "r", "h", {k: v for k, v in answers.items() if k != CLAIM})
        assert exp.grade(guess, own).word == R, guess
        flipped = {k: {"yes": "no", "no": "yes", "neither": "yes"}[v] for k, v in answers.items()}
        label = {"yes": "supported", "no": "not supported"}.get(flipped.get(CLAIM, ""), "it depends")
        other = Verdict(label, "s", {}, "r", "h", {k: v for k, v in flipped.items() if k != CLAIM})
        assert exp.grade(guess, other).word == (P if "neither" in answers.values() else W), guess
    assert exp.grade("not one of the choices", Verdict("supported", "s", {}, "r")) is None


def grades(exp, v: Verdict) -> list[str | None]:
    """Return the grade word of every expectation of `exp` against `v`, in page order."""
    return [g.word if (g := exp.grade(e, v)) else None for e in exp.expectations]


def assert_found_are_predicted(exp, v: Verdict) -> None:
    """Every answer a verdict gives is one some expectation predicts, and every answer is a valid one."""
    predicted = {s for a in exp.predictions.values() for s in a}
    for statement, answer in v.found.items():
        assert statement in predicted and (answer is None or answer in ANSWERS), statement


# ----- every experiment, every choice -----
@pytest.mark.parametrize(
    "args, words, head",
    [
        ((1000, 100, 2.0, 0.5), [R, P, W], "Batch norm reached 90% test accuracy sooner on average, and"),
        ((1000, 100, 1.0, 1.0), [P, R, P], "sooner on average, but the input to its last sigmoid layer did not move"),
        ((100, 100, 2.0, 0.5), [P, W, P], "did not reach 90% test accuracy clearly sooner, but the input"),
        ((1000, 900, 2.0, 1.9), [W, P, R], "did not reach 90% test accuracy clearly sooner, and the input"),
    ],
)
def test_ioffe(args, words, head):
    exp = get("ioffe-fig1")
    v = exp.verdict(ioffe_t.measured(*args))
    assert grades(exp, v) == words and head in v.headline
    assert_found_are_predicted(exp, v)


def test_ioffe_says_every_seed_only_when_every_seed_was_sooner():
    exp, m = get("ioffe-fig1"), ioffe_t.measured(1000, 100, 2.0, 0.5)
    m["without BN"]["steps_to_90"].update(min=900, max=1100)
    m["with BN"]["steps_to_90"].update(min=80, max=120)
    assert "sooner in every seed" in exp.verdict(m).headline
    m["with BN"]["steps_to_90"]["max"] = 950  # one BN seed slower than one plain seed
    assert "sooner on average" in exp.verdict(m).headline


@pytest.mark.parametrize(
    "bn, words",
    [
        (([0.81, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 27, 27, 40, 300]), [R, P, R, W]),
        (([0.81, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 47, 47, 60, 300]), [P, R, W, P]),
        (([0.81, 0.93, 0.96, 0.97, 0.30, 0.10, 0.10], [300, 213, 73, 37, 300, 300, 300]), [P, W, R, P]),
        (([0.86, 0.94, 0.96, 0.97, 0.50, 0.10, 0.10], [300, 180, 67, 47, 300, 300, 300]), [W, P, W, R]),
    ],
)
def test_learning_rate(bn, words):
    exp = get("learning-rate")
    v = exp.verdict(lr_t.measured(lr_t.side(lr_t.PLAIN_ACC, lr_t.PLAIN_T90), lr_t.side(*bn)))
    assert grades(exp, v) == words
    assert_found_are_predicted(exp, v)


def test_learning_rate_headline_names_the_rates_its_charts_mark():
    """The text and the charts speak of the same rates: the largest that still trains (rings on the accuracy
    chart) and each side's fastest (rings on the steps chart, and the rates of the fresh-seed chart)."""
    from vizcore.experiments.base import Result
    from vizcore.experiments.learning_rate import accuracy_figure, steps_figure

    exp = get("learning-rate")
    m = lr_t.measured(
        lr_t.side(lr_t.PLAIN_ACC, lr_t.PLAIN_T90),
        lr_t.side([0.81, 0.93, 0.96, 0.97, 0.97, 0.97, 0.13], [300, 213, 73, 27, 27, 40, 300]),
    )
    v = exp.verdict(m)
    largest, fastest = v.numbers["largest_lr_with"], v.numbers["fastest_lr_with"]
    assert (largest, fastest) == (3.0, 0.3)  # two different rates: both must be named for what they are
    assert v.headline.startswith("Batch norm still trained at learning rate 3, the plain network only up to")
    assert "At its fastest rate (0.3) batch norm reached 90% test accuracy sooner" in v.headline
    rings = {t.name: t.x[0] for t in accuracy_figure(m).data if "largest rate" in (t.name or "")}
    assert rings == {
        "with BN: largest rate that trains, lr 3": 3.0,
        "without BN: largest rate that trains, lr 0.3": 0.3,
    }
    rings = {t.name: t.x[0] for t in steps_figure(m).data if "fastest rate" in (t.name or "")}
    assert rings == {"with BN: fastest rate, lr 0.3": 0.3, "without BN: fastest rate, lr 0.3": 0.3}
    run = {"curves": {"step": [0, 10], "test_acc": [0.1, 0.9]}}
    runs = {f"{side} · lr 0.3 · fresh seeds": [run] for side in ("without BN", "with BN")}
    fig, _ = exp.figures(Result(exp.name, 1.0, (0,), runs, m, v))[-1]
    assert "lr 0.3 with BN" in fig.layout.title.text and "fastest rate" in fig.layout.title.text


@pytest.mark.parametrize(
    "bn, words, head",
    [
        ([0.97, 0.97, 0.98, 0.97, 0.90, 0.80], [R, P, W], "mattered much less"),
        ([0.50, 0.60, 0.90, 0.97, 0.60, 0.40], [P, R, P], "somewhat less, but not much less"),
        ([0.10, 0.10, 0.40, 0.97, 0.20, 0.15], [W, P, R], "did not make the size of the starting weights matter"),
        ([0.02, 0.10, 0.40, 0.97, 0.20, 0.15], [W, P, R], "mattered more, not less"),  # 95 points against 86
        ([0.14, 0.20, 0.50, 0.97, 0.30, 0.20], [W, P, R], "did not make the size of the starting weights matter"),
    ],
)
def test_init_scale(bn, words, head):
    exp = get("init-scale")
    v = exp.verdict(init_t.measured(init_t.PLAIN, bn))
    assert grades(exp, v) == words and head in v.headline


@pytest.mark.parametrize(
    "plain, bn, words, head",
    [
        (
            (0.10, 0.04),
            (0.95, 3.0),
            [R, P, W],
            "learned clearly better with batch norm; without it the gradients vanished",
        ),
        ((0.10, 0.04), (0.95, 20.0), [P, R, W], "out of balance too (growing more than 10x"),
        ((0.10, 0.04), (0.15, 2.0), [P, W, R], "did not learn clearly better with batch norm; without it"),
        ((0.90, 1.3), (0.95, 1.5), [W, P, R], "stayed balanced even without batch norm"),
        ((0.90, 1.3), (0.95, 20.0), [W, P, R], "with batch norm its gradients were out of balance (growing"),
    ],
)
def test_depth(plain, bn, words, head):
    exp = get("depth")
    v = exp.verdict(depth_t.measured(depth_t.side(*plain), depth_t.side(*bn)))
    assert grades(exp, v) == words and head in v.headline and v.headline.startswith("The 12-block network")
    assert_found_are_predicted(exp, v)


LAYER_HURT = ([0.80, 0.82, 0.81], [0.95, 0.94, 0.95])


@pytest.mark.parametrize(
    "accs, words, head",
    [
        ({"batch": sb_t.HURT, "group": sb_t.STEADY, "layer": sb_t.STEADY}, [R, P, P], "group and layer norm held"),
        ({"batch": sb_t.HURT, "group": sb_t.STEADY, "layer": LAYER_HURT}, [P, P, P], "but so did layer norm"),
        ({"batch": sb_t.HURT, "group": LAYER_HURT, "layer": LAYER_HURT}, [P, R, W], "so did group norm and layer"),
        ({"batch": sb_t.STEADY, "group": sb_t.STEADY, "layer": sb_t.STEADY}, [P, W, R], "did not lose a clear"),
    ],
)
def test_small_batches(accs, words, head):
    exp = get("small-batches")
    v = exp.verdict(sb_t.measured(accs))
    assert grades(exp, v) == words and head in v.headline
    assert_found_are_predicted(exp, v)


@pytest.mark.parametrize(
    "per_act, words, head",
    [
        ({"relu": place_t.BEFORE_WINS, "sigmoid": place_t.BEFORE_WINS}, [R, W, P, P], "before the activation beat"),
        ({"relu": place_t.AFTER_WINS, "sigmoid": place_t.AFTER_WINS}, [W, R, P, P], "after the activation beat"),
        ({"relu": place_t.AFTER_WINS, "sigmoid": place_t.BEFORE_WINS}, [P, P, R, P], "with ReLU, after won"),
        ({"relu": place_t.TIE, "sigmoid": place_t.TIE}, [P, P, P, R], "within a point of each other: no difference"),
    ],
)
def test_placement(per_act, words, head):
    exp = get("placement")
    v = exp.verdict(place_t.measured(per_act))
    assert grades(exp, v) == words and head in v.headline
    assert_found_are_predicted(exp, v)


def test_placement_headline_says_depends_only_when_the_winners_differ():
    v = get("placement").verdict(place_t.measured({"relu": place_t.TIE, "sigmoid": place_t.AFTER_WINS}))
    assert (
        v.headline == "Neither placement won for every activation: with ReLU, no clear winner; with sigmoid, after won."
    )


def test_placement_headline_does_not_call_a_large_noisy_gap_a_point():
    noisy = ([0.70, 0.95, 0.80, 0.92], [0.90, 0.75, 0.97, 0.85])
    v = get("placement").verdict(place_t.measured({"relu": noisy, "sigmoid": place_t.TIE}))
    assert v.headline.startswith("The two placements differed by up to 2.5 points, but no more than the seeds")


@pytest.mark.parametrize(
    "gains, words, head",
    [
        (rs_t.grid(), [R, W, P], "served as well as statistics recomputed"),
        (rs_t.grid(default=rs_t.CLEAR), [W, R, P], "gave clearly better test accuracy"),
        (rs_t.grid({(3.0, 0.001): rs_t.CLEAR}), [P, P, R], "as well as recomputed statistics in 5 of 6 settings, "
         "clearly worse in 1"),
    ],
)  # fmt: skip
def test_running_stats(gains, words, head):
    exp = get("running-stats")
    v = exp.verdict(rs_t.measured(gains))
    assert grades(exp, v) == words and head in v.headline


@pytest.mark.parametrize(
    "bn, noisy, words, head",
    [
        (sant_t.WITH_BN, sant_t.NOISY_SAME, [W, R, P], "does not seem to come from steadier layer inputs"),
        (sant_t.LOWERS, (0.50, 0.46, 0.5), [R, W, P], "every step) trained clearly worse than batch norm, and"),
        (
            sant_t.LOWERS,
            sant_t.NOISY_SAME,
            [P, P, R],
            "every step) trained as well as batch norm, but batch norm lowered",
        ),
        (sant_t.WITH_BN, (0.968, 0.10, 0.5), [None, None, None], "did not shake the layer inputs enough"),
    ],
)
def test_santurkar(bn, noisy, words, head):
    exp = get("santurkar")
    v = exp.verdict(sant_t.measured(sant_t.PLAIN, bn, noisy))
    assert grades(exp, v) == words and head in v.headline
    assert_found_are_predicted(exp, v)


def test_santurkar_interprets_smoothness_before_its_numbers():
    exp = get("santurkar")
    m = sant_t.measured(sant_t.PLAIN, sant_t.WITH_BN, sant_t.NOISY_SAME)
    m["batch norm"]["beta"]["mean"], m["no norm"]["beta"]["mean"] = 15.5, 5.0
    s = exp.verdict(m).summary
    said = "batch norm's gradient changed about 3.1 times as much as the plain network's, so by this measure its loss"
    assert said in s and "less smooth here" in s and "not tested against seed noise" in s
    assert s.index(said) < s.index("(effective beta-smoothness, 3.1x larger with BN)")
    assert "3.1 times less" in smoothness(5.0, 15.5) and "smoother here" in smoothness(5.0, 15.5)
    assert smoothness(0.0, 1.0) == ""


@pytest.mark.parametrize(
    "small, large, words, head",
    [
        ((reg_t.WIDE, reg_t.BIG_CUT), (reg_t.WIDE, reg_t.BIG_CUT), [P, P, W], "clearly reduced overfitting"),
        ((reg_t.WIDE, reg_t.NOISY), (reg_t.WIDE, reg_t.WIDE), [W, P, R], "no regularizing effect these runs can"),
        ((reg_t.WIDE, reg_t.SMALL_CUT), (reg_t.WIDE, reg_t.SMALL_CUT), [P, R, P], "shrank it, but only a little"),
        ((reg_t.BIG_CUT, reg_t.WIDE), (reg_t.WIDE, reg_t.WIDE), [W, P, R], "at batch 8 it widened it"),
    ],
)
def test_regularization(small, large, words, head):
    exp = get("regularization")
    v = exp.verdict(reg_t.measured({8: small, 64: large}))
    assert grades(exp, v) == words and head in v.headline
    assert_found_are_predicted(exp, v)


@pytest.mark.parametrize(
    "bn, words, head",
    [
        ((1.5, 1.3, 1.2), [R, P, P, W], "made every network's training step at least 10% slower"),
        ((1.02, 1.05, 0.99), [W, P, R, R], "did not make any network's training step 10% slower"),
        ((1.5, 1.3, 1.03), [P, R, P, P], "depends on the network"),
    ],
)
def test_cost(bn, words, head):
    exp = get("cost")
    v = exp.verdict(cost_t.measured(dict(zip(("small_mlp", "small_cnn", "wide_mlp"), map(cost_t.q, bn)))))
    assert grades(exp, v) == words and head in v.headline
    assert_found_are_predicted(exp, v)
