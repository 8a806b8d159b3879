"""Hypothesis strategies that draw layouts, one per family.

A claim about trained agents is a property over layouts: "on every DoorKey level, subtracting
the key vector lowers the agent's pull toward the key". When such a property fails, Hypothesis
shrinks the failing level to a minimal one -- but only if the level is built from *explicit*
choices it can simplify. So these strategies never draw an opaque generator seed; they draw the
choices a generator makes, in the order it makes them, each shrinking toward the simplest
option:

* **DoorKey** (MiniGrid's ``DoorKeyEnv`` rules): grid size, the column of the splitting wall,
  the row of the door, the agent's cell and direction left of the wall, the key's cell there.
  Shrinks toward a 5x5 level with the wall in column 2, the door in row 1 and agent and key in
  the top-left corner.
* **FourRooms** (MiniGrid's ``FourRoomsEnv`` rules): the four doorways, the agent's cell and
  direction, the goal's cell. Shrinks toward doorways next to the corners and agent and goal
  side by side in the top-left room.
* **CheeseMaze** (:func:`avec.generators.carve_maze`): every carving choice of the
  depth-first search, the agent's direction, the cheese cell among those the region allows.
  Shrinks toward the maze that always carves the first open direction.
* **PaddedMaze** (:func:`avec.generators.paddedmaze`): the maze size, then as CheeseMaze inside
  it. Shrinks toward the smallest maze (5x5) in the middle of the canvas. ProcMaze levels are
  the same (:func:`procmaze_layouts`).
* **LavaGap** (MiniGrid's ``LavaGapEnv`` rules): the lava column and the gap's row. Shrinks
  toward the column next to the agent with the gap in the top row.

Each strategy's levels are exactly the levels its generator can produce (the same *support*,
not the same distribution), and all of them are solvable. Cells are listed row-major, so a cell
drawn with ``sampled_from`` shrinks toward the top-left. :func:`seeded_layouts` draws levels from
a generator's own distribution instead (held-out seeds by default), for claims that must be
judged on the agent's evaluation distribution; those shrink toward the first seed only.

Example::

    from hypothesis import given
    from avec import strategies

    @given(strategies.doorkey_layouts(sizes=(5, 6, 8)))
    def test_some_claim(layout): ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from avec import families, generators
from avec.families import TOP_RIGHT_REGION, padded_region
from avec.generators import HELD_OUT_SEED_START, CheeseRegion
from avec.layouts import (
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

Cell = tuple[int, int]

SEED_SPAN = 2**20
"""Number of generator seeds :func:`seeded_layouts` draws from, starting at its first seed."""


def _checked_sizes(family: str, sizes: Sequence[int] | None) -> tuple[int, ...]:
    """Sizes validated and sorted ascending, so ``sampled_from`` shrinks to the smallest."""
    spec = families.get(family)
    sizes = tuple(sorted({int(s) for s in (spec.default_sizes if sizes is None else sizes)}))
    if not sizes:
        raise LayoutError(f"no sizes given for {family}; valid: {list(spec.sizes)}")
    for size in sizes:
        spec.check_size(size)
    return sizes


def _cells(size: int, taken: set[Cell], x_range: range | None = None) -> list[Cell]:
    """Free cells of a ``size`` x ``size`` grid, row-major, optionally only columns ``x_range``."""
    x_range = range(1, size - 1) if x_range is None else x_range
    return [(x, y) for y in range(1, size - 1) for x in x_range if (x, y) not in taken]


def doorkey_layouts(sizes: Sequence[int] | None = (5,)) -> st.SearchStrategy[DoorKeyLayout]:
    """DoorKey levels by MiniGrid's rules, at one of ``sizes`` (5 to 16).

    As ``DoorKeyEnv._gen_grid``: goal in the bottom-right corner; a wall in column
    ``2 .. size-3`` with a locked yellow door in row ``1 .. size-3``; agent (any direction) and
    yellow key on distinct cells left of the wall.
    """
    sizes = _checked_sizes("doorkey", sizes)

    @st.composite
    def draw_layout(draw: st.DrawFn) -> DoorKeyLayout:
        size = draw(st.sampled_from(sizes))
        split = draw(st.integers(2, size - 3))
        door = (split, draw(st.integers(1, size - 3)))
        walls = outer_wall(size, size) | {(split, y) for y in range(size) if (split, y) != door}
        left = _cells(size, walls, range(1, split))
        agent = draw(st.sampled_from(left))
        agent_dir = draw(st.integers(0, 3))
        key = draw(st.sampled_from([c for c in left if c != agent]))
        layout = DoorKeyLayout(
            width=size,
            height=size,
            walls=frozenset(walls),
            agent=agent,
            agent_dir=agent_dir,
            door=door,
            goal=(size - 2, size - 2),
            key=key,
        )
        return layout.require_solvable()

    return draw_layout()


def fourrooms_layouts(sizes: Sequence[int] | None = (19,)) -> st.SearchStrategy[FourRoomsLayout]:
    """FourRooms levels by MiniGrid's rules (19x19).

    As ``FourRoomsEnv._gen_grid``: a wall cross through the middle splits four rooms, each of
    its four arms pierced by one doorway; agent (any direction) and goal on distinct free cells.
    """
    sizes = _checked_sizes("fourrooms", sizes)

    @st.composite
    def draw_layout(draw: st.DrawFn) -> FourRoomsLayout:
        size = draw(st.sampled_from(sizes))
        mid = size // 2
        near, far = st.integers(1, mid - 1), st.integers(mid + 1, size - 2)
        # In MiniGrid's order: top, left, right, bottom arm of the cross.
        top = (mid, draw(near))
        left = (draw(near), mid)
        right = (draw(far), mid)
        bottom = (mid, draw(far))
        doorways = {top, left, right, bottom}
        cross = {(mid, i) for i in range(size)} | {(i, mid) for i in range(size)}
        walls = (outer_wall(size, size) | cross) - doorways
        free = _cells(size, walls)
        agent = draw(st.sampled_from(free))
        agent_dir = draw(st.integers(0, 3))
        goal = draw(st.sampled_from([c for c in free if c != agent]))
        layout = FourRoomsLayout(
            width=size,
            height=size,
            walls=frozenset(walls),
            agent=agent,
            agent_dir=agent_dir,
            goal=goal,
        )
        return layout.require_solvable()

    return draw_layout()


def cheesemaze_layouts(
    sizes: Sequence[int] | None = (9,),
    cheese_region: CheeseRegion = "top_right",
    region: int = TOP_RIGHT_REGION,
) -> st.SearchStrategy[CheeseMazeLayout]:
    """Perfect mazes with the agent bottom-left, at one of ``sizes`` (odd, 7 to 25).

    Each carving choice of :func:`avec.generators.carve_maze` is drawn, so Hypothesis simplifies
    the maze itself. ``cheese_region`` and ``region`` mean what they mean for
    :func:`avec.generators.cheesemaze`: ``"top_right"`` is the training distribution's support.
    """
    sizes = _checked_sizes("cheesemaze", sizes)
    for size in sizes:
        generators.cheese_cells(size, frozenset(), cheese_region, region)

    @st.composite
    def draw_layout(draw: st.DrawFn) -> CheeseMazeLayout:
        size = draw(st.sampled_from(sizes))
        # One draw per carved node, even where only one way is open: every maze of a size then
        # takes the same number of draws, which keeps them aligned while Hypothesis shrinks.
        walls = generators.carve_maze(size, lambda n: draw(st.integers(0, n - 1)))
        agent_dir = draw(st.integers(0, 3))
        cheese = draw(st.sampled_from(generators.cheese_cells(size, walls, cheese_region, region)))
        layout = CheeseMazeLayout(
            width=size,
            height=size,
            walls=walls,
            agent=generators.maze_start(size),
            agent_dir=agent_dir,
            cheese=cheese,
        )
        return layout.require_solvable()

    return draw_layout()


def paddedmaze_layouts(
    sizes: Sequence[int] | None = (13,),
    cheese_region: CheeseRegion = "top_right",
    region: int | None = None,
    maze_sizes: Sequence[int] | None = None,
) -> st.SearchStrategy[PaddedMazeLayout]:
    """Mazes of an odd size (5 up to the canvas) centred in a canvas of one of ``sizes``.

    ``maze_sizes`` restricts the maze sizes drawn; the rest is as :func:`cheesemaze_layouts`
    inside the maze, with the cheese region of :func:`avec.generators.paddedmaze` (the
    canvas's, :func:`avec.families.padded_region`, unless ``region`` is given).
    """
    sizes = _checked_sizes("paddedmaze", sizes)
    if cheese_region not in ("top_right", "anywhere"):
        raise LayoutError(f"cheese_region must be 'top_right' or 'anywhere', got {cheese_region!r}")

    @st.composite
    def draw_layout(draw: st.DrawFn) -> PaddedMazeLayout:
        size = draw(st.sampled_from(sizes))
        allowed = [n for n in range(5, size + 1, 2) if maze_sizes is None or n in maze_sizes]
        if not allowed:
            raise LayoutError(f"no maze size of {maze_sizes} fits a {size} canvas")
        n = draw(st.sampled_from(allowed))
        walls = generators.carve_maze(n, lambda k: draw(st.integers(0, k - 1)))
        agent_dir = draw(st.integers(0, 3))
        side = padded_region(size) if region is None else region
        cells = generators.cheese_cells(n, walls, cheese_region, min(side, n - 2))
        cheese = draw(st.sampled_from(cells))
        return generators.pad_maze(size, n, walls, agent_dir, cheese).require_solvable()

    return draw_layout()


def procmaze_layouts(
    sizes: Sequence[int] | None = (13,), **options: object
) -> st.SearchStrategy[ProcMazeLayout]:
    """The mazes of :func:`paddedmaze_layouts` (same options), for Procgen-move agents."""
    _checked_sizes("procmaze", sizes)
    return paddedmaze_layouts(sizes, **options).map(generators.as_procmaze)  # type: ignore[arg-type]


def lavagap_layouts(sizes: Sequence[int] | None = (7,)) -> st.SearchStrategy[LavaGapLayout]:
    """LavaGap levels by MiniGrid's rules, at one of ``sizes`` (5 to 7).

    As ``LavaGapEnv._gen_grid``: agent at (1, 1) facing right, goal in the bottom-right corner,
    a column of lava at x in 2..size-3 with one gap at y in 1..size-2.
    """
    sizes = _checked_sizes("lavagap", sizes)

    @st.composite
    def draw_layout(draw: st.DrawFn) -> LavaGapLayout:
        size = draw(st.sampled_from(sizes))
        column = draw(st.integers(2, size - 3))
        gap = draw(st.integers(1, size - 2))
        layout = LavaGapLayout(
            width=size,
            height=size,
            walls=frozenset(outer_wall(size, size)),
            agent=(1, 1),
            agent_dir=0,
            goal=(size - 2, size - 2),
            lava=frozenset((column, y) for y in range(1, size - 1) if y != gap),
        )
        return layout.require_solvable()

    return draw_layout()


STRATEGIES: dict[str, Callable[..., st.SearchStrategy[Layout]]] = {
    "doorkey": doorkey_layouts,
    "fourrooms": fourrooms_layouts,
    "cheesemaze": cheesemaze_layouts,
    "paddedmaze": paddedmaze_layouts,
    "procmaze": procmaze_layouts,
    "lavagap": lavagap_layouts,
}
"""Each family's structural strategy, ``strategy(sizes, **options)``."""


def layouts(
    family: str, sizes: Sequence[int] | None = None, **options: object
) -> st.SearchStrategy[Layout]:
    """The strategy of ``family`` (``options`` go to it, e.g. ``cheese_region``).

    ``sizes`` defaults to the family's smallest zoo size
    (:attr:`avec.families.Family.default_sizes`).
    """
    return STRATEGIES[families.get(family).name](sizes, **options)


def seeded_layouts(
    family: str,
    sizes: Sequence[int] | None = None,
    first_seed: int = HELD_OUT_SEED_START,
    **options: object,
) -> st.SearchStrategy[Layout]:
    """Levels from ``generators.generate(family, size, seed)`` with ``seed`` drawn from
    ``first_seed .. first_seed + SEED_SPAN - 1``.

    This is the generator's own distribution; the default seeds are held out from training
    (:data:`avec.envs.HELD_OUT_SEED_START`). Shrinking only moves toward ``first_seed``.
    """
    sizes = _checked_sizes(family, sizes)
    return st.builds(
        lambda size, seed: generators.generate(family, size, seed, **options),
        st.sampled_from(sizes),
        st.integers(first_seed, first_seed + SEED_SPAN - 1),
    )


__all__ = [
    "SEED_SPAN",
    "STRATEGIES",
    "cheesemaze_layouts",
    "doorkey_layouts",
    "fourrooms_layouts",
    "layouts",
    "lavagap_layouts",
    "paddedmaze_layouts",
    "procmaze_layouts",
    "seeded_layouts",
]
