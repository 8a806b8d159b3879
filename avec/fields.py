"""Vector fields: where a policy would move from every free cell, drawn as arrows.

The maze paper (Turner, Mini et al. 2023, arXiv 2310.08043) draws, for every free square, the
policy's net movement probability as an arrow, and the field of a patched policy beside the
original: a cheese vector that works turns the arrows away from the cheese. Procgen's mouse
moves in four compass directions; MiniGrid's agent turns and moves forward, so a cell alone
does not fix where it would go. We place the agent on each cell facing each of the four
directions ``d`` and define the cell's arrow as

    v(cell) = 1/4 * sum_d P(forward | cell, d) * unit(d)         (grid coordinates, y down)

the expected displacement of the next action when the facing is uniform. A policy that walks
right whatever it sees only moves when it faces right, so its arrows are ``(1/4, 0)``; the
largest possible arrow is ``(1/4, 1/4)``, drawn :data:`ARROW_SCALE` times longer. An agent with
Procgen's four absolute moves (:attr:`avec.families.Family.absolute_moves`) moves in direction
``a`` with action ``a`` whatever it faces, so its arrow reads the moves directly, as the paper's:

    v(cell) = 1/4 * sum_d sum_a P(a | cell, d) * unit(a)

(the facing, still part of what it sees, averaged out the same way); its longest arrow is 1.
(Another choice is the single facing the agent arrives with, as
:func:`avec.metrics.decision_state` uses; the mean over facings needs no path and treats every
cell alike.)

Each state is the *start* observation of the layout with the agent moved there
(:func:`avec.edits.move_agent`, :func:`avec.envs.observe`), all ``4 * n_cells`` of them in one
batched forward pass. A patched field is the same pass inside a context manager, given as a
zero-argument factory -- e.g. ``lambda: hooks.patch(policy, {layer: vector})`` -- so any
steering mechanism can be drawn. This module computes; :func:`avec.plots.plot_fields` draws:
a metric never renders.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from avec import edits, envs, families, rollouts
from avec.layouts import (
    DIRECTIONS,
    Layout,
)
from avec.metrics import FORWARD

Cell = tuple[int, int]
PatchFactory = Callable[[], AbstractContextManager[object]]
"""A zero-argument callable returning a context manager inside which the policy is patched."""

ARROW_SCALE = 2.5
"""Drawn arrow length in cells per unit of net movement (so the longest arrow spans 0.9 cell)."""

_UNITS = np.array(DIRECTIONS, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class VectorField:
    """A policy's net movement at each free cell of one layout."""

    layout: Layout
    """The level the field was computed on."""
    cells: tuple[Cell, ...]
    """The cells with an arrow, in row-major order."""
    vectors: np.ndarray
    """``(n_cells, 2)`` net movement ``(dx, dy)`` per cell, in grid coordinates (y down)."""
    probs: np.ndarray | None
    """``(n_cells, 4, n_actions)`` action probabilities per cell and facing; ``None`` for a
    difference of two fields."""

    def at(self, cell: Cell) -> np.ndarray:
        """The ``(2,)`` arrow at ``cell``."""
        try:
            return self.vectors[self.cells.index(tuple(cell))]
        except ValueError:
            raise KeyError(f"{cell} has no arrow: a wall, an object or off the grid") from None


def longest_arrow(layout: Layout) -> float:
    """The longest arrow a policy can have on ``layout``'s family: ``hypot(1/4, 1/4)`` for
    turn-and-forward agents, 1 for agents with absolute moves."""
    return 1.0 if families.of(layout).absolute_moves else float(np.hypot(0.25, 0.25))


def net_movement(probs: np.ndarray, absolute: bool = False) -> np.ndarray:
    """``(n_cells, 2)`` arrows from ``(n_cells, 4, n_actions)`` probabilities per facing
    (``absolute``: the actions are the four absolute moves)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 3 or probs.shape[1] != 4 or probs.shape[2] <= FORWARD:
        raise ValueError(f"probs must be (n_cells, 4 facings, n_actions >= 3), got {probs.shape}")
    if absolute:
        if probs.shape[2] != len(_UNITS):
            raise ValueError(f"absolute moves need 4 action probabilities, got {probs.shape[2]}")
        return probs.mean(axis=1) @ _UNITS
    return probs[:, :, FORWARD] @ _UNITS / 4


def field_from_probs(layout: Layout, cells: Sequence[Cell], probs: np.ndarray) -> VectorField:
    """The field of ``(n_cells, 4, n_actions)`` probabilities at ``cells`` of ``layout``."""
    cells = tuple((int(x), int(y)) for x, y in cells)
    if len(cells) != len(probs):
        raise ValueError(f"{len(cells)} cells but probabilities for {len(probs)}")
    absolute = families.of(layout).absolute_moves
    return VectorField(layout, cells, net_movement(probs, absolute), np.asarray(probs))


def start_states(layout: Layout, cells: Sequence[Cell] | None = None) -> list[Layout]:
    """``4 * n_cells`` layouts: the agent on each cell (default: every free cell) facing
    right, down, left, up in turn."""
    cells = layout.free_cells() if cells is None else cells
    return [edits.move_agent(layout, cell, d) for cell in cells for d in range(4)]


def _probs(agent: Any, obs: np.ndarray, patch: PatchFactory | None) -> np.ndarray:
    with patch() if patch is not None else contextlib.nullcontext():
        probs = rollouts.action_probabilities(agent, obs)
    return probs.reshape(len(obs) // 4, 4, -1)


def vector_field(
    agent: Any,
    layout: Layout,
    wrappers: Sequence[str],
    patch: PatchFactory | None = None,
    cells: Sequence[Cell] | None = None,
) -> VectorField:
    """The field of ``agent`` (a zoo :class:`~avec.zoo.Agent`, an SB3 algorithm or its policy)
    on ``layout`` observed through ``wrappers`` (as in the model's manifest), over ``cells``
    (default: every free cell), patched inside ``patch()`` if given."""
    cells = layout.free_cells() if cells is None else list(cells)
    obs = envs.observe(start_states(layout, cells), wrappers)
    return field_from_probs(layout, cells, _probs(agent, obs, patch))


def vector_fields(
    agent: Any,
    layout: Layout,
    wrappers: Sequence[str],
    patch: PatchFactory,
    cells: Sequence[Cell] | None = None,
) -> tuple[VectorField, VectorField]:
    """The original and the patched field, from one set of observations."""
    cells = layout.free_cells() if cells is None else list(cells)
    obs = envs.observe(start_states(layout, cells), wrappers)
    return (
        field_from_probs(layout, cells, _probs(agent, obs, None)),
        field_from_probs(layout, cells, _probs(agent, obs, patch)),
    )


def difference(original: VectorField, patched: VectorField) -> VectorField:
    """The field ``patched - original`` (both on the same layout and cells)."""
    if original.layout != patched.layout or original.cells != patched.cells:
        raise ValueError("fields must be on the same layout and cells to subtract them")
    return VectorField(original.layout, original.cells, patched.vectors - original.vectors, None)


# -- report figures: fields as JSON data ------------------------------------------------------


def field_data(
    original: VectorField,
    patched: VectorField | None = None,
    title: str | None = None,
    removal: VectorField | None = None,
) -> dict[str, Any]:
    """JSON form of a field (its patched twin, and the field on the level without the feature)
    for the report's ``vector_field`` figures: ``{"title", "ascii", "cells": [[x, y], ...],
    "original": [[dx, dy], ...], "patched", "removal"}``.

    The report draws it with :func:`avec.plots.draw_field_data`, never touching an agent.
    """
    data: dict[str, Any] = {
        "title": title or "",
        "ascii": original.layout.to_ascii(),
        "cells": [list(cell) for cell in original.cells],
        "original": original.vectors.tolist(),
    }
    if patched is not None:
        if patched.layout != original.layout or patched.cells != original.cells:
            raise ValueError("the patched field must be on the original's layout and cells")
        data["patched"] = patched.vectors.tolist()
    if removal is not None:
        if removal.cells != original.cells:
            raise ValueError("the removal field must be on the original's cells")
        data["removal"] = removal.vectors.tolist()
    return data


__all__ = [
    "ARROW_SCALE",
    "PatchFactory",
    "VectorField",
    "difference",
    "field_data",
    "field_from_probs",
    "longest_arrow",
    "net_movement",
    "start_states",
    "vector_field",
    "vector_fields",
]
