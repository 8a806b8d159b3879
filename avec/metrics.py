"""Behavioural metrics: what a policy intends, where it goes, how much a patch changed it.

Pure functions of layouts, action probabilities and recorded outcomes; nothing here plays an
episode or renders (see :mod:`avec.rollouts` and :mod:`avec.fields`).

**Intent.** MiniGrid's agent turns left (action 0), turns right (1) and moves forward (2), so
"a step toward the key" depends on which way it faces. A breadth-first search over states
``(cell, direction)`` gives, for every state, the fewest actions to a target; the actions
that start such a shortest sequence form the set :func:`shortest_path_actions` returns, and
``intent = P(next action in that set)``. Turning around in a corridor is two actions either
way, so both turns are in the set; at a dead end facing the wall, likewise.

Targets (:data:`TARGETS`): ``key``, ``door``, ``goal``, ``cheese``, ``top_right`` (the maze's
top-right corner, :attr:`~avec.layouts.CheeseMazeLayout.top_right`). The key is picked up and
the locked door toggled from the cell in front of them, so for those two the search ends when
the agent stands next to the object *facing* it (``adjacent=True``), and
:func:`target_actions` then names the interaction (pickup 3, toggle 5). Objects other than the
target block the way: the agent cannot walk through a key, a locked door, or onto a goal or
the cheese without ending the episode. An open door is passable (``door_open=True``); for the
states after the key is picked up, search ``avec.edits.remove(layout, "key")``.

**Absolute moves.** Agents of a family with Procgen's moves
(:attr:`avec.families.Family.absolute_moves`) act with four actions, 0 right, 1 down, 2 left,
3 up, each facing that way and stepping: the facing no longer matters, the search runs over
cells, and the actions that start a shortest way are the moves into a cell one step nearer.

**Decision square** (Turner, Mini et al. 2023, arXiv 2310.08043): the last cell shared by the
shortest cell paths from the start to the cheese and to the top-right corner. The agent
arrives there facing along its path, so :func:`decision_state` pairs the cell with the
direction of the last step into it (the start direction when the fork is the start cell);
P(cheese | decision square) and P(top-right | decision square) are the intents there.

**Outcomes** are plain arrays, independent of how they were recorded: ``(n_episodes,)``
booleans for rates (key pickup, success, cheese, top-right: all :func:`rate`) and per-episode
step counts. **Distances** between action distributions take ``(..., n_actions)`` arrays.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from avec import families, stats
from avec.layouts import DIRECTIONS, CheeseMazeLayout, DoorKeyLayout, Layout, LayoutError

Cell = tuple[int, int]
State = tuple[Cell, int]
"""A cell and a MiniGrid direction (0 right, 1 down, 2 left, 3 up)."""

TURN_LEFT, TURN_RIGHT, FORWARD, PICKUP, TOGGLE = 0, 1, 2, 3, 5
"""MiniGrid's actions (4 drops, 6 is "done"; neither moves the agent)."""

MOVES = (TURN_LEFT, TURN_RIGHT, FORWARD)
"""The actions that change the agent's state; the search is over these."""

TARGETS = ("key", "door", "goal", "cheese", "top_right", "lava")
"""Names :func:`target_cells` understands."""

_INTERACTION = {"key": PICKUP, "door": TOGGLE}


# -- breadth-first search over (cell, direction) ----------------------------------------------


def _step(passable: _Cells, state: State, action: int, absolute: bool = False) -> State:
    (x, y), d = state
    if absolute:
        d = action
        action = FORWARD
    if action == TURN_LEFT:
        return ((x, y), (d - 1) % 4)
    if action == TURN_RIGHT:
        return ((x, y), (d + 1) % 4)
    dx, dy = DIRECTIONS[d]
    ahead = (x + dx, y + dy)
    return (ahead, d) if ahead in passable else ((x, y), d)


class _Level:
    """A layout as the search sees it: equal and hashed by everything but the agent's start,
    so the states of one level (probes along a path, decision squares) share one search."""

    __slots__ = ("key", "layout")

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        objects, terrain = tuple(layout.objects().items()), tuple(layout.terrain().items())
        self.key = (type(layout), layout.width, layout.height, layout.walls, objects, terrain)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Level) and self.key == other.key


class _Cells:
    """A set of cells as a ``(width, height)`` boolean array: ``cell in cells``."""

    __slots__ = ("array",)

    def __init__(self, cells: frozenset[Cell], width: int, height: int) -> None:
        self.array = np.zeros((width, height), dtype=bool)
        for x, y in cells:
            self.array[x, y] = True

    def __contains__(self, cell: object) -> bool:
        x, y = cell  # type: ignore[misc]
        width, height = self.array.shape
        return 0 <= x < width and 0 <= y < height and bool(self.array[x, y])


class _Distances:
    """Action distances as a ``(width, height, 4)`` array (-1: cannot reach the target):
    ``get(state)``, as a dict of the states that can. Arrays keep a cached search small."""

    __slots__ = ("array",)

    def __init__(self, distance: dict[State, int], width: int, height: int) -> None:
        self.array = np.full((width, height, 4), -1, dtype=np.int32)
        for ((x, y), d), steps in distance.items():
            self.array[x, y, d] = steps

    def get(self, state: State) -> int | None:
        (x, y), d = state
        steps = int(self.array[x, y, d])
        return None if steps < 0 else steps


def _search(
    layout: Layout, targets: frozenset[Cell], adjacent: bool, door_open: bool
) -> tuple[_Cells, _Distances]:
    """Passable cells and the action distance of every state that can reach the target."""
    absolute = families.of(layout).absolute_moves
    return _level_search(_Level(layout), targets, adjacent, door_open, absolute)


@functools.lru_cache(maxsize=4096)
def _level_search(
    level: _Level, targets: frozenset[Cell], adjacent: bool, door_open: bool, absolute: bool
) -> tuple[_Cells, _Distances]:
    layout = level.layout
    blocked = set(layout.walls) | {c for c in layout.objects().values() if c is not None}
    blocked |= {c for cells in layout.terrain().values() for c in cells}
    if door_open and isinstance(layout, DoorKeyLayout):
        blocked.discard(layout.door)
    if not adjacent:
        blocked -= targets - layout.walls
    passable = frozenset(
        (x, y) for x in range(layout.width) for y in range(layout.height) if (x, y) not in blocked
    )
    if adjacent:
        goals = [
            (c, d)
            for c in passable
            for d, (dx, dy) in enumerate(DIRECTIONS)
            if (c[0] + dx, c[1] + dy) in targets
        ]
    else:
        goals = [(c, d) for c in targets & passable for d in range(4)]
    if absolute:
        # Any facing moves any way: (cell, d) is one move from every cell beside it, whatever d.
        goals = [(c, d) for c in {cell for cell, _ in goals} for d in range(4)]
    distance = dict.fromkeys(goals, 0)
    queue = deque(goals)
    while absolute and queue:
        cell, d = queue.popleft()
        for dx, dy in DIRECTIONS:
            prev = (cell[0] + dx, cell[1] + dy)
            if prev in passable and (prev, 0) not in distance:
                for facing in range(4):
                    distance[(prev, facing)] = distance[(cell, d)] + 1
                queue.append((prev, 0))
    # Search backwards: the predecessors of (c, d) are the two turns into d, and a step
    # forward from the cell behind c.
    while queue:
        (cell, d) = state = queue.popleft()
        dx, dy = DIRECTIONS[d]
        behind = (cell[0] - dx, cell[1] - dy)
        previous = [(cell, (d + 1) % 4), (cell, (d - 1) % 4)]
        if behind in passable:
            previous.append((behind, d))
        for prev in previous:
            if prev not in distance:
                distance[prev] = distance[state] + 1
                queue.append(prev)
    size = (layout.width, layout.height)
    return _Cells(passable, *size), _Distances(distance, *size)


def _checked_state(passable: _Cells, cell: Cell, direction: int) -> State:
    cell = (int(cell[0]), int(cell[1]))
    if direction not in range(4):
        raise ValueError(f"direction must be 0..3 (right, down, left, up), got {direction}")
    if cell not in passable:
        raise LayoutError(f"the agent cannot stand at {cell}: it is a wall or an object")
    return (cell, int(direction))


def distance(
    layout: Layout,
    cell: Cell,
    direction: int,
    target_cells: Iterable[Cell],
    adjacent: bool = False,
    door_open: bool = False,
) -> int | None:
    """Fewest turn/forward actions from ``(cell, direction)`` to a target cell, or ``None``.

    With ``adjacent=True`` the target is reached when the agent stands next to it facing it.
    """
    passable, dist = _search(layout, frozenset(target_cells), adjacent, door_open)
    return dist.get(_checked_state(passable, cell, direction))


def shortest_path_actions(
    layout: Layout,
    cell: Cell,
    direction: int,
    target_cells: Iterable[Cell],
    adjacent: bool = False,
    door_open: bool = False,
) -> frozenset[int]:
    """Actions (of turn left 0, turn right 1, forward 2; with absolute moves, of the four moves)
    that start a shortest way to a target.

    Empty when the agent is already there or cannot get there.
    """
    passable, dist = _search(layout, frozenset(target_cells), adjacent, door_open)
    state = _checked_state(passable, cell, direction)
    here = dist.get(state)
    if not here:
        return frozenset()
    absolute = families.of(layout).absolute_moves
    moves = range(4) if absolute else MOVES
    return frozenset(a for a in moves if dist.get(_step(passable, state, a, absolute)) == here - 1)


def target_cells(layout: Layout, target: str) -> frozenset[Cell]:
    """The cells of a named target (one of :data:`TARGETS`) in ``layout``."""
    if target == "top_right":
        if not isinstance(layout, CheeseMazeLayout):
            raise LayoutError(
                f"only cheesemaze layouts have a top_right target, not {layout.family}"
            )
        if layout.top_right in layout.walls:
            raise LayoutError(f"the top-right corner {layout.top_right} of this maze is a wall")
        return frozenset({layout.top_right})
    if target in layout.terrain():
        if not layout.terrain()[target]:
            raise LayoutError(f"this {layout.family} layout has no {target}")
        return layout.terrain()[target]
    objects = layout.objects()
    if target not in TARGETS or target not in objects:
        valid = [t for t in TARGETS if t in objects or (t == "top_right" and "cheese" in objects)]
        raise LayoutError(f"{layout.family} layouts have no target {target!r}; valid: {valid}")
    if objects[target] is None:
        raise LayoutError(f"this {layout.family} layout has no {target}")
    return frozenset({objects[target]})


def target_actions(
    layout: Layout,
    target: str,
    cell: Cell | None = None,
    direction: int | None = None,
    door_open: bool = False,
) -> frozenset[int]:
    """Actions that start a shortest way to a named target from ``(cell, direction)``.

    Defaults to the layout's start state. For the key and the locked door, once the agent
    faces them the set is the interaction: ``{PICKUP}`` or ``{TOGGLE}``.
    """
    cell = layout.agent if cell is None else cell
    direction = layout.agent_dir if direction is None else direction
    cells = target_cells(layout, target)
    adjacent = target == "key" or (target == "door" and not door_open)
    actions = shortest_path_actions(layout, cell, direction, cells, adjacent, door_open)
    if adjacent and not actions and distance(layout, cell, direction, cells, True, door_open) == 0:
        return frozenset({_INTERACTION[target]})
    return actions


def intent(probs: np.ndarray, actions: Iterable[int]) -> float:
    """P(next action in ``actions``) under ``(n_actions,)`` action probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"probs must be one distribution of shape (n_actions,), got {probs.shape}")
    actions = sorted(actions)
    if any(a not in range(len(probs)) for a in actions):
        raise ValueError(f"actions {actions} out of range for {len(probs)} action probabilities")
    return float(probs[actions].sum())


def intent_at_start(layout: Layout, probs: np.ndarray, target: str) -> float:
    """P(the first action heads for ``target``) given ``(n_actions,)`` start probabilities."""
    return intent(probs, target_actions(layout, target))


# -- the maze paper's decision square ---------------------------------------------------------


def _cell_path(layout: Layout, start: Cell, goal: Cell) -> list[Cell] | None:
    """A shortest path of cells through non-wall cells (the unique one in a perfect maze)."""
    parent: dict[Cell, Cell | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            path = [cell]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])
            return path[::-1]
        for dx, dy in DIRECTIONS:
            nxt = (cell[0] + dx, cell[1] + dy)
            if nxt not in parent and layout.in_bounds(nxt) and nxt not in layout.walls:
                parent[nxt] = cell
                queue.append(nxt)
    return None


@functools.lru_cache(maxsize=512)
def _fork(maze: CheeseMazeLayout) -> tuple[list[Cell], int] | None:
    if not isinstance(maze, CheeseMazeLayout) or maze.cheese is None:
        raise LayoutError("the decision square needs a cheesemaze layout with cheese")
    to_cheese = _cell_path(maze, maze.agent, maze.cheese)
    to_corner = _cell_path(maze, maze.agent, maze.top_right)
    if to_cheese is None or to_corner is None:
        return None
    shared = 0
    while shared < min(len(to_cheese), len(to_corner)) and to_cheese[shared] == to_corner[shared]:
        shared += 1
    fork = to_cheese[shared - 1]
    if fork in (maze.cheese, maze.top_right):
        return None
    return to_cheese, shared - 1


def decision_square(maze: CheeseMazeLayout) -> Cell | None:
    """The last cell shared by the shortest paths from the start to the cheese and to the
    top-right corner; ``None`` when one target lies on the way to the other (no fork)."""
    fork = _fork(maze)
    return None if fork is None else fork[0][fork[1]]


def decision_state(maze: CheeseMazeLayout) -> State | None:
    """The decision square and the direction the agent arrives in, facing along its path
    (the start direction if the decision square is the start cell); ``None`` without a fork."""
    fork = _fork(maze)
    if fork is None:
        return None
    path, i = fork
    if i == 0:
        return (path[0], maze.agent_dir)
    step = (path[i][0] - path[i - 1][0], path[i][1] - path[i - 1][1])
    return (path[i], DIRECTIONS.index(step))


@dataclass(frozen=True)
class DecisionIntent:
    """Where the policy heads from the decision square.

    Arriving along its path, the agent faces on and the two ways out are different single
    actions (forward, or a turn). Only when the fork is the start cell and the agent starts
    facing neither way can one turn begin both (facing a wall, "turn left" may start both);
    then ``p_cheese + p_top_right`` counts that turn twice and exceeds ``1 - p_other``.
    """

    p_cheese: float
    """P(next action starts a shortest path to the cheese | decision state)."""
    p_top_right: float
    """P(next action starts a shortest path to the top-right corner | decision state)."""
    p_other: float
    """P(next action starts neither)."""


def decision_intent(maze: CheeseMazeLayout, probs: np.ndarray) -> DecisionIntent:
    """P(cheese | decision square) and P(top-right | decision square), from the ``(n_actions,)``
    action probabilities at :func:`decision_state`. Raises if the maze has no fork."""
    state = decision_state(maze)
    if state is None:
        raise LayoutError("this maze has no decision square: one target lies on the other's path")
    cell, direction = state
    to_cheese = target_actions(maze, "cheese", cell, direction)
    to_corner = target_actions(maze, "top_right", cell, direction)
    return DecisionIntent(
        intent(probs, to_cheese),
        intent(probs, to_corner),
        1.0 - intent(probs, to_cheese | to_corner),
    )


# -- outcomes over episodes --------------------------------------------------------------------


def rate(
    flags: Sequence[bool] | np.ndarray, method: Literal["wilson", "clopper-pearson"] = "wilson"
) -> stats.Estimate:
    """Fraction of ``(n_episodes,)`` true flags with a 95% interval: key pickup rate, success
    rate, cheese rate, top-right rate are all this function of their per-episode flags."""
    return stats.proportion(np.asarray(flags, dtype=bool), method)


def steps_to_reach(cells: Sequence[Cell], targets: Iterable[Cell]) -> int | None:
    """Steps until a trajectory's ``(n_steps + 1,)`` cells (start first) first enter a target
    cell, or ``None`` if they never do."""
    targets = {tuple(c) for c in targets}
    for t, cell in enumerate(cells):
        if tuple(cell) in targets:
            return t
    return None


def median_steps(steps: Sequence[int | None], seed: int) -> stats.Estimate:
    """Median steps to a target over the episodes that reached it (``None`` = never), with a
    bootstrap interval; ``n`` counts those episodes. Pair it with :func:`rate` of reaching."""
    reached = [s for s in steps if s is not None]
    if len(reached) < 2:
        raise ValueError(f"median steps needs at least 2 episodes that reached; got {len(reached)}")
    return stats.bootstrap_median(reached, seed)


# -- distances between action distributions ---------------------------------------------------


def _pair(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim == 0:
        raise ValueError(f"p and q must both be (..., n_actions); got {p.shape} and {q.shape}")
    return p, q


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``(...,)`` total variation distance ``0.5 * sum |p - q|`` of ``(..., n_actions)``
    distributions: the largest difference in probability the two give any set of actions."""
    p, q = _pair(p, q)
    return 0.5 * np.abs(p - q).sum(axis=-1)


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``(...,)`` KL(p || q) in nats of ``(..., n_actions)`` distributions.

    Terms with ``p = 0`` contribute 0; ``q`` is floored at ``eps`` so an action the patched
    policy never takes gives a large finite value, ``-log(eps)`` per unit of ``p``, not inf.
    """
    p, q = _pair(p, q)
    safe_p = np.where(p > 0, p, 1.0)
    return np.where(p > 0, p * np.log(safe_p / np.maximum(q, eps)), 0.0).sum(axis=-1)


def mean_distance(
    p: np.ndarray, q: np.ndarray, kind: Literal["tv", "kl"] = "tv", eps: float = 1e-12
) -> float:
    """Mean over a trajectory's ``(n_steps, n_actions)`` distributions of TV or KL(p || q)."""
    p, q = _pair(p, q)
    if p.ndim != 2:
        raise ValueError(f"a trajectory's probabilities are (n_steps, n_actions), got {p.shape}")
    if kind == "tv":
        return float(total_variation(p, q).mean())
    if kind == "kl":
        return float(kl_divergence(p, q, eps).mean())
    raise ValueError(f"kind must be 'tv' or 'kl', got {kind!r}")


__all__ = [
    "FORWARD",
    "MOVES",
    "PICKUP",
    "TARGETS",
    "TOGGLE",
    "TURN_LEFT",
    "TURN_RIGHT",
    "DecisionIntent",
    "State",
    "decision_intent",
    "decision_square",
    "decision_state",
    "distance",
    "intent",
    "intent_at_start",
    "kl_divergence",
    "mean_distance",
    "median_steps",
    "rate",
    "shortest_path_actions",
    "steps_to_reach",
    "target_actions",
    "target_cells",
    "total_variation",
]
