"""Held-out evaluation of an agent: success rate with a Wilson interval, mean return.

Episodes are played by :func:`avec.rollouts.run`: in lockstep, one batched forward pass per
step for all live episodes; actions are sampled from the policy's distribution (the
*stochastic* policy, as trained) with an explicit ``numpy`` generator, so the same model,
layouts and seed give the same numbers in any process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from avec import rollouts, stats
from avec.layouts import Layout
from avec.rollouts import action_probabilities, sample_actions


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


def play(
    model: BaseAlgorithm,
    layouts: Sequence[Layout],
    wrappers: Sequence[str],
    seed: int,
    deterministic: bool = False,
) -> list[Episode]:
    """Play one episode on each layout, all in lockstep; returns one :class:`Episode` each.

    A summary of :func:`avec.rollouts.run` (unsteered; sampled unless ``deterministic``).
    """
    trajectories = rollouts.run(model, layouts, seed=seed, wrappers=wrappers, greedy=deterministic)
    return [_episode(t) for t in trajectories]


def _episode(trajectory: rollouts.Trajectory) -> Episode:
    corner = trajectory.top_right_reached is not None
    # Reaching the cheese ends the episode, so a visit to the corner always comes before it
    # (or is it, when the cheese lies on the corner): a visit is a visit "first".
    return Episode(
        trajectory.layout,
        trajectory.success,
        trajectory.episode_return,
        trajectory.steps,
        corner,
        corner,
    )


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion (:func:`avec.stats.wilson`)."""
    return stats.wilson(successes, trials).ci95


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
