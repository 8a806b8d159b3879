"""Batched, steerable rollouts: many layouts played in lockstep, one forward pass per step.

:func:`run` plays one episode on each layout. At every step the observations of all live
episodes go through the policy as one batch -- with each layout's own steering vectors added
by :func:`avec.hooks.patch` -- and all live episodes then take their actions in one call of
:mod:`avec.engine`, which steps a whole batch of levels for less than one forward pass costs:
rollouts run at the policy's batched-forward rate (see ``benchmarks/rollouts.py``). The
reference backend (``backend="minigrid"``) steps pooled MiniGrid envs one by one instead, with
the same trajectories.

Actions are greedy (argmax) or sampled by inverse CDF from one explicit ``numpy`` generator:
per step one ``rng.random(len(live))`` over the live episodes in layout order. The same agent,
layouts, steering and seed give the same trajectories in any process. Given one seed *per
layout*, each episode samples from its own generator instead, so its trajectory depends on its
own layout, steering and seed only -- not on which other episodes share the batch. Claims use
this: a trial replays identically alone (when Hypothesis shrinks it) and in a batch.

Each :class:`Trajectory` records what the claims measure: the agent's cells and directions,
its actions and action probabilities, and when (at which step) it picked up the key, opened
the door, reached the goal or cheese and stood on the maze's top-right corner. Step ``t``
means "after ``t`` actions", so ``cells[t]`` is where the agent stood then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel

from avec import engine, envs, families, hooks
from avec.engine.state import LAVA, OPEN
from avec.layouts import CheeseMazeLayout, DoorKeyLayout, Layout
from avec.vectors import SteeringVector

Steering = SteeringVector | Sequence[SteeringVector | Sequence[SteeringVector] | None]
"""One vector for every layout, or one entry per layout: a vector, several (at one or more
layers; summed per layer) or ``None`` (unsteered)."""


@dataclass(frozen=True)
class StepState:
    """Where a live episode stands before its next step, for :data:`StepSteering`."""

    episode: int
    """Index of the episode (its layout's position in :func:`run`'s ``layouts``)."""
    layout: Layout
    """The level being played (as it started)."""
    cell: tuple[int, int]
    """The agent's cell."""
    direction: int
    """The agent's direction (0 right, 1 down, 2 left, 3 up)."""
    carrying_key: bool
    """Whether the agent has picked up the key."""


StepSteering = Callable[[int, Sequence[StepState]], Steering | None]
"""``(step, states of the live episodes) -> steering``, one entry per live episode (or one
vector for all, or ``None``): called before every forward pass of :func:`run`."""

PICKUP, TOGGLE = 3, 5
"""MiniGrid's pickup and toggle actions: the only ones that can pick up a key or open a door."""


@dataclass(frozen=True, eq=False)
class Trajectory:
    """One episode. ``steps`` actions were taken; arrays are indexed by step."""

    layout: Layout
    """The level played."""
    cells: np.ndarray
    """``(steps + 1, 2)`` agent cell ``(x, y)`` at the start and after each action."""
    directions: np.ndarray
    """``(steps + 1,)`` agent direction (0 right, 1 down, 2 left, 3 up), likewise."""
    actions: np.ndarray
    """``(steps,)`` actions taken."""
    probabilities: np.ndarray
    """``(steps, n_actions)`` the (steered) policy's action probabilities at each step."""
    key_picked_up: int | None
    """Step at which the agent first carried the key (DoorKey), else ``None``."""
    door_opened: int | None
    """Step at which the door first opened (DoorKey), else ``None``."""
    goal_reached: int | None
    """Step at which the agent reached the goal or cheese, ending the episode, else ``None``."""
    top_right_reached: int | None
    """Step at which the agent first stood on the top-right corner (CheeseMaze), else ``None``."""
    lava_entered: int | None
    """Step at which the agent stepped into lava, ending the episode (LavaGap), else ``None``."""
    steps: int
    """Actions taken before the episode ended (goal reached, env time limit or the cap)."""
    episode_return: float
    """Sum of MiniGrid's rewards: ``1 - 0.9 * steps / max_steps`` on success, else 0."""

    @property
    def success(self) -> bool:
        return self.goal_reached is not None


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``(batch, n_actions)`` probabilities, by inverse CDF."""
    return _inverse_cdf(probs, rng.random(len(probs)))


def _inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(probs.astype(np.float64), axis=1)
    return np.minimum((cdf < u[:, None] * cdf[:, -1:]).sum(axis=1), probs.shape[1] - 1)


def action_probabilities(agent: Any, observations: np.ndarray) -> np.ndarray:
    """``(batch, n_actions)`` action probabilities for ``(batch, *obs_shape)`` observations.

    For DQN the policy is greedy in the Q-values: probability 1 on their argmax.
    """
    policy = hooks.policy_of(agent)
    with torch.no_grad():
        obs_t, _ = policy.obs_to_tensor(observations)
        if isinstance(policy, ActorCriticPolicy):
            custom = type(policy).get_distribution is not ActorCriticPolicy.get_distribution
            if custom or not isinstance(policy.action_dist, CategoricalDistribution):
                return policy.get_distribution(obs_t).distribution.probs.cpu().numpy()
            # SB3's get_distribution, and torch's Categorical(logits=...).probs, bit for bit,
            # without building (and validating) a distribution object on every step.
            features = BaseModel.extract_features(policy, obs_t, policy.pi_features_extractor)
            logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
            logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            return torch.softmax(logits, dim=-1).cpu().numpy()
        q_values = hooks.run(policy, obs_t)["q_values"].cpu().numpy()
    return np.eye(q_values.shape[1], dtype=np.float32)[q_values.argmax(axis=1)]


_POOL: dict[tuple[str, tuple[str, ...]], list[gym.Env]] = {}


@contextmanager
def _borrow(env_id: str, wrappers: Sequence[str], n: int) -> Iterator[list[gym.Env]]:
    """``n`` envs of ``env_id`` from the pool (made when missing), returned afterwards."""
    free = _POOL.setdefault((env_id, tuple(wrappers)), [])
    taken = [free.pop() if free else envs.make(env_id, wrappers) for _ in range(n)]
    try:
        yield taken
    finally:
        free.extend(taken)


def steering_rows(steering: Steering | None, n: int) -> dict[str, torch.Tensor]:
    """``layer -> (*shape)`` for one shared vector, else ``layer -> (n, *shape)`` rows."""
    if steering is None:
        return {}
    if isinstance(steering, SteeringVector):
        return {steering.layer: steering.tensor()}
    if len(steering) != n:
        raise ValueError(f"steering has {len(steering)} entries for {n} layouts; give one each")
    found: dict[str, tuple[list[int], list[np.ndarray]]] = {}
    for i, entry in enumerate(steering):
        for vector in [entry] if isinstance(entry, SteeringVector) else (entry or []):
            rows, values = found.setdefault(vector.layer, ([], []))
            if values and values[0].shape != vector.shape:
                raise ValueError(
                    f"vectors at {vector.layer!r} have shapes {values[0].shape} and {vector.shape}"
                )
            rows.append(i)
            values.append(vector.values)
    out: dict[str, torch.Tensor] = {}
    for layer, (rows, values) in found.items():
        summed = np.zeros((n, *values[0].shape), dtype=np.float32)
        # Added in order, one vector at a time, as separate float32 sums: several vectors on one
        # row sum exactly as they would one by one.
        np.add.at(summed, np.array(rows), np.stack(values))
        out[layer] = torch.from_numpy(summed)
    return out


class _Episode:
    """One live episode: its env, and what has happened so far."""

    __slots__ = (
        "layout",
        "env",
        "base",
        "door",
        "corner",
        "cap",
        "cells",
        "directions",
        "actions",
        "probabilities",
        "key",
        "opened",
        "goal",
        "cornered",
        "burnt",
        "reward",
    )

    def __init__(self, layout: Layout, env: gym.Env, max_steps: int | None) -> None:
        self.layout, self.env, self.base = layout, env, env.unwrapped
        limit = self.base.max_steps
        self.cap = limit if max_steps is None else min(max_steps, limit)
        self.door = self.base.grid.get(*layout.door) if isinstance(layout, DoorKeyLayout) else None
        self.corner = layout.top_right if isinstance(layout, CheeseMazeLayout) else None
        self.cells: list[Any] = [layout.agent]
        self.directions = [layout.agent_dir]
        self.actions: list[int] = []
        self.probabilities: list[np.ndarray] = []
        self.key = self.opened = self.goal = self.cornered = self.burnt = None
        self.reward = 0.0

    def state(self, episode: int) -> StepState:
        return StepState(
            episode, self.layout, tuple(self.cells[-1]), self.directions[-1], self.key is not None
        )

    def step(self, action: int, probs: np.ndarray) -> tuple[np.ndarray, bool]:
        """Take ``action`` (chosen from ``(n_actions,)`` probs); the next observation and
        whether the episode goes on."""
        obs, reward, terminated, truncated, _ = self.env.step(action)
        base = self.base
        pos = base.agent_pos
        self.cells.append(pos)
        self.directions.append(base.agent_dir)
        self.actions.append(action)
        self.probabilities.append(probs)
        self.reward += reward
        t = len(self.actions)
        if action == PICKUP and self.key is None and base.carrying is not None:
            self.key = t
        elif action == TOGGLE and self.opened is None and (self.door and self.door.is_open):
            self.opened = t
        corner = self.corner
        if corner is not None and self.cornered is None and tuple(pos) == corner:
            self.cornered = t
        if terminated and reward > 0:
            self.goal = t
        elif terminated and getattr(base.grid.get(*pos), "type", None) == "lava":
            self.burnt = t
        return obs, not (terminated or truncated or t >= self.cap)

    def trajectory(self, n_actions: int) -> Trajectory:
        return Trajectory(
            layout=self.layout,
            cells=np.array(self.cells, dtype=np.int64).reshape(-1, 2),
            directions=np.array(self.directions, dtype=np.int64),
            actions=np.array(self.actions, dtype=np.int64),
            probabilities=np.array(self.probabilities, dtype=np.float32).reshape(-1, n_actions),
            key_picked_up=self.key,
            door_opened=self.opened,
            goal_reached=self.goal,
            top_right_reached=self.cornered,
            lava_entered=self.burnt,
            steps=len(self.actions),
            episode_return=float(self.reward),
        )


class _EnvEpisodes:
    """The reference backend: one MiniGrid env per layout, stepped one after another."""

    def __init__(self, layouts: Sequence[Layout], env_list: list[gym.Env], max_steps: int | None):
        self.first = np.stack(
            [
                env.reset(options={"layout": layout})[0]
                for env, layout in zip(env_list, layouts, strict=True)
            ]
        )
        self.episodes = [
            _Episode(layout, env, max_steps) for layout, env in zip(layouts, env_list, strict=True)
        ]

    def step(
        self, live: np.ndarray, chosen: np.ndarray, probs: np.ndarray, obs: np.ndarray
    ) -> np.ndarray:
        """Step episodes ``live`` with ``chosen`` actions and write their observations into
        ``obs``; one bool per live episode: whether it goes on."""
        going = np.zeros(len(live), dtype=bool)
        for j, i in enumerate(live):
            obs[i], going[j] = self.episodes[i].step(int(chosen[j]), probs[j])
        return going

    def states(self, live: np.ndarray) -> list[StepState]:
        """Where episodes ``live`` stand before their next step."""
        return [self.episodes[i].state(int(i)) for i in live]

    def trajectories(self, n_actions: int) -> list[Trajectory]:
        return [episode.trajectory(n_actions) for episode in self.episodes]


class _EngineEpisodes:
    """The engine backend: every layout in one :class:`avec.engine.State`, stepped in one call.

    Episodes in lockstep have all taken the same number of actions, so what happened is
    recorded in ``(step, layout)`` arrays; an event step of ``-1`` means "not yet".
    """

    def __init__(self, layouts: Sequence[Layout], view: str, max_steps: int | None):
        self.layouts, self.view = layouts, view
        self.state = engine.from_layouts(layouts)
        limit = self.state.max_steps
        self.cap = limit if max_steps is None else np.minimum(limit, max_steps)
        self.first = engine.observe(self.state, view)
        n, horizon = len(layouts), int(self.cap.max())
        self.cells = np.zeros((horizon + 1, n, 2), dtype=np.int64)
        self.cells[0] = self.state.pos
        self.directions = np.zeros((horizon + 1, n), dtype=np.int64)
        self.directions[0] = self.state.dir
        self.actions = np.zeros((horizon, n), dtype=np.int64)
        self.probabilities: np.ndarray | None = None
        self.door = np.array(
            [lay.door if isinstance(lay, DoorKeyLayout) else (-1, -1) for lay in layouts]
        ).reshape(n, 2)
        self.corner = np.array(
            [lay.top_right if isinstance(lay, CheeseMazeLayout) else (-1, -1) for lay in layouts]
        ).reshape(n, 2)
        self.events = {
            name: np.full(n, -1) for name in ("key", "opened", "goal", "cornered", "lava")
        }
        self.steps = np.zeros(n, dtype=np.int64)
        self.reward = np.zeros(n)
        self.t = 0

    def step(
        self, live: np.ndarray, chosen: np.ndarray, probs: np.ndarray, obs: np.ndarray
    ) -> np.ndarray:
        """As :meth:`_EnvEpisodes.step`."""
        state, events, t = self.state, self.events, self.t + 1
        self.t = t
        if self.probabilities is None:
            shape = (len(self.actions), len(self.layouts), probs.shape[1])
            self.probabilities = np.zeros(shape, dtype=np.float32)
        reward, terminated, truncated = engine.step(state, chosen, live)
        self.actions[t - 1, live] = chosen
        self.probabilities[t - 1, live] = probs
        pos = state.pos[live]
        self.cells[t, live] = pos
        self.directions[t, live] = state.dir[live]
        self.reward[live] += reward
        door = self.door[live]
        door_open = (door[:, 0] >= 0) & (state.grid[live, door[:, 0], door[:, 1], 2] == OPEN)
        first = {name: happened[live] < 0 for name, happened in events.items()}
        found = {
            "key": first["key"] & (chosen == PICKUP) & (state.carrying[live, 0] != 0),
            "opened": first["opened"] & (chosen == TOGGLE) & door_open,
            "goal": terminated & (reward > 0),
            "cornered": first["cornered"] & (pos == self.corner[live]).all(axis=1),
            "lava": terminated & (state.grid[live, pos[:, 0], pos[:, 1], 0] == LAVA),
        }
        for name, now in found.items():
            events[name][live[now]] = t
        going = ~(terminated | truncated | (t >= self.cap[live]))
        self.steps[live[~going]] = t
        if going.any():
            obs[live[going]] = engine.observe(state, self.view, live[going])
        return going

    def states(self, live: np.ndarray) -> list[StepState]:
        """As :meth:`_EnvEpisodes.states`."""
        state, key = self.state, self.events["key"]
        return [
            StepState(
                int(i),
                self.layouts[i],
                (int(state.pos[i, 0]), int(state.pos[i, 1])),
                int(state.dir[i]),
                bool(key[i] >= 0),
            )
            for i in live
        ]

    def trajectories(self, n_actions: int) -> list[Trajectory]:
        def when(name: str, i: int) -> int | None:
            t = int(self.events[name][i])
            return None if t < 0 else t

        probs = self.probabilities
        return [
            Trajectory(
                layout=layout,
                cells=self.cells[: steps + 1, i].copy(),
                directions=self.directions[: steps + 1, i].copy(),
                actions=self.actions[:steps, i].copy(),
                probabilities=probs[:steps, i].copy(),
                key_picked_up=when("key", i),
                door_opened=when("opened", i),
                goal_reached=when("goal", i),
                top_right_reached=when("cornered", i),
                lava_entered=when("lava", i),
                steps=steps,
                episode_return=float(self.reward[i]),
            )
            for i, (layout, steps) in enumerate(zip(self.layouts, self.steps.tolist(), strict=True))
        ]


@contextmanager
def _episodes(
    backend: str, layouts: Sequence[Layout], wrappers: Sequence[str], max_steps: int | None
) -> Iterator[_EnvEpisodes | _EngineEpisodes]:
    """The layouts' episodes, on ``backend``, at their start states."""
    if backend == "engine":
        yield _EngineEpisodes(layouts, engine.view_of(wrappers), max_steps)
        return
    first = layouts[0]
    with _borrow(envs.env_id(first.family, first.width), wrappers, len(layouts)) as env_list:
        yield _EnvEpisodes(layouts, env_list, max_steps)


def run(
    agent: Any,
    layouts: Sequence[Layout],
    *,
    seed: int | np.random.Generator | Sequence[int],
    wrappers: Sequence[str] | None = None,
    greedy: bool = False,
    steering: Steering | None = None,
    max_steps: int | None = None,
    backend: str | None = None,
    step_steering: StepSteering | None = None,
) -> list[Trajectory]:
    """Play one episode on each layout, all in lockstep; one :class:`Trajectory` each.

    Args:
        agent: a zoo :class:`~avec.zoo.Agent`, an SB3 algorithm or its policy.
        layouts: levels of one family and size.
        seed: seed (or generator) of the action sampling, or one integer seed per layout
            (each episode then samples from its own generator); required even when greedy, so a
            call never depends on hidden state.
        wrappers: observation wrappers (default: the agent's).
        greedy: take the most probable action instead of sampling.
        steering: vectors added during every forward pass (see :data:`Steering`).
        max_steps: end episodes after this many actions (default: the env's time limit; the
            reward formula keeps the env's limit).
        backend: ``engine`` or ``minigrid`` (default: :func:`avec.engine.backend`); both give
            the same trajectories.
        step_steering: instead of ``steering``, vectors chosen anew before every step (see
            :data:`StepSteering`): a patch that switches off once the key is carried, or one
            recomputed from the agent's current state.
    """
    if step_steering is not None and steering is not None:
        raise ValueError("pass steering or step_steering, not both")
    if not layouts:
        return []
    wrappers = wrappers if wrappers is not None else getattr(agent, "wrappers", None)
    if wrappers is None:
        raise ValueError("pass the observation wrappers the agent was trained with (wrappers=)")
    first = layouts[0]
    mixed = {(lay.family, lay.size) for lay in layouts} - {(first.family, first.size)}
    if mixed:
        raise ValueError(
            f"layouts must share family and size; got {first.family} {first.size} and {mixed}"
        )
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    policy = hooks.policy_of(agent)
    per_episode = not isinstance(seed, (int, np.integer, np.random.Generator))
    if per_episode and len(seed) != len(layouts):
        raise ValueError(f"got {len(seed)} seeds for {len(layouts)} layouts; give one each")
    rngs = [np.random.default_rng(int(s)) for s in seed] if per_episode else None
    rng = None if per_episode else np.random.default_rng(seed)
    rows = steering_rows(steering, len(layouts))
    per_row = bool(rows) and not isinstance(steering, SteeringVector)
    with _episodes(engine.backend(backend), layouts, wrappers, max_steps) as batch:
        obs = batch.first
        n_actions = families.get(first.family).n_actions
        hooks.check_fits(agent, first.family, obs.shape[1:], n_actions)
        live = np.arange(len(layouts))
        t = 0
        while live.size:
            patches = rows
            if step_steering is not None:
                patches = steering_rows(step_steering(t, batch.states(live)), len(live))
            elif per_row:
                select = torch.from_numpy(live)
                patches = {layer: values[select] for layer, values in rows.items()}
            with hooks.patch(policy, patches) if patches else nullcontext():
                probs = action_probabilities(policy, obs[live])
            if greedy:
                chosen = probs.argmax(axis=1)
            elif per_episode:
                u = np.array([rngs[i].random() for i in live])
                chosen = _inverse_cdf(probs, u)
            else:
                chosen = sample_actions(probs, rng)
            live = live[batch.step(live, chosen, probs, obs)]
            t += 1
        return batch.trajectories(probs.shape[1])


__all__ = [
    "StepSteering",
    "StepState",
    "Steering",
    "Trajectory",
    "action_probabilities",
    "run",
    "sample_actions",
    "steering_rows",
]
