"""The state of a batch of grid-world levels, as a few integer arrays.

A MiniGrid level is a grid of cells, each holding at most one object, plus an agent with a
position, a direction and possibly a carried object. MiniGrid's own ``Grid.encode()`` already
describes every cell by three small integers -- object type, colour and state (a door's open /
closed / locked) -- and that encoding loses nothing the game's rules depend on, except what a
box contains. So a batch of levels is:

* ``grid``: ``(batch, width, height, 3)`` uint8, ``Grid.encode()`` of each level (indexed
  ``[x, y]`` like MiniGrid's observations);
* ``pos``: ``(batch, 2)`` agent cell ``(x, y)``; ``dir``: ``(batch,)`` direction (0 right,
  1 down, 2 left, 3 up);
* ``carrying``: ``(batch, 3)`` encoding of the carried object, all zeros when empty-handed;
* ``step_count`` and ``max_steps``: ``(batch,)`` actions taken and the episode's time limit;
* ``absolute``: whether actions are Procgen's four absolute moves (face a direction, step) rather
  than MiniGrid's (:attr:`avec.families.Family.absolute_moves`), one flag for the batch.

States are built from what MiniGrid itself builds, so the engine knows no layout family:
:func:`from_layouts` encodes what :func:`avec.envs.build_grid` would build from each layout
(the walls and the family's MiniGrid objects, each encoded by MiniGrid's own ``encode``, with
no ``Grid`` in between) and places the agent as the layout says; :func:`from_minigrid` reads
any reset (or stepped) ``MiniGridEnv``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX
from minigrid.core.world_object import Box, Wall

from avec import families

EMPTY, WALL, FLOOR, DOOR = (OBJECT_TO_IDX[n] for n in ("empty", "wall", "floor", "door"))
KEY, BALL, BOX, GOAL = (OBJECT_TO_IDX[n] for n in ("key", "ball", "box", "goal"))
LAVA, AGENT = OBJECT_TO_IDX["lava"], OBJECT_TO_IDX["agent"]
OPEN, CLOSED, LOCKED = (STATE_TO_IDX[n] for n in ("open", "closed", "locked"))
GREY, RED = COLOR_TO_IDX["grey"], COLOR_TO_IDX["red"]


@dataclass(eq=False)
class State:
    """A batch of levels in play; arrays are indexed by level first (see the module doc)."""

    grid: np.ndarray
    """``(batch, width, height, 3)`` uint8: object type, colour, state of every cell."""
    pos: np.ndarray
    """``(batch, 2)`` int64 agent cell ``(x, y)``."""
    dir: np.ndarray
    """``(batch,)`` int64 agent direction: 0 right, 1 down, 2 left, 3 up."""
    carrying: np.ndarray
    """``(batch, 3)`` uint8 encoding of the carried object; zeros when empty-handed."""
    step_count: np.ndarray
    """``(batch,)`` int64 actions taken since the level was reset."""
    max_steps: np.ndarray
    """``(batch,)`` int64 time limit: the episode is truncated once ``step_count`` reaches it."""
    absolute: bool = False
    """Actions are four absolute moves (0 right, 1 down, 2 left, 3 up), not MiniGrid's."""

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def shape(self) -> tuple[int, int]:
        """``(width, height)`` of the grids."""
        return self.grid.shape[1], self.grid.shape[2]

    def assign(self, rows: np.ndarray | Sequence[int], other: State) -> None:
        """Overwrite levels ``rows`` of this batch with the levels of ``other``, in order."""
        if other.shape != self.shape:
            raise ValueError(f"cannot put {other.shape} grids into a batch of {self.shape} grids")
        if other.absolute != self.absolute:
            raise ValueError("cannot put levels with absolute moves and turn actions in one batch")
        rows = np.asarray(rows, dtype=np.int64)
        for name in ("grid", "pos", "dir", "carrying", "step_count", "max_steps"):
            getattr(self, name)[rows] = getattr(other, name)

    def copy(self) -> State:
        return State(
            *(
                getattr(self, n).copy()
                for n in ("grid", "pos", "dir", "carrying", "step_count", "max_steps")
            ),
            absolute=self.absolute,
        )


def _stack(
    grids: Sequence[np.ndarray],
    agents: Sequence[tuple[int, int, int]],
    carried: Sequence[np.ndarray],
    step_counts: Sequence[int],
    max_steps: Sequence[int],
    absolute: bool = False,
) -> State:
    shapes = {g.shape for g in grids}
    if len(shapes) != 1:
        raise ValueError(
            f"levels of one batch must share a grid size; got {sorted(s[:2] for s in shapes)}"
        )
    return State(
        grid=np.stack(grids).astype(np.uint8),
        pos=np.array([a[:2] for a in agents], dtype=np.int64).reshape(-1, 2),
        dir=np.array([a[2] for a in agents], dtype=np.int64),
        carrying=np.array(carried, dtype=np.uint8).reshape(-1, 3),
        step_count=np.array(step_counts, dtype=np.int64),
        max_steps=np.array(max_steps, dtype=np.int64),
        absolute=absolute,
    )


@functools.lru_cache(maxsize=512)
def _walls(width: int, height: int, walls: frozenset[tuple[int, int]]) -> np.ndarray:
    """``Grid.encode()`` of a grid holding only ``walls`` (read-only)."""
    grid = np.zeros((width, height, 3), dtype=np.uint8)
    grid[..., 0] = EMPTY
    if walls:
        cells = np.array(sorted(walls), dtype=np.int64)
        grid[cells[:, 0], cells[:, 1]] = _WALL_CODE
    grid.flags.writeable = False
    return grid


_WALL_CODE = Wall().encode()


@functools.lru_cache(maxsize=4096)
def _encoded(layout: Any) -> np.ndarray:
    """``build_grid(layout).encode()`` without building MiniGrid's grid of objects: the walls,
    then the family's world objects over them, as :func:`avec.envs.build_grid` sets them
    (read-only)."""
    grid = _walls(layout.width, layout.height, layout.walls).copy()
    for (x, y), obj in families.of(layout).world_objects(layout):
        grid[x, y] = obj.encode()
    grid.flags.writeable = False
    return grid


def from_layouts(layouts: Sequence[Any], max_steps: int | Sequence[int] | None = None) -> State:
    """Levels at their start state, as a MiniGrid ``LayoutEnv`` resets onto them.

    ``max_steps``: one limit for all, one per layout, or (default) each layout's family default
    (:attr:`avec.families.Family.max_steps`), as ``LayoutEnv`` uses.
    """
    if not layouts:
        raise ValueError("a batch needs at least one layout")
    if max_steps is None:
        limits = [families.get(lay.family).max_steps(lay.width) for lay in layouts]
    elif isinstance(max_steps, (int, np.integer)):
        limits = [int(max_steps)] * len(layouts)
    else:
        limits = [int(m) for m in max_steps]
        if len(limits) != len(layouts):
            raise ValueError(f"got {len(limits)} max_steps for {len(layouts)} layouts")
    if min(limits) < 1:
        raise ValueError(f"max_steps must be at least 1, got {min(limits)}")
    moves = {families.of(lay).absolute_moves for lay in layouts}
    if len(moves) != 1:
        raise ValueError("levels of one batch must share their actions (absolute moves or turns)")
    return _stack(
        [_encoded(lay) for lay in layouts],
        [(*lay.agent, lay.agent_dir) for lay in layouts],
        [np.zeros(3, dtype=np.uint8)] * len(layouts),
        [0] * len(layouts),
        limits,
        moves.pop(),
    )


def from_minigrid(envs: Sequence[Any]) -> State:
    """The current state of MiniGrid envs (any ``MiniGridEnv``, wrapped or not), e.g. just reset.

    A box that holds something cannot be encoded (toggling it would reveal what it holds), so it
    is refused.
    """
    if not envs:
        raise ValueError("a batch needs at least one env")
    grids, agents, carried, steps, limits, moves = [], [], [], [], [], set()
    for env in envs:
        base = env.unwrapped
        for obj in [*base.grid.grid, base.carrying]:
            if isinstance(obj, Box) and obj.contains is not None:
                raise ValueError(f"the engine cannot hold a box with contents ({obj.contains})")
        grids.append(base.grid.encode())
        agents.append((int(base.agent_pos[0]), int(base.agent_pos[1]), int(base.agent_dir)))
        carried.append(np.zeros(3) if base.carrying is None else base.carrying.encode())
        steps.append(base.step_count)
        limits.append(base.max_steps)
        family = getattr(base, "family", None)
        moves.add(family is not None and families.get(family).absolute_moves)
    if len(moves) != 1:
        raise ValueError("envs of one batch must share their actions (absolute moves or turns)")
    return _stack(grids, agents, carried, steps, limits, moves.pop())


__all__ = ["State", "from_layouts", "from_minigrid"]
