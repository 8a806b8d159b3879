"""Claim 6: the feature vector's effect is specific -- controls of the same norm do not have it.

The maze paper's control: a random vector of similar norm destroys the policy. An effect
alone is therefore no evidence that a vector carries the feature; its *targeted* effect -- the
drop in P(next action heads for the feature) -- must exceed what other vectors of the same
size do. The vector under test is the level's own start-state vector (the one claim 1a
subtracts), and every control is norm-matched to *it*:

* a Gaussian random vector (:func:`avec.vectors.random_like`), seeded per level;
* the same level's vector of another feature, rescaled: DoorKey the door's colour, CheeseMaze
  the maze paper's top-right vector; FourRooms has no other feature;
* the sign-flipped vector (+v where the claim subtracts v).

Measured at claim 1a's probe states (not the start state, where subtracting the own vector is
removing the feature by arithmetic), and judged only where the feature vector has an effect
to compare: elsewhere "not specific" and "no effect" cannot be told apart.
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import experiments as ex
from avec import stats, trials, vectors, verdicts
from claims.conftest import judge_sequentially, model_params
from claims.test_subtraction import LEVELS_PER_TRIAL, shrink_strategy, start_vectors

OTHER_FEATURE: dict[str, str | None] = {
    "doorkey": "door_color",
    "cheesemaze": "top_right",
    "fourrooms": None,
}
"""The other-feature control of each family (None: none exists)."""

MIN_EFFECT = 0.1
"""Smallest drop in P(toward the feature) at a probe for the feature vector to have an effect
there: below it a comparison with controls says nothing about specificity."""

CLAIM = verdicts.Claim(
    name="6_specificity",
    statement=(
        "Where subtracting a level's feature vector lowers the pull toward the feature, it "
        "lowers it more than a norm-matched random vector, a norm-matched vector of another "
        "feature and the sign-flipped vector do."
    ),
    quote=(
        "SCIENCE.md, summarising the maze paper's controls (Turner, Mini et al. 2023): \"a "
        'random vector of similar norm destroys the policy (so "an effect" alone is not '
        'evidence; targeted effect is)."'
    ),
    source_expects="holds",
    trial=(
        "a probe state of claim 1a (decision squares off the start cell; 1-3 steps along the "
        "unsteered path) on a held-out level. Drops in P(toward the feature) from adding: "
        "-1 x the level's start vector v; -1 x a random vector of |v|; -1 x the other feature's "
        "vector of the level rescaled to |v| (DoorKey: door colour; CheeseMaze: top-right); +v. "
        "Passes when v's drop exceeds every control's."
    ),
    informative=f"subtracting v lowers P(toward the feature) by at least {MIN_EFFECT}.",
    estimand="rate",
    threshold=0.5,
    threshold_reason=(
        "the targeted vector should beat all its controls at most states where it acts; with "
        "two or three controls, chance alone gives at most 1/3."
    ),
    reference=(
        "null: the random control's own pass flag (its drop exceeds v's and the other "
        "controls'); removal: the same probe with the feature deleted (its drop exceeds every "
        "control's). The vector must pass at more probes than the random control does."
    ),
    lifetime="one state: the start-state vectors applied at the probe state.",
    asserts_effect=True,
)


def other_vectors(agent, layouts, like):
    """Per level, the other feature's vector at the claim layer rescaled to ``like``'s norm,
    or ``None`` where the family has no other feature."""
    feature = OTHER_FEATURE.get(agent.family)
    if feature is None:
        return None
    raw = vectors.per_layout(agent, feature, layouts, ex.claim_layer(agent))
    return [o * (v.norm / o.norm) if o.norm > 0 else o for o, v in zip(raw, like, strict=True)]


def measure(agent, drawn, coefficient=-1.0):
    """``coefficient`` multiplies v in the arm under test (-1: the claim; the broken-
    intervention tests pass 0 or +1)."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = start_vectors(agent, layouts)
    probes = trials.probe_states(agent, layouts, seeds)
    if not probes:
        return {"trial": np.zeros(0, dtype=np.int64), "layouts": layouts}
    controls = {"flipped": vs}
    other = other_vectors(agent, layouts, vs)
    if other is not None:
        controls["other"] = ex.scaled(other, -1.0)
    steer = ex.scaled(vs, coefficient)
    measured = trials.measure_states(agent, probes, steer, seeds, controls)
    return {**measured, "layouts": layouts}


def _drops(measured):
    arms = [a for a in ("steered", "null", "flipped", "other", "removal") if a in measured]
    return {a: measured["unsteered"] - measured[a] for a in arms}


def outcome(measured):
    if len(measured["trial"]) == 0:
        return verdicts.no_outcome(measured["layouts"])
    drops = _drops(measured)
    controls = [a for a in ("null", "flipped", "other") if a in drops]

    def beats_controls(arm):
        return np.all([drops[arm] > drops[c] for c in controls if c != arm], axis=0)

    return verdicts.outcome(
        beats_controls("steered"),
        drops["steered"] >= MIN_EFFECT,
        measured["trial"],
        measured["layouts"],
        {
            "null": np.all(
                [drops["null"] > drops[a] for a in ("steered", *controls) if a != "null"], axis=0
            ),
            "removal": beats_controls("removal"),
        },
    )


def effects(measured):
    if len(measured["trial"]) < 2:
        return {}
    drops = _drops(measured)
    useful = drops["steered"] >= MIN_EFFECT
    scope = useful if useful.sum() >= 2 else np.ones_like(useful)
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][scope]]
    ones = np.ones(int(scope.sum()))
    return {
        f"mean_drop_{arm}": stats.clustered_ratio(drop[scope], ones, clusters, seed=0)
        for arm, drop in drops.items()
    }


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_the_feature_vector_beats_norm_matched_controls(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM,
        model_id,
        agent,
        lambda drawn: measure(agent, drawn),
        outcome,
        effects,
        per_trial=LEVELS_PER_TRIAL.get(agent.family, 1),
        shrink_with=shrink_strategy(agent),
    )
