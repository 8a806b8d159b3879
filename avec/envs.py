"""MiniGrid envs built from layouts, and the Gymnasium ids avec registers.

:class:`LayoutEnv` is a MiniGrid env whose only job is to build the grid a
:class:`~avec.layouts.Layout` describes (one ``_gen_grid``). Which layout it builds on reset:

* ``reset(options={"layout": layout})``: that layout;
* ``reset(options={"layout_seed": s})``: ``generate(family, size, s)``;
* otherwise the layout the env was made with (``layout=``), or else a fresh one drawn from the
  env's own seeded ``np_random`` -- the training distribution. Layout seeds drawn this way are
  below :data:`HELD_OUT_SEED_START`; evaluation uses seeds from there on, so no evaluation
  seed is ever a training seed.

Registered ids (on ``import avec``), one per family, size and variant of
:mod:`avec.families`: ``avec/DoorKey-{N}x{N}-v0`` for N in 5..16, ``avec/FourRooms-v0``,
``avec/CheeseMaze-{N}x{N}-v0`` (cheese in the top-right region, the training distribution) and
``avec/CheeseMaze-{N}x{N}-Anywhere-v0`` (cheese anywhere), the same two for
``avec/PaddedMaze-{N}x{N}`` (N the canvas), and ``avec/LavaGapS{N}-v0`` for N in 5..7.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Wall
from minigrid.minigrid_env import MiniGridEnv

from avec import families, generators
from avec.generators import HELD_OUT_SEED_START
from avec.layouts import Layout, LayoutError

NAVIGATION_ACTIONS = 3
"""Navigation-only families' agents turn left, turn right and move forward (MiniGrid's actions
0, 1, 2); the other four actions do nothing in those levels."""

OBSERVATION_WRAPPERS: dict[str, tuple[str, ...]] = {
    name: family.wrappers for name, family in families.FAMILIES.items()
}
"""Observation wrappers (importable dotted names, applied in order) for each family."""


def default_max_steps(family: str, size: int) -> int:
    """Episode cap of a family at a size (:attr:`avec.families.Family.max_steps`)."""
    return families.get(family).max_steps(size)


class LayoutEnv(MiniGridEnv):
    """A MiniGrid env that builds the level a layout describes."""

    def __init__(
        self,
        family: str,
        size: int,
        layout: Layout | None = None,
        generator_options: dict[str, Any] | None = None,
        max_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        spec = families.get(family)
        spec.check_size(size)
        self.family = family
        self.generator_options = dict(generator_options or {})
        self.layout: Layout | None = None
        self._fixed_layout = None if layout is None else self._checked(layout, family, size)
        self._next_layout: Layout | None = None
        mission = spec.layout.mission
        super().__init__(
            mission_space=MissionSpace(mission_func=lambda: mission),
            grid_size=size,
            max_steps=default_max_steps(family, size) if max_steps is None else max_steps,
            **kwargs,
        )
        self.absolute_moves = spec.absolute_moves
        if spec.navigation_only:
            self.action_space = spaces.Discrete(spec.n_actions)

    def step(self, action: Any):
        """MiniGrid's step; with absolute moves, action ``d`` first faces direction ``d``
        (0 right, 1 down, 2 left, 3 up), then moves forward -- one step of the episode."""
        if self.absolute_moves:
            if int(action) not in range(families.ABSOLUTE_MOVES):
                raise ValueError(f"unknown move {action}; valid: 0..{families.ABSOLUTE_MOVES - 1}")
            self.agent_dir = int(action)
            action = self.actions.forward
        return super().step(action)

    @staticmethod
    def _checked(layout: Layout, family: str, size: int) -> Layout:
        if layout.family != family or layout.size != (size, size):
            raise LayoutError(
                f"this env builds {family} {size}x{size} levels; got a {layout.family} "
                f"{layout.width}x{layout.height} layout"
            )
        return layout

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        if "layout" in options:
            self._next_layout = self._checked(options.pop("layout"), self.family, self.width)
        elif "layout_seed" in options:
            self._next_layout = generators.level(
                self.family, self.width, int(options.pop("layout_seed")), **self.generator_options
            )
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; valid: layout, layout_seed")
        return super().reset(seed=seed)

    def _gen_grid(self, width: int, height: int) -> None:
        layout = self._next_layout or self._fixed_layout
        if layout is None:
            layout = draw_layout(self.np_random, self.family, width, self.generator_options)
        self._next_layout = None
        self.layout = layout
        self.grid = build_grid(layout)
        self.agent_pos = layout.agent
        self.agent_dir = layout.agent_dir
        self.mission = layout.mission


def draw_layout(
    rng: np.random.Generator, family: str, size: int, generator_options: dict[str, Any]
) -> Layout:
    """A training layout drawn from ``rng``: one layout seed below :data:`HELD_OUT_SEED_START`.

    ``LayoutEnv`` draws this way from its ``np_random`` on every reset without a given layout,
    and so does the engine's ``VecEnv``, so both train on the same levels from the same seed.
    """
    seed = int(rng.integers(HELD_OUT_SEED_START))
    return generators.level(family, size, seed, **generator_options)


def build_grid(layout: Layout) -> Grid:
    """The MiniGrid grid of a layout (the agent is placed by the env, not the grid)."""
    grid = Grid(layout.width, layout.height)
    for x, y in layout.walls:
        grid.set(x, y, Wall())
    for cell, obj in families.of(layout).world_objects(layout):
        grid.set(*cell, obj)
    return grid


def import_dotted(name: str) -> Any:
    """The object a dotted name such as ``minigrid.wrappers.ImgObsWrapper`` refers to."""
    module, _, attribute = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"cannot import {name!r}: {error}") from error


def wrap(env: gym.Env, wrappers: Sequence[str]) -> gym.Env:
    """Apply observation wrappers given as importable dotted names, in order."""
    for name in wrappers:
        env = import_dotted(name)(env)
    return env


def make(env_id: str, wrappers: Sequence[str] | None = None, **kwargs: Any) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)`` wrapped with ``wrappers`` (default: the family's).

    For ids outside avec (e.g. ``MiniGrid-DoorKey-5x5-v0``) pass ``wrappers`` explicitly.
    """
    env = gym.make(env_id, **kwargs)
    if wrappers is None:
        family = getattr(env.unwrapped, "family", None)
        if family is None:
            raise ValueError(f"{env_id} is not an avec env; pass its observation wrappers")
        wrappers = OBSERVATION_WRAPPERS[family]
    return wrap(env, wrappers)


_OBSERVERS: dict[tuple[str, tuple[str, ...]], gym.Env] = {}
"""One reusable MiniGrid env per (env id, wrappers) for :func:`observe` on the MiniGrid backend."""


def observe(
    layouts: Sequence[Layout], wrappers: Sequence[str], backend: str | None = None
) -> np.ndarray:
    """``(batch, *obs_shape)`` first observations of ``layouts`` (agent at its start state).

    All layouts must share family and size. With ``wrappers`` as in a model's manifest this is
    exactly what the model sees at the start of an episode on each layout. ``backend``:
    ``engine`` or ``minigrid`` (default: :func:`avec.engine.backend`); both give the same arrays.
    """
    # Imported on use: the engine brings numba, which ``import avec`` (``avec --help``) spares.
    from avec import engine

    if not layouts:
        raise ValueError("observe() needs at least one layout")
    if engine.backend(backend) == "engine":
        return engine.observe(engine.from_layouts(layouts, max_steps=1), engine.view_of(wrappers))
    first = layouts[0]
    key = (env_id(first.family, first.width), tuple(wrappers))
    if key not in _OBSERVERS:
        _OBSERVERS[key] = make(key[0], wrappers)
    env = _OBSERVERS[key]
    return np.stack([env.reset(options={"layout": layout})[0] for layout in layouts])


def render(layout: Layout, tile_size: int = 16) -> np.ndarray:
    """``(height * tile_size, width * tile_size, 3)`` RGB picture of a layout, as MiniGrid draws
    it (agent at its start; its view is not highlighted)."""
    env = LayoutEnv(
        layout.family,
        layout.width,
        layout=layout,
        render_mode="rgb_array",
        tile_size=tile_size,
        highlight=False,
    )
    try:
        env.reset()
        return env.render()
    finally:
        env.close()


def env_id(family: str, size: int, cheese_region: str = "top_right") -> str:
    """The registered Gymnasium id of a family at a size (``cheese_region="anywhere"``: the
    maze families' evaluation variant)."""
    spec = families.get(family)
    anywhere = cheese_region == "anywhere" and "Anywhere" in spec.variants
    return spec.env_id(size, "Anywhere" if anywhere else "")


def register_envs() -> None:
    """Register every avec env id with Gymnasium (idempotent)."""
    for name, spec in families.FAMILIES.items():
        for size in spec.sizes:
            for variant, options in spec.variants.items():
                kwargs = {"family": name, "size": size, "generator_options": dict(options)}
                if spec.env_id(size, variant) not in gym.registry:
                    gym.register(
                        id=spec.env_id(size, variant),
                        entry_point="avec.envs:LayoutEnv",
                        kwargs=kwargs,
                    )


__all__ = [
    "HELD_OUT_SEED_START",
    "NAVIGATION_ACTIONS",
    "OBSERVATION_WRAPPERS",
    "LayoutEnv",
    "build_grid",
    "default_max_steps",
    "draw_layout",
    "env_id",
    "import_dotted",
    "make",
    "observe",
    "register_envs",
    "render",
    "wrap",
]
