"""Claim 6: the feature vector's effect is specific -- controls of the same norm do not have it.

The maze paper's control: "a random vector of similar norm destroys the policy". An effect
alone is therefore no evidence that a vector carries the feature; its *targeted* effect must
exceed what other vectors of the same size do. The targeted effect here is the drop in the
agent's start-state intent toward the feature target (P(first action starts a shortest path to
the key, goal or cheese)) when the vector is subtracted (coefficient -1 at the claim layer).

The feature vector is claim 5a's: averaged over the source layouts (generator seeds 0..49),
held out from the trial layout. A layout's own vector would not do: at the start state it turns
the with-feature activations into the without-feature ones exactly (claim 4a), so it measures
the feature's removal, not the vector's specificity. The controls, both with the feature
vector's norm (the claim is about direction, not size):

* a Gaussian random vector (:func:`avec.vectors.random_like`), seeded per trial;
* the vector of another feature averaged over the same sources: DoorKey the door's colour
  (yellow minus red), CheeseMaze the maze paper's top-right vector; FourRooms has no other
  feature, so the random vector is its only control.
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from avec import experiments as ex
from avec import metrics, stats, vectors, verdicts
from claims.conftest import model_params
from claims.test_generalization import averaged, intent_drop, source_layouts

OTHER_FEATURE: dict[str, str | None] = {
    "doorkey": "door_color",
    "cheesemaze": "top_right",
    "fourrooms": None,
}
"""The second control of each family: a vector of another feature (None: random only)."""

MIN_EFFECT = 0.05
"""Smallest drop in intent that counts as an effect: a trial passes only when the feature
vector produces at least this much (so float noise around zero cannot decide a trial), and
"half the targeted effect" is asked of random vectors only where it does."""

CLAIM = verdicts.Claim(
    name="6_specificity",
    statement=(
        "Subtracting the feature vector lowers the start intent toward the feature more than "
        "subtracting a norm-matched random vector or a norm-matched vector of another feature "
        "does."
    ),
    trial=(
        "a layout whose start observation shows the feature, and a seed for the random control. "
        "Vectors (at the claim layer, coefficient -1): the feature vector averaged over "
        "generator seeds 0-49 held out from the layout (as in 5a); a random vector of its norm; "
        "the other feature's vector averaged over the same sources, rescaled to its norm "
        "(DoorKey: door colour; CheeseMaze: top-right; FourRooms: none). Effect = drop in start "
        "intent toward the feature target. Passes when the feature vector's effect is at least "
        f"{MIN_EFFECT} and strictly larger than every control's."
    ),
    threshold=0.5,
)


def trials_of(agent):
    return st.tuples(ex.trial_layouts(agent), ex.SAMPLING_SEEDS)


def other_vectors(agent, layouts, like):
    """Per layout, the other feature's averaged vector with the norm of ``like``'s row, or
    ``None`` where the family has no other feature."""
    feature = OTHER_FEATURE[agent.family]
    if feature is None:
        return None
    first = layouts[0]
    raw = ex.held_out_means(
        agent, feature, layouts, source_layouts(first.family, first.width), ex.claim_layer(agent)
    )
    return [
        other * (target.norm / other.norm) if other.norm > 0 else other
        for other, target in zip(raw, like, strict=True)
    ]


def measure(agent, trials):
    layouts = [layout for layout, _ in trials]
    feature = averaged(agent, layouts)
    random = [vectors.random_like(v, seed) for v, (_, seed) in zip(feature, trials, strict=True)]
    p = ex.probabilities(agent, layouts)
    measured = {
        "feature": intent_drop(agent, layouts, feature),
        "random": intent_drop(agent, layouts, random),
        "feature_tv": metrics.total_variation(
            p, ex.probabilities(agent, layouts, ex.scaled(feature, -1.0))
        ),
        "random_tv": metrics.total_variation(
            p, ex.probabilities(agent, layouts, ex.scaled(random, -1.0))
        ),
    }
    other = other_vectors(agent, layouts, feature)
    if other is not None:
        measured["other"] = intent_drop(agent, layouts, other)
    return measured


def passes(measured):
    beats = (measured["feature"] >= MIN_EFFECT) & (measured["feature"] > measured["random"])
    if "other" in measured:
        beats &= measured["feature"] > measured["other"]
    return beats


def effects(measured):
    found = {
        name: stats.bootstrap_median(measured[key], seed=0)
        for name, key in (
            ("feature_drop_median", "feature"),
            ("random_drop_median", "random"),
            ("other_feature_drop_median", "other"),
            ("feature_tv_median", "feature_tv"),
            ("random_tv_median", "random_tv"),
        )
        if key in measured
    }
    targeted = measured["feature"] >= MIN_EFFECT
    found["targeted_rate"] = stats.proportion(targeted)
    if targeted.any():
        # "Random vectors must not produce the targeted effect": how often one reaches half.
        found["random_half_effect_rate"] = stats.proportion(
            measured["random"][targeted] >= 0.5 * measured["feature"][targeted]
        )
    return found


def figures(model_id):
    def draw(_trials, measured):
        names = [n for n in ("feature", "random", "other") if n in measured]
        estimates = [stats.bootstrap_median(measured[n], seed=0) for n in names]
        return {
            f"specificity-{model_id}": {
                "kind": "bars",
                "data": {
                    "title": f"6 specificity: {model_id}",
                    "labels": [f"{n} vector" for n in names],
                    "value": [e.value for e in estimates],
                    "ci95": [list(e.ci95) for e in estimates],
                    "ylabel": "median drop in start intent toward the feature",
                },
            }
        }

    return draw


def _norm_note(agent) -> str:
    """How large the other feature's natural vector is, next to the feature vector."""
    other = OTHER_FEATURE[agent.family]
    if other is None:
        return f"{agent.family}: no other feature vector; the random vector is the only control."
    sources = source_layouts(agent.family, agent.size)
    layer = ex.claim_layer(agent)
    ratio = (
        vectors.feature_vector(agent, other, sources, layer).norm
        / vectors.feature_vector(agent, ex.feature_of(agent).vector, sources, layer).norm
    )
    return (
        f"The {other} vector averaged over the sources has {ratio:.3g}x the feature vector's "
        "norm; it is rescaled to that norm."
    )


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_the_feature_vector_beats_norm_matched_controls(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        CLAIM,
        model_id,
        trials_of(agent),
        lambda trials: measure(agent, trials),
        passes,
        effects,
        figures=figures(model_id),
        notes=_norm_note(agent),
    )
