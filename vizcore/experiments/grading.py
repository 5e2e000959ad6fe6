"""Grading a student's prediction against what the runs showed.

An experiment's verdict carries `found`: a few plain statements ("batch norm reached 90%
sooner") each answered "yes", "no" or "neither" (neither clearly, or a mix), computed from
the same numbers as the verdict. Each expectation on the page predicts answers to some of
them (`Experiment.predictions`). A predicted answer scores 1 when it matches, 0 against the
opposite answer, and 1/2 when one of the two is "neither": "it depends" against a one-sided
outcome is half right. Right if every scored answer matches, wrong if none does, partly right
otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ANSWERS = {"yes": 1.0, "neither": 0.5, "no": 0.0}
GRADES = ("right", "partly right", "wrong")
CLAIM = "the claim held in these runs"  # answered by every verdict: supported / it depends / not supported
CLAIM_ANSWER = {"supported": "yes", "it depends": "neither", "not supported": "no"}
WORDS = {CLAIM: {"yes": "yes (supported)", "no": "no (not supported)", "neither": "partly (it depends)"}}


@dataclass(frozen=True)
class Grade:
    """A graded prediction: "right", "partly right" or "wrong", and (statement, predicted, found) per answer scored."""

    word: str
    checked: tuple[tuple[str, str, str], ...]


def claim_found(label: str) -> dict[str, str | None]:
    """Return `found` for a verdict that only says whether the claim held: {CLAIM: yes / neither / no}."""
    return {CLAIM: CLAIM_ANSWER[label]}


def check(predictions: Mapping[str, Mapping[str, str]]) -> None:
    """Raise ValueError naming the first prediction whose answers are not 'yes', 'no' or 'neither'."""
    for guess, answers in predictions.items():
        if not answers:
            raise ValueError(f"prediction {guess!r} predicts nothing")
        for statement, answer in answers.items():
            if answer not in ANSWERS:
                raise ValueError(
                    f"prediction {guess!r}: {statement!r} must be one of {sorted(ANSWERS)}, got {answer!r}"
                )


def grade(predicted: Mapping[str, str], found: Mapping[str, str | None]) -> Grade | None:
    """Return the Grade of `predicted` answers against the `found` ones; None if the runs answered none of them."""
    checked = tuple((s, p, f) for s, p in predicted.items() if (f := found.get(s)) is not None)
    if not checked:
        return None
    scores = [1.0 - abs(ANSWERS[p] - ANSWERS[f]) for _, p, f in checked]
    word = "right" if min(scores) == 1.0 else "wrong" if max(scores) == 0.0 else "partly right"
    return Grade(word, checked)


def yes_no(flag: bool | None) -> str | None:
    """Return "yes" / "no" for a flag, None when the runs could not tell."""
    return None if flag is None else "yes" if flag else "no"


def all_some_none(flags: list[bool]) -> str | None:
    """Return "yes" if every flag holds, "no" if none does, "neither" for a mix; None if there are none."""
    if not flags:
        return None
    return "yes" if all(flags) else "no" if not any(flags) else "neither"
