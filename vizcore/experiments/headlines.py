"""Each experiment's verdict in one plain sentence, for a student who knows little: what happened, before any number.

Pure functions of the quantities each verdict already decided on (never a second rule): they
choose words, direction and hedging ("in every seed", "on average", "no difference these runs
can detect"), so a headline says only what the numbers show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ioffe(faster: bool, steadier: bool, every_seed: bool, known: bool) -> str:
    """Return experiment 1's headline: did batch norm reach 90% sooner, and did the sigmoid's input hold still?"""
    if not known:
        return "Some runs gave no usable numbers (they diverged or were too short), so these runs cannot tell."
    if faster:
        speed = "Batch norm reached 90% test accuracy sooner" + (" in every seed" if every_seed else " on average")
    else:
        speed = "Batch norm did not reach 90% test accuracy clearly sooner"
    moved = "moved clearly less" if steadier else "did not move clearly less"
    return f"{speed}, {'and' if faster == steadier else 'but'} the input to its last sigmoid layer {moved}."


def learning_rate(
    higher: bool, faster: bool, lr0: float | None, lr1: float | None, fast0: float | None, fast1: float | None
) -> str:
    """Return experiment 2's headline, naming both rates the verdict rests on: the largest rate that still trained
    (the accuracy chart's rings) and each side's fastest (the rate of the 'fastest rate' chart)."""

    def rate(lr: float | None) -> str:
        return "none of the rates" if lr is None else f"learning rate {lr:g}"

    if higher:
        top = f"Batch norm still trained at {rate(lr1)}, the plain network only up to {rate(lr0)}"
    else:
        top = f"Batch norm did not train at a much higher rate (up to {rate(lr1)}; without it, {rate(lr0)})"
    if fast0 is None or fast1 is None:
        return f"{top}; their speeds could not be compared."
    did = "reached 90% test accuracy sooner" if faster else "did not reach 90% test accuracy clearly sooner"
    return f"{top}. At its fastest rate ({fast1:g}) batch norm {did} than the plain network at its fastest ({fast0:g})."


def init_scale(label: str, gain: float, no_gain: float) -> str:
    """Return experiment 3's headline from its label and how much less batch norm's accuracy swung (`gain`); a
    swing larger by at least `no_gain` (the rule's noise floor) is called larger."""
    if label == "supported":
        return "With batch norm, the size of the starting weights mattered much less than without it."
    if label == "it depends":
        return "Batch norm made the size of the starting weights matter somewhat less, but not much less."
    if gain <= -no_gain:
        return "With batch norm, the size of the starting weights mattered more, not less."
    return "Batch norm did not make the size of the starting weights matter clearly less."


def depth(depth_: int, balanced: bool, trains: bool, log_ratio_without: float, log_ratio_with: float) -> str:
    """Return experiment 4's headline: did the deepest network learn with batch norm, and were its gradients
    balanced (log ratios: log10 of the first block's gradient over the last block's at step 0)?"""
    learned = "learned clearly better with batch norm" if trains else "did not learn clearly better with batch norm"
    if balanced:
        way = "vanished" if log_ratio_without < 0 else "exploded"
        grads = f"without it the gradients {way} toward the input, with it they stayed balanced"
    elif abs(log_ratio_with) > 1:
        way = "shrinking" if log_ratio_with < 0 else "growing"
        too = " too" if abs(log_ratio_without) > 1 else ""
        grads = f"with batch norm its gradients were out of balance{too} ({way} more than 10x toward the input)"
    else:
        grads = "its gradients stayed balanced even without batch norm"
    return f"The {depth_}-block network {learned}; {grads}."


def small_batches(judged: Sequence[int], bn_hurt: Mapping[int, bool], others_hurt: Mapping[int, list[str]]) -> str:
    """Return experiment 5's headline: at the judged small batches, which norms lost accuracy?"""
    at = " and ".join(f"batch {b}" for b in judged)
    if all(bn_hurt.values()):
        others = sorted({n for b in judged for n in others_hurt[b]})
        if not others:
            return f"At {at}, batch norm lost accuracy while group and layer norm held steady."
        return f"At {at}, batch norm lost accuracy, but so did {' and '.join(others)}."
    if not any(bn_hurt.values()):
        return f"Batch norm did not lose a clear amount of accuracy at {at} here."
    hurt = [b for b in judged if bn_hurt[b]]
    spared = [b for b in judged if not bn_hurt[b]]
    return (
        f"Batch norm lost accuracy at batch {', '.join(map(str, hurt))} but not clearly at batch "
        f"{', '.join(map(str, spared))}."
    )


def placement(winners: Mapping[str, str], gaps: Mapping[str, float | None], names: Mapping[str, str]) -> str:
    """Return experiment 6's headline from each activation's winner ('before', 'after', 'within noise', 'unknown')
    and its gap (after minus before, in accuracy)."""
    found = set(winners.values())
    if found == {"before"}:
        return "Batch norm before the activation beat batch norm after it, with every activation tried."
    if found == {"after"}:
        return "Batch norm after the activation beat batch norm before it, with every activation tried."
    if found == {"within noise"}:
        widest = max(abs(g) for g in gaps.values() if g is not None)
        if widest <= 0.01:
            return (
                "With every activation the two placements were within a point of each other: no difference "
                "these runs can detect."
            )
        return (
            f"The two placements differed by up to {100 * widest:.1f} points, but no more than the seeds differ "
            "from each other: no difference these runs can detect."
        )
    parts = []
    for a, w in winners.items():
        said = {"before": "before won", "after": "after won", "within noise": "no clear winner"}.get(w, "no numbers")
        parts.append(f"with {names[a]}, {said}")
    if found == {"before", "after"}:
        return "The better place for batch norm depends on the activation here: " + "; ".join(parts) + "."
    return "Neither placement won for every activation: " + "; ".join(parts) + "."


def running_stats(states: Sequence[str]) -> str:
    """Return experiment 7's headline from the state of each learning rate and momentum ('same', 'precise',
    'running', 'undecided')."""
    n = len(states)
    if n and all(s == "same" for s in states):
        return (
            "The running averages served as well as statistics recomputed over the training set, at every "
            "momentum and learning rate tried."
        )
    if n and all(s == "precise" for s in states):
        return (
            "Statistics recomputed over the training set gave clearly better test accuracy than the running "
            "averages, at every momentum and learning rate tried."
        )
    count = {s: sum(x == s for x in states) for s in ("same", "precise", "running", "undecided")}
    parts = [f"as well as recomputed statistics in {count['same']} of {n} settings"]
    if count["precise"]:
        parts.append(f"clearly worse in {count['precise']}")
    if count["running"]:
        parts.append(f"clearly better in {count['running']}")
    text = "The running averages did " + ", ".join(parts)
    if count["undecided"]:
        text += f"; in {count['undecided']} these runs could not tell"
    return text + "."


def santurkar(label: str, helps: bool, large: bool, as_well: bool, worse: bool, lower: bool) -> str:
    """Return experiment 8's headline: what the two halves of the test mean for the claim, in plain words."""
    if not helps:
        return (
            "Batch norm did not clearly speed up training here, so there was no benefit to explain: these runs "
            "say nothing about why it helps."
        )
    if not large:
        return (
            "The injected noise did not shake the layer inputs enough, so these runs cannot say whether steady "
            "inputs are what batch norm provides."
        )
    noisy = "noisy batch norm (noise added after each batch-norm layer, shaking the next layer's inputs every step)"
    measure = "Santurkar's gradient measure of covariate shift"
    if label == "not supported":
        return (
            f"Even {noisy} trained as well as batch norm, and batch norm did not lower {measure}: in these runs "
            "its benefit does not seem to come from steadier layer inputs."
        )
    if label == "supported":
        return (
            f"{noisy[0].upper()}{noisy[1:]} trained clearly worse than batch norm, and batch norm lowered {measure}: "
            "both point to steadier layer inputs mattering, as the claim says."
        )
    lowered = "lowered" if lower else "did not lower"
    if not (as_well or worse):
        return (
            f"{noisy[0].upper()}{noisy[1:]} trained neither clearly as well as nor clearly worse than batch norm, so "
            f"the noise test could not decide; batch norm {lowered} {measure}."
        )
    return (
        f"The two tests point different ways: {noisy} trained {'as well as' if as_well else 'worse than'} batch "
        f"norm, but batch norm {lowered} {measure}, so these runs do not decide the claim."
    )


def santurkar_test(
    label: str, helps: bool, large: bool, as_well: bool, worse: bool, lower: bool, large_x: float, tolerance: float
) -> str:
    """Return the first sentence of experiment 8's summary: what the two halves of the test showed, in its terms."""
    if not helps:
        return "Batch norm did not clearly speed up training here, so there is no benefit to explain."
    if not large:
        return (
            f"The injected noise moved the layer inputs less than {large_x:.0f}x as much as in the other "
            "networks, so the noise test could not tell whether stable inputs matter."
        )
    noisy = "as well as" if as_well else "worse than" if worse else "neither clearly as well as nor worse than"
    end = {
        "not supported": "neither points to stable layer inputs as what batch norm fixes.",
        "supported": "both point to stable layer inputs mattering, as the claim says.",
    }.get(label, "the two halves point different ways, so these runs do not decide the claim.")
    return (
        f"Noisy batch norm trained {noisy} batch norm (tolerance {tolerance * 100:.0f} point), and batch norm "
        f"{'lowered' if lower else 'did not lower'} Santurkar's gradient measure of internal covariate "
        f"shift: {end}"
    )


def smoothness(beta_bn: float, beta_no: float) -> str:
    """Return one sentence saying what the effective beta-smoothness of batch norm against no norm means."""
    if beta_bn <= 0 or beta_no <= 0 or not (math.isfinite(beta_bn) and math.isfinite(beta_no)):
        return ""
    if beta_bn > beta_no:
        return (
            f"In plain words: for each unit of distance moved along the gradient, batch norm's gradient changed "
            f"about {beta_bn / beta_no:.1f} times as much as the plain network's, so by this measure its loss was "
            "less smooth here (its gradient less predictable), not smoother as Santurkar et al. found; a mean over "
            "seeds, not tested against seed noise."
        )
    return (
        f"In plain words: for each unit of distance moved along the gradient, batch norm's gradient changed "
        f"{beta_no / beta_bn:.1f} times less than the plain network's, so by this measure its loss was smoother "
        "here (its gradient more predictable), as Santurkar et al. found; a mean over seeds, not tested against "
        "seed noise."
    )


def regularization(states: Mapping[int, str]) -> str:
    """Return experiment 9's headline from each batch size's state ('substantially', 'a little', 'widened',
    'not clearly')."""
    words = {
        "substantially": "shrank it substantially",
        "a little": "shrank it, but only a little",
        "widened": "widened it",
        "not clearly": "did not shrink it beyond seed noise",
    }
    found = set(states.values())
    if found == {"substantially"}:
        return (
            "Batch norm clearly reduced overfitting (the gap between training and test accuracy) at every batch size."
        )
    if found == {"not clearly"}:
        return (
            "Batch norm did not shrink the gap between training and test accuracy beyond seed noise at any batch "
            "size: no regularizing effect these runs can detect."
        )
    parts = [
        f"at batch {b} it {words[s]}" if s != "no numbers" else f"at batch {b} the runs gave no numbers"
        for b, s in states.items()
    ]
    return "Overfitting (training minus test accuracy) with batch norm: " + "; ".join(parts) + "."


def cost(states: Mapping[str, str]) -> str:
    """Return experiment 10's headline from each network's state ('slower', 'not slower', 'unclear')."""
    found = set(states.values())
    if found == {"slower"}:
        return "Batch norm made every network's training step at least 10% slower."
    if found == {"not slower"}:
        return "Batch norm did not make any network's training step 10% slower."
    by = {s: [name for name, x in states.items() if x == s] for s in ("slower", "not slower", "unclear")}
    parts = []
    if by["slower"]:
        parts.append(f"it made the {' and the '.join(by['slower'])} at least 10% slower")
    if by["not slower"]:
        parts.append(f"not the {' or the '.join(by['not slower'])}")
    if by["unclear"]:
        parts.append(f"on the {' and the '.join(by['unclear'])} the timing could not tell")
    return "Batch norm's cost depends on the network: " + "; ".join(parts) + "."
