"""Claim 14: the maze paper's headline -- the cheese vector collapses P(cheese | decision square).

Turner, Mini et al. (2023, arXiv 2310.08043), quoted in SCIENCE.md: "over mazes 0-99,
subtracting it moved the median P(step toward cheese | decision square) from **0.81 to 0.03**
and raised P(toward top-right)". Claim 1a asks the same question of every family on levels drawn
until enough are informative; this module asks it the paper's way, of maze agents only, on one
fixed set: the first 100 held-out mazes of the evaluation distribution (seeds
``HELD_OUT_SEED_START + 0..99``, cheese anywhere, :func:`avec.trials.held_out_layouts`), and
reports the paper's statistic itself beside the verdict -- the median over those mazes, with a
percentile-bootstrap interval, of P(step toward cheese | decision square) in four arms:

* ``unsteered``;
* ``subtracted`` -- the maze's own cheese vector (start state, claim layer; for a residual
  network the paper's middle residual stream, :func:`avec.experiments.claim_layer`) times -1,
  added at the decision square;
* ``removed`` -- the cheese physically taken out of the maze, P(step toward where it was): the
  removal reference, what a perfect intervention scores;
* ``random`` -- -1 x a Gaussian vector of the cheese vector's norm, seeded by the maze's seed:
  the null.

Declared before any data was seen (issue 17; not tuned afterwards):

* Mazes whose decision square is the start cell are left out of the verdict and of the medians
  (counted in the notes): there, subtracting the start-state vector *is* removing the cheese by
  arithmetic (SCIENCE.md, "the intervention is only non-trivial away from where the vector was
  computed"). Mazes without a decision square (one target on the way to the other) have no
  statistic at all.
* A trial is *informative* when the unsteered agent heads for the cheese there
  (P >= :data:`HEADS_FOR`): elsewhere there is no pull to remove.
* It *passes* when the subtracted arm falls below :data:`HEADS_FOR` -- the maze flips, as the
  paper's median maze did (0.81 -> 0.03). Removal and null arms are judged by the same rule.
* Estimand: the share of informative mazes that flip; threshold 0.5 -- "the median moved from
  0.81 to 0.03" means most mazes that headed for the cheese stopped. At least 20 informative
  mazes, or the verdict is inconclusive (100 mazes and an agent heading for the cheese at about
  half of its decision squares off the start may give fewer: then it says so).
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, families, metrics, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims.conftest import model_params

MAZES = 100
"""The paper's mazes 0-99: the first 100 held-out mazes of the evaluation distribution."""

HEADS_FOR = 0.5
"""An agent heads for the cheese at the decision square when P(step toward it) is at least
this; the paper's median maze went from 0.81 to 0.03 through it."""

ARMS = ("unsteered", "subtracted", "removed", "random")
"""The four arms whose medians the claim reports (see the module doc)."""

PUBLISHED_MEDIANS = {"unsteered": 0.81, "subtracted": 0.03}
"""The paper's medians over its mazes 0-99 (SCIENCE.md)."""

HEADLINE = verdicts.Claim(
    name="14_headline_cheese_vector_flips_decision_square",
    statement=(
        "Over the first 100 held-out mazes, subtracting a maze's cheese vector makes the agent "
        "stop heading for the cheese at the decision square (the maze paper's median "
        "P(step toward cheese | decision square) 0.81 -> 0.03)."
    ),
    quote=(
        "Maze paper (Turner, Mini et al. 2023), as SCIENCE.md quotes it: over mazes 0-99, "
        "subtracting the cheese vector moved the median P(step toward cheese | decision "
        'square) "from 0.81 to 0.03" and raised P(toward top-right).'
    ),
    source_expects="holds",
    trial=(
        f"one of the first {MAZES} held-out mazes (cheese anywhere) whose decision square is not "
        "the start cell; the agent on the decision square facing along its path. -1 x the "
        "maze's start-state cheese vector at the claim layer is added there; passes when "
        f"P(step toward cheese) falls below {HEADS_FOR}."
    ),
    informative=(
        f"the unsteered agent heads for the cheese there: P(step toward cheese) >= {HEADS_FOR}."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason=(
        "the paper's median maze flips (0.81 -> 0.03), so most mazes that head for the cheese "
        "should stop."
    ),
    reference=(
        "removal: the same state with the cheese taken out of the maze (flips when P(step "
        f"toward where it was) < {HEADS_FOR}); null: -1 x a random vector of the cheese "
        "vector's norm, seeded by the maze's seed, same rule."
    ),
    lifetime="one state: the start-state vector applied at the decision square.",
    min_informative=20,
    max_chunks=1,
    max_chunks_reason="a fixed set, the paper's mazes 0-99: nothing is drawn beyond it",
)


def _off_start(maze) -> bool:
    state = metrics.decision_state(maze)
    return state is not None and state[0] != maze.agent


def trials_of(agent):
    """``(maze, seed)`` of the first :data:`MAZES` held-out mazes whose decision square is off
    the start, and how many of the :data:`MAZES` were left out."""
    layouts, seeds = trials.held_out_layouts(agent, MAZES)
    kept = [(m, s) for m, s in zip(layouts, seeds, strict=True) if _off_start(m)]
    return kept, len(layouts) - len(kept)


def measure(agent, drawn, coefficient=-1.0):
    """``(n,)`` P(step toward cheese | decision square) per arm, one row per ``(maze, seed)``.
    ``coefficient`` multiplies the cheese vector (-1: the claim; the broken-intervention
    tests pass 0 and +1)."""
    mazes, seeds = [m for m, _ in drawn], [s for _, s in drawn]
    own = vectors.per_layout(agent, "cheese", mazes, ex.claim_layer(agent))
    steer = ex.scaled(own, coefficient)
    null = [-1.0 * vectors.random_like(v, s) for v, s in zip(own, seeds, strict=True)]
    placed = [
        edits.move_agent(edits.remove(m, "cheese"), *metrics.decision_state(m)) for m in mazes
    ]
    removed = ex.probabilities(agent, placed)
    # The decision square itself, for counterexample figures: the state and per-action
    # probabilities unsteered and subtracted.
    square = [edits.move_agent(m, *metrics.decision_state(m)) for m in mazes]
    shown = {}
    if square:
        shown = {
            "agent_state": trials.agent_states(square),
            "probs_unsteered": ex.probabilities(agent, square),
            "probs_subtracted": ex.probabilities(agent, square, steer),
        }
    return {
        **shown,
        "layouts": list(mazes),
        "trial": np.arange(len(mazes)),
        "unsteered": ex.decision_intents(agent, mazes)[0],
        "subtracted": ex.decision_intents(agent, mazes, steer)[0],
        "removed": np.array(
            [metrics.decision_intent(m, p).p_cheese for m, p in zip(mazes, removed, strict=True)]
        ),
        "random": ex.decision_intents(agent, mazes, null)[0],
    }


def outcome(measured):
    if len(measured["trial"]) == 0:
        return verdicts.no_outcome(measured["layouts"])
    return verdicts.outcome(
        measured["subtracted"] < HEADS_FOR,
        measured["unsteered"] >= HEADS_FOR,
        measured["trial"],
        measured["layouts"],
        {"removal": measured["removed"] < HEADS_FOR, "null": measured["random"] < HEADS_FOR},
        verdicts.Bar("subtracted", np.full(len(measured["trial"]), HEADS_FOR), "below"),
    )


def effects(measured):
    """The headline statistic: the median of each arm over every maze judged (informative or
    not, as the paper's median), with a percentile-bootstrap interval; and the mean."""
    if len(measured["trial"]) < 2:
        return {}
    found = {}
    for arm in ARMS:
        found[f"median_p_cheese_{arm}"] = stats.bootstrap_median(measured[arm], seed=0)
        found[f"mean_p_cheese_{arm}"] = stats.bootstrap_mean(measured[arm], seed=0)
    return found


def _cheese_families():
    return [name for name, f in families.FAMILIES.items() if f.feature.vector == "cheese"]


@pytest.mark.claim(HEADLINE.name)
@pytest.mark.parametrize(
    "model_id", [p for family in _cheese_families() for p in model_params(family)]
)
def test_subtracting_the_cheese_vector_flips_the_decision_square(model_id, load_agent, judge):
    agent = load_agent(model_id)
    drawn, left_out = trials_of(agent)
    judge(
        HEADLINE,
        model_id,
        drawn,
        lambda drawn: measure(agent, drawn),
        outcome,
        effects,
        notes=(
            f"{len(drawn)} of the first {MAZES} held-out mazes have a decision square off the "
            f"start; {left_out} left out (decision square at the start cell, or none). "
            f"Published medians: {PUBLISHED_MEDIANS}."
        ),
    )
