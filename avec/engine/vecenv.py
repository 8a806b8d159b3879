"""A stable-baselines3 ``VecEnv`` over the engine: all of a learner's envs in one call.

``EngineVecEnv(env_id, n_envs, wrappers)`` is a drop-in replacement for what
``make_vec_env(lambda: envs.make(env_id, wrappers), n_envs, vec_env_cls=DummyVecEnv)`` builds
for avec's ``LayoutEnv`` ids, and gives the same episodes from the same seed:

* levels: env ``i`` keeps its own generator, seeded ``seed + i`` on the reset after
  :meth:`seed` as gymnasium seeds an env's ``np_random``, and draws one layout from it per
  reset with :func:`avec.envs.draw_layout`, exactly as ``LayoutEnv`` does;
* observations, rewards, ``terminated`` and ``truncated``: the engine's, identical to MiniGrid's
  (``tests/test_engine.py``);
* ``infos``: what ``DummyVecEnv`` over SB3's ``Monitor`` reports -- ``TimeLimit.truncated`` on
  every step, and at the end of an episode its ``terminal_observation`` and ``episode``
  (return ``r``, length ``l``, seconds ``t``) -- so PPO, A2C and DQN bootstrap and log alike.

Spaces and the level distribution (family, size, generator options, time limit) are read from
one real env of the id, so the ``VecEnv`` follows whatever that env does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env import VecEnv

from avec import envs
from avec.engine.observe import observe, view_of
from avec.engine.state import from_layouts
from avec.engine.step import step


class EngineVecEnv(VecEnv):
    """``n_envs`` levels of ``env_id`` (an avec ``LayoutEnv`` id) stepped by the engine."""

    def __init__(self, env_id: str, n_envs: int, wrappers: Sequence[str]) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be at least 1, got {n_envs}")
        reference = envs.make(env_id, wrappers)
        base = reference.unwrapped
        self.view = view_of(wrappers)
        self.family, self.size = base.family, base.width
        self.generator_options = dict(base.generator_options)
        self.max_steps = int(base.max_steps)
        self._rngs: list[np.random.Generator | None] = [None] * n_envs
        self.state = None
        super().__init__(n_envs, reference.observation_space, reference.action_space)
        reference.close()

    def _draw(self, rows: Sequence[int]) -> None:
        """Put a fresh level, drawn from its own generator, into each of ``rows``."""
        for row in rows:
            if self._seeds[row] is not None or self._rngs[row] is None:
                self._rngs[row] = seeding.np_random(self._seeds[row])[0]
        layouts = [
            envs.draw_layout(self._rngs[row], self.family, self.size, self.generator_options)
            for row in rows
        ]
        fresh = from_layouts(layouts, self.max_steps)
        if self.state is None:
            self.state = fresh
        else:
            self.state.assign(rows, fresh)
        self._returns[rows] = 0.0
        self._lengths[rows] = 0
        self._starts[rows] = time.time()

    def reset(self) -> np.ndarray:
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._starts = np.zeros(self.num_envs)
        self.state = None
        self._draw(list(range(self.num_envs)))
        self._reset_seeds()
        self._reset_options()
        return observe(self.state, self.view)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        reward, terminated, truncated = step(self.state, self._actions)
        self._returns += reward
        self._lengths += 1
        obs = observe(self.state, self.view)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [
            {"TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
            for i in range(self.num_envs)
        ]
        ended = np.flatnonzero(dones).tolist()
        if ended:
            now = time.time()
            for i in ended:
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["episode"] = {
                    "r": round(float(self._returns[i]), 6),
                    "l": int(self._lengths[i]),
                    "t": round(now - self._starts[i], 6),
                }
            self._draw(ended)
            obs[ended] = observe(self.state, self.view, np.asarray(ended))
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.state = None

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        # SB3 asks only for the render mode; the engine does not render.
        if attr_name != "render_mode":
            raise AttributeError(f"EngineVecEnv has no per-env attribute {attr_name!r}")
        return [None] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(f"EngineVecEnv envs have no attribute {attr_name!r} to set")

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any):
        raise AttributeError(f"EngineVecEnv envs have no method {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


__all__ = ["EngineVecEnv"]
