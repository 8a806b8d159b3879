"""Pure edits of layouts: each takes a layout and returns a new one, leaving the input as it was.

These make the paired inputs steering vectors are computed from -- the same level with and
without a feature: ``remove(layout, "key")``, ``remove(layout, "cheese")``,
``open_top_right(maze)``. An edit may leave a level unsolvable on purpose (a DoorKey level
without its key); check ``result.solvable`` or call ``result.require_solvable()``.
"""

from __future__ import annotations

import functools

from avec import families
from avec.layouts import CheeseMazeLayout, DoorKeyLayout, Layout, LayoutError, PaddedMazeLayout

Cell = tuple[int, int]


def _check_object(layout: Layout, name: str) -> None:
    objects = layout.objects()
    if name not in objects:
        raise LayoutError(f"{layout.family} layouts have no {name!r}; objects: {sorted(objects)}")


@functools.lru_cache(maxsize=4096)
def remove(layout: Layout, name: str) -> Layout:
    """The layout without object ``name`` (its cells become floor).

    Only a family's removable object can go (:attr:`avec.families.Family.removable`): the key
    of DoorKey, the goal of FourRooms, the cheese of the mazes, the lava of LavaGap (all of
    it: the lava column becomes floor, the lava vector's "without" input). Layouts are
    immutable, so the result is cached: vectors, controls and references all ask for the same
    "without" levels.
    """
    terrain = layout.terrain()
    if name in terrain:
        absent = not terrain[name]
    else:
        _check_object(layout, name)
        absent = layout.objects()[name] is None
    if absent:
        raise LayoutError(f"this {layout.family} layout has no {name} to remove")
    optional = families.of(layout).removable
    if name != optional:
        raise LayoutError(f"{layout.family} layouts need their {name}; only {optional!r} can go")
    return layout.replace(**{name: frozenset() if name in terrain else None})


def move(layout: Layout, name: str, to: Cell) -> Layout:
    """The layout with object ``name`` moved to cell ``to`` (which must be free floor)."""
    _check_object(layout, name)
    to = (int(to[0]), int(to[1]))
    if layout.objects()[name] == to:
        return layout
    if to not in layout.free_cells() or to == layout.agent:
        raise LayoutError(f"cannot move {name} to {to}: the cell is not free floor")
    return layout.replace(**{name: to})


def place(layout: Layout, name: str, to: Cell) -> Layout:
    """The layout with an absent optional object ``name`` put back at ``to``."""
    _check_object(layout, name)
    if layout.objects()[name] is not None:
        raise LayoutError(f"{name} is already at {layout.objects()[name]}; use move()")
    return move(layout, name, to)


def recolor_both(layout: DoorKeyLayout, color: str) -> DoorKeyLayout:
    """A DoorKey layout with key and door both in ``color`` (the key still opens the door)."""
    return recolor(layout, key=color, door=color)


def recolor(
    layout: DoorKeyLayout, key: str | None = None, door: str | None = None
) -> DoorKeyLayout:
    """A DoorKey layout with the key and/or door in another MiniGrid colour."""
    if not isinstance(layout, DoorKeyLayout):
        raise LayoutError(f"only doorkey layouts have colours to change, not {layout.family}")
    return layout.replace(
        key_color=layout.key_color if key is None else key,
        door_color=layout.door_color if door is None else door,
    )


def move_agent(layout: Layout, to: Cell, direction: int | None = None) -> Layout:
    """The layout with the agent starting at ``to`` (facing ``direction``, default unchanged)."""
    to = (int(to[0]), int(to[1]))
    if to != layout.agent and to not in layout.free_cells():
        raise LayoutError(f"cannot start the agent at {to}: the cell is not free floor")
    return layout.replace(agent=to, agent_dir=layout.agent_dir if direction is None else direction)


def open_top_right(layout: CheeseMazeLayout) -> CheeseMazeLayout:
    """The maze with a corridor to its top-right corner: every wall along the maze's top row
    and right column inside its outer wall is removed; in a padded maze smaller than its
    canvas, a corridor also runs from the maze's top-right cell up through its outer wall and
    the padding to the canvas's top row, then right to the canvas's top-right corner.

    This is the "top-right vector" input of the maze paper: the same maze, with the path to
    the top-right corner of the whole grid opened up.
    """
    if not isinstance(layout, CheeseMazeLayout):
        raise LayoutError(
            f"open_top_right edits cheesemaze and paddedmaze layouts, not {layout.family}"
        )
    o, n = (
        (layout.offset, layout.maze_size)
        if isinstance(layout, PaddedMazeLayout)
        else (0, layout.width)
    )
    corridor = {(x, o + 1) for x in range(o + 1, o + n - 1)}
    corridor |= {(o + n - 2, y) for y in range(o + 1, o + n - 1)}
    corridor |= {(o + n - 2, y) for y in range(1, o + 1)}
    corridor |= {(x, 1) for x in range(o + n - 2, layout.width - 1)}
    return layout.replace(walls=layout.walls - corridor)


__all__ = ["move", "move_agent", "open_top_right", "place", "recolor", "recolor_both", "remove"]
