"""Layouts: one level of a grid world, as plain data.

A layout fully describes the *initial* state of one level: the size of the grid, every wall,
where the agent starts and which way it faces, and where each object lies. It is a frozen
dataclass, so it can be hashed, compared, stored in a report and edited only by pure
functions (see :mod:`avec.edits`). :mod:`avec.envs` turns a layout into a MiniGrid env with a
single ``_gen_grid`` override.

Six families, one class each:

* :class:`DoorKeyLayout` -- MiniGrid DoorKey: a vertical wall splits the room, a locked door in
  it, a key on the agent's side, a goal in the bottom-right corner.
* :class:`FourRoomsLayout` -- MiniGrid FourRooms: four rooms joined by four doorways, a goal.
* :class:`CheeseMazeLayout` -- the maze of Turner, Mini et al. (2023, arXiv 2310.08043)
  rebuilt on MiniGrid: a perfect maze, the agent starting bottom-left, "cheese" (a goal) somewhere.
* :class:`PaddedMazeLayout` -- the same maze as Procgen Maze builds it: a maze of any odd size
  centred in one fixed canvas, the cells around it walls.
* :class:`ProcMazeLayout` -- the padded maze for agents that move as Procgen's mouse does (four
  absolute moves, :attr:`avec.families.Family.absolute_moves`); the levels are the same.
* :class:`LavaGapLayout` -- MiniGrid LavaGap: a column of lava with one gap between the agent
  and the goal.

Coordinates are MiniGrid's: ``(x, y)`` with ``x`` growing rightwards, ``y`` downwards, the
outer wall at ``x in {0, width-1}`` and ``y in {0, height-1}``. Directions are MiniGrid's:
0 right, 1 down, 2 left, 3 up.

ASCII, one character per cell, readable and writable by hand::

    doorkey 5x5
    #####
    #K#.#
    #>D.#
    #.#G#
    #####

``#`` wall, ``.`` floor, ``K`` key, ``D`` locked door, ``G`` goal, ``C`` cheese, ``L`` lava and
``> v < ^`` the agent facing right, down, left, up. The first line names the family and size; an
optional last line sets attributes (colours ``key=red door=red``; a padded maze's ``maze=7``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from minigrid.core.constants import COLOR_NAMES

Cell = tuple[int, int]

DIRECTIONS: tuple[Cell, ...] = ((1, 0), (0, 1), (-1, 0), (0, -1))
"""Unit step for MiniGrid's agent directions 0 (right), 1 (down), 2 (left), 3 (up)."""

AGENT_CHARS = ">v<^"


class LayoutError(ValueError):
    """A layout, or the text describing one, is not a valid level."""


class UnsolvableLayoutError(LayoutError):
    """A layout has no way for the agent to finish its task."""


def outer_wall(width: int, height: int) -> set[Cell]:
    """The cells of a ``width`` x ``height`` grid's outer wall (MiniGrid's
    ``Grid.wall_rect(0, 0, width, height)``): every layout's walls include them."""
    return {(x, y) for x in range(width) for y in (0, height - 1)} | {
        (x, y) for x in (0, width - 1) for y in range(height)
    }


def _neighbours(cell: Cell) -> Iterator[Cell]:
    x, y = cell
    for dx, dy in DIRECTIONS:
        yield (x + dx, y + dy)


@dataclass(frozen=True)
class Layout:
    """Fields shared by every family. Subclasses add their objects."""

    width: int
    """Grid width in cells, outer wall included."""
    height: int
    """Grid height in cells, outer wall included."""
    walls: frozenset[Cell]
    """Every wall cell, the outer wall included."""
    agent: Cell
    """Cell the agent starts on."""
    agent_dir: int
    """Direction the agent faces at the start: 0 right, 1 down, 2 left, 3 up."""

    family: ClassVar[str] = ""
    mission: ClassVar[str] = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "walls", frozenset(self.walls))
        if self.width < 3 or self.height < 3:
            raise LayoutError(f"grid must be at least 3x3, got {self.width}x{self.height}")
        for x, y in self.walls:
            if not self.in_bounds((x, y)):
                raise LayoutError(f"wall {(x, y)} lies outside the {self.width}x{self.height} grid")
        border = outer_wall(self.width, self.height)
        if not border <= self.walls:
            missing = sorted(border - self.walls)[:4]
            raise LayoutError(f"the outer wall must be closed; open at {missing}")
        if self.agent_dir not in range(4):
            raise LayoutError(
                f"agent_dir must be 0..3 (right, down, left, up), got {self.agent_dir}"
            )
        occupied: dict[Cell, str] = {}
        for name, cell in [("agent", self.agent), *self.objects().items()]:
            if cell is None:
                continue
            if not self.in_bounds(cell) or cell in self.walls:
                raise LayoutError(f"{name} at {cell} is outside the grid or on a wall")
            if cell in occupied:
                raise LayoutError(f"{name} and {occupied[cell]} both at {cell}")
            occupied[cell] = name
        for name, cells in self.terrain().items():
            for cell in cells:
                if not self.in_bounds(cell) or cell in self.walls or cell in occupied:
                    raise LayoutError(f"{name} at {cell} is outside the grid or on another thing")

    # -- geometry ---------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def in_bounds(self, cell: Cell) -> bool:
        return 0 <= cell[0] < self.width and 0 <= cell[1] < self.height

    def objects(self) -> dict[str, Cell | None]:
        """Named object cells of this family (``None`` where the object is absent)."""
        return {}

    def terrain(self) -> dict[str, frozenset[Cell]]:
        """Named sets of cells the level is made of besides walls (LavaGap's lava)."""
        return {}

    def blocked(self) -> frozenset[Cell]:
        """Cells the agent cannot enter at the start of an episode."""
        return self.walls

    def free_cells(self) -> list[Cell]:
        """Cells that are neither wall nor object, in row-major order."""
        taken = set(self.walls) | {c for c in self.objects().values() if c is not None}
        for cells in self.terrain().values():
            taken |= cells
        return [
            (x, y) for y in range(self.height) for x in range(self.width) if (x, y) not in taken
        ]

    def reachable(
        self, start: Cell | None = None, blocked: frozenset[Cell] | None = None
    ) -> set[Cell]:
        """Cells reachable from ``start`` (default: the agent) through unblocked cells."""
        start = self.agent if start is None else start
        blocked = self.blocked() if blocked is None else blocked
        width, height = self.width, self.height
        seen = {start}
        queue = deque([start])
        while queue:
            for nxt in _neighbours(queue.popleft()):
                if nxt not in seen and nxt not in blocked:
                    x, y = nxt
                    if 0 <= x < width and 0 <= y < height:
                        seen.add(nxt)
                        queue.append(nxt)
        return seen

    # -- solvability ------------------------------------------------------------------------

    def unsolvable_reason(self) -> str | None:
        """Why the agent cannot finish this level, or ``None`` if it can."""
        raise NotImplementedError

    @property
    def solvable(self) -> bool:
        """Whether the agent can finish this level (checked by breadth-first search)."""
        return self.unsolvable_reason() is None

    def require_solvable(self) -> Layout:
        """Return ``self``, or raise :class:`UnsolvableLayoutError` saying what blocks it."""
        reason = self.unsolvable_reason()
        if reason is not None:
            raise UnsolvableLayoutError(f"{self.family} layout is unsolvable: {reason}\n{self}")
        return self

    # -- ASCII ------------------------------------------------------------------------------

    _object_chars: ClassVar[dict[str, str]] = {}

    def _attributes(self) -> dict[str, str]:
        return {}

    def to_ascii(self) -> str:
        """Render as text that :func:`from_ascii` parses back to an equal layout."""
        return self._ascii

    @functools.cached_property
    def _ascii(self) -> str:
        # Layouts are immutable and their text names them in vector provenance and trial
        # clusters, so it is rendered once (cached_property writes past the frozen dataclass).
        rows = [["." for _ in range(self.width)] for _ in range(self.height)]
        for x, y in self.walls:
            rows[y][x] = "#"
        for name, cells in self.terrain().items():
            for x, y in cells:
                rows[y][x] = self._object_chars[name]
        for name, cell in self.objects().items():
            if cell is not None:
                rows[cell[1]][cell[0]] = self._object_chars[name]
        rows[self.agent[1]][self.agent[0]] = AGENT_CHARS[self.agent_dir]
        lines = [f"{self.family} {self.width}x{self.height}", *("".join(r) for r in rows)]
        attributes = {k: v for k, v in self._attributes().items() if v != _DEFAULT_COLOR}
        if attributes:
            lines.append(" ".join(f"{k}={v}" for k, v in attributes.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_ascii()

    @classmethod
    def _from_cells(
        cls, width: int, height: int, cells: dict[str, list[Cell]], attributes: dict[str, str]
    ) -> Layout:
        raise NotImplementedError

    def replace(self, **changes: object) -> Layout:
        """A copy with some fields changed (validated like any new layout)."""
        return dataclasses.replace(self, **changes)


_DEFAULT_COLOR = "yellow"


def _check_color(name: str, color: str) -> None:
    if color not in COLOR_NAMES:
        raise LayoutError(f"{name} must be one of {COLOR_NAMES}, got {color!r}")


@dataclass(frozen=True)
class DoorKeyLayout(Layout):
    """MiniGrid DoorKey: fetch the key, unlock the door, reach the goal."""

    door: Cell = (0, 0)
    """Cell of the locked door in the splitting wall."""
    goal: Cell = (0, 0)
    """Cell of the goal."""
    key: Cell | None = None
    """Cell of the key, or ``None`` for a level without a key."""
    key_color: str = _DEFAULT_COLOR
    """MiniGrid colour name of the key."""
    door_color: str = _DEFAULT_COLOR
    """MiniGrid colour name of the door; the key opens it only when the colours match."""

    family: ClassVar[str] = "doorkey"
    mission: ClassVar[str] = "use the key to open the door and then get to the goal"
    _object_chars: ClassVar[dict[str, str]] = {"door": "D", "goal": "G", "key": "K"}

    def __post_init__(self) -> None:
        _check_color("key_color", self.key_color)
        _check_color("door_color", self.door_color)
        super().__post_init__()

    def objects(self) -> dict[str, Cell | None]:
        return {"door": self.door, "goal": self.goal, "key": self.key}

    def blocked(self) -> frozenset[Cell]:
        blocked = set(self.walls) | {self.door, self.goal}
        if self.key is not None:
            blocked.add(self.key)
        return frozenset(blocked)

    def unsolvable_reason(self) -> str | None:
        if self.key is None:
            return "there is no key to unlock the door"
        if self.key_color != self.door_color:
            return f"the {self.key_color} key does not open the {self.door_color} door"
        # Objects are picked up and toggled from an adjacent cell, never entered.
        start = self.reachable()
        if not any(n in start for n in _neighbours(self.key)):
            return f"the key at {self.key} cannot be reached from {self.agent}"
        holding_key = self.reachable(blocked=self.blocked() - {self.key})
        if not any(n in holding_key for n in _neighbours(self.door)):
            return f"the door at {self.door} cannot be reached from {self.agent}"
        open_door = self.reachable(blocked=frozenset(self.walls | {self.goal}))
        if not any(n in open_door for n in _neighbours(self.goal)):
            return f"the goal at {self.goal} cannot be reached through the door"
        return None

    def _attributes(self) -> dict[str, str]:
        return {"key": self.key_color, "door": self.door_color}

    @classmethod
    def _from_cells(cls, width, height, cells, attributes):  # type: ignore[override]
        return cls(
            width=width,
            height=height,
            walls=frozenset(cells["#"]),
            agent=_one(cells, "agent"),
            agent_dir=int(cells["agent_dir"][0][0]),
            door=_one(cells, "D"),
            goal=_one(cells, "G"),
            key=_optional(cells, "K"),
            key_color=attributes.pop("key", _DEFAULT_COLOR),
            door_color=attributes.pop("door", _DEFAULT_COLOR),
        )


@dataclass(frozen=True)
class FourRoomsLayout(Layout):
    """MiniGrid FourRooms: find the goal somewhere in four connected rooms."""

    goal: Cell | None = None
    """Cell of the goal, or ``None`` for a level without one."""

    family: ClassVar[str] = "fourrooms"
    mission: ClassVar[str] = "reach the goal"
    _object_chars: ClassVar[dict[str, str]] = {"goal": "G"}

    def objects(self) -> dict[str, Cell | None]:
        return {"goal": self.goal}

    def unsolvable_reason(self) -> str | None:
        if self.goal is None:
            return "there is no goal"
        if self.goal not in self.reachable():
            return f"the goal at {self.goal} cannot be reached from {self.agent}"
        return None

    @classmethod
    def _from_cells(cls, width, height, cells, attributes):  # type: ignore[override]
        return cls(
            width=width,
            height=height,
            walls=frozenset(cells["#"]),
            agent=_one(cells, "agent"),
            agent_dir=int(cells["agent_dir"][0][0]),
            goal=_optional(cells, "G"),
        )


@dataclass(frozen=True)
class CheeseMazeLayout(Layout):
    """A perfect maze with cheese, after the Procgen Maze of the maze-policy paper.

    The agent starts in the bottom-left corner; the cheese is a MiniGrid goal, so reaching it
    ends the episode with MiniGrid's usual reward. The *top-right corner* -- the second drive
    the paper's agent learned -- is the free cell at ``(width - 2, 1)``.
    """

    cheese: Cell | None = None
    """Cell of the cheese, or ``None`` for a maze without cheese."""

    family: ClassVar[str] = "cheesemaze"
    mission: ClassVar[str] = "get to the cheese"
    _object_chars: ClassVar[dict[str, str]] = {"cheese": "C"}

    def objects(self) -> dict[str, Cell | None]:
        return {"cheese": self.cheese}

    @property
    def top_right(self) -> Cell:
        """The top-right free corner cell, the target of the maze agent's second drive."""
        return (self.width - 2, 1)

    def in_top_right(self, cell: Cell, region: int) -> bool:
        """Whether ``cell`` lies in the ``region`` x ``region`` square of the maze's interior
        whose top-right cell is :attr:`top_right` (where training puts the cheese)."""
        right, top = self.top_right
        return right - region < cell[0] <= right and top <= cell[1] < top + region

    def unsolvable_reason(self) -> str | None:
        if self.cheese is None:
            return "there is no cheese"
        if self.cheese not in self.reachable():
            return f"the cheese at {self.cheese} cannot be reached from {self.agent}"
        return None

    @classmethod
    def _from_cells(cls, width, height, cells, attributes):  # type: ignore[override]
        return cls(
            width=width,
            height=height,
            walls=frozenset(cells["#"]),
            agent=_one(cells, "agent"),
            agent_dir=int(cells["agent_dir"][0][0]),
            cheese=_optional(cells, "C"),
        )


@dataclass(frozen=True)
class PaddedMazeLayout(CheeseMazeLayout):
    """A maze of any odd size centred in a fixed square canvas, as Procgen Maze builds its
    levels: ``maze.cpp`` (openai/procgen, ``MazeGame::game_reset``) draws ``maze_dim``, sets
    ``margin = (world_dim - maze_dim) / 2``, copies the maze at ``(margin, margin)`` and fills
    the rest of the world with walls. The agent starts in the maze's bottom-left cell; the
    top-right corner of the maze (not of the canvas) is the second drive's target.

    ``width`` and ``height`` are the canvas's; ``maze_size`` is the maze's side, its own outer
    wall included, so a ``maze_size == width`` maze fills the canvas.
    """

    maze_size: int = 0
    """Side of the maze inside the canvas, outer wall included: odd, 5 to ``width``."""

    family: ClassVar[str] = "paddedmaze"

    def __post_init__(self) -> None:
        if self.width != self.height or self.width % 2 == 0:
            raise LayoutError(f"the canvas must be square and odd, got {self.width}x{self.height}")
        if self.maze_size % 2 == 0 or not 5 <= self.maze_size <= self.width:
            raise LayoutError(f"maze_size must be odd, 5..{self.width}, got {self.maze_size}")
        super().__post_init__()

    @property
    def offset(self) -> int:
        """Canvas coordinate of the maze's outer-wall corner (its margin in the canvas)."""
        return (self.width - self.maze_size) // 2

    @property
    def top_right(self) -> Cell:
        """The maze's top-right free cell (not the canvas's)."""
        return (self.offset + self.maze_size - 2, self.offset + 1)

    @property
    def canvas_top_right(self) -> Cell:
        """The canvas's top-right free cell; a wall unless the maze fills the canvas or a
        corridor has been opened to it (:func:`avec.edits.open_top_right`)."""
        return (self.width - 2, 1)

    def in_maze(self, cell: Cell) -> bool:
        """Whether ``cell`` lies inside the maze's outer wall."""
        low, high = self.offset + 1, self.offset + self.maze_size - 2
        return low <= cell[0] <= high and low <= cell[1] <= high

    def _attributes(self) -> dict[str, str]:
        return {"maze": str(self.maze_size)}

    @classmethod
    def _from_cells(cls, width, height, cells, attributes):  # type: ignore[override]
        maze = attributes.pop("maze", None)
        if maze is None or not maze.isdigit():
            raise LayoutError(f"a paddedmaze needs a last line 'maze=N' (N odd), got {maze!r}")
        return cls(
            width=width,
            height=height,
            walls=frozenset(cells["#"]),
            agent=_one(cells, "agent"),
            agent_dir=int(cells["agent_dir"][0][0]),
            cheese=_optional(cells, "C"),
            maze_size=int(maze),
        )


@dataclass(frozen=True)
class ProcMazeLayout(PaddedMazeLayout):
    """A padded maze (same canvas, sizes and cheese region) for agents that move as Procgen's
    mouse does: up, down, left or right in one action. The level is the padded maze's; only the
    family differs, and with it the action semantics (:mod:`avec.families`)."""

    family: ClassVar[str] = "procmaze"


@dataclass(frozen=True)
class LavaGapLayout(Layout):
    """MiniGrid LavaGap: cross a column of lava through its one gap to reach the goal.

    Stepping into lava ends the episode with no reward (MiniGrid's ``Lava`` rule).
    """

    goal: Cell = (0, 0)
    """Cell of the goal."""
    lava: frozenset[Cell] = frozenset()
    """Every lava cell (MiniGrid's level: one column with one gap)."""

    family: ClassVar[str] = "lavagap"
    mission: ClassVar[str] = "avoid the lava and get to the green goal square"
    _object_chars: ClassVar[dict[str, str]] = {"goal": "G", "lava": "L"}

    def __post_init__(self) -> None:
        object.__setattr__(self, "lava", frozenset(self.lava))
        super().__post_init__()

    def objects(self) -> dict[str, Cell | None]:
        return {"goal": self.goal}

    def terrain(self) -> dict[str, frozenset[Cell]]:
        return {"lava": self.lava}

    def blocked(self) -> frozenset[Cell]:
        return self.walls | self.lava

    def unsolvable_reason(self) -> str | None:
        if self.goal not in self.reachable():
            return f"the goal at {self.goal} cannot be reached from {self.agent} avoiding lava"
        return None

    @classmethod
    def _from_cells(cls, width, height, cells, attributes):  # type: ignore[override]
        return cls(
            width=width,
            height=height,
            walls=frozenset(cells["#"]),
            agent=_one(cells, "agent"),
            agent_dir=int(cells["agent_dir"][0][0]),
            goal=_one(cells, "G"),
            lava=frozenset(cells.get("L", [])),
        )


FAMILIES: dict[str, type[Layout]] = {
    cls.family: cls
    for cls in (
        DoorKeyLayout,
        FourRoomsLayout,
        CheeseMazeLayout,
        PaddedMazeLayout,
        ProcMazeLayout,
        LavaGapLayout,
    )
}
"""Layout class of each family, by the name used in ASCII headers and env ids."""


_GLYPHS = {char for cls in FAMILIES.values() for char in cls._object_chars.values()}


def _one(cells: dict[str, list[Cell]], char: str) -> Cell:
    found = cells.get(char, [])
    what = "the agent (one of > v < ^)" if char == "agent" else repr(char)
    if len(found) != 1:
        raise LayoutError(f"expected exactly one {what}, found {len(found)}")
    return found[0]


def _optional(cells: dict[str, list[Cell]], char: str) -> Cell | None:
    found = cells.get(char, [])
    if len(found) > 1:
        raise LayoutError(f"expected at most one {char!r}, found {len(found)} at {found}")
    return found[0] if found else None


def from_ascii(text: str) -> Layout:
    """Parse the text :meth:`Layout.to_ascii` writes (header line, grid, optional colours).

    Raises :class:`LayoutError` naming the line and character that is wrong.
    """
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise LayoutError("empty layout text")
    header = lines[0].split()
    if len(header) != 2 or header[0] not in FAMILIES:
        raise LayoutError(
            f"first line must be '<family> <W>x<H>' with family one of {sorted(FAMILIES)}, "
            f"got {lines[0]!r}"
        )
    family, size = header
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise LayoutError(f"size must look like 5x5, got {size!r}") from None
    grid, rest = lines[1 : 1 + height], lines[1 + height :]
    if len(grid) != height:
        raise LayoutError(f"header says {height} rows, found {len(grid)}")
    attributes: dict[str, str] = {}
    for line in rest:
        for item in line.split():
            key, sep, value = item.partition("=")
            if not sep:
                raise LayoutError(f"expected key=value after the grid, got {item!r}")
            if key in attributes:
                raise LayoutError(f"attribute {key!r} is set twice")
            attributes[key] = value
    known = "#." + "".join(sorted(_GLYPHS)) + AGENT_CHARS
    cells: dict[str, list[Cell]] = {"#": []}
    for y, row in enumerate(grid):
        if len(row) != width:
            raise LayoutError(f"row {y} has {len(row)} cells, header says {width}: {row!r}")
        for x, char in enumerate(row):
            if char not in known:
                raise LayoutError(f"unknown character {char!r} at {(x, y)}; valid: {known!r}")
            if char in AGENT_CHARS:
                cells.setdefault("agent", []).append((x, y))
                cells.setdefault("agent_dir", []).append((AGENT_CHARS.index(char), 0))
            elif char != ".":
                cells.setdefault(char, []).append((x, y))
    cls = FAMILIES[family]
    foreign = set(cells) - {"#", "agent", "agent_dir", *cls._object_chars.values()}
    if foreign:
        raise LayoutError(
            f"{family} layouts cannot hold {sorted(foreign)}; "
            f"valid objects: {sorted(cls._object_chars.values())}"
        )
    layout = cls._from_cells(width, height, cells, attributes)
    if attributes:
        raise LayoutError(f"unknown attributes for {family}: {sorted(attributes)}")
    return layout


__all__ = [
    "DIRECTIONS",
    "FAMILIES",
    "CheeseMazeLayout",
    "DoorKeyLayout",
    "FourRoomsLayout",
    "LavaGapLayout",
    "Layout",
    "LayoutError",
    "PaddedMazeLayout",
    "ProcMazeLayout",
    "UnsolvableLayoutError",
    "from_ascii",
    "outer_wall",
]
