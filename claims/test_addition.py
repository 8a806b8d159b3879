"""Claim 2: adding a feature vector has little effect.

The poster's second conclusion, and the maze paper's observation that adding the cheese
vector (coefficient +1) made "not much" happen: the feature is already present in the
observation, so pushing the activations further toward "feature present" should change little.
The vector is the one of claim 1 -- computed on the trial's own layout at the start state,
at :func:`avec.experiments.claim_layer` -- added with coefficient +1 at every step.

"Little effect" is made executable as a paired comparison on the same layout and the same
sampling seed: the steered episode must end the same way as the unsteered one (reached the
feature or not, succeeded or not), and the policy's start-state action distribution must move
by less than :data:`TV_MARGIN` in total variation.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from avec import experiments as ex
from avec import stats, verdicts
from claims.conftest import model_params

COEFFICIENT = 1.0
"""The claim is about adding the vector exactly once, as the paper did."""

TV_MARGIN = 0.1
"""Largest start-state total variation that still counts as "little effect": at most a tenth
of the probability mass may move to other actions. Fixed from the claim's wording before any
data -- a shift of more than one action in ten is a change a reader would call an effect."""

CLAIM = verdicts.Claim(
    name="2_addition_little_effect",
    statement=(
        "Adding the feature vector with coefficient +1 at every step leaves behaviour nearly "
        "unchanged: episodes end as they do unsteered, and the start-state action "
        f"distribution moves by less than {TV_MARGIN} in total variation."
    ),
    trial=(
        "a layout whose start observation shows the feature, and a sampling seed; the agent "
        "plays it twice with the same seed, unsteered "
        "and steered with the layout's own feature vector at +1. Passes when both episodes "
        "agree on reaching the feature and on success (within the claim step cap) and the "
        f"start-state total variation between the two action distributions is below {TV_MARGIN}."
    ),
    # "Little effect" is a statement about most episodes, not all: sampled rollouts may
    # diverge on a near-tie even for a tiny change in probabilities, so one trial in five is
    # left as slack before the claim is called false.
    threshold=0.8,
)


def trials_of(agent):
    """Trials ``(layout, seed)`` for ``agent``: its family's layouts at its size."""
    return st.tuples(ex.trial_layouts(agent), ex.SAMPLING_SEEDS)


def measure(agent, trials):
    """``(n,)`` arrays: reach and success unsteered / steered, start TV; CheeseMaze decision
    intents unsteered / steered. One capture, two batched rollouts, two forward passes."""
    feature = ex.feature_of(agent)
    layouts = [layout for layout, _ in trials]
    seeds = [seed for _, seed in trials]
    vectors = ex.per_layout_vectors(agent, feature.vector, layouts, ex.claim_layer(agent))
    steer = ex.scaled(vectors, COEFFICIENT)
    plain = ex.play(agent, layouts, seeds)
    steered = ex.play(agent, layouts, seeds, steer)
    measured = {
        "reached": ex.reached(plain, feature.event),
        "reached_steered": ex.reached(steered, feature.event),
        "success": np.array([t.success for t in plain]),
        "success_steered": np.array([t.success for t in steered]),
        "start_tv": ex.total_variation_at_start(agent, layouts, steer),
    }
    if agent.family == "cheesemaze":
        measured["p_cheese"], _ = ex.decision_intents(agent, layouts)
        measured["p_cheese_steered"], _ = ex.decision_intents(agent, layouts, steer)
    return measured


def passes(measured):
    """Same outcome as unsteered and a start-state shift below the margin."""
    return (
        (measured["reached"] == measured["reached_steered"])
        & (measured["success"] == measured["success_steered"])
        & (measured["start_tv"] < TV_MARGIN)
    )


def effects(measured):
    """Reach and success rates unsteered vs steered, median start TV, and on CheeseMaze the
    paper's median P(cheese | decision square) unsteered vs steered."""
    found = {
        "reach_rate": stats.proportion(measured["reached"]),
        "reach_rate_steered": stats.proportion(measured["reached_steered"]),
        "success_rate": stats.proportion(measured["success"]),
        "success_rate_steered": stats.proportion(measured["success_steered"]),
        "start_tv_median": stats.bootstrap_median(measured["start_tv"], seed=0),
    }
    if "p_cheese" in measured:
        fork = ~np.isnan(measured["p_cheese"])
        if fork.sum() >= 2:
            found["p_cheese_at_decision_median"] = stats.bootstrap_median(
                measured["p_cheese"][fork], seed=0
            )
            found["p_cheese_at_decision_steered_median"] = stats.bootstrap_median(
                measured["p_cheese_steered"][fork], seed=0
            )
    return found


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_adding_the_feature_vector_has_little_effect(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        CLAIM,
        model_id,
        trials_of(agent),
        lambda trials: measure(agent, trials),
        passes,
        effects,
    )
