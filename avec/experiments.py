"""Paired steering experiments: the measurements the claims suite is made of.

Each function takes an agent and a batch of trials and returns arrays, one row per trial, in
one batched pass: vectors from a single capture, start-state probabilities from a single
forward pass, rollouts in lockstep with one sampling seed per trial (so a trial gives the same
outcome alone -- when Hypothesis shrinks it -- as in a batch).

The choices every claim shares are made here, once, by rule:

* :data:`FEATURES` -- what each family's feature is: the vector's feature, the BFS target
  whose pull it should carry, and the rollout event that shows the agent reached it.
* :func:`claim_layer` -- which layer a claim patches (the middle activation on the policy's
  action path; the layer sweep of claim 9 reports the rest).
* :func:`step_cap` -- how long claim rollouts run.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from avec import edits, envs, hooks, metrics, rollouts, vectors
from avec.layouts import CheeseMazeLayout, Layout
from avec.vectors import SteeringVector


@dataclass(frozen=True)
class Feature:
    """The feature a family's claims are about."""

    vector: str
    """Feature name in :data:`avec.vectors.FEATURES` (what the with/without pair differs in)."""
    target: str
    """Target in :data:`avec.metrics.TARGETS` whose pull the feature carries."""
    event: str
    """:class:`~avec.rollouts.Trajectory` field set when the agent reached it."""


FEATURES: dict[str, Feature] = {
    "doorkey": Feature("key", "key", "key_picked_up"),
    "fourrooms": Feature("goal", "goal", "goal_reached"),
    "cheesemaze": Feature("cheese", "cheese", "goal_reached"),
}
"""The poster's key vector, a goal vector for FourRooms, the maze paper's cheese vector."""


def feature_of(agent: Any) -> Feature:
    return FEATURES[agent.family]


def claim_layer(agent: Any) -> str:
    """The layer claims patch: the middle activation output on the action path.

    Rule: list the activation modules (ReLU, Tanh, ...) that feed the action logits, in
    forward order, and take the middle one, rounding toward the input. For the 64-64 MLP that
    is ``mlp_extractor.policy_net.1`` (first hidden layer); for :class:`~avec.policies.GridCNN`
    agents ``features_extractor.cnn.5`` (the last convolution block, as the maze paper patched
    a middle residual block of its conv net).
    """
    candidates = action_path_activations(agent)
    return candidates[(len(candidates) - 1) // 2]


ACTIVATIONS = frozenset({
    "ReLU", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid",
    "Hardtanh", "Hardswish", "Softplus",
})
"""Class names of the activation modules a claim layer may be."""


def action_path_activations(agent: Any) -> list[str]:
    """Names of the activation layers feeding the action logits, in forward order."""
    names = [
        info.name
        for info in hooks.layers(agent)
        if info.branch in ("shared", "policy")
        and info.module in ACTIVATIONS
    ]
    if not names:
        raise ValueError("the policy has no activation layer on its action path to patch")
    return names


def step_cap(agent: Any) -> int:
    """Actions a claim rollout may take: five times the agent's mean episode length on held-out
    layouts (from its manifest), at least 50, at most the env's own limit.

    A broken policy then costs a bounded number of steps, while an intact one has ample room.
    """
    mean_steps = agent.entry["evaluation"]["held_out"]["mean_steps"]
    limit = envs.default_max_steps(agent.family, agent.size)
    return int(min(limit, max(50, 5 * mean_steps)))


def per_layout_vectors(
    agent: Any, feature: str, layouts: Sequence[Layout], layer: str
) -> list[SteeringVector]:
    """One ``feature`` vector per layout at ``layer`` (start state), from one forward pass."""
    pairs = [vectors.FEATURES[feature](layout) for layout in layouts]
    with_list, without_list = [p[0] for p in pairs], [p[1] for p in pairs]
    observations = envs.observe([*with_list, *without_list], agent.wrappers)
    with hooks.capture(agent, [layer]) as acts:
        hooks.run(agent, observations)
    activations = acts[layer].cpu().numpy()
    n = len(layouts)
    return [
        SteeringVector(
            layer,
            activations[i] - activations[n + i],
            (
                vectors.Term(
                    1.0,
                    feature,
                    model=agent.id,
                    with_layouts=(with_list[i].to_ascii(),),
                    without_layouts=(without_list[i].to_ascii(),),
                    aggregation="single",
                ),
            ),
        )
        for i in range(n)
    ]


def probabilities(
    agent: Any, layouts: Sequence[Layout], steering: rollouts.Steering | None = None
) -> np.ndarray:
    """``(n, n_actions)`` action probabilities at each layout's start state, steered per row."""
    observations = envs.observe(list(layouts), agent.wrappers)
    rows = rollouts.steering_rows(steering, len(layouts))
    with hooks.patch(agent, rows) if rows else nullcontext():
        return rollouts.action_probabilities(agent, observations)


def start_intent(
    agent: Any,
    layouts: Sequence[Layout],
    target: str,
    steering: rollouts.Steering | None = None,
    observed: Sequence[Layout] | None = None,
) -> np.ndarray:
    """``(n,)`` P(the first action starts a shortest path to ``target``) on each layout.

    ``observed``: what the agent sees instead, paired by position -- e.g. the layout without
    its key, to ask how strongly the agent heads for where the key *would* be.
    """
    probs = probabilities(agent, layouts if observed is None else observed, steering)
    return np.array(
        [metrics.intent_at_start(layout, p, target) for layout, p in zip(layouts, probs)]
    )


def decision_intents(
    agent: Any, mazes: Sequence[CheeseMazeLayout], steering: rollouts.Steering | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` P(toward cheese) and ``(n,)`` P(toward top-right) at each maze's decision square.

    The agent stands on the decision square facing the way it arrives along its shortest path
    from the start (:func:`avec.metrics.decision_state`). NaN where a maze has no decision
    square (the cheese lies on the way to the top-right corner or vice versa).
    """
    states = [metrics.decision_state(maze) for maze in mazes]
    have = [i for i, s in enumerate(states) if s is not None]
    p_cheese = np.full(len(mazes), np.nan)
    p_corner = np.full(len(mazes), np.nan)
    if not have:
        return p_cheese, p_corner
    placed = [edits.move_agent(mazes[i], *states[i]) for i in have]
    rows = None
    if steering is not None and not isinstance(steering, SteeringVector):
        rows = [steering[i] for i in have]
    probs = probabilities(agent, placed, steering if rows is None else rows)
    for j, i in enumerate(have):
        found = metrics.decision_intent(mazes[i], probs[j])
        p_cheese[i], p_corner[i] = found.p_cheese, found.p_top_right
    return p_cheese, p_corner


def play(
    agent: Any,
    layouts: Sequence[Layout],
    seeds: Sequence[int],
    steering: rollouts.Steering | None = None,
) -> list[rollouts.Trajectory]:
    """Sampled rollouts of ``agent`` (one seed per layout), capped at :func:`step_cap`."""
    return rollouts.run(
        agent, list(layouts), seed=list(seeds), steering=steering, max_steps=step_cap(agent)
    )


def reached(trajectories: Sequence[rollouts.Trajectory], event: str) -> np.ndarray:
    """``(n,)`` whether each trajectory's ``event`` happened."""
    return np.array([getattr(t, event) is not None for t in trajectories])


def scaled(vectors_: Sequence[SteeringVector], coefficient: float) -> list[SteeringVector]:
    """Each vector times ``coefficient`` (provenance kept)."""
    return [coefficient * v for v in vectors_]


def total_variation_at_start(
    agent: Any, layouts: Sequence[Layout], steering: rollouts.Steering
) -> np.ndarray:
    """``(n,)`` total variation between unsteered and steered start-state action distributions."""
    return metrics.total_variation(
        probabilities(agent, layouts), probabilities(agent, layouts, steering)
    )


__all__ = [
    "FEATURES",
    "Feature",
    "action_path_activations",
    "claim_layer",
    "decision_intents",
    "feature_of",
    "per_layout_vectors",
    "play",
    "probabilities",
    "reached",
    "scaled",
    "start_intent",
    "step_cap",
    "total_variation_at_start",
]
