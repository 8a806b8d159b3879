"""Claim 7: the cheese and top-right vectors compose (CheeseMaze).

The maze paper (Turner, Mini et al. 2023) subtracted the cheese vector and added the top-right
vector at once and found the effects "roughly additive"; the reverse pair -- adding the cheese
vector, subtracting the top-right vector -- did little, alone or together (adding the cheese
vector: "not much happened"; subtracting the top-right vector: ~nothing).

Both vectors are computed on the trial's own maze at the start state and at the claim layer
(:func:`avec.experiments.claim_layer`): cheese = maze minus the maze without cheese; top-right
= the maze with a corridor opened to the top-right corner minus the maze. They are added at
the decision square, where the paper measured P(cheese | decision square) and P(top-right |
decision square) (:func:`avec.experiments.decision_intents`). No rollouts: one forward pass per
patch.

Mazes are drawn with the cheese anywhere, so the cheese and the corner pull apart; only mazes
with a decision square are drawn (without one, neither intent is defined).

Declared before any data (thresholds and margins are not tuned afterwards):

* :data:`TOLERANCE` 0.1 -- a tenth of the probability mass at the decision square is the
  smallest change this suite calls behaviourally meaningful (the same number is the margin of
  "does little" below and in claim 8). "Additive" compares P(top-right) under both patches with
  the unpatched value plus the two single changes, clipped to [0, 1]: two pulls that each raise
  P(top-right) by 0.6 cannot raise it by 1.2, and that saturation is the scale's, not a failure
  to compose.
* Thresholds 0.5: the claim is about the typical maze, so it holds when a credible majority
  of mazes (95% lower bound at least one half) pass, as claim 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import experiments as ex
from avec import metrics, stats, verdicts
from claims.conftest import model_params

TOLERANCE = 0.1
"""Largest |P_both - clip(P_0 + delta_cheese + delta_top_right)| at the decision square that
counts as additive."""

MARGIN = 0.1
"""Largest |change| in P(cheese) or P(top-right) at the decision square that counts as little."""

ADDITIVE = verdicts.Claim(
    name="7a_composition_additive",
    statement=(
        "Subtracting the cheese vector and adding the top-right vector together changes "
        "P(top-right | decision square) by about the sum of their separate changes."
    ),
    trial=(
        "a maze with the cheese anywhere that has a decision square (mazes without one are not "
        "drawn). P(top-right | decision square) is measured unpatched (P_0), with -1 x cheese "
        "vector, with +1 x top-right vector and with both (P_both); passes when |P_both - "
        f"clip(P_0 + delta_cheese + delta_top_right, 0, 1)| <= {TOLERANCE}."
    ),
    threshold=0.5,
)

REVERSE = verdicts.Claim(
    name="7b_reverse_pair_little_effect",
    statement=(
        "Adding the cheese vector, subtracting the top-right vector, or both together barely "
        "change where the agent heads at the decision square."
    ),
    trial=(
        "a maze with the cheese anywhere that has a decision square (mazes without one are not "
        "drawn). Passes when each of the three patches (+1 x cheese, -1 x top-right, both) "
        f"changes P(cheese | decision square) and P(top-right | decision square) by at most "
        f"{MARGIN}."
    ),
    threshold=0.5,
)

PATCHES = {
    "minus_cheese": (-1.0, 0.0),
    "plus_top_right": (0.0, 1.0),
    "both": (-1.0, 1.0),
    "plus_cheese": (1.0, 0.0),
    "minus_top_right": (0.0, -1.0),
    "reverse_both": (1.0, -1.0),
}
"""Each patch as (coefficient of the cheese vector, coefficient of the top-right vector)."""

REVERSE_PATCHES = ("plus_cheese", "minus_top_right", "reverse_both")


def trials_of(agent):
    return ex.trial_layouts(agent).filter(lambda maze: metrics.decision_square(maze) is not None)


def measure(agent, mazes, patches=tuple(PATCHES)):
    """``p_cheese``/``p_top_right`` unpatched and ``..._<patch>`` for each of ``patches``."""
    layer = ex.claim_layer(agent)
    cheese = ex.per_layout_vectors(agent, "cheese", mazes, layer)
    corner = ex.per_layout_vectors(agent, "top_right", mazes, layer)
    measured = {}
    measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, mazes)
    for name in patches:
        a, b = PATCHES[name]
        steering = [a * c + b * t for c, t in zip(cheese, corner, strict=True)]
        found = ex.decision_intents(agent, mazes, steering)
        measured[f"p_cheese_{name}"], measured[f"p_top_right_{name}"] = found
    return measured


def change(measured, target, patch):
    """``(n,)`` change of P(``target`` | decision square) under ``patch``."""
    return measured[f"p_{target}_{patch}"] - measured[f"p_{target}"]


def additivity_gap(measured):
    """``(n,)`` |P_both - clip(P_0 + delta_cheese + delta_top_right, 0, 1)| of P(top-right)."""
    predicted = np.clip(
        measured["p_top_right"]
        + change(measured, "top_right", "minus_cheese")
        + change(measured, "top_right", "plus_top_right"),
        0.0,
        1.0,
    )
    return np.abs(measured["p_top_right_both"] - predicted)


def additive_passes(measured):
    return additivity_gap(measured) <= TOLERANCE


def largest_reverse_change(measured):
    """``(n,)`` the largest |change| in either intent over the three reverse patches."""
    return np.max(
        [
            np.abs(change(measured, target, patch))
            for patch in REVERSE_PATCHES
            for target in ("cheese", "top_right")
        ],
        axis=0,
    )


def reverse_passes(measured):
    return largest_reverse_change(measured) <= MARGIN


def _mean_changes(measured, patches):
    return {
        f"p_{target}_change_{patch}_mean": stats.bootstrap_mean(
            change(measured, target, patch), seed=0
        )
        for patch in patches
        for target in ("cheese", "top_right")
    }


def additive_effects(measured):
    # Additivity is vacuous where neither vector moves the agent: report how often one did.
    moved = np.maximum(
        np.abs(change(measured, "top_right", "minus_cheese")),
        np.abs(change(measured, "top_right", "plus_top_right")),
    )
    return {
        "single_patch_moves_p_top_right_rate": stats.proportion(moved > TOLERANCE),
        "p_top_right_median": stats.bootstrap_median(measured["p_top_right"], seed=0),
        "additivity_gap_median": stats.bootstrap_median(additivity_gap(measured), seed=0),
        **_mean_changes(measured, ("minus_cheese", "plus_top_right", "both")),
    }


def reverse_effects(measured):
    return {
        "largest_change_median": stats.bootstrap_median(largest_reverse_change(measured), seed=0),
        **_mean_changes(measured, REVERSE_PATCHES),
    }


@pytest.mark.claim(ADDITIVE.name)
@pytest.mark.parametrize("model_id", model_params("cheesemaze"))
def test_subtracting_cheese_and_adding_top_right_act_additively(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        ADDITIVE,
        model_id,
        trials_of(agent),
        lambda mazes: measure(agent, mazes, ("minus_cheese", "plus_top_right", "both")),
        additive_passes,
        additive_effects,
    )


@pytest.mark.claim(REVERSE.name)
@pytest.mark.parametrize("model_id", model_params("cheesemaze"))
def test_adding_cheese_and_subtracting_top_right_do_little(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        REVERSE,
        model_id,
        trials_of(agent),
        lambda mazes: measure(agent, mazes, REVERSE_PATCHES),
        reverse_passes,
        reverse_effects,
    )
