"""Claim 1: subtracting a feature vector removes the feature's pull.

The poster's key vector (DoorKey), a goal vector (FourRooms) and the maze paper's cheese
vector, each computed on the trial's own layout at the start state and added with coefficient
-1 at every step of the episode (as the maze paper added its cheese vector at every position).

Paper: over mazes 0-99 the median P(step toward cheese | decision square) fell from 0.81 to
0.03. Poster: the agent should ignore the key.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from avec import experiments as ex
from avec import stats, verdicts
from claims.conftest import model_params

CLAIM = verdicts.Claim(
    name="1_subtraction_removes_pull",
    statement=(
        "Adding the feature vector with coefficient -1 at every step stops the agent from "
        "reaching the feature (picking up the key, reaching the goal or the cheese) in "
        "episodes where, unsteered, it does."
    ),
    trial=(
        "a layout whose start observation shows the feature, and a sampling seed; the agent "
        "plays it twice with the same seed, unsteered "
        "and steered. Passes when the unsteered episode reaches the feature and the steered one "
        "does not (within the claim step cap)."
    ),
    threshold=0.5,
)


def trials_of(agent):
    return st.tuples(ex.trial_layouts(agent), ex.SAMPLING_SEEDS)


def measure(agent, trials):
    feature = ex.feature_of(agent)
    layouts = [layout for layout, _ in trials]
    seeds = [seed for _, seed in trials]
    vectors = ex.per_layout_vectors(agent, feature.vector, layouts, ex.claim_layer(agent))
    steer = ex.scaled(vectors, -1.0)
    without = [ex.vectors.FEATURES[feature.vector](layout)[1] for layout in layouts]
    measured = {
        "reached": ex.reached(ex.play(agent, layouts, seeds), feature.event),
        "reached_steered": ex.reached(ex.play(agent, layouts, seeds, steer), feature.event),
        "intent": ex.start_intent(agent, layouts, feature.target),
        "intent_without": ex.start_intent(agent, layouts, feature.target, observed=without),
    }
    if agent.family == "cheesemaze":
        measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, layouts)
        measured["p_cheese_steered"], measured["p_top_right_steered"] = ex.decision_intents(
            agent, layouts, steer
        )
    return measured


def passes(measured):
    return measured["reached"] & ~measured["reached_steered"]


def reach_effects(measured):
    """Rates of reaching the feature unsteered and steered, and their paired change."""
    return {
        "reach_rate": stats.proportion(measured["reached"]),
        "reach_rate_steered": stats.proportion(measured["reached_steered"]),
        "reach_rate_change": stats.bootstrap_paired_difference(
            measured["reached"].astype(float),
            measured["reached_steered"].astype(float),
            seed=0,
            statistic=np.mean,
        ),
    }


def effects(measured):
    found = {
        **reach_effects(measured),
        "start_intent_median": stats.bootstrap_median(measured["intent"], seed=0),
        "start_intent_without_median": stats.bootstrap_median(measured["intent_without"], seed=0),
    }
    if "p_cheese" in measured:
        fork = ~np.isnan(measured["p_cheese"])
        # Medians need at least two mazes with a decision square.
        for name in ("p_cheese", "p_top_right") if fork.sum() >= 2 else ():
            found[f"{name}_at_decision_median"] = stats.bootstrap_median(
                measured[name][fork], seed=0
            )
            found[f"{name}_at_decision_steered_median"] = stats.bootstrap_median(
                measured[f"{name}_steered"][fork], seed=0
            )
    return found


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_subtracting_the_feature_vector_removes_its_pull(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        CLAIM,
        model_id,
        trials_of(agent),
        lambda trials: measure(agent, trials),
        passes,
        effects,
    )
