"""Observations of a batch of levels, exactly as MiniGrid's wrappers give them.

Two kinds, one per observation-wrapper stack the zoo trains with (:func:`view_of` maps one to
the other):

* ``egocentric`` -- ``ImgObsWrapper`` over the env: ``MiniGridEnv.gen_obs()["image"]``, the
  ``7 x 7 x 3`` square ahead of the agent, rotated so the agent faces up from the middle of the
  bottom row, with ``Grid.process_vis`` occlusion (cells hidden behind walls and closed doors
  encode as zeros, "unseen") and the carried object, or empty floor, in the agent's cell.
  Cells beyond the edge of the grid are walls, as ``Grid.slice`` makes them.
* ``full`` -- ``FullyObsWrapper`` then ``ImgObsWrapper``: ``Grid.encode()`` of the whole grid
  with the agent's cell overwritten by ``(agent, red, direction)``. Nothing egocentric is built.

Instead of slicing and rotating a grid the view kernel maps each view cell to the world
directly: view cell ``(i, j)`` lies ``6 - j`` cells ahead of the agent and ``i - 3`` to its
right.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from avec.engine.state import AGENT, DOOR, EMPTY, GREY, OPEN, RED, WALL, State
from avec.engine.step import DX, DY

VIEW = 7
"""MiniGrid's default ``agent_view_size``, the one every avec env uses."""

VIEWS: dict[tuple[str, ...], str] = {
    ("minigrid.wrappers.ImgObsWrapper",): "egocentric",
    ("minigrid.wrappers.FullyObsWrapper", "minigrid.wrappers.ImgObsWrapper"): "full",
}
"""The observation-wrapper stacks the engine reproduces, and the kind of view each gives."""


def view_of(wrappers: Sequence[str]) -> str:
    """``egocentric`` or ``full``: what the wrappers (dotted names, in order) observe."""
    try:
        return VIEWS[tuple(wrappers)]
    except KeyError:
        raise ValueError(
            f"the engine has no observation for wrappers {list(wrappers)}; valid: "
            f"{[list(w) for w in VIEWS]}"
        ) from None


@numba.njit(cache=True, nogil=True)
def _egocentric(grid, pos, dirs, carrying, rows, out):
    width, height = grid.shape[1], grid.shape[2]
    half = VIEW // 2
    cells = np.empty((VIEW, VIEW, 3), dtype=np.uint8)
    mask = np.empty((VIEW, VIEW), dtype=np.bool_)
    for k in range(rows.shape[0]):
        b = rows[k]
        d = dirs[b]
        fx, fy = DX[d], DY[d]
        rx, ry = -fy, fx
        for i in range(VIEW):
            for j in range(VIEW):
                ahead, right = VIEW - 1 - j, i - half
                x = pos[b, 0] + fx * ahead + rx * right
                y = pos[b, 1] + fy * ahead + ry * right
                if 0 <= x < width and 0 <= y < height:
                    for c in range(3):
                        cells[i, j, c] = grid[b, x, y, c]
                else:
                    cells[i, j, 0] = WALL
                    cells[i, j, 1] = GREY
                    cells[i, j, 2] = 0
                mask[i, j] = False
        # Grid.process_vis, line for line: light spreads from the agent along each row and up,
        # stopped by cells that cannot be seen behind (walls, doors that are not open).
        mask[half, VIEW - 1] = True
        for j in range(VIEW - 1, -1, -1):
            for i in range(VIEW - 1):
                if not mask[i, j]:
                    continue
                o = cells[i, j, 0]
                if o == WALL or (o == DOOR and cells[i, j, 2] != OPEN):
                    continue
                mask[i + 1, j] = True
                if j > 0:
                    mask[i + 1, j - 1] = True
                    mask[i, j - 1] = True
            for i in range(VIEW - 1, 0, -1):
                if not mask[i, j]:
                    continue
                o = cells[i, j, 0]
                if o == WALL or (o == DOOR and cells[i, j, 2] != OPEN):
                    continue
                mask[i - 1, j] = True
                if j > 0:
                    mask[i - 1, j - 1] = True
                    mask[i, j - 1] = True
        for i in range(VIEW):
            for j in range(VIEW):
                for c in range(3):
                    out[k, i, j, c] = cells[i, j, c] if mask[i, j] else 0
        if carrying[b, 0] != 0:
            for c in range(3):
                out[k, half, VIEW - 1, c] = carrying[b, c]
        else:
            out[k, half, VIEW - 1, 0] = EMPTY
            out[k, half, VIEW - 1, 1] = 0
            out[k, half, VIEW - 1, 2] = 0


@numba.njit(cache=True, nogil=True)
def _full(grid, pos, dirs, rows, out):
    for k in range(rows.shape[0]):
        b = rows[k]
        out[k] = grid[b]
        out[k, pos[b, 0], pos[b, 1], 0] = AGENT
        out[k, pos[b, 0], pos[b, 1], 1] = RED
        out[k, pos[b, 0], pos[b, 1], 2] = dirs[b]


def observation_shape(state: State, view: str) -> tuple[int, int, int]:
    """Shape of one observation of ``view`` (``egocentric`` or ``full``)."""
    return (VIEW, VIEW, 3) if view == "egocentric" else (*state.shape, 3)


def observe(state: State, view: str, rows: np.ndarray | None = None) -> np.ndarray:
    """``(len(rows), *obs_shape)`` uint8 observations of levels ``rows`` (default: all)."""
    rows = np.arange(len(state), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
    if view not in ("egocentric", "full"):
        raise ValueError(f"unknown view {view!r}; valid: egocentric, full")
    out = np.empty((rows.shape[0], *observation_shape(state, view)), dtype=np.uint8)
    if view == "egocentric":
        _egocentric(state.grid, state.pos, state.dir, state.carrying, rows, out)
    else:
        _full(state.grid, state.pos, state.dir, rows, out)
    return out


__all__ = ["VIEW", "VIEWS", "observation_shape", "observe", "view_of"]
