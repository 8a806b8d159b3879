"""Claim 8: the top-right vector pulls the maze agent to the top-right corner (CheeseMaze).

The maze paper's *top-right vector* (Turner, Mini et al. 2023) is the activations on the maze
with a corridor opened to the top-right corner minus those on the maze itself, at the start
state. Added, it pulled the agent top-right; subtracted, it did ~nothing; and it worked on
other mazes than its own. Its scale: coefficient 0.5 minor, 1 strong, 5 similar, 10 starts to
crumble into garbage, 20 goes down/left -- the ``dose_response`` figure redraws that curve for
each model on the first :data:`DOSE_TRIALS` trials.

Vectors are computed at the claim layer (:func:`avec.experiments.claim_layer`) on the trial's
own maze (8a, 8b) or on another maze (8c) and added at every step. Intent is measured where the
paper measured it, at the decision square (:func:`avec.experiments.decision_intents`); mazes
are drawn with the cheese anywhere and only where a decision square exists, so the corner and
the cheese pull apart and the intent is defined.

Declared before any data (not tuned afterwards):

* :data:`MARGIN` 0.1 -- a tenth of the probability mass at the decision square: an intent that
  moves by more is *raised*, by at most that it changed *little* (claim 7 uses the same number).
* Thresholds 0.5: the claims are about the typical maze; they hold when a credible majority of
  trials pass (95% lower bound at least one half), as claim 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from avec import experiments as ex
from avec import metrics, stats, verdicts
from claims.conftest import model_params

MARGIN = 0.1
"""Smallest rise of P(top-right | decision square) that counts as raised; largest change that
counts as little."""

DOSE_COEFFICIENTS = (-1.0, 0.0, 0.5, 1.0, 5.0, 10.0, 20.0)
"""Coefficients of the dose-response figure: the paper's 0.5, 1, 5, 10, 20, with -1 and 0."""

DOSE_TRIALS = 50
"""Trials (the first ones drawn) behind the dose-response figure."""

RAISES = verdicts.Claim(
    name="8a_top_right_raises_pull",
    statement=(
        "Adding the top-right vector raises P(top-right | decision square) and leads the agent "
        "to the top-right corner."
    ),
    trial=(
        "a maze with the cheese anywhere that has a decision square (mazes without one are not "
        "drawn) and a sampling seed; the agent plays it unsteered and with +1 x its top-right "
        "vector, with the same seed. Passes when P(top-right | decision square) rises by more "
        f"than {MARGIN} and the steered episode reaches the top-right corner (within the claim "
        "step cap). A maze where the agent already heads top-right with P > 0.9 cannot pass."
    ),
    threshold=0.5,
)

SUBTRACTION = verdicts.Claim(
    name="8b_top_right_subtraction_little_effect",
    statement=(
        "Subtracting the top-right vector barely changes where the agent heads at the decision "
        "square."
    ),
    trial=(
        "a maze with the cheese anywhere that has a decision square (mazes without one are not "
        "drawn). Passes when -1 x its top-right vector changes P(cheese | decision square) and "
        f"P(top-right | decision square) by at most {MARGIN} each."
    ),
    threshold=0.5,
)

TRANSFER = verdicts.Claim(
    name="8c_top_right_transfers",
    statement=(
        "The top-right vector of one maze, added on another maze, raises P(top-right | "
        "decision square) there."
    ),
    trial=(
        "two mazes with different walls, the cheese anywhere in each: the maze played, which "
        "has a decision square (pairs without are not drawn), and the vector's source. The "
        "source's top-right vector is added with +1 on the maze played; passes when its "
        f"P(top-right | decision square) rises by more than {MARGIN}."
    ),
    threshold=0.5,
)


def mazes_of(agent):
    """Mazes with the cheese anywhere (:func:`avec.experiments.trial_layouts`) that have a
    decision square."""
    return ex.trial_layouts(agent).filter(lambda maze: metrics.decision_square(maze) is not None)


def raise_trials_of(agent):
    return st.tuples(mazes_of(agent), ex.SAMPLING_SEEDS)


def transfer_trials_of(agent):
    """``(maze played, vector source)`` pairs; the played maze first, so a counterexample
    shows where the vector failed to steer."""
    return st.tuples(mazes_of(agent), ex.trial_layouts(agent)).filter(
        lambda pair: pair[0].walls != pair[1].walls
    )


def corner_vectors(agent, mazes):
    return ex.per_layout_vectors(agent, "top_right", mazes, ex.claim_layer(agent))


def measure_raise(agent, trials):
    mazes = [maze for maze, _ in trials]
    seeds = [seed for _, seed in trials]
    steer = corner_vectors(agent, mazes)
    measured = {}
    measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, mazes)
    measured["p_cheese_steered"], measured["p_top_right_steered"] = ex.decision_intents(
        agent, mazes, steer
    )
    unsteered = ex.play(agent, mazes, seeds)
    measured["corner"] = ex.reached(unsteered, "top_right_reached")
    measured["cheese"] = ex.reached(unsteered, "goal_reached")
    measured["corner_steered"] = ex.reached(
        ex.play(agent, mazes, seeds, steer), "top_right_reached"
    )
    return measured


def measure_subtraction(agent, mazes):
    measured = {}
    measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, mazes)
    measured["p_cheese_steered"], measured["p_top_right_steered"] = ex.decision_intents(
        agent, mazes, ex.scaled(corner_vectors(agent, mazes), -1.0)
    )
    return measured


def measure_transfer(agent, pairs):
    targets = [played for played, _ in pairs]
    sources = [source for _, source in pairs]
    measured = {}
    measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, targets)
    measured["p_cheese_steered"], measured["p_top_right_steered"] = ex.decision_intents(
        agent, targets, corner_vectors(agent, sources)
    )
    own = corner_vectors(agent, targets)
    measured["p_top_right_own"] = ex.decision_intents(agent, targets, own)[1]
    return measured


def rise(measured):
    return measured["p_top_right_steered"] - measured["p_top_right"]


def raise_passes(measured):
    return (rise(measured) > MARGIN) & measured["corner_steered"]


def subtraction_passes(measured):
    cheese = np.abs(measured["p_cheese_steered"] - measured["p_cheese"])
    return (np.abs(rise(measured)) <= MARGIN) & (cheese <= MARGIN)


def transfer_passes(measured):
    return rise(measured) > MARGIN


def _intent_effects(measured):
    return {
        "p_top_right_median": stats.bootstrap_median(measured["p_top_right"], seed=0),
        "p_top_right_steered_median": stats.bootstrap_median(
            measured["p_top_right_steered"], seed=0
        ),
        "p_top_right_change_mean": stats.bootstrap_mean(rise(measured), seed=0),
        "p_cheese_change_mean": stats.bootstrap_mean(
            measured["p_cheese_steered"] - measured["p_cheese"], seed=0
        ),
    }


def raise_effects(measured):
    return {
        **_intent_effects(measured),
        "corner_rate": stats.proportion(measured["corner"]),
        "corner_rate_steered": stats.proportion(measured["corner_steered"]),
        "corner_rate_change": stats.bootstrap_paired_difference(
            measured["corner"].astype(float),
            measured["corner_steered"].astype(float),
            seed=0,
            statistic=np.mean,
        ),
        "cheese_rate": stats.proportion(measured["cheese"]),
    }


def transfer_effects(measured):
    return {
        **_intent_effects(measured),
        "p_top_right_change_own_vector_mean": stats.bootstrap_mean(
            measured["p_top_right_own"] - measured["p_top_right"], seed=0
        ),
    }


def dose_response(agent, trials):
    """``{"p_top_right": [...], "corner": [...]}`` estimates per :data:`DOSE_COEFFICIENTS` on
    ``trials`` (all coefficients' rollouts in one lockstep batch)."""
    mazes = [maze for maze, _ in trials]
    seeds = [seed for _, seed in trials]
    vectors = corner_vectors(agent, mazes)
    steering = [ex.scaled(vectors, c) for c in DOSE_COEFFICIENTS]
    intents = [ex.decision_intents(agent, mazes, s)[1] for s in steering]
    played = ex.play(
        agent, mazes * len(steering), seeds * len(steering), [v for s in steering for v in s]
    )
    corner = ex.reached(played, "top_right_reached").reshape(len(steering), len(mazes))
    return {
        "p_top_right": [stats.bootstrap_mean(p, seed=0) for p in intents],
        "corner": [stats.proportion(row) for row in corner],
    }


def dose_figure(agent, trials):
    found = dose_response(agent, trials[:DOSE_TRIALS])
    n = min(len(trials), DOSE_TRIALS)
    return {
        f"dose_response-top_right-{agent.id}": {
            "kind": "dose_response",
            "data": {
                "title": f"top-right vector: {agent.id} ({n} mazes)",
                "xlabel": "coefficient of the top-right vector",
                "ylabel": "rate / probability",
                "coefficients": list(DOSE_COEFFICIENTS),
                "series": {
                    "mean P(top-right | decision square)": _series(found["p_top_right"]),
                    "top-right corner reached": _series(found["corner"]),
                },
            },
        }
    }


def _series(estimates):
    return {"value": [e.value for e in estimates], "ci95": [list(e.ci95) for e in estimates]}


@pytest.mark.claim(RAISES.name)
@pytest.mark.parametrize("model_id", model_params("cheesemaze"))
def test_adding_the_top_right_vector_pulls_the_agent_top_right(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        RAISES,
        model_id,
        raise_trials_of(agent),
        lambda trials: measure_raise(agent, trials),
        raise_passes,
        raise_effects,
        figures=lambda trials, _measured: dose_figure(agent, trials),
    )


@pytest.mark.claim(SUBTRACTION.name)
@pytest.mark.parametrize("model_id", model_params("cheesemaze"))
def test_subtracting_the_top_right_vector_does_little(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        SUBTRACTION,
        model_id,
        mazes_of(agent),
        lambda mazes: measure_subtraction(agent, mazes),
        subtraction_passes,
        _intent_effects,
    )


@pytest.mark.claim(TRANSFER.name)
@pytest.mark.parametrize("model_id", model_params("cheesemaze"))
def test_the_top_right_vector_transfers_across_mazes(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        TRANSFER,
        model_id,
        transfer_trials_of(agent),
        lambda pairs: measure_transfer(agent, pairs),
        transfer_passes,
        transfer_effects,
    )
