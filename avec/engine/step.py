"""One step of MiniGrid's rules for a batch of levels, compiled with numba.

The rules are ``MiniGridEnv.step`` (minigrid 3.x) cell for cell. The step count grows first;
then, with the cell in front of the agent:

* 0 left, 1 right: turn.
* 2 forward: move if the cell is empty or can be overlapped (floor, goal, lava, an open door);
  a goal ends the episode with reward ``1 - 0.9 * step_count / max_steps``, lava ends it with 0.
* 3 pickup: take a key, ball or box if empty-handed.
* 4 drop: put the carried object on an *empty* cell (not on floor, goal or lava).
* 5 toggle: a locked door opens only for a key of its colour; a closed door opens; an open door
  closes; a box is replaced by its contents (the engine holds only empty boxes).
* 6 done: nothing.

With absolute moves (``State.absolute``, Procgen's mouse) there are four actions: action ``d``
sets the agent's direction to ``d`` (0 right, 1 down, 2 left, 3 up), then moves forward as
above -- what ``avec.envs.LayoutEnv`` does for such families, in one step of the episode.

The episode is truncated once the step count reaches ``max_steps`` (also on the step that ends it).
Levels are stepped in place; episodes that ended are not reset here (see :mod:`.vecenv`).
"""

from __future__ import annotations

import numba
import numpy as np

from avec.engine.state import (
    BALL,
    BOX,
    CLOSED,
    DOOR,
    EMPTY,
    FLOOR,
    GOAL,
    KEY,
    LAVA,
    LOCKED,
    OPEN,
    State,
)
from avec.families import ABSOLUTE_MOVES

N_ACTIONS = 7
"""MiniGrid's actions: left, right, forward, pickup, drop, toggle, done."""

FORWARD = 2

DX = np.array([1, 0, -1, 0], dtype=np.int64)
DY = np.array([0, 1, 0, -1], dtype=np.int64)
"""Unit step of directions 0 right, 1 down, 2 left, 3 up."""


@numba.njit(cache=True, nogil=True)
def _step(grid, pos, dirs, carrying, step_count, max_steps, rows, actions, reward, term, trunc):
    width, height = grid.shape[1], grid.shape[2]
    for k in range(rows.shape[0]):
        b = rows[k]
        action = actions[k]
        step_count[b] += 1
        reward[k] = 0.0
        term[k] = False
        d = dirs[b]
        fx = pos[b, 0] + DX[d]
        fy = pos[b, 1] + DY[d]
        inside = 0 <= fx < width and 0 <= fy < height
        # Outside the grid behaves as a wall (MiniGrid levels are walled in; this is a guard).
        obj = grid[b, fx, fy, 0] if inside else 2
        if action == 0:
            dirs[b] = (d + 3) % 4
        elif action == 1:
            dirs[b] = (d + 1) % 4
        elif action == 2:
            state = grid[b, fx, fy, 2] if inside else 0
            if obj in (EMPTY, FLOOR, GOAL, LAVA) or (obj == DOOR and state == OPEN):
                pos[b, 0] = fx
                pos[b, 1] = fy
            if obj == GOAL:
                term[k] = True
                reward[k] = 1.0 - 0.9 * (step_count[b] / max_steps[b])
            elif obj == LAVA:
                term[k] = True
        elif action == 3:
            if obj in (KEY, BALL, BOX) and carrying[b, 0] == 0:
                for c in range(3):
                    carrying[b, c] = grid[b, fx, fy, c]
                grid[b, fx, fy, 0] = EMPTY
                grid[b, fx, fy, 1] = 0
                grid[b, fx, fy, 2] = 0
        elif action == 4:
            if obj == EMPTY and carrying[b, 0] != 0:
                for c in range(3):
                    grid[b, fx, fy, c] = carrying[b, c]
                    carrying[b, c] = 0
        elif action == 5:
            if obj == DOOR:
                state = grid[b, fx, fy, 2]
                if state == LOCKED:
                    if carrying[b, 0] == KEY and carrying[b, 1] == grid[b, fx, fy, 1]:
                        grid[b, fx, fy, 2] = OPEN
                elif state == OPEN:
                    grid[b, fx, fy, 2] = CLOSED
                else:
                    grid[b, fx, fy, 2] = OPEN
            elif obj == BOX:
                grid[b, fx, fy, 0] = EMPTY
                grid[b, fx, fy, 1] = 0
                grid[b, fx, fy, 2] = 0
        trunc[k] = step_count[b] >= max_steps[b]


def step(
    state: State, actions: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``actions[k]`` to level ``rows[k]`` (default: every level in order), in place.

    Returns ``(reward, terminated, truncated)``, each ``(len(rows),)``: float64 and bools.
    """
    rows = np.arange(len(state), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    actions = np.asarray(actions, dtype=np.int64)
    if actions.shape != rows.shape:
        raise ValueError(f"got {actions.shape[0]} actions for {rows.shape[0]} levels")
    valid = ABSOLUTE_MOVES if state.absolute else N_ACTIONS
    if actions.size and (actions.min() < 0 or actions.max() >= valid):
        bad = actions[(actions < 0) | (actions >= valid)][0]
        raise ValueError(f"unknown action {bad}; valid: 0..{valid - 1}")
    if state.absolute:
        state.dir[rows] = actions
        actions = np.full_like(actions, FORWARD)
    n = rows.shape[0]
    reward = np.empty(n, dtype=np.float64)
    term = np.empty(n, dtype=np.bool_)
    trunc = np.empty(n, dtype=np.bool_)
    _step(
        state.grid,
        state.pos,
        state.dir,
        state.carrying,
        state.step_count,
        state.max_steps,
        rows,
        actions,
        reward,
        term,
        trunc,
    )
    return reward, term, trunc


__all__ = ["N_ACTIONS", "step"]
