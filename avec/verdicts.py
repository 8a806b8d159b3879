"""From trials to verdicts: how a claim of the conjecture is decided and recorded.

A *claim* (:class:`Claim`) is a property of a trained agent, declared in its module before any
data: the source's words and what the source expects, what one trial is, when a trial is
*informative* (can decide the claim at all), the estimand and its threshold with a reason,
the references it is judged against (the feature removed from the level: what a perfect
intervention scores; a norm-matched random vector: the null) and how long a steering patch
acts. Trials are levels from the generators' own distribution on held-out seeds
(:func:`avec.trials.held_out_layouts`); Hypothesis' structural strategies only shrink a
failing trial to a minimal counterexample (:func:`avec.judging.shrink`).

:func:`decide` judges the informative trials alone, with 95% intervals that treat trials on
one level as one resampling unit:

* **holds** -- the interval's lower end reaches the threshold;
* **fails** -- its upper end lies below the threshold;
* **inconclusive** -- anything else, fewer informative trials than the claim's minimum, or a
  removal reference that cannot reach the bar itself (the bar would then measure the level's
  geometry, not the vector).

Each result also says whether the verdict agrees with the source. :mod:`avec.recipes` adds,
per claim, a Holm-adjusted verdict for every model and one row per recipe (training seeds of
one configuration) that never says more than its models.

The committed record, and holding a result to it, are :mod:`avec.record`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avec import stats
from avec.layouts import Layout

VERDICTS = ("holds", "fails", "inconclusive")
NOT_APPLICABLE = "not applicable"
"""What the record says of a claim no model of the folder can be judged on (no maze agent for
a maze claim, one training seed for a claim across seeds); recorded under :data:`NO_MODEL`."""
NO_MODEL = "*"


SOURCE_EXPECTS = ("holds", "does not hold")

ESTIMANDS = ("rate", "share_of_removal")
"""``rate``: the share of informative trials that pass. ``share_of_removal``: passes of the
steered arm over passes of the removal arm (the feature physically deleted) on the same
informative trials -- how much of what removing the feature does the vector does. Its units
may carry signed scores instead of pass flags (+1 the arm does what the claim asks, -1 it does
the opposite, 0 nothing): the share is then of *net* effects, so an arm that makes as many
episodes reach as it stops scores nothing."""


NULL_RULE = (
    "an effect is the vector's only when it beats a norm-matched random vector on the same "
    "units: the paired difference steered - null (for share_of_removal, over the removal "
    "arm's passes) must have a 95% interval above 0 for the claim to hold. An interval that "
    "straddles 0 is inconclusive (indistinguishable from a random vector: more trials could "
    "tell them apart); one at or below 0 fails (the vector credibly does no better than a "
    "random one, so the effect the claim asserts -- the feature's, not any perturbation's -- "
    "is absent)."
)
"""How a claim with :attr:`Claim.asserts_effect` is judged against its null, declared before
any data (issue 14: the record showed random vectors scoring 0.22-0.46 of removal beside the
cheese vector's 0.54-0.64 on 1b)."""

INDISTINGUISHABLE = "indistinguishable from a random vector of the same norm"
"""Why a claim that clears its bar but not its null is inconclusive."""
NO_BETTER = "no better than a random vector of the same norm"
"""Why a claim whose steered arm credibly does no better than its null fails."""
REMOVAL_SHORT = "the removal reference itself cannot reach the bar"
"""Why a ``rate`` claim whose removal arm misses the bar is inconclusive: the bar would measure
the level's geometry, not the vector."""
NOTHING_TO_SHARE = "removing the feature changes nothing to share"
"""Why a ``share_of_removal`` claim whose removal arm has no (net) effect is inconclusive."""

MAX_CHUNKS = 8
"""Default cap of sequential drawing, in chunks of the profile's trial count of levels."""

MAX_CHUNKS_REASON = (
    "eight times the profile's draw keeps the whole ci-profile suite within 15 minutes on two "
    "cores; a claim whose informative trials are rarer than one in eight stops short"
)


@dataclass(frozen=True)
class Claim:
    """One claim of the conjecture, declared in its module before any data is seen.

    Every field is text a reader checks the verdict against: what the source said and expects,
    when a trial can decide the claim at all, what is estimated, the bar and why, and the
    references (removal, null) that bracket what a vector could score.
    """

    name: str
    """Short identifier, e.g. ``1a_subtraction_removes_pull_away_from_source``; the key in
    reports and the record."""
    statement: str
    """The claim in one sentence, as the report shows it."""
    quote: str
    """The source's own wording, quoted, with the source named."""
    source_expects: str
    """What the source expects: ``"holds"`` or ``"does not hold"``."""
    trial: str
    """What one trial is, and when it passes."""
    informative: str
    """When a trial can decide the claim at all; the others are counted, not judged."""
    estimand: str
    """One of :data:`ESTIMANDS`."""
    threshold: float
    """The bar: holds when the 95% interval of the estimand clears it, fails when it misses."""
    threshold_reason: str
    """One line: why this bar. Never moved after seeing data."""
    reference: str
    """What the claim is judged against: the removal reference (what a perfect intervention
    scores) and the null (norm-matched random vector, or none), as measured arms."""
    lifetime: str
    """How long a steering patch acts (every step, until the feature is reached, one state)."""
    min_informative: int = 20
    """Below this many informative trials the verdict is ``inconclusive``."""
    max_chunks: int = MAX_CHUNKS
    """Cap of sequential drawing (:func:`avec.trials.sequential`): at most this many chunks
    of the profile's trial count of levels, drawn until the target of informative trials."""
    max_chunks_reason: str = MAX_CHUNKS_REASON
    """One line: why this cap."""
    asserts_effect: bool = False
    """The claim asserts an effect of the vector, so "holds" also needs the steered arm to beat
    the null (a norm-matched random vector) on the same units: :func:`decide` then requires a
    ``null`` reference and judges the paired difference steered - null (:data:`NULL_RULE`)."""

    def __post_init__(self) -> None:
        if self.source_expects not in SOURCE_EXPECTS:
            raise ValueError(
                f"{self.name}: source_expects {self.source_expects!r}; valid: {SOURCE_EXPECTS}"
            )
        if self.max_chunks < 1:
            raise ValueError(f"{self.name}: max_chunks {self.max_chunks}; valid: 1 or more")
        if self.estimand not in ESTIMANDS:
            raise ValueError(f"{self.name}: estimand {self.estimand!r}; valid: {ESTIMANDS}")

    def text(self) -> str:
        against_null = f" *Against the null:* {NULL_RULE}" if self.asserts_effect else ""
        return (
            f"{self.statement}\n\n*Source:* {self.quote} (expects: {self.source_expects})\n\n"
            f"*Trial:* {self.trial} *Informative:* {self.informative} *Estimand:* "
            f"{self.estimand}, threshold {self.threshold} ({self.threshold_reason}); at least "
            f"{self.min_informative} informative trials; drawn until the profile's trial "
            f"count of them, at most {self.max_chunks} chunks ({self.max_chunks_reason}). "
            f"*Reference:* {self.reference} "
            f"*Vector lifetime:* {self.lifetime}{against_null}"
        )


@dataclass(frozen=True)
class Bar:
    """The per-unit bar a claim's judged arm is held to (for figures; the pass flags decide)."""

    arm: str
    """The measurement key of the judged arm, e.g. ``steered``."""
    values: np.ndarray
    """``(n,)`` float: per unit, the value the arm must cross."""
    side: str
    """Which side of the bar passes: ``below`` or ``above`` (``at most``/``at least`` too)."""


@dataclass(frozen=True)
class Outcome:
    """What a claim's measurement says per judged unit (a trial, or a state of a trial)."""

    passed: np.ndarray
    """``(n,)`` bool: the unit passes (meaningful where informative); or, for a
    ``share_of_removal`` claim, ``(n,)`` int8 signed scores in {-1, 0, +1}."""
    informative: np.ndarray
    """``(n,)`` bool: the unit can decide the claim."""
    trial: np.ndarray
    """``(n,)`` int: the trial each unit belongs to; units of one trial's level are one
    cluster."""
    clusters: list[Any]
    """``(n,)`` the level of each unit (its ASCII): the resampling unit of intervals."""
    references: dict[str, np.ndarray]
    """``name -> (n,)`` bool: whether the reference arm passes (``removal``, ``null``, ...);
    signed scores like ``passed`` where it has them."""
    bar: Bar | None = None
    """The per-unit bar the judged arm is held to, where the claim states one."""

    def failed(self) -> np.ndarray:
        """``(n,)`` informative units that do not pass (score 0 or -1, if signed)."""
        return self.informative & ~(self.passed > 0)

    def trial_of(self, unit: int) -> int:
        return int(self.trial[unit])


def outcome(
    passed: Any,
    informative: Any,
    trial: Any,
    layouts: Sequence[Layout],
    references: Mapping[str, Any] | None = None,
    bar: Bar | None = None,
) -> Outcome:
    """An :class:`Outcome` whose units sit on ``layouts[trial[i]]`` (clustered by level);
    ``bar``: the per-unit bar of the judged arm, drawn on counterexamples."""
    trial = np.asarray(trial, dtype=np.int64)
    if bar is not None and np.shape(bar.values) != trial.shape:
        raise ValueError(f"bar of {bar.arm!r}: shape {np.shape(bar.values)}, units {trial.shape}")
    return Outcome(
        _units(passed, "passed"),
        np.asarray(informative, dtype=bool),
        trial,
        [layouts[t].to_ascii() for t in trial],
        {name: _units(v, name) for name, v in (references or {}).items()},
        bar,
    )


def _units(values: Any, name: str) -> np.ndarray:
    """Pass flags as a bool array, or signed scores as an int8 array of -1, 0 and +1."""
    array = np.asarray(values)
    if array.dtype == bool:
        return array
    if not np.isin(array, (-1, 0, 1)).all():
        raise ValueError(f"{name}: signed scores must be -1, 0 or +1; got {np.unique(array)}")
    return array.astype(np.int8)


def no_outcome(layouts: Sequence[Layout]) -> Outcome:
    """The :class:`Outcome` of a measurement that found no unit to judge (no probe state in
    any drawn level): no trial passes, none is informative."""
    empty = np.zeros(0, dtype=bool)
    return outcome(empty, empty, np.zeros(0, dtype=np.int64), layouts)


def agreement(source_expects: str, verdict: str) -> bool | None:
    """Whether a verdict agrees with what the source expects; ``None`` when inconclusive."""
    if verdict == "inconclusive":
        return None
    return (verdict == "holds") == (source_expects == "holds")


def _estimate(
    claim: Claim, passed: np.ndarray, removal: np.ndarray | None, clusters: list[Any]
) -> tuple[stats.Estimate, float]:
    """The estimand on informative trials, and the effective n behind it."""
    if claim.estimand == "rate":
        return stats.clustered_rate(passed, clusters), stats.effective_n(passed, clusters)
    assert removal is not None
    share = stats.clustered_ratio(passed.astype(float), removal.astype(float), clusters, seed=0)
    return share, stats.effective_n(removal != 0, clusters)


def _reference(flags: np.ndarray, clusters: list[Any]) -> stats.Estimate:
    """A reference arm's rate (pass flags) or mean net score (signed scores), by level."""
    if flags.dtype == bool:
        return stats.clustered_rate(flags, clusters)
    return stats.clustered_ratio(flags.astype(float), np.ones(len(flags)), clusters, seed=0)


def _per_level(
    passed: np.ndarray, refs: Mapping[str, np.ndarray], clusters: list[Any]
) -> dict[str, list[int]]:
    """Per level (in order of first appearance) of the informative units: their count and the
    sums of the steered arm's and each reference's passes (or scores) -- what a recipe's
    two-stage bootstrap resamples (:func:`avec.stats.hierarchical_iqm`)."""
    numbers: dict[Any, int] = {}
    index = np.array([numbers.setdefault(c, len(numbers)) for c in clusters], dtype=np.int64)

    def sums(values: np.ndarray) -> list[int]:
        totals = np.bincount(index, weights=values.astype(float), minlength=len(numbers))
        return [int(round(t)) for t in totals]

    levels = {"units": sums(np.ones(len(passed))), "steered": sums(passed)}
    levels.update({name: sums(flags) for name, flags in refs.items()})
    return levels


def _beats_null(
    passed: np.ndarray, null: np.ndarray, removal: np.ndarray | None, clusters: list[Any]
) -> stats.Estimate:
    """The paired difference steered - null on the informative units, in the estimand's
    units: a difference of rates, or of shares of the removal arm's passes; clustered by level
    (:func:`avec.stats.clustered_ratio`)."""
    difference = passed.astype(float) - null.astype(float)
    scale = np.ones(len(passed)) if removal is None else removal.astype(float)
    found = stats.clustered_ratio(difference, scale, clusters, seed=0)
    return stats.Estimate(
        found.value, found.ci95, found.n, f"paired steered - null, {found.method}"
    )


def against_null(verdict: str, beats: stats.Estimate) -> tuple[str, str, str | None]:
    """The verdict after :data:`NULL_RULE` (``beats``: steered - null on the same units), how
    the steered arm compares with the null (``beats``, ``indistinguishable``, ``no better``)
    and, if the null changed the verdict, why."""
    low, high = beats.ci95
    interval = "no interval" not in beats.method  # one level: no interval to judge by
    if interval and low > 0:
        return verdict, "beats", None
    if interval and high <= 0:
        return "fails", "no better", None if verdict == "fails" else NO_BETTER
    if verdict == "holds":
        return "inconclusive", "indistinguishable", INDISTINGUISHABLE
    return verdict, "indistinguishable", None


def decide(
    claim: Claim,
    model: str,
    passed: Sequence[bool] | np.ndarray,
    informative: Sequence[bool] | np.ndarray | None = None,
    clusters: Sequence[Any] | None = None,
    references: Mapping[str, Sequence[bool] | np.ndarray] | None = None,
    effects: Mapping[str, stats.Estimate] | None = None,
    example: dict[str, Any] | None = None,
    expected: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    """The result of a claim on one model.

    Args:
        passed: ``(n,)`` whether each trial passes (meaningful on informative trials only).
        informative: ``(n,)`` whether each trial can decide the claim (default: all).
        clusters: ``(n,)`` the layout each trial is on (default: every trial its own);
            intervals treat trials of one layout as one resampling unit.
        references: ``(n,)`` pass flags of reference arms on the same trials, e.g.
            ``removal`` (the feature deleted from the layout) and ``null`` (a norm-matched
            random vector). A ``share_of_removal`` claim needs ``removal``; a claim that
            :attr:`~Claim.asserts_effect` needs ``null``.

    The verdict is ``inconclusive`` below ``claim.min_informative`` informative trials, when
    the removal reference of a ``rate`` claim cannot reach the threshold itself (the bar would
    measure the level's geometry, not the vector), and when the removal arm of a
    ``share_of_removal`` claim never passes (no effect to share). A claim that asserts an
    effect is judged against its null too (:data:`NULL_RULE`): ``result["beats_null"]`` holds
    the paired difference steered - null with its interval and how it compares
    (``beats``, ``indistinguishable``, ``no better``); ``result["fails_because"]`` says so when
    the null made the claim fail.
    """
    passed = _units(passed, "passed")
    if passed.ndim != 1 or len(passed) == 0:
        raise ValueError(f"{claim.name}/{model}: need a 1-d array of at least one trial outcome")
    useful = np.ones(passed.shape, bool) if informative is None else np.asarray(informative, bool)
    keys = list(range(len(passed))) if clusters is None else list(clusters)
    if useful.shape != passed.shape or len(keys) != len(passed):
        raise ValueError(f"{claim.name}/{model}: passed, informative and clusters must pair up")
    refs = {name: _units(v, name) for name, v in (references or {}).items()}
    for name, flags in refs.items():
        if flags.shape != passed.shape or (flags.dtype == bool) != (passed.dtype == bool):
            raise ValueError(
                f"{claim.name}/{model}: reference {name!r} has shape {flags.shape} of "
                f"{flags.dtype}; valid: {passed.shape} of {passed.dtype}, one per unit like passed"
            )
    if passed.dtype != bool and claim.estimand != "share_of_removal":
        raise ValueError(
            f"{claim.name}: signed scores need the estimand 'share_of_removal', not "
            f"{claim.estimand!r}; a rate takes pass flags"
        )
    if claim.estimand == "share_of_removal" and "removal" not in refs:
        raise ValueError(f"{claim.name}: a share_of_removal claim needs a 'removal' reference")
    if claim.asserts_effect and "null" not in refs:
        raise ValueError(
            f"{claim.name}: asserts an effect, so it needs a 'null' reference (pass flags of a "
            f"norm-matched random vector on the same units); got {sorted(refs) or 'none'}"
        )
    kept = [k for k, u in zip(keys, useful, strict=True) if u]
    n_useful = int(useful.sum())
    result: dict[str, Any] = {
        "claim": claim.name,
        "model": model,
        "source_expects": claim.source_expects,
        "estimand": claim.estimand,
        "asserts_effect": claim.asserts_effect,
        "trials": int(len(passed)),
        "informative": n_useful,
        "layouts": len(set(keys)),
        "passes": int(passed[useful].sum()),
        "threshold": claim.threshold,
        "min_informative": claim.min_informative,
        "references": {},
    }
    why = failed_by_null = None
    beats = None
    no_removal = claim.estimand == "share_of_removal" and refs["removal"][useful].sum() <= 0
    if n_useful < 2 or no_removal:
        estimate, n_eff = None, float(n_useful)
    else:
        removal = refs["removal"][useful] if claim.estimand == "share_of_removal" else None
        estimate, n_eff = _estimate(claim, passed[useful], removal, kept)
        for name, flags in refs.items():
            result["references"][name] = _reference(flags[useful], kept).to_dict()
        if claim.asserts_effect:
            beats = _beats_null(passed[useful], refs["null"][useful], removal, kept)
    if no_removal:
        verdict, why = "inconclusive", NOTHING_TO_SHARE
    elif estimate is None or n_useful < claim.min_informative:
        verdict = "inconclusive"
        why = f"{n_useful} informative trials, fewer than {claim.min_informative}"
    else:
        verdict = stats.verdict(estimate.ci95, claim.threshold)
        removal_ref = result["references"].get("removal")
        if claim.estimand == "rate" and removal_ref and removal_ref["ci95"][1] < claim.threshold:
            verdict, why = "inconclusive", REMOVAL_SHORT
    # Judged: the trials can decide the claim at all; a recipe may only speak for such models.
    result["judged"] = why is None
    if estimate is not None:
        result["per_level"] = _per_level(
            passed[useful], {k: v[useful] for k, v in refs.items()}, kept
        )
    if beats is not None:
        judged, comparison, because = against_null(verdict, beats)
        if why is None:  # a structural reason stands; the comparison is still reported
            verdict = judged
            why, failed_by_null = (because, None) if verdict == "inconclusive" else (None, because)
        result["beats_null"] = {**beats.to_dict(), "comparison": comparison}
    result.update(
        {
            "rate": None if estimate is None else estimate.value,
            "ci95": None if estimate is None else list(estimate.ci95),
            "interval": None if estimate is None else estimate.method,
            "effective_n": n_eff,
            "verdict": verdict,
            "inconclusive_because": why,
            "fails_because": failed_by_null,
            "agrees_with_source": agreement(claim.source_expects, verdict),
            "expected": expected,
            "effects": {name: est.to_dict() for name, est in (effects or {}).items()},
            "counterexample": example,
        }
    )
    if notes:
        result["notes"] = notes
    return result


def recipe_of(model: str) -> str:
    """``doorkey5-ppo-mlp-s0`` -> ``doorkey5-ppo-mlp``: the models that differ by training seed."""
    return model.rsplit("-s", 1)[0]


__all__ = [
    "VERDICTS",
    "NOT_APPLICABLE",
    "NO_MODEL",
    "Claim",
    "decide",
    "ESTIMANDS",
    "SOURCE_EXPECTS",
    "Bar",
    "Outcome",
    "agreement",
    "against_null",
    "no_outcome",
    "outcome",
    "recipe_of",
]
