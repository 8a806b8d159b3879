"""avec's batched grid engine: MiniGrid's rules and observations over arrays of levels.

MiniGrid steps one level at a time in Python; most of a rollout's or a training run's time goes
to its ``step``, ``gen_obs`` and wrappers. The engine holds a whole batch of levels as a few
integer arrays (:mod:`.state`), applies MiniGrid's rules to all of them in one compiled call
(:mod:`.step`) and builds the observations the agents were trained on (:mod:`.observe`),
identical to MiniGrid's, as ``tests/test_engine.py`` checks against MiniGrid itself.
:mod:`.vecenv` wraps it as a stable-baselines3 ``VecEnv`` for training; it reads its spaces from
a real env of :mod:`avec.envs` (which sits above the engine), so it is imported on its own --
``from avec.engine.vecenv import EngineVecEnv`` -- not with the package.

MiniGrid stays the reference backend: :func:`backend` says which one rollouts, start-state
observations and training use (``AVEC_BACKEND=minigrid`` selects MiniGrid process-wide).
"""

from __future__ import annotations

import os

from avec.engine.observe import VIEWS, observation_shape, observe, view_of
from avec.engine.state import State, from_layouts, from_minigrid
from avec.engine.step import N_ACTIONS, step

BACKENDS = ("engine", "minigrid")
"""``engine`` (this package) or ``minigrid`` (MiniGrid's own envs, the reference)."""


def backend(choice: str | None = None) -> str:
    """The backend to use: ``choice`` if given, else ``$AVEC_BACKEND``, else ``engine``."""
    name = choice if choice is not None else os.environ.get("AVEC_BACKEND", "engine")
    if name not in BACKENDS:
        source = "backend" if choice is not None else "AVEC_BACKEND"
        raise ValueError(f"unknown {source} {name!r}; valid: {', '.join(BACKENDS)}")
    return name


__all__ = [
    "BACKENDS",
    "N_ACTIONS",
    "VIEWS",
    "State",
    "backend",
    "from_layouts",
    "from_minigrid",
    "observation_shape",
    "observe",
    "step",
    "view_of",
]
