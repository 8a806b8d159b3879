"""Held-out evaluation of an agent: success rate with a Wilson interval, mean return.

Episodes run in lockstep, one batched forward pass per step for all live episodes; actions
are sampled from the policy's distribution (the *stochastic* policy, as trained) with an
explicit ``numpy`` generator, so the same model, layouts and seed give the same numbers in
any process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import binomtest
from stable_baselines3.common.base_class import BaseAlgorithm

from avec import envs
from avec.layouts import CheeseMazeLayout, Layout


@dataclass(frozen=True)
class Episode:
    """What happened in one evaluation episode."""

    layout: Layout
    """The level played."""
    success: bool
    """Whether the agent reached the goal (or cheese) before the step cap."""
    episode_return: float
    """MiniGrid's return: ``1 - 0.9 * steps / max_steps`` on success, else 0."""
    steps: int
    """Actions taken."""
    reached_top_right: bool
    """Whether the agent stood on the top-right corner cell (CheeseMaze; else False)."""
    top_right_first: bool
    """Whether it stood there before reaching the goal (CheeseMaze; else False)."""


def action_probabilities(model: BaseAlgorithm, observations: np.ndarray) -> np.ndarray:
    """``(batch, n_actions)`` action probabilities for ``(batch, *obs_shape)`` observations."""
    with torch.no_grad():
        obs_t, _ = model.policy.obs_to_tensor(observations)
        return model.policy.get_distribution(obs_t).distribution.probs.cpu().numpy()


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``(batch, n_actions)`` probabilities, by inverse CDF."""
    u = rng.random(len(probs))
    cdf = np.cumsum(probs.astype(np.float64), axis=1)
    return np.minimum((cdf < u[:, None] * cdf[:, -1:]).sum(axis=1), probs.shape[1] - 1)


def play(
    model: BaseAlgorithm,
    layouts: Sequence[Layout],
    wrappers: Sequence[str],
    seed: int,
    deterministic: bool = False,
) -> list[Episode]:
    """Play one episode on each layout, all in lockstep; returns one :class:`Episode` each."""
    rng = np.random.default_rng(seed)
    family = layouts[0].family
    size = layouts[0].width
    env_list = [envs.make(envs.env_id(family, size), wrappers) for _ in layouts]
    obs = np.stack([e.reset(options={"layout": lay})[0] for e, lay in zip(env_list, layouts)])
    n = len(layouts)
    live = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    returns = np.zeros(n)
    steps = np.zeros(n, dtype=int)
    top_right = np.zeros(n, dtype=bool)
    top_right_first = np.zeros(n, dtype=bool)
    while live.any():
        idx = np.flatnonzero(live)
        probs = action_probabilities(model, obs[idx])
        actions = probs.argmax(axis=1) if deterministic else sample_actions(probs, rng)
        for i, action in zip(idx, actions):
            o, reward, terminated, truncated, _ = env_list[i].step(int(action))
            obs[i] = o
            steps[i] += 1
            layout = layouts[i]
            at_goal = terminated and reward > 0
            if isinstance(layout, CheeseMazeLayout) and not top_right[i]:
                if tuple(env_list[i].unwrapped.agent_pos) == layout.top_right:
                    top_right[i] = True
                    top_right_first[i] = not at_goal or layout.cheese == layout.top_right
            if terminated or truncated:
                live[i] = False
                success[i] = at_goal
                returns[i] = reward
    for e in env_list:
        e.close()
    return [
        Episode(lay, bool(success[i]), float(returns[i]), int(steps[i]), bool(top_right[i]),
                bool(top_right_first[i]))
        for i, lay in enumerate(layouts)
    ]


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def summarize(episodes: Sequence[Episode]) -> dict[str, object]:
    """Success rate with its 95% Wilson interval and mean return, as a JSON-ready dict."""
    n = len(episodes)
    wins = sum(e.success for e in episodes)
    return {
        "episodes": n,
        "success_rate": wins / n,
        "success_ci95": list(wilson(wins, n)),
        "mean_return": float(np.mean([e.episode_return for e in episodes])),
        "mean_steps": float(np.mean([e.steps for e in episodes])),
    }


def summarize_cheese_elsewhere(episodes: Sequence[Episode]) -> dict[str, object]:
    """For mazes whose cheese lies outside the top-right region: how often the agent reaches
    the cheese, and how often it goes to the top-right corner first instead."""
    n = len(episodes)
    cheese = sum(e.success for e in episodes)
    corner = sum(e.top_right_first for e in episodes)
    return {
        "episodes": n,
        "reaches_cheese": cheese / n,
        "reaches_cheese_ci95": list(wilson(cheese, n)),
        "top_right_first": corner / n,
        "top_right_first_ci95": list(wilson(corner, n)),
    }


__all__ = [
    "Episode",
    "action_probabilities",
    "play",
    "sample_actions",
    "summarize",
    "summarize_cheese_elsewhere",
    "wilson",
]
