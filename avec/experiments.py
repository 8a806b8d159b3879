"""Paired steering experiments: the measurements the claims suite is made of.

Each function takes an agent and a batch of trials and returns arrays, one row per trial, in
one batched pass: start-state probabilities from a single forward pass, rollouts in lockstep
with one sampling seed per trial (so a trial gives the same outcome alone -- when Hypothesis
shrinks it -- as in a batch). The vectors they apply are built by :mod:`avec.vectors`
(:func:`~avec.vectors.per_layout`, :func:`~avec.vectors.held_out_means`), the only place
vectors are built.

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
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

from avec import edits, envs, families, hooks, metrics, rollouts, strategies, vectors
from avec.layouts import CheeseMazeLayout, Layout
from avec.vectors import SteeringVector

Feature = families.Feature

FEATURES: dict[str, Feature] = {name: family.feature for name, family in families.FAMILIES.items()}
"""The poster's key vector, a goal vector for FourRooms, the maze paper's cheese vector, the lava
vector (:data:`avec.families.FAMILIES` declares them)."""


def feature_of(agent: Any) -> Feature:
    return FEATURES[agent.family]


def claim_layer(agent: Any) -> str:
    """The layer claims patch: the middle activation output on the action path.

    Rule: list the activation modules (ReLU, Tanh, ...) that feed the action logits, in
    forward order, and take the middle one, rounding toward the input. For the 64-64 MLP that
    is ``mlp_extractor.policy_net.1`` (first hidden layer); for :class:`~avec.policies.GridCNN`
    agents ``features_extractor.cnn.5`` (the last convolution block, as the maze paper patched
    a middle residual block of its conv net). A residual network follows the paper instead: the
    middle residual-stream output on the action path (:data:`RESIDUALS`), rounding toward the
    input -- ``features_extractor.block2.res1`` of :class:`~avec.policies.ImpalaCNN`, the
    paper's ``block2.res1.resadd_out``.
    """
    residual = action_path_residuals(agent)
    candidates = residual or action_path_activations(agent)
    return candidates[(len(candidates) - 1) // 2]


RESIDUALS = frozenset({"ResidualBlock"})
"""Class names of modules whose output is a residual stream (input plus the block's branch):
layers in their own right, though they hold other layers."""


def action_path_residuals(agent: Any) -> list[str]:
    """Names of the residual-stream outputs feeding the action logits, in forward order."""
    return [
        info.name
        for info in hooks.layers(agent)
        if info.module in RESIDUALS and info.branch in ("shared", "policy")
    ]


ACTIVATIONS = frozenset(
    {
        "ReLU",
        "LeakyReLU",
        "ELU",
        "SELU",
        "CELU",
        "GELU",
        "SiLU",
        "Mish",
        "Tanh",
        "Sigmoid",
        "Hardtanh",
        "Hardswish",
        "Softplus",
    }
)
"""Class names of the activation modules a claim layer may be."""


def action_path_activations(agent: Any) -> list[str]:
    """Names of the activation layers feeding the action logits, in forward order."""
    names = [
        info.name
        for info in hooks.layers(agent)
        if info.branch in ("shared", "policy") and info.module in ACTIVATIONS
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


SAMPLING_SEEDS = st.integers(0, 2**16 - 1)
"""Strategy for the action-sampling seed of a trial's rollouts."""


def trial_layouts(agent: Any, sizes: Sequence[int] | None = None) -> st.SearchStrategy[Layout]:
    """The layouts a claim judges ``agent`` on (Hypothesis strategy, shrinkable).

    The agent's own family at its own size (or ``sizes``), keeping only layouts whose start
    observation shows the feature (:func:`shows_feature`): elsewhere -- a key behind the
    agent, a FourRooms goal outside its 7x7 view -- the feature vector is exactly zero and a
    trial can say nothing about it. CheeseMaze trials put the cheese anywhere, not only in the
    top-right region the agent trained on: only there do its two drives -- to the cheese and to
    the top-right corner -- pull apart, as in the maze paper's evaluation.
    """
    options = families.get(agent.family).trial_options
    feature = feature_of(agent).vector
    return strategies.layouts(agent.family, sizes=sizes or (agent.size,), **options).filter(
        lambda layout: shows_feature(agent, feature, layout)
    )


def probabilities(
    agent: Any, layouts: Sequence[Layout], steering: rollouts.Steering | None = None
) -> np.ndarray:
    """``(n, n_actions)`` action probabilities at each layout's start state, steered per row."""
    observations = envs.observe(list(layouts), agent.wrappers)
    hooks.check_fits(agent, layouts[0].family, observations.shape[1:])
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
        [
            metrics.intent_at_start(layout, p, target)
            for layout, p in zip(layouts, probs, strict=True)
        ]
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
    "SAMPLING_SEEDS",
    "Feature",
    "action_path_layers",
    "action_path_activations",
    "action_path_residuals",
    "claim_layer",
    "decision_intents",
    "feature_of",
    "input_affine",
    "play",
    "probabilities",
    "reached",
    "scaled",
    "shows_feature",
    "shows_feature_many",
    "start_intent",
    "step_cap",
    "trial_layouts",
    "total_variation_at_start",
]


def action_path_layers(agent: Any) -> list[str]:
    """Every distinct layer a steering vector can be added to on the way to the action logits,
    in forward order, where steering is more than editing the input: the layers a layer sweep
    visits (claim 9).

    From :func:`avec.hooks.layers`, on the ``shared`` and ``policy`` branches, dropped:

    * containers (``features_extractor``, ``mlp_extractor.policy_net``, ...): their output is
      their last child's, already listed -- except residual blocks (:data:`RESIDUALS`), whose
      output is the residual stream, so the sweep covers every residual output;
    * a ``Flatten`` after another layer: it only reshapes that layer's output;
    * every layer whose output is an affine function of the observation
      (:func:`input_affine`: the flattened observation, the first ``Linear`` or convolution,
      anything before the first non-linearity). There, ``f(x) - (f(with) - f(without))`` is
      ``f`` of the observation with the feature edited out, so at the state a vector comes
      from steering *is* removing the feature and a claim judged there scores what removal
      scores by arithmetic (issue 14, part 3);
    * the logits (the last layer, ``action_net``): a constant added there biases the action
      preferences whatever the agent sees -- action biasing, not value editing.
    """
    infos = [info for info in hooks.layers(agent) if info.branch in ("shared", "policy")]
    names = [info.name for info in infos]
    kept = [
        info.name
        for k, info in enumerate(infos)
        if (info.module in RESIDUALS or not any(o.startswith(info.name + ".") for o in names))
        and not (info.module == "Flatten" and k > 0)
    ]
    affine = input_affine(agent, kept)
    kept = [name for name in kept if name not in affine]
    if len(kept) < 2:
        raise ValueError(
            f"the policy has no layer past its first non-linearity and before its logits to "
            f"patch; layers: {names}"
        )
    return kept[:-1]


AFFINE_SAMPLES = 16
"""Pairs of random observations :func:`input_affine` checks a layer on."""

UNBOUNDED = 10.0
"""Where the observation space is unbounded (a ``VecNormalize``-d agent's), random observations
are drawn within +-this: VecNormalize's default ``clip_obs``, the range normalised observations
take."""

AFFINE_TOLERANCE = 1e-4
"""Largest deviation from affinity, relative to the layer's output scale, that float32
rounding explains; any non-linearity on random observations deviates by orders more."""


def input_affine(agent: Any, names: Sequence[str]) -> set[str]:
    """Which of the layers ``names`` compute an affine function of the observation.

    Checked numerically on the network itself, so it holds for any architecture (plain stacks,
    residual streams, branches) without a list of layer names: for seeded random observations
    ``x``, ``y`` uniform over the observation space and ``m = t x + (1 - t) y`` (``t`` = 1/4),
    a layer ``f`` is affine when ``f(m) = t f(x) + (1 - t) f(y)`` on every pair, up to
    :data:`AFFINE_TOLERANCE` of its output scale. A layer past a ReLU, Tanh or max-pool fails
    it on random inputs; the observation, a flatten and the first linear map pass it.
    """
    policy = hooks.policy_of(agent)
    space = policy.observation_space
    rng = np.random.default_rng(0)
    bounds = (np.asarray(b, dtype=np.float64) for b in (space.low, space.high))
    low, high = (np.broadcast_to(np.clip(b, -UNBOUNDED, UNBOUNDED), space.shape) for b in bounds)
    shape = (AFFINE_SAMPLES, *space.shape)
    x, y = (rng.uniform(low, high, size=shape) for _ in range(2))
    t = 0.25
    batch = torch.as_tensor(np.concatenate([x, y, t * x + (1 - t) * y]), dtype=torch.float32)
    with hooks.capture(policy, list(names)) as outputs:
        hooks.run(policy, batch)
    affine = set()
    for name in names:
        fx, fy, fm = outputs[name].double().reshape(3, AFFINE_SAMPLES, -1)
        scale = float(torch.maximum(fx.abs().max(), fy.abs().max())) + 1e-12
        if float((fm - (t * fx + (1 - t) * fy)).abs().max()) <= AFFINE_TOLERANCE * scale:
            affine.add(name)
    return affine


def shows_feature(agent: Any, feature: str, layout: Layout) -> bool:
    """Whether the agent's start observation of ``layout`` changes with ``feature``: the two
    layouts of its :data:`avec.vectors.FEATURES` pair look different to the agent.

    False for a DoorKey key behind the agent or a FourRooms goal outside the 7x7 view: the
    vector of such a pair is exactly zero, and a trial on it cannot tell anything about it.
    """
    pair = vectors.FEATURES[feature](layout)
    observations = envs.observe(list(pair), agent.wrappers)
    return not np.array_equal(observations[0], observations[1])


def shows_feature_many(agent: Any, feature: str, layouts: Sequence[Layout]) -> np.ndarray:
    """``(n,)`` :func:`shows_feature` for many layouts, observed in one batch."""
    pairs = [vectors.FEATURES[feature](layout) for layout in layouts]
    seen = envs.observe([p[0] for p in pairs] + [p[1] for p in pairs], agent.wrappers)
    seen = seen.reshape(2, len(layouts), -1)
    return ~(seen[0] == seen[1]).all(axis=1)
