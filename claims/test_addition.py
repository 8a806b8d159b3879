"""Claim 2: adding a feature vector has little effect -- the paper's asymmetry.

The maze paper: adding the cheese vector (coefficient +1) made "not much" happen, while
subtracting it removed the cheese's pull; the poster concludes the same of the key vector.
"Little" only means something beside a reference, so the claim is read as the paper's
asymmetry, judged per state with paired effects: the change +1 x v makes to the action
distribution is smaller than the change -1 x v makes, and no larger than what a random vector
of the same norm makes. States: the start state and claim 1a's probe states.
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import experiments as ex
from avec import metrics, stats, trials, vectors, verdicts
from claims.conftest import judge_sequentially, model_params
from claims.test_subtraction import start_vectors

MIN_EFFECT = 0.1
"""Smallest total variation subtracting v must cause at a state for an asymmetry to be
judged there: where -v does nothing either, "+v does less" cannot be decided."""

CLAIM = verdicts.Claim(
    name="2_addition_little_effect",
    statement=(
        "Adding a level's feature vector (+1) changes the action distribution less than "
        "subtracting it (-1) does, and no more than a norm-matched random vector does."
    ),
    quote=(
        'SCIENCE.md, summarising the maze paper (Turner, Mini et al. 2023): "Adding the '
        "cheese vector: 'not much happened'.\" Poster: \"Adding cheese vector has no "
        'effect" and "Adding just increases \'cheese perception\' which is irrelevant"; '
        'SCIENCE.md, listing the poster\'s conclusions: "Adding it has (almost) no effect."'
    ),
    source_expects="holds",
    trial=(
        "a state (the start state, or a claim 1a probe state) of a held-out level; total "
        "variation from the unsteered action distribution under +v, -v and +r (r: random, |v|, "
        "seeded per level). Passes when TV(+v) < TV(-v) and TV(+v) <= TV(+r)."
    ),
    informative=f"subtracting v moves the distribution by TV >= {MIN_EFFECT}.",
    estimand="rate",
    threshold=0.5,
    threshold_reason="the asymmetry should hold at most states where subtraction acts.",
    reference=(
        "null: the random vector in place of +v (passes when TV(+r) < TV(-v)): how often any "
        "direction of that norm is 'smaller than subtraction'."
    ),
    lifetime="one state: the start-state vector applied at the state.",
)


def measure(agent, drawn, coefficient=1.0):
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = start_vectors(agent, layouts)
    probes = trials.probe_states(agent, layouts, seeds, include_start=True)
    arms = {
        "added": ex.scaled(vs, coefficient),
        "subtracted": ex.scaled(vs, -1.0),
        "random": [vectors.random_like(v, s) for v, s in zip(vs, seeds, strict=True)],
    }
    probs = trials.arm_probabilities(agent, probes, arms)
    tv = {name: metrics.total_variation(probs["unsteered"], probs[name]) for name in arms}
    return {
        **{f"tv_{k}": v for k, v in tv.items()},
        **{f"probs_{k}": probs[k] for k in ("unsteered", "added", "subtracted")},
        "agent_state": trials.agent_states([p.placed for p in probes]),
        "trial": np.array([p.trial for p in probes], dtype=np.int64),
        "layouts": layouts,
    }


def outcome(measured):
    return verdicts.outcome(
        (measured["tv_added"] < measured["tv_subtracted"])
        & (measured["tv_added"] <= measured["tv_random"]),
        measured["tv_subtracted"] >= MIN_EFFECT,
        measured["trial"],
        measured["layouts"],
        {"null": measured["tv_random"] < measured["tv_subtracted"]},
        # +v must stay under both -v and +r (ties with +r pass; the flags above decide).
        verdicts.Bar(
            "tv_added", np.minimum(measured["tv_subtracted"], measured["tv_random"]), "below"
        ),
    )


def effects(measured):
    useful = measured["tv_subtracted"] >= MIN_EFFECT
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    ones = np.ones(int(useful.sum()))
    return {
        f"mean_tv_{arm}": stats.clustered_ratio(measured[f"tv_{arm}"][useful], ones, clusters, 0)
        for arm in ("added", "subtracted", "random")
    }


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_adding_the_feature_vector_does_less_than_subtracting_it(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge, CLAIM, model_id, agent, lambda drawn: measure(agent, drawn), outcome, effects
    )
