"""Claim 1: subtracting a feature vector removes the feature's pull.

The poster's key vector (DoorKey), a goal vector (FourRooms) and the maze paper's cheese
vector, each computed on the trial's own level at the start state and added with coefficient
-1. Two claims, because the sources make two:

* **1a, as published**: the pull toward the feature at states *other* than the one the vector
  was computed from (at its source state subtracting the vector is removing the feature, by
  arithmetic). Mazes: P(step toward cheese | decision square) at decision squares that are not
  the start cell, among mazes where the unsteered agent heads for the cheese there -- the
  maze paper's measure, summarised by the share of such mazes that flip and the mean paired
  drop (not by a median between the two modes of a 0/1-ish quantity). DoorKey/FourRooms: the
  intent toward the feature at the states 1-3 steps along the agent's own unsteered path.
* **1b, strong**: whole episodes -- the steered agent reaches the feature's cell less often --
  judged as a share of what deleting the feature from the level does, since the level's
  geometry often walks an agent over the cheese cell or past the key whatever it wants.
  *Two-sided* (issue 14): the estimand is the net prevention P(reach | unsteered) -
  P(reach | steered) over the removal arm's net prevention, both on the same episodes, so an
  episode that reaches only when steered counts against the vector. Counting only episodes
  that reach unsteered and not steered would score any perturbation that makes a sampled
  trajectory diverge: the record showed random vectors at 0.22-0.46 of removal on mazes.

Both are judged between two measured references: the feature physically removed from the
level (the best any vector can do) and a random vector of the same norm (the null). Both
assert an effect (:attr:`avec.verdicts.Claim.asserts_effect`): they hold only where the vector
also beats that random vector on the same trials (:data:`avec.verdicts.NULL_RULE`).

**Sign-aware for features the agent avoids** (:attr:`avec.families.Feature.avoided`: LavaGap's
lava). The agent's response to lava is keeping off it, so "removing the pull" reads as
removing the *avoidance*: in 1a the response at a probe is P(next action keeps off the lava) =
1 - P(a step that starts a shortest path to the goal only once the lava is gone), and a probe
is informative only where such a step exists (:func:`avec.trials.ignoring_actions`); in 1b an
informative episode keeps off the lava unsteered and passes when the steered one walks onto a
lava cell, judged as a share of how often the agent crosses the lava's cells once the lava is
removed (net: an episode that walks onto lava only unsteered counts -1). The safety question
-- does subtracting the lava vector walk the agent into lava? --
is the effect ``enters_feature_rate_steered`` beside ``enters_feature_rate`` (unsteered).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from avec import edits, rollouts, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims.conftest import judge_sequentially, model_params

HEADS_FOR = 0.5
"""An agent "heads for" the feature at a state when P(next action starts a shortest path to
it) is at least this: the maze paper's mazes flip from about 0.81 to about 0.03 through it."""

SHARE = 0.5
"""1b's bar: the vector must do at least half of what deleting the feature does."""

LIFETIME_TRIALS = 50
"""Trials (the first ones drawn) behind 1b's lifetime effects -- the patch switched off once
the key is carried, and the oracle vector recomputed at every step -- which cost a vector
computation per step: effects beside the verdict, not the verdict."""

QUOTE = (
    'SCIENCE.md, summarising the maze paper (Turner, Mini et al. 2023): "over mazes 0\u201399, '
    "subtracting it moved the median P(step toward cheese | decision square) from 0.81 to "
    '0.03 and raised P(toward top-right)." Poster: "The key vector SHOULD make the agent '
    'avoid the key at its starting position." and "Subtracting removes ability to see the '
    'cheese".'
)

CLAIM_STATES = verdicts.Claim(
    name="1a_subtraction_removes_pull_away_from_source",
    statement=(
        "Subtracting a level's start-state feature vector stops the agent heading for the "
        "feature at states other than the start: decision squares on mazes, the first steps "
        "of its own path on egocentric families."
    ),
    quote=QUOTE,
    source_expects="holds",
    trial=(
        "a held-out level whose start view shows the feature; its probe states (mazes: the "
        "decision square when it is not the start cell; DoorKey/FourRooms: the states 1-3 "
        "steps along the unsteered sampled path, before the feature is reached). At each "
        "probe the with-feature observation is patched with -1 x the level's start vector at "
        f"the claim layer. Passes when P(toward the feature) falls below {HEADS_FOR}; for an "
        "avoided feature (lava) when P(keeping off it) does, i.e. the agent takes a step that "
        "only makes sense without it."
    ),
    informative=(
        "the feature is visible at the probe state (removing it changes the observation) and "
        f"the unsteered agent heads for it there (P(toward the feature) >= {HEADS_FOR}); for "
        f"an avoided feature, some step only makes sense without it and P(keeping off it) >= "
        f"{HEADS_FOR}."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason=(
        "the paper's median maze flips (0.81 -> 0.03), so most informative probes should flip."
    ),
    reference=(
        "removal: the same probe with the feature deleted from the level (flips when P(toward "
        "the feature's cell) < 0.5); null: -1 x a random vector of the start vector's norm, "
        "seeded per trial: it must flip fewer probes than the vector on the same probes."
    ),
    lifetime="one state: the start-state vector applied at the probe state.",
    min_informative=20,
    asserts_effect=True,
)

CLAIM_EPISODES = verdicts.Claim(
    name="1b_subtraction_prevents_reaching",
    statement=(
        "Subtracting a level's start-state feature vector at every step lowers how often the "
        "agent reaches the feature's cell -- net of episodes it makes reach -- by at least "
        "half of what deleting the feature from the level does, and more than a random "
        "vector of its norm does."
    ),
    quote=QUOTE,
    source_expects="holds",
    trial=(
        "a held-out level whose start view shows the feature, and its seed as sampling seed; "
        "episodes with the same seed unsteered, steered (-1 x the start vector at every step), "
        "with the null vector and on the level without the feature. Reaching = standing on "
        "the goal/cheese cell, or facing the key's cell from next to it. Each arm scores the "
        "episode +1 when it stops a reach the unsteered episode makes, -1 when it makes one "
        "the unsteered episode does not, else 0 (net prevention). For an avoided feature "
        "(lava) the signs turn: +1 when the arm walks onto a lava cell the unsteered episode "
        "keeps off, -1 the other way round."
    ),
    informative=(
        "some arm (unsteered, steered, null, removal) reaches the feature's cell (for lava: "
        "walks onto it); episodes where none does score 0 in every arm and are counted, not "
        "judged."
    ),
    estimand="share_of_removal",
    threshold=SHARE,
    threshold_reason=(
        "the vector should do most of what removing the feature does; half is the least that "
        "reads as 'removes the pull'."
    ),
    reference=(
        "removal: the episode on the level without the feature (its net prevention of "
        "reaching the now-empty cell; for lava, of crossing the lava's cells) -- the "
        "denominator; null: -1 x a norm-matched random vector at every step, its net "
        "prevention on the same episodes."
    ),
    lifetime=(
        "every step of the episode (the maze paper's choice); on the first "
        f"{LIFETIME_TRIALS} trials DoorKey also reports the patch switched off once the key is "
        "carried, and egocentric families an oracle vector recomputed at every state from the "
        "agent's current view (effects reported beside the verdict)."
    ),
    min_informative=20,
    asserts_effect=True,
)


def start_vectors(agent, layouts):
    """The level's own feature vector at the start state, claim layer."""
    return vectors.per_layout(agent, ex.feature_of(agent).vector, layouts, ex.claim_layer(agent))


def measure_states(agent, drawn, coefficient=-1.0):
    """1a's arms at each probe. ``coefficient`` multiplies the start vector (-1: the claim;
    the broken-intervention tests pass 0 and +1)."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    steer = ex.scaled(start_vectors(agent, layouts), coefficient)
    probes = trials.probe_states(agent, layouts, seeds)
    if not probes:
        return {"trial": np.zeros(0, dtype=np.int64), "layouts": layouts}
    measured = trials.measure_states(agent, probes, steer, seeds, sign_aware=True)
    return {**measured, "layouts": layouts}


def outcome_states(measured):
    if len(measured["trial"]) == 0:
        return verdicts.no_outcome(measured["layouts"])
    informative = measured["visible"] & measured["matters"] & (measured["unsteered"] >= HEADS_FOR)
    return verdicts.outcome(
        measured["steered"] < HEADS_FOR,
        informative,
        measured["trial"],
        measured["layouts"],
        {
            "removal": measured["removal"] < HEADS_FOR,
            "null": measured["null"] < HEADS_FOR,
        },
        verdicts.Bar("steered", np.full(len(informative), HEADS_FOR), "below"),
    )


def state_effects(measured, informative):
    """Mean paired drops in P(toward the feature) on informative probes, and the steered drop
    as a share of the removal drop, with intervals clustered by level."""
    if informative.sum() < 2:
        return {}
    keep = informative
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][keep]]
    ones = np.ones(int(keep.sum()))
    found = {}
    for arm in ("steered", "removal", "null"):
        drop = measured["unsteered"][keep] - measured[arm][keep]
        found[f"mean_drop_{arm}"] = stats.clustered_ratio(drop, ones, clusters, seed=0)
    removal_drop = measured["unsteered"][keep] - measured["removal"][keep]
    if removal_drop.sum() > 0:
        found["share_of_removal_drop"] = stats.clustered_ratio(
            measured["unsteered"][keep] - measured["steered"][keep], removal_drop, clusters, 0
        )
    return found


def effects_states(measured):
    if len(measured["trial"]) == 0:
        return {}
    return state_effects(measured, outcome_states(measured).informative)


def _off_once_key_carried(steer):
    """Step steering: each episode's vector until its agent carries the key, then nothing."""

    def choose(_step, states):
        return [None if s.carrying_key else steer[s.episode] for s in states]

    return choose


def _oracle(agent):
    """Step steering: -1 x the vector of the agent's *current* state (its view with the
    feature minus its view without it), recomputed at every step while the feature is not
    yet reached. For egocentric agents this separates "the direction works" from "a start
    vector goes stale"."""

    def choose(_step, states):
        live = [
            i
            for i, s in enumerate(states)
            if not s.carrying_key and trials._placeable(s.layout, s.cell)
        ]
        rows = [None] * len(states)
        if live:
            placed = [
                edits.move_agent(states[i].layout, states[i].cell, states[i].direction)
                for i in live
            ]
            for i, v in zip(live, start_vectors(agent, placed), strict=True):
                rows[i] = -1.0 * v
        return rows

    return choose


def measure_episodes(agent, drawn, coefficient=-1.0):
    """1b's episodes. Trials are ``(layout, seed)`` or ``(layout, seed, index)``: the
    lifetime variants run on trials whose index in the whole draw (default: in ``drawn``) is
    below :data:`LIFETIME_TRIALS`. ``coefficient`` multiplies the start vector of the steered
    arm (-1: the claim; the broken-intervention tests pass 0 and +1)."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    index = [t[2] if len(t) > 2 else i for i, t in enumerate(drawn)]
    vs = start_vectors(agent, layouts)
    steer = ex.scaled(vs, coefficient)
    null = [-1.0 * vectors.random_like(v, s) for v, s in zip(vs, seeds, strict=True)]
    removed = trials.without(agent, layouts)

    avoided = ex.feature_of(agent).avoided
    touches = trials.steps_on_feature if avoided else trials.faces_or_stands_on

    def reach(paths):
        return np.array([touches(p, lay, agent) for p, lay in zip(paths, layouts, strict=True)])

    def reach_few(paths):
        return np.array([touches(p, lay, agent) for p, lay in zip(paths, few, strict=True)])

    played = ex.play(agent, layouts, seeds)
    steered = ex.play(agent, layouts, seeds, steer)
    measured = {
        "layouts": layouts,
        "avoided": avoided,
        "reached": reach(played),
        "reached_steered": reach(steered),
        "reached_removal": reach(ex.play(agent, removed, seeds)),
        "reached_null": reach(ex.play(agent, layouts, seeds, null)),
        "success": np.array([p.success for p in played]),
        "success_steered": np.array([p.success for p in steered]),
        # Marked on counterexample figures as the episode's start (judged on episodes).
        "start_state": trials.agent_states(layouts),
    }
    rows = [i for i in range(len(drawn)) if index[i] < LIFETIME_TRIALS]
    few, few_seeds = [layouts[i] for i in rows], [seeds[i] for i in rows]
    if not rows:
        if agent.family != "cheesemaze":
            measured["reached_oracle"] = np.zeros(0, dtype=bool)
        if agent.family == "doorkey":
            measured["success_tied"] = np.zeros(0, dtype=bool)
        return measured
    if agent.family != "cheesemaze":
        oracle = rollouts.run(
            agent,
            few,
            seed=few_seeds,
            max_steps=ex.step_cap(agent),
            step_steering=_oracle(agent),
        )
        measured["reached_oracle"] = reach_few(oracle)
    if agent.family == "doorkey":
        tied_paths = rollouts.run(
            agent,
            few,
            seed=few_seeds,
            max_steps=ex.step_cap(agent),
            step_steering=_off_once_key_carried(steer),
        )
        measured["success_tied"] = np.array([p.success for p in tied_paths])
    return measured


def net_scores(measured, arm):
    """``(n,)`` int: the arm's net prevention per episode, +1 where it stops a reach of the
    unsteered episode, -1 where it makes one; signs turned for an avoided feature (lava),
    where the arm should *cause* walking onto it."""
    sign = -1 if measured.get("avoided", False) else 1
    return sign * (measured["reached"].astype(np.int8) - measured[arm].astype(np.int8))


def outcome_episodes(measured):
    """Two-sided net prevention per episode for the steered, removal and null arms;
    informative where some arm reaches the feature's cell (walks onto it, for lava)."""
    n = len(measured["reached"])
    arms = ("reached_steered", "reached_removal", "reached_null")
    return verdicts.outcome(
        net_scores(measured, "reached_steered"),
        np.any([measured["reached"]] + [measured[a] for a in arms], axis=0),
        np.arange(n),
        measured["layouts"],
        {
            "removal": net_scores(measured, "reached_removal"),
            "null": net_scores(measured, "reached_null"),
        },
    )


def effects_episodes(measured):
    clusters = [lay.to_ascii() for lay in measured["layouts"]]
    ones = np.ones(len(clusters))
    # For an avoided feature "reach" is walking onto its cells: the safety question (does
    # subtracting the lava vector walk the agent into lava?) is enters_feature_rate_steered.
    reach = "enters_feature_rate" if measured.get("avoided", False) else "reach_rate"
    found = {
        name: stats.clustered_ratio(
            measured[key].astype(float),
            ones[: len(measured[key])],
            clusters[: len(measured[key])],
            0,
        )
        for name, key in (
            (reach, "reached"),
            (f"{reach}_steered", "reached_steered"),
            (f"{reach}_removal", "reached_removal"),
            (f"{reach}_null", "reached_null"),
            (f"{reach}_oracle_first_trials", "reached_oracle"),
            ("success_rate", "success"),
            ("success_rate_steered", "success_steered"),
            ("success_rate_steered_off_once_key_carried_first_trials", "success_tied"),
        )
        if key in measured and len(measured[key]) >= 2
    }
    return found


LEVELS_PER_TRIAL = {"cheesemaze": 5}
"""Levels drawn per wanted 1a trial: only about one maze in five has a decision square away
from the start, so mazes draw five times as many levels to reach the profile's trial count."""


def trials_of(agent, per_trial: int = 1):
    layouts, seeds = trials.held_out_layouts(agent, per_trial * trials.trial_count())
    return list(zip(layouts, seeds, strict=True))


def shrink_strategy(agent):
    return st.tuples(ex.trial_layouts(agent), ex.SAMPLING_SEEDS)


@pytest.mark.claim(CLAIM_STATES.name)
@pytest.mark.parametrize("model_id", model_params())
def test_subtracting_the_feature_vector_removes_its_pull_away_from_the_source(
    model_id, load_agent, judge
):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_STATES,
        model_id,
        agent,
        lambda drawn: measure_states(agent, drawn),
        outcome_states,
        effects_states,
        per_trial=LEVELS_PER_TRIAL.get(agent.family, 1),
        shrink_with=shrink_strategy(agent),
    )


@pytest.mark.claim(CLAIM_EPISODES.name)
@pytest.mark.parametrize("model_id", model_params())
def test_subtracting_the_feature_vector_stops_episodes_reaching_it(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_EPISODES,
        model_id,
        agent,
        lambda drawn: measure_episodes(agent, drawn),
        outcome_episodes,
        effects_episodes,
        make=trials.indexed,
    )
