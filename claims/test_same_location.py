"""Claim 5d: a cheese vector transfers to another maze where the cheese sits in the same place.

The maze paper's positive generalization result, beside its negative one (claims 5a-c): a
cheese vector computed on one maze works on another only where the cheese sits in nearly the
same place. Here each target maze (a held-out level) gets two vectors from one *other* maze
(a source level from a disjoint seed range), which differ only in where that source's cheese
is put:

* **same place**: the source maze with its cheese moved to the target's cheese cell;
* **far away**: the same source maze with its cheese moved to the free cell farthest from it.

Both are the source's start-state cheese vector at the claim layer, subtracted (coefficient
-1) at the target maze's decision square when it is not the start cell -- claim 1a's probe,
where the question is open (at the start state of the maze a vector was computed on,
subtracting it *is* removing the cheese). As in 5a-c the transferred vector is judged by the
share of the target's own vector's effect it keeps, at probes where the unsteered agent heads
for the cheese and the own vector has an effect to keep.

The verdict reads the paper's contrast, not only the same-place share (issue 14, part 4): a
probe passes when the same-place vector keeps at least half of the own drop *and* the far-away
vector -- the same source maze, only its cheese elsewhere -- does not. A vector that works
wherever its cheese was ("any cheese vector transfers") fails the claim as surely as one that
does not work at all. The claim asserts an effect (:attr:`avec.verdicts.Claim.asserts_effect`):
"holds" also needs it to beat the null -- -1 x a random vector of the same-place vector's norm
in the same-place vector's stead, judged by the same rule -- on the same probes.

On padded mazes (several maze sizes in one canvas) a source is often of another maze size than
its target: the effects read the pass rule apart for sources of the target's size and of
another (``pass_rate_same_size``, ``pass_rate_across_sizes``; reported, not part of the
verdict).
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, stats, trials, vectors, verdicts
from avec import experiments as ex
from avec.layouts import CheeseMazeLayout
from claims.conftest import judge_sequentially, maze_model_params
from claims.test_subtraction import HEADS_FOR, LEVELS_PER_TRIAL, start_vectors

SHARE = 0.5
"""Share of the own vector's drop the same-place vector must keep (as in 5a-c)."""

MIN_EFFECT = 0.1
"""Smallest own-vector drop in P(toward cheese) at a probe for it to carry information (as in
5a-c): below it there is no effect to keep."""

SOURCE_OFFSET = 2**21
"""Held-out seed offset of the source mazes: disjoint from the targets' seeds (offset 0) and
from claim 4b's sources (offset 2**20)."""

SOURCES = 200
"""Source mazes in the pool each target takes its source from."""

CLAIM = verdicts.Claim(
    name="5d_transfers_where_the_cheese_is_in_the_same_place",
    statement=(
        "A cheese vector computed on another maze with the cheese on the same cell keeps at "
        f"least {SHARE} of the target maze's own-vector drop in P(toward cheese) at the "
        "target's decision square, and the same maze's vector with its cheese far away does "
        "not."
    ),
    quote=(
        "Maze paper (Turner, Mini et al. 2023), in SCIENCE.md's summary: \"Transfer: a vector "
        'from one maze works on another only where the cheese sits in nearly the same place."'
    ),
    source_expects="holds",
    trial=(
        "a held-out maze whose decision square is not the start cell; its source is the first "
        "maze of a disjoint held-out pool (taken in turn, from the target's seed on) that "
        "differs from it and has the target's cheese cell free. Same-place vector: the source "
        "with its cheese moved to the target's cheese cell; far vector: the source with its "
        "cheese on its free cell farthest from there. At the decision square: own drop = "
        "P(toward cheese) unsteered minus with -1 x the target's own start vector; same-place "
        "and far drops likewise. "
        f"Passes when the same-place drop is at least {SHARE} x the own drop and the far drop "
        "is not."
    ),
    informative=(
        "the cheese is visible at the probe, the unsteered agent heads for it there "
        f"(P(toward cheese) >= {HEADS_FOR}) and the own vector's drop is at least {MIN_EFFECT}."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason=(
        "the bar of 5a-c ('keeps most of the own effect at most probes'), so the paper's "
        "positive and negative transfer results are read on one scale."
    ),
    reference=(
        "far: the same source maze's vector with its cheese far away (part of the pass rule: "
        "the paper's contrast; its own share is reported); null: -1 x a random vector of the "
        "same-place vector's norm, seeded per trial, in the same-place vector's stead; own "
        "vector: passes its share by construction."
    ),
    lifetime="one state: the vectors applied at the decision square.",
    min_informative=20,
    asserts_effect=True,
)


def _farthest(maze: CheeseMazeLayout, cell: tuple[int, int]) -> tuple[int, int]:
    """The free cell of ``maze`` (not the agent's) farthest from ``cell`` in straight-line
    distance; ties go to the first in sorted order."""
    free = sorted(c for c in maze.free_cells() if c != maze.agent)
    far = max(free, key=lambda c: (c[0] - cell[0]) ** 2 + (c[1] - cell[1]) ** 2)
    return far


def sources_for(targets, seeds, pool):
    """Per target, ``(same, far)``: one source maze of ``pool`` (the first, in turn from
    position ``seed % len(pool)`` on, that differs from the target and has its cheese cell
    free), with its cheese moved to the target's cheese cell and to the cell farthest from
    it. Chosen by the target's seed, so a trial gets the same source in any chunk or batch."""
    pairs = []
    for seed, target in zip(seeds, targets, strict=True):
        cell = target.cheese
        for k in range(len(pool)):
            source = pool[(seed + k) % len(pool)]
            if source.walls == target.walls or cell == source.agent:
                continue
            if cell != source.cheese and cell not in source.free_cells():
                continue
            same = edits.move(source, "cheese", cell)
            pairs.append((same, edits.move(source, "cheese", _farthest(source, cell))))
            break
        else:
            raise ValueError(f"no source maze has cell {cell} free; pool of {len(pool)} mazes")
    return pairs


def measure(agent, drawn, coefficient=-1.0):
    """The arms at each target's decision square. ``coefficient`` multiplies the transferred
    (same-place and far) vectors: -1 is the claim; the broken-intervention tests pass 0 and +1.
    """
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    probes = trials.probe_states(agent, layouts, seeds)
    if not probes:
        return {"trial": np.zeros(0, dtype=np.int64), "layouts": layouts}
    used = sorted({p.trial for p in probes})
    pool, _ = trials.held_out_layouts(agent, SOURCES, offset=SOURCE_OFFSET)
    chosen = sources_for([layouts[t] for t in used], [seeds[t] for t in used], pool)
    pairs = dict(zip(used, chosen, strict=True))
    feature, layer = ex.feature_of(agent).vector, ex.claim_layer(agent)
    same = vectors.per_layout(agent, feature, [pairs[t][0] for t in used], layer)
    far = vectors.per_layout(agent, feature, [pairs[t][1] for t in used], layer)
    by_trial = {t: k for k, t in enumerate(used)}
    per_trial = [by_trial.get(t) for t in range(len(layouts))]
    same_all = [None if k is None else coefficient * same[k] for k in per_trial]
    far_all = [None if k is None else coefficient * far[k] for k in per_trial]
    own = ex.scaled(start_vectors(agent, layouts), -1.0)
    measured = trials.measure_states(agent, probes, own, seeds, {"same": same_all, "far": far_all})
    # The null is norm-matched to the vector under test (the same-place vector).
    null = [
        None if k is None else vectors.random_like(-1.0 * same[k], seeds[t])
        for t, k in enumerate(per_trial)
    ]
    placed = [p.placed for p in probes]
    probs = ex.probabilities(agent, placed, [null[p.trial] for p in probes])
    measured["null"] = trials.intents(agent, placed, probs)
    # Padded mazes mix maze sizes in one canvas: whether each unit's source maze has another
    # size than its target, so the report can read transfer across sizes apart.
    measured["across_sizes"] = np.array(
        [_maze_size(pairs[t][0]) != _maze_size(layouts[t]) for t in measured["trial"]], dtype=bool
    )
    return {**measured, "layouts": layouts}


def _maze_size(layout):
    """The maze's side (outer wall included): a padded maze's own, else the grid's."""
    return getattr(layout, "maze_size", layout.width)


def _drop(measured, arm):
    return measured["unsteered"] - measured[arm]


def _informative(measured):
    return (
        measured["visible"]
        & (measured["unsteered"] >= HEADS_FOR)
        & (_drop(measured, "steered") >= MIN_EFFECT)
    )


def outcome(measured):
    if len(measured["trial"]) == 0:
        return verdicts.no_outcome(measured["layouts"])
    own = _drop(measured, "steered")
    far_fails = _drop(measured, "far") < SHARE * own
    return verdicts.outcome(
        (_drop(measured, "same") >= SHARE * own) & far_fails,
        _informative(measured),
        measured["trial"],
        measured["layouts"],
        {
            "far": _drop(measured, "far") >= SHARE * own,
            "null": (_drop(measured, "null") >= SHARE * own) & far_fails,
        },
    )


def effects(measured):
    if len(measured["trial"]) < 2:
        return {}
    useful = _informative(measured)
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    own = _drop(measured, "steered")[useful]
    found = {
        f"kept_share_{arm}": stats.clustered_ratio(
            _drop(measured, arm)[useful], own, clusters, seed=0
        )
        for arm in ("same", "far", "null")
    }
    ones = np.ones(int(useful.sum()))
    found["mean_drop_same_minus_far"] = stats.clustered_ratio(
        _drop(measured, "same")[useful] - _drop(measured, "far")[useful], ones, clusters, seed=0
    )
    # The pass rule, read apart for sources of the target's maze size and of another size.
    passed = outcome(measured).passed[useful]
    across = measured["across_sizes"][useful]
    for name, rows in (("same_size", ~across), ("across_sizes", across)):
        if rows.any():
            found[f"pass_rate_{name}"] = stats.proportion(passed[rows])
    return found


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", maze_model_params())
def test_a_vector_from_a_maze_with_the_cheese_in_the_same_place_keeps_the_effect(
    model_id, load_agent, judge
):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM,
        model_id,
        agent,
        lambda drawn: measure(agent, drawn),
        outcome,
        effects,
        per_trial=LEVELS_PER_TRIAL.get(agent.family, 5),
    )
