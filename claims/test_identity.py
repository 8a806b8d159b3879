"""Claim 4: A - (A - B) ~ B -- the patched with-feature input behaves like the without input.

A feature vector is ``v = act(A) - act(B)`` at one layer, for a level ``A`` with the feature
and its copy ``B`` without it, at the agent's start state. At that very state, adding ``-v``
to ``act(A)`` gives ``act(B)`` by arithmetic (the hooks are checked for it in
``tests/test_identity_hooks.py``). The conjecture's claim is about everywhere else:

* **4b, across levels**: the vector of one level ``a`` patches another level ``b`` at its
  start. Does it move ``b``'s distribution toward ``b``-without-the-feature?
* **4c, across states** (the maze paper's test): the start vector applied at every other
  cell and direction of the same level, compared there with the without-feature behaviour.

Both judge the share of the with/without gap in action distribution (total variation) the
patch closes, on states with a real gap. The removal reference closes the whole gap by
definition; the null (a norm-matched random vector) is measured.
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, envs, metrics, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims.conftest import judge_sequentially, model_params

MIN_GAP = 0.1
"""Smallest total variation between with- and without-feature action distributions at a
state for it to carry information: below it there is no gap to close."""

CLOSED = 0.5
"""A state passes when the patch closes at least half of its gap."""

STATES_PER_LEVEL = 24
"""States drawn per level for 4c (every free cell and direction, sampled with the level's
seed): bounds the cost on FourRooms' hundreds of cells, and keeps levels equally weighted."""

_QUOTE_POSTER = (
    'Poster: "(Obs. with key) - (Obs. without key) = Key Activation", "Obs. - Key Activation '
    '\u2248 Avoid the Key" and "Even through the internal complexities of neural network, a '
    'concept as simple as A - (A - B) = B still often seems to work!!"'
)

_GAP_RULE = (
    f"the with- and without-feature action distributions at the state differ by total "
    f"variation >= {MIN_GAP}."
)

_PASS_RULE = (
    f"Closed share = 1 - TV(steered, without) / TV(with, without); passes when >= {CLOSED}."
)

CLAIM_ACROSS = verdicts.Claim(
    name="4b_identity_across_layouts",
    statement=(
        "A feature vector from one level, subtracted on another level, closes at least half "
        "of the gap between that level's with- and without-feature start distributions."
    ),
    quote=_QUOTE_POSTER,
    source_expects="holds",
    trial=(
        "two held-out levels (b, a) whose start views show the feature and differ; b's "
        f"with-feature start observation is patched with -1 x a's vector. {_PASS_RULE}"
    ),
    informative=_GAP_RULE,
    estimand="rate",
    threshold=0.5,
    threshold_reason="'often works' read as: on most states with a gap, most of it closes.",
    reference=(
        "removal closes the whole gap by definition (reported as 1); null: -1 x a random "
        "vector of a's vector's norm."
    ),
    lifetime="one state: the start state of b.",
)

CLAIM_STATES = verdicts.Claim(
    name="4c_start_vector_at_every_state",
    statement=(
        "A level's start-state feature vector, subtracted at other states of the same level, "
        "closes at least half of the gap between the with- and without-feature action "
        "distributions there."
    ),
    quote=(
        'SCIENCE.md, summarising the maze paper (Turner, Mini et al. 2023): "Cheese vector: '
        "one maze, mouse on the start square, activations at one residual layer with cheese "
        "minus without cheese. Computed once per maze, added (coefficient \u22121) at every "
        'position of that maze." ' + _QUOTE_POSTER
    ),
    source_expects="holds",
    trial=(
        f"a state (cell and direction, not the start state) of a held-out level, up to "
        f"{STATES_PER_LEVEL} per level drawn with the level's seed; the with-feature "
        f"observation there is patched with -1 x the level's start vector. {_PASS_RULE}"
    ),
    informative=_GAP_RULE,
    estimand="rate",
    threshold=0.5,
    threshold_reason="the paper's patched field resembles the no-cheese field at most states.",
    reference=(
        "removal closes the whole gap by definition (reported as 1); null: -1 x a random "
        "vector of the start vector's norm, seeded per level: it must close half the gap at "
        "fewer states than the vector, on the same states."
    ),
    lifetime="one state at a time: the start-state vector applied at each state.",
    asserts_effect=True,
)


def closed_share(p_with, p_without, p_steered):
    """``(n,)`` gap and the share of it a patch closes (negative: it widened)."""
    gap = metrics.total_variation(p_with, p_without)
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = np.where(gap > 0, 1.0 - metrics.total_variation(p_steered, p_without) / gap, 0)
    return gap, closed


def measure_arms(agent, placed, steer, null):
    """Gap, closed share of the steered and null arms at each placed state."""
    p_with = ex.probabilities(agent, placed)
    p_without = ex.probabilities(agent, trials.without(agent, placed))
    p_steered = ex.probabilities(agent, placed, steer)
    gap, closed = closed_share(p_with, p_without, p_steered)
    _, closed_null = closed_share(p_with, p_without, ex.probabilities(agent, placed, null))
    return {
        "gap": gap,
        "closed": closed,
        "closed_null": closed_null,
        # For counterexample figures: the state and P(action) with (unsteered), without and
        # steered.
        "agent_state": trials.agent_states(placed),
        "probs_unsteered": p_with,
        "probs_without": p_without,
        "probs_steered": p_steered,
    }


def outcome_of(measured):
    n = len(measured["gap"])
    return verdicts.outcome(
        measured["closed"] >= CLOSED,
        measured["gap"] >= MIN_GAP,
        measured["trial"],
        measured["layouts"],
        {"removal": np.ones(n, dtype=bool), "null": measured["closed_null"] >= CLOSED},
        verdicts.Bar("closed", np.full(n, CLOSED), "at least"),
    )


def effects_of(measured):
    useful = measured["gap"] >= MIN_GAP
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    ones = np.ones(int(useful.sum()))
    return {
        "informative_share": stats.clustered_rate(
            useful, [measured["layouts"][t].to_ascii() for t in measured["trial"]]
        ),
        "mean_closed_share": stats.clustered_ratio(
            measured["closed"][useful], ones, clusters, seed=0
        ),
        "mean_closed_share_null": stats.clustered_ratio(
            measured["closed_null"][useful], ones, clusters, seed=0
        ),
    }


def other_states(layout, seed):
    """Up to :data:`STATES_PER_LEVEL` (cell, direction) states other than the start."""
    cells = sorted({layout.agent, *layout.free_cells()})
    states = [(c, d) for c in cells for d in range(4) if (c, d) != (layout.agent, layout.agent_dir)]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(states), size=min(STATES_PER_LEVEL, len(states)), replace=False)
    return [states[i] for i in sorted(chosen)]


def measure_states(agent, drawn, coefficient=-1.0):
    """4c. ``coefficient`` multiplies the start vector (-1: the claim; the broken-intervention
    tests pass 0 and +1)."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = vectors.per_layout(agent, ex.feature_of(agent).vector, layouts, ex.claim_layer(agent))
    placed, rows = [], []
    for i, (layout, seed) in enumerate(drawn):
        for cell, direction in other_states(layout, seed):
            placed.append(edits.move_agent(layout, cell, direction))
            rows.append(i)
    steer = [coefficient * vs[i] for i in rows]
    null = [-1.0 * vectors.random_like(vs[i], seeds[i]) for i in rows]
    measured = measure_arms(agent, placed, steer, null)
    return {**measured, "trial": np.array(rows, dtype=np.int64), "layouts": layouts}


def pairs_of(agent, targets, start=0):
    """``(b, a, k)`` trials: held-out levels ``b`` (the ``k``-th of the draw), ``a`` from a
    disjoint seed range, paired in order; pairs the agent sees alike are dropped."""
    sources, _ = trials.held_out_layouts(agent, start + len(targets), offset=2**20, start=start)
    seen_t = envs.observe(targets, agent.wrappers).reshape(len(targets), -1)
    seen_s = envs.observe(sources, agent.wrappers).reshape(len(sources), -1)
    return [
        (b, a, start + k)
        for k, (b, a) in enumerate(zip(targets, sources, strict=True))
        if not np.array_equal(seen_t[k], seen_s[k])
    ]


def measure_across(agent, drawn, coefficient=-1.0):
    targets, sources = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = vectors.per_layout(agent, ex.feature_of(agent).vector, sources, ex.claim_layer(agent))
    steer = ex.scaled(vs, coefficient)
    null = [-1.0 * vectors.random_like(v, int(t[2])) for v, t in zip(vs, drawn, strict=True)]
    measured = measure_arms(agent, targets, steer, null)
    return {**measured, "trial": np.arange(len(drawn)), "layouts": targets}


@pytest.mark.claim(CLAIM_ACROSS.name)
@pytest.mark.parametrize("model_id", model_params())
def test_another_levels_vector_closes_the_gap_to_the_without_input(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_ACROSS,
        model_id,
        agent,
        lambda drawn: measure_across(agent, drawn),
        outcome_of,
        effects_of,
        make=lambda targets, _seeds, start: pairs_of(agent, targets, start),
    )


@pytest.mark.claim(CLAIM_STATES.name)
@pytest.mark.parametrize("model_id", model_params())
def test_the_start_vector_closes_the_gap_at_other_states(model_id, load_agent, judge):
    agent = load_agent(model_id)
    layouts, seeds = trials.held_out_layouts(agent)
    judge(
        CLAIM_STATES,
        model_id,
        list(zip(layouts, seeds, strict=True)),
        lambda drawn: measure_states(agent, drawn),
        outcome_of,
        effects_of,
    )
