"""Seeded layout generators, one per family.

``generate(family, size, seed)`` is a pure function of its arguments. DoorKey and FourRooms
levels are read off MiniGrid's own envs, so ``generate("doorkey", 5, s)`` is exactly the level
``gymnasium.make("MiniGrid-DoorKey-5x5-v0").reset(seed=s)`` builds. CheeseMaze levels come from
a randomized depth-first search (a "perfect" maze: one path between any two cells), as
Procgen Maze's are.

Every generator returns solvable layouts only; an unsolvable draw is a bug and raises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import numpy as np
from minigrid.core.world_object import Door, Goal, Key, Wall
from minigrid.envs import DoorKeyEnv, FourRoomsEnv
from minigrid.minigrid_env import MiniGridEnv

from avec.layouts import (
    DIRECTIONS,
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    Layout,
    LayoutError,
)

SIZES: dict[str, tuple[int, ...]] = {
    "doorkey": tuple(range(5, 17)),
    "fourrooms": (19,),
    "cheesemaze": tuple(range(7, 26, 2)),
}
"""Grid sizes (outer wall included) each family can generate."""

Cell = tuple[int, int]

CheeseRegion = Literal["top_right", "anywhere"]

TOP_RIGHT_REGION = 3
"""Side of the top-right square the cheese is drawn from in training (the paper used 5 of 25)."""


def check_family_size(family: str, size: int) -> None:
    """Raise a :class:`LayoutError` naming the valid choices if ``family``/``size`` is unknown."""
    if family not in SIZES:
        raise LayoutError(f"unknown layout family {family!r}; valid: {sorted(SIZES)}")
    if size not in SIZES[family]:
        raise LayoutError(f"{family} has no size {size}; valid sizes: {list(SIZES[family])}")


@functools.cache
def _minigrid_env(family: str, size: int) -> MiniGridEnv:
    return DoorKeyEnv(size=size) if family == "doorkey" else FourRoomsEnv()


def read_minigrid_level(env: MiniGridEnv) -> Layout:
    """The layout of the level a MiniGrid DoorKey or FourRooms env has just built."""
    walls, key, door, goal = set(), None, None, None
    key_color = door_color = "yellow"
    for x in range(env.width):
        for y in range(env.height):
            obj = env.grid.get(x, y)
            if isinstance(obj, Wall):
                walls.add((x, y))
            elif isinstance(obj, Key):
                key, key_color = (x, y), obj.color
            elif isinstance(obj, Door):
                door, door_color = (x, y), obj.color
            elif isinstance(obj, Goal):
                goal = (x, y)
            elif obj is not None:
                raise LayoutError(f"cannot read a {obj.type} at {(x, y)} into a layout")
    agent = tuple(int(v) for v in env.agent_pos)
    common = dict(
        width=env.width,
        height=env.height,
        walls=frozenset(walls),
        agent=agent,
        agent_dir=int(env.agent_dir),
    )
    if isinstance(env, DoorKeyEnv):
        return DoorKeyLayout(
            **common, door=door, goal=goal, key=key, key_color=key_color, door_color=door_color
        )
    return FourRoomsLayout(**common, goal=goal)


def doorkey(size: int, seed: int) -> DoorKeyLayout:
    """MiniGrid's ``MiniGrid-DoorKey-{size}x{size}`` level for ``seed``."""
    check_family_size("doorkey", size)
    env = _minigrid_env("doorkey", size)
    env.reset(seed=seed)
    return read_minigrid_level(env).require_solvable()


def fourrooms(seed: int, size: int = 19) -> FourRoomsLayout:
    """MiniGrid's ``MiniGrid-FourRooms-v0`` level for ``seed``."""
    check_family_size("fourrooms", size)
    env = _minigrid_env("fourrooms", size)
    env.reset(seed=seed)
    return read_minigrid_level(env).require_solvable()


def maze_walls(size: int, rng: np.random.Generator) -> frozenset[Cell]:
    """Walls of a seeded perfect maze on a ``size`` x ``size`` grid: :func:`carve_maze` with
    every choice drawn from ``rng``."""
    return carve_maze(size, lambda n: int(rng.integers(n)))


def carve_maze(size: int, choose: Callable[[int], int]) -> frozenset[Cell]:
    """Walls of a perfect maze on a ``size`` x ``size`` grid (depth-first search).

    Maze nodes sit on odd coordinates; carving the passage between two nodes frees the cell
    between them. At each step the search stands on a node with ``n`` unvisited neighbours
    (listed right, down, left, up) and carves into neighbour ``choose(n)``. Every choice
    sequence gives a perfect maze -- one simple path between any two free cells -- and choosing
    0 throughout gives the simplest one, which is what :mod:`avec.strategies` shrinks towards.
    """
    free = {(1, 1)}
    stack = [(1, 1)]
    while stack:
        x, y = stack[-1]
        options = [
            (x + 2 * dx, y + 2 * dy)
            for dx, dy in DIRECTIONS
            if 0 < x + 2 * dx < size - 1
            and 0 < y + 2 * dy < size - 1
            and (x + 2 * dx, y + 2 * dy) not in free
        ]
        if not options:
            stack.pop()
            continue
        n, choice = len(options), choose(len(options))
        if not 0 <= choice < n:
            raise ValueError(f"choose({n}) returned {choice}; valid: 0..{n - 1}")
        nx, ny = options[choice]
        free |= {((x + nx) // 2, (y + ny) // 2), (nx, ny)}
        stack.append((nx, ny))
    return frozenset((x, y) for x in range(size) for y in range(size) if (x, y) not in free)


def cheese_cells(
    size: int,
    walls: frozenset[Cell],
    cheese_region: CheeseRegion = "top_right",
    region: int = TOP_RIGHT_REGION,
) -> list[Cell]:
    """Cells the cheese may lie on, row-major: free cells but the agent's start, and with
    ``cheese_region="top_right"`` only those of the top-right ``region`` x ``region`` square."""
    _check_cheese_region(size, cheese_region, region)
    return [
        (x, y)
        for y in range(1, size - 1)
        for x in range(1, size - 1)
        if (x, y) not in walls
        and (x, y) != maze_start(size)
        and (cheese_region == "anywhere" or (x >= size - 1 - region and y <= region))
    ]


def _check_cheese_region(size: int, cheese_region: str, region: int) -> None:
    if cheese_region not in ("top_right", "anywhere"):
        raise LayoutError(f"cheese_region must be 'top_right' or 'anywhere', got {cheese_region!r}")
    if not 1 <= region <= size - 2:
        raise LayoutError(f"region must be 1..{size - 2} for size {size}, got {region}")


def maze_start(size: int) -> Cell:
    """The agent's start cell in a ``size`` x ``size`` maze: the bottom-left free corner."""
    return (1, size - 2)


def cheesemaze(
    size: int,
    seed: int,
    cheese_region: CheeseRegion = "top_right",
    region: int = TOP_RIGHT_REGION,
) -> CheeseMazeLayout:
    """A seeded perfect maze with the agent bottom-left and the cheese placed by region.

    Args:
        size: grid side, outer wall included; odd, 7 to 25.
        seed: the maze, the agent's facing and the cheese cell are a function of it.
        cheese_region: ``"top_right"`` draws the cheese from the free cells of the top-right
            ``region`` x ``region`` square (the training distribution, as in the paper);
            ``"anywhere"`` from every free cell but the agent's.
        region: side of the top-right square.
    """
    check_family_size("cheesemaze", size)
    _check_cheese_region(size, cheese_region, region)
    rng = np.random.default_rng(seed)
    walls = maze_walls(size, rng)
    agent = maze_start(size)
    agent_dir = int(rng.integers(4))
    candidates = cheese_cells(size, walls, cheese_region, region)
    cheese = candidates[rng.integers(len(candidates))]
    layout = CheeseMazeLayout(
        width=size, height=size, walls=walls, agent=agent, agent_dir=agent_dir, cheese=cheese
    )
    return layout.require_solvable()


def generate(family: str, size: int, seed: int, **options: object) -> Layout:
    """The layout of ``family`` at ``size`` for ``seed`` (``options`` go to the family)."""
    check_family_size(family, size)
    if family == "doorkey":
        return doorkey(size, seed, **options)
    if family == "fourrooms":
        return fourrooms(seed, size, **options)
    return cheesemaze(size, seed, **options)


__all__ = [
    "SIZES",
    "TOP_RIGHT_REGION",
    "carve_maze",
    "check_family_size",
    "cheese_cells",
    "cheesemaze",
    "doorkey",
    "fourrooms",
    "generate",
    "maze_start",
    "maze_walls",
    "read_minigrid_level",
]
