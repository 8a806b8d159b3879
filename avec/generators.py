"""Seeded layout generators, one per family.

``generate(family, size, seed)`` is a pure function of its arguments: the generator of
``family`` (:data:`GENERATORS`) at one of the sizes its registry entry declares
(:mod:`avec.families`). DoorKey, FourRooms and
LavaGap levels are MiniGrid's: each generator replays its MiniGrid env's ``_gen_grid`` -- the
same draws from the same ``np_random`` (``np.random.default_rng(seed)``, as Gymnasium seeds an
env), in the same order, with the same rejection sampling (``MiniGridEnv.place_obj``) -- on a
set of occupied cells instead of a ``Grid`` of objects. So ``generate("doorkey", 5, s)`` is
exactly the level ``gymnasium.make("MiniGrid-DoorKey-5x5-v0").reset(seed=s)`` builds
(``tests/test_generators.py`` compares them over many seeds and every size), for a few
microseconds instead of the milliseconds a MiniGrid reset costs (it builds objects and the
first observation). CheeseMaze levels come from a randomized depth-first search (a "perfect"
maze: one path between any two cells), as Procgen Maze's are; padded mazes draw a maze size per
level and centre the maze in a fixed canvas, as Procgen does; Procgen-move mazes
(:func:`procmaze`) are the same padded mazes.

Every generator returns solvable layouts only; an unsolvable draw is a bug and raises.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Literal

import numpy as np
from minigrid.core.world_object import Door, Goal, Key, Lava, Wall

from avec import families
from avec.families import TOP_RIGHT_REGION, padded_region
from avec.layouts import (
    DIRECTIONS,
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    LavaGapLayout,
    Layout,
    LayoutError,
    PaddedMazeLayout,
    ProcMazeLayout,
    outer_wall,
)

if TYPE_CHECKING:
    from minigrid.minigrid_env import MiniGridEnv

_AS_PROCMAZE = [f.name for f in dataclasses.fields(PaddedMazeLayout)]

Cell = tuple[int, int]

HELD_OUT_SEED_START = 2**30
"""Layout seeds from here on are never drawn in training; evaluations use them."""

CheeseRegion = Literal["top_right", "anywhere"]


def read_minigrid_level(env: MiniGridEnv) -> Layout:
    """The layout of the level a MiniGrid DoorKey, FourRooms or LavaGap env has just built
    (the reference the generators below are tested against)."""
    from minigrid.envs import DoorKeyEnv, LavaGapEnv

    env = env.unwrapped
    walls, lava, key, door, goal = set(), set(), None, None, None
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
            elif isinstance(obj, Lava):
                lava.add((x, y))
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
    if isinstance(env, LavaGapEnv):
        return LavaGapLayout(**common, goal=goal, lava=frozenset(lava))
    return FourRoomsLayout(**common, goal=goal)


# -- MiniGrid's level generation, replayed ------------------------------------------------------
# Each draw below is the call MiniGrid's _gen_grid makes, in its order: ``_rand_int(lo, hi)`` is
# ``np_random.integers(lo, hi)``, one scalar per call. A reordered or merged draw would shift
# every later one, so these stay literal transcriptions rather than vectorized code.


def _place(
    rng: np.random.Generator,
    occupied: Collection[Cell],
    size: tuple[int, int],
    avoid: Cell | None = None,
) -> Cell:
    """``MiniGridEnv.place_obj`` with ``top=(0, 0)`` on a grid at least ``size``: draw x, then
    y, until the cell holds nothing and is not ``avoid`` (the agent's cell)."""
    while True:
        pos = (int(rng.integers(0, size[0])), int(rng.integers(0, size[1])))
        if pos not in occupied and pos != avoid:
            return pos


def doorkey(size: int, seed: int) -> DoorKeyLayout:
    """MiniGrid's ``MiniGrid-DoorKey-{size}x{size}`` level for ``seed``
    (``DoorKeyEnv._gen_grid``)."""
    families.get("doorkey").check_size(size)
    rng = np.random.default_rng(seed)
    walls = outer_wall(size, size)
    goal = (size - 2, size - 2)
    split = int(rng.integers(2, size - 2))
    walls |= {(split, y) for y in range(size)}
    agent = _place(rng, walls | {goal}, (split, size))
    agent_dir = int(rng.integers(0, 4))
    door = (split, int(rng.integers(1, size - 2)))
    # The door replaces a cell of the splitting wall, so the key's draw still finds it taken.
    key = _place(rng, walls | {goal}, (split, size), avoid=agent)
    walls.discard(door)
    layout = DoorKeyLayout(
        width=size,
        height=size,
        walls=frozenset(walls),
        agent=agent,
        agent_dir=agent_dir,
        door=door,
        goal=goal,
        key=key,
    )
    return layout.require_solvable()


def fourrooms(seed: int, size: int = 19) -> FourRoomsLayout:
    """MiniGrid's ``MiniGrid-FourRooms-v0`` level for ``seed`` (``FourRoomsEnv._gen_grid``)."""
    families.get("fourrooms").check_size(size)
    rng = np.random.default_rng(seed)
    walls = outer_wall(size, size)
    room = size // 2
    for j in range(2):
        for i in range(2):
            left, top = i * room, j * room
            right, bottom = left + room, top + room
            if i == 0:
                walls |= {(right, top + k) for k in range(room)}
                walls.discard((right, int(rng.integers(top + 1, bottom))))
            if j == 0:
                walls |= {(left + k, bottom) for k in range(room)}
                walls.discard((int(rng.integers(left + 1, right)), bottom))
    agent = _place(rng, walls, (size, size))
    agent_dir = int(rng.integers(0, 4))
    goal = _place(rng, walls, (size, size), avoid=agent)
    layout = FourRoomsLayout(
        width=size,
        height=size,
        walls=frozenset(walls),
        agent=agent,
        agent_dir=agent_dir,
        goal=goal,
    )
    return layout.require_solvable()


def lavagap(size: int, seed: int) -> LavaGapLayout:
    """MiniGrid's ``MiniGrid-LavaGapS{size}-v0`` level for ``seed`` (``LavaGapEnv._gen_grid``)."""
    families.get("lavagap").check_size(size)
    rng = np.random.default_rng(seed)
    gap = (int(rng.integers(2, size - 2)), int(rng.integers(1, size - 1)))
    lava = {(gap[0], y) for y in range(1, size - 1)} - {gap}
    layout = LavaGapLayout(
        width=size,
        height=size,
        walls=frozenset(outer_wall(size, size)),
        agent=(1, 1),
        agent_dir=0,
        goal=(size - 2, size - 2),
        lava=frozenset(lava),
    )
    return layout.require_solvable()


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
    families.get("cheesemaze").check_size(size)
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


def paddedmaze(
    size: int,
    seed: int,
    cheese_region: CheeseRegion = "top_right",
    region: int | None = None,
    maze_size: int | None = None,
) -> PaddedMazeLayout:
    """A seeded maze of a drawn odd size, centred in a ``size`` x ``size`` canvas of walls.

    As Procgen's ``MazeGame::game_reset`` (openai/procgen ``maze.cpp``): the maze size is drawn
    uniformly from the odd sizes that fit, the maze is copied at the margin ``(size - n) / 2``
    and every other cell is wall. The agent starts in the maze's bottom-left cell. With
    ``cheese_region="top_right"`` the cheese lies in the top-right ``region`` x ``region``
    square of the maze's interior -- the whole maze when its interior is no larger.

    Args:
        size: canvas side, outer wall included: 13 or 25.
        seed: the maze size, the maze, the agent's facing and the cheese cell follow from it.
        cheese_region: ``"top_right"`` (training) or ``"anywhere"`` (evaluation).
        region: side of the top-right square of the maze's interior; the canvas's
            (:func:`avec.families.padded_region`) when not given.
        maze_size: draw a maze of this size only (odd, 5 to ``size``) instead of any.
    """
    families.get("paddedmaze").check_size(size)
    region = padded_region(size) if region is None else region
    if cheese_region not in ("top_right", "anywhere"):
        raise LayoutError(f"cheese_region must be 'top_right' or 'anywhere', got {cheese_region!r}")
    if region < 1:
        raise LayoutError(f"region must be at least 1, got {region}")
    choices = list(range(5, size + 1, 2))
    if maze_size is not None and maze_size not in choices:
        raise LayoutError(f"maze_size must be one of {choices} in a {size} canvas, got {maze_size}")
    rng = np.random.default_rng(seed)
    n = choices[int(rng.integers(len(choices)))] if maze_size is None else maze_size
    walls = maze_walls(n, rng)
    agent_dir = int(rng.integers(4))
    candidates = cheese_cells(n, walls, cheese_region, min(region, n - 2))
    cheese = candidates[rng.integers(len(candidates))]
    return pad_maze(size, n, walls, agent_dir, cheese).require_solvable()


def procmaze(size: int, seed: int, **options: object) -> ProcMazeLayout:
    """The padded maze of :func:`paddedmaze` (same arguments, same level for the same seed) as
    a level for agents with Procgen's four absolute moves."""
    return as_procmaze(paddedmaze(size, seed, **options))  # type: ignore[arg-type]


def as_procmaze(layout: PaddedMazeLayout) -> ProcMazeLayout:
    """The same padded maze, as a :class:`ProcMazeLayout`."""
    return ProcMazeLayout(**{name: getattr(layout, name) for name in _AS_PROCMAZE})


def pad_maze(
    size: int, maze_size: int, walls: frozenset[Cell], agent_dir: int, cheese: Cell | None
) -> PaddedMazeLayout:
    """A ``maze_size`` maze (walls and cheese in its own coordinates, agent at
    :func:`maze_start`) centred in a ``size`` canvas whose other cells are walls."""
    o = (size - maze_size) // 2
    inside = {(o + x, o + y) for x in range(maze_size) for y in range(maze_size)}
    padding = {(x, y) for x in range(size) for y in range(size)} - inside
    start = maze_start(maze_size)
    return PaddedMazeLayout(
        width=size,
        height=size,
        walls=frozenset({(o + x, o + y) for x, y in walls} | padding),
        agent=(o + start[0], o + start[1]),
        agent_dir=agent_dir,
        cheese=None if cheese is None else (o + cheese[0], o + cheese[1]),
        maze_size=maze_size,
    )


GENERATORS: dict[str, Callable[..., Layout]] = {
    "doorkey": doorkey,
    "fourrooms": lambda size, seed, **options: fourrooms(seed, size, **options),
    "cheesemaze": cheesemaze,
    "paddedmaze": paddedmaze,
    "procmaze": procmaze,
    "lavagap": lavagap,
}
"""Each family's generator, ``generator(size, seed, **options)``: the seeded level."""


def level(family: str, size: int, seed: int, **options: object) -> Layout:
    """The layout of ``family`` at ``size`` for ``seed`` (``options`` go to its generator),
    built afresh: training draws a new seed per episode, which a cache would only fill."""
    families.get(family).check_size(size)
    return GENERATORS[family](size, seed, **options)


@functools.lru_cache(maxsize=4096)
def generate(family: str, size: int, seed: int, **options: object) -> Layout:
    """:func:`level`, cached (layouts are immutable): every claim on every model of a family
    draws its trials from the same held-out seeds."""
    return level(family, size, seed, **options)


__all__ = [
    "GENERATORS",
    "HELD_OUT_SEED_START",
    "carve_maze",
    "cheese_cells",
    "cheesemaze",
    "doorkey",
    "fourrooms",
    "generate",
    "lavagap",
    "level",
    "maze_start",
    "maze_walls",
    "as_procmaze",
    "pad_maze",
    "paddedmaze",
    "procmaze",
    "read_minigrid_level",
]
