"""Claim 7: the cheese and top-right vectors compose (CheeseMaze).

The maze paper (Turner, Mini et al. 2023) subtracted the cheese vector and added the top-right
vector at once and found the effects "roughly additive"; the reverse pair -- adding the cheese
vector, subtracting the top-right vector -- did little, alone or together (adding the cheese
vector: "not much happened"; subtracting the top-right vector: ~nothing), as the poster also
concludes.

**Additivity needs effects to add** (issue 14). Two vectors that do nothing are additive
vacuously, and so are two random vectors. 7a is judged only at mazes where *each* component
has an effect of its own -- moves P(top-right | decision square) by more than
:data:`TOLERANCE` and by more than a random vector of its norm does there -- and its null (two
random vectors) passes only under the same condition, so it cannot score by doing nothing.
7a asserts an effect (:attr:`avec.verdicts.Claim.asserts_effect`): it holds only where the pair
is additive at more mazes than the random pair is.

Both vectors are computed on the trial's own maze at the start state and at the claim layer
(:func:`avec.experiments.claim_layer`): cheese = maze minus the maze without cheese; top-right
= the maze with a corridor opened to the top-right corner minus the maze. They are added at
the decision square, where the paper measured P(cheese | decision square) and P(top-right |
decision square) (:func:`avec.experiments.decision_intents`). No rollouts: one forward pass per
patch.

Mazes are held-out levels with the cheese anywhere, so the cheese and the corner pull apart;
only mazes whose decision square exists and is not the start cell are judged (at the start
cell subtracting the maze's own cheese vector is removing the cheese, by arithmetic).

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

from avec import edits, metrics, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims.conftest import judge_sequentially, maze_model_params

TOLERANCE = 0.1
"""Largest |P_both - clip(P_0 + delta_cheese + delta_top_right)| at the decision square that
counts as additive."""

MARGIN = 0.1
"""Largest |change| in P(cheese) or P(top-right) at the decision square that counts as little."""

_QUOTE_ADDITIVE = (
    'SCIENCE.md, summarising the maze paper (Turner, Mini et al. 2023): "Composition: '
    'subtract cheese + add top-right: roughly additive." Poster, conclusion 6 as SCIENCE.md '
    'lists it: "Adding one vector and subtracting another (cheese, top-right) \u2014 '
    'composition."'
)

_QUOTE_REVERSE = (
    'Poster: "Cannot Add & Subtract the same vector: Adding the cheese vector and subtracting '
    'the top-right vector have no effect". SCIENCE.md, summarising the maze paper: "Adding '
    "the cheese vector: 'not much happened'\" and of the top-right vector \"subtracting it "
    'does ~nothing".'
)

ADDITIVE = verdicts.Claim(
    name="7a_composition_additive",
    statement=(
        "Where subtracting the cheese vector and adding the top-right vector each change "
        "P(top-right | decision square), doing both changes it by about the sum of their "
        "separate changes."
    ),
    quote=_QUOTE_ADDITIVE,
    source_expects="holds",
    trial=(
        "a held-out maze (cheese anywhere) whose decision square is not the start cell. "
        "P(top-right | decision square) is measured unpatched (P_0), with -1 x cheese "
        "vector, with +1 x top-right vector and with both (P_both); passes when |P_both - "
        f"clip(P_0 + delta_cheese + delta_top_right, 0, 1)| <= {TOLERANCE}."
    ),
    informative=(
        f"each single patch has an effect: it moves P(top-right | decision square) by more "
        f"than {TOLERANCE} and by more than its random counterpart (a random vector of its "
        "norm, same sign) does there; where either does nothing, additivity holds vacuously."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason="'roughly additive': within a tenth on most mazes where both vectors act.",
    reference=(
        "null: the same rule with both vectors replaced by random vectors of their norms, "
        f"passing only where each random component itself moves P(top-right) by more than "
        f"{TOLERANCE} (two random directions that do nothing are not additive, only inert); "
        "the pair must be additive at more mazes than the random pair."
    ),
    lifetime="one state: the maze's start-state vectors applied at its decision square.",
    asserts_effect=True,
)

REVERSE = verdicts.Claim(
    name="7b_reverse_pair_little_effect",
    statement=(
        "Adding the cheese vector, subtracting the top-right vector, or both together barely "
        "change where the agent heads at the decision square."
    ),
    quote=_QUOTE_REVERSE,
    source_expects="holds",
    trial=(
        "a held-out maze (cheese anywhere) whose decision square is not the start cell. "
        "Passes when each of the three patches (+1 x cheese, -1 x top-right, both) "
        f"changes P(cheese | decision square) and P(top-right | decision square) by at most "
        f"{MARGIN}."
    ),
    informative=(
        f"the forward pair acts there: -1 x cheese or +1 x top-right moves an intent by more "
        f"than {MARGIN} (else the vectors may simply be inert at that maze)."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason="'does little' should describe most mazes where the vectors are live.",
    reference=(
        "null: the reverse patches' random counterparts (random vectors of the cheese and "
        "top-right vectors' norms, signs as in the reverse pair), same rule."
    ),
    lifetime="one state: the maze's start-state vectors applied at its decision square.",
)

PATCHES = {
    "minus_cheese": (-1.0, 0.0),
    "plus_top_right": (0.0, 1.0),
    "both": (-1.0, 1.0),
    "plus_cheese": (1.0, 0.0),
    "minus_top_right": (0.0, -1.0),
    "reverse_both": (1.0, -1.0),
    "random_minus_cheese": (-1.0, 0.0),
    "random_plus_top_right": (0.0, 1.0),
    "random_both": (-1.0, 1.0),
    "random_plus_cheese": (1.0, 0.0),
    "random_minus_top_right": (0.0, -1.0),
    "random_reverse_both": (1.0, -1.0),
}
"""Each patch as (coefficient of the cheese vector, coefficient of the top-right vector)."""

REVERSE_PATCHES = ("plus_cheese", "minus_top_right", "reverse_both")


LEVELS = 5
"""Mazes drawn per wanted trial: about one in five has a decision square off the start."""


def _off_start(maze):
    state = metrics.decision_state(maze)
    return state is not None and state[0] != maze.agent


def mazes_of(layouts, _seeds=None, start=0):
    """``(maze, index in the draw)`` trials: the mazes whose decision square is off the start."""
    return [(maze, start + i) for i, maze in enumerate(layouts) if _off_start(maze)]


def measure(agent, drawn, patches=tuple(PATCHES)):
    """``p_cheese``/``p_top_right`` unpatched and ``..._<patch>`` for each of ``patches``
    (``random_*`` patches use random vectors of the cheese and top-right vectors' norms,
    seeded by the maze's index in the draw). ``drawn``: ``(maze, index)`` trials."""
    mazes = [maze for maze, _ in drawn]
    layer = ex.claim_layer(agent)
    cheese = vectors.per_layout(agent, "cheese", mazes, layer)
    corner = vectors.per_layout(agent, "top_right", mazes, layer)
    noise_c = [vectors.random_like(v, 2 * k) for v, (_, k) in zip(cheese, drawn, strict=True)]
    noise_t = [vectors.random_like(v, 2 * k + 1) for v, (_, k) in zip(corner, drawn, strict=True)]
    measured = {"layouts": list(mazes), "trial": np.arange(len(mazes))}
    measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, mazes)
    steerings = {}
    for name in patches:
        a, b = PATCHES[name]
        c_vs, t_vs = (noise_c, noise_t) if name.startswith("random_") else (cheese, corner)
        steerings[name] = [a * c + b * t for c, t in zip(c_vs, t_vs, strict=True)]
        found = ex.decision_intents(agent, mazes, steerings[name])
        measured[f"p_cheese_{name}"], measured[f"p_top_right_{name}"] = found
    if mazes and set(patches) == set(PATCHES):
        measured |= _shown(agent, mazes, measured, steerings)
    return measured


def _shown(agent, mazes, measured, steerings):
    """For counterexample figures: the judged values of 7a and 7b, the decision square and
    P(action) there unpatched and under the forward and reverse patches (forward passes of
    their own: the judged arms are untouched)."""
    square = [edits.move_agent(m, *metrics.decision_state(m)) for m in mazes]
    shown = {
        "additivity_gap": additivity_gap(measured),
        "largest_reverse_change": largest_reverse_change(measured),
        "agent_state": trials.agent_states(square),
        "probs_unsteered": ex.probabilities(agent, square),
    }
    for name in ("minus_cheese", "plus_top_right", "both", *REVERSE_PATCHES):
        shown[f"probs_{name}"] = ex.probabilities(agent, square, steerings[name])
    return shown


def change(measured, target, patch):
    """``(n,)`` change of P(``target`` | decision square) under ``patch``."""
    return measured[f"p_{target}_{patch}"] - measured[f"p_{target}"]


def additivity_gap(measured, prefix=""):
    """``(n,)`` |P_both - clip(P_0 + delta_cheese + delta_top_right, 0, 1)| of P(top-right)."""
    predicted = np.clip(
        measured["p_top_right"]
        + change(measured, "top_right", f"{prefix}minus_cheese")
        + change(measured, "top_right", f"{prefix}plus_top_right"),
        0.0,
        1.0,
    )
    return np.abs(measured[f"p_top_right_{prefix}both"] - predicted)


def _component_changes(measured, prefix=""):
    """``(2, n)`` |change| of P(top-right) under each single patch of the forward pair."""
    return np.array(
        [
            np.abs(change(measured, "top_right", f"{prefix}{patch}"))
            for patch in ("minus_cheese", "plus_top_right")
        ]
    )


def components_act(measured):
    """``(n,)`` both forward components have an effect of their own on P(top-right): more
    than :data:`TOLERANCE`, and more than their random counterparts'."""
    own, noise = _component_changes(measured), _component_changes(measured, "random_")
    return np.all((own > TOLERANCE) & (own > noise), axis=0)


def _moved(measured, prefix="", targets=("top_right",)):
    return np.max(
        [
            np.abs(change(measured, target, f"{prefix}{patch}"))
            for patch in ("minus_cheese", "plus_top_right")
            for target in targets
        ],
        axis=0,
    )


def random_pair_additive(measured):
    """``(n,)`` 7a's null: the random pair is additive *and* each random component moves
    P(top-right) by more than :data:`TOLERANCE` -- inert directions add up only vacuously."""
    acts = np.all(_component_changes(measured, "random_") > TOLERANCE, axis=0)
    return acts & (additivity_gap(measured, "random_") <= TOLERANCE)


def additive_outcome(measured):
    return verdicts.outcome(
        additivity_gap(measured) <= TOLERANCE,
        components_act(measured),
        measured["trial"],
        measured["layouts"],
        {"null": random_pair_additive(measured)},
        verdicts.Bar("additivity_gap", np.full(len(measured["trial"]), TOLERANCE), "at most"),
    )


def largest_reverse_change(measured, prefix=""):
    """``(n,)`` the largest |change| in either intent over the three reverse patches."""
    return np.max(
        [
            np.abs(change(measured, target, f"{prefix}{patch}"))
            for patch in REVERSE_PATCHES
            for target in ("cheese", "top_right")
        ],
        axis=0,
    )


def reverse_outcome(measured):
    return verdicts.outcome(
        largest_reverse_change(measured) <= MARGIN,
        _moved(measured, targets=("cheese", "top_right")) > MARGIN,
        measured["trial"],
        measured["layouts"],
        {"null": largest_reverse_change(measured, "random_") <= MARGIN},
        verdicts.Bar("largest_reverse_change", np.full(len(measured["trial"]), MARGIN), "at most"),
    )


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
        "both_components_act_rate": stats.proportion(components_act(measured)),
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
@pytest.mark.parametrize("model_id", maze_model_params())
def test_subtracting_cheese_and_adding_top_right_act_additively(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        ADDITIVE,
        model_id,
        agent,
        lambda drawn: measure(agent, drawn),
        additive_outcome,
        additive_effects,
        per_trial=LEVELS,
        make=mazes_of,
    )


@pytest.mark.claim(REVERSE.name)
@pytest.mark.parametrize("model_id", maze_model_params())
def test_adding_cheese_and_subtracting_top_right_do_little(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        REVERSE,
        model_id,
        agent,
        lambda drawn: measure(agent, drawn),
        reverse_outcome,
        reverse_effects,
        per_trial=LEVELS,
        make=mazes_of,
    )
