"""The layout families avec knows, one registry entry each.

Everything that differs between DoorKey, FourRooms, CheeseMaze, PaddedMaze and LavaGap is
declared here, once: the layout class, the sizes it comes in (and those drawn by default), the
top-right region a maze's cheese lies in during training, the Gymnasium ids and the observation
wrappers its agents see, the episode cap, whether agents use all seven MiniGrid actions, the
three that move or Procgen's four moves, the MiniGrid objects a layout is built from, how a
layout is drawn, and the *feature* its claims are about (which vector, which BFS target carries
its pull, which rollout event shows it was reached). Other modules ask :func:`get` instead of
branching on a family's name, so a new family is one entry here plus its layout class, its
generator (:mod:`avec.generators`) and its strategy (:mod:`avec.strategies`).

The registry is plain data at the top of the flow: the generators, the strategies and the engine
read it, and it imports none of them (``tests/test_imports.py`` checks the import graph has no
cycle). Each generator and strategy module maps a family's name to its function and
``tests/test_families.py`` checks both cover exactly the families here.

The six families:

* ``doorkey`` -- the poster's MiniGrid DoorKey (key vector); egocentric 7x7 view, all actions.
* ``fourrooms`` -- MiniGrid FourRooms (goal vector); egocentric view, movement only.
* ``cheesemaze`` -- the maze paper's maze at one size (cheese vector, top-right vector); the
  whole maze observed, movement only.
* ``paddedmaze`` -- the maze as Procgen builds it: mixed sizes in one fixed canvas (see
  :class:`~avec.layouts.PaddedMazeLayout`). The canvas is 13x13 and mazes are odd sizes 5..13
  with the cheese in the top-right 5x5 of the maze's interior in training, scaled down from
  Procgen's 25x25 canvas (mazes 3..25, region 5) for the CPU this project has: a 13x13 full
  observation costs a CNN learner about twice a 9x9 maze's, while two of the five maze sizes
  (interiors 3x3 and 5x5) still have the cheese anywhere -- the share that taught the paper's
  agent its cheese drive (2 of Procgen's 12 sizes).
* ``procmaze`` -- the padded maze's levels for agents with Procgen's moves: four absolute
  actions, each turning the agent to face a direction and stepping that way (the maze paper's
  mouse moves so, and its vector-field arrows are these four moves). Turn-and-forward agents
  must learn where walls block each facing; absolute moves make the two drives of the paper's
  agent show early (issue 17).
* ``lavagap`` -- MiniGrid ``LavaGapS7`` (lava vector); egocentric view, movement only.

DoorKey's colour vector (key and door in their colour minus both in another,
:func:`avec.vectors.color_pair`) is meant as a control. Note that MiniGrid's ``DoorKeyEnv``
always makes key and door yellow, so the agents never saw another colour: colour carries no
task information in training, but the "without" input is also one they never met.

DoorKey has no top-right vector: its goal is always in the bottom-right corner and the level
has no corner the agent is drawn to apart from the goal, so "a corridor to the top-right" has
no counterpart there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minigrid.core.constants import COLORS
from minigrid.core.world_object import Door, Goal, Key, Lava, WorldObj

from avec.layouts import (
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    LavaGapLayout,
    Layout,
    LayoutError,
    PaddedMazeLayout,
    ProcMazeLayout,
)

Cell = tuple[int, int]
RGB = tuple[float, float, float]

EGOCENTRIC = ("minigrid.wrappers.ImgObsWrapper",)
"""MiniGrid's 7x7 egocentric view, as an image."""
WHOLE_GRID = ("minigrid.wrappers.FullyObsWrapper", "minigrid.wrappers.ImgObsWrapper")
"""The whole grid, as the maze paper's agent saw its maze."""

ABSOLUTE_MOVES = 4
"""Procgen's moves: right, down, left, up (:attr:`Family.absolute_moves`)."""

TOP_RIGHT_REGION = 3
"""Side of the top-right square a cheese maze's cheese is drawn from in training (the paper used
5 of 25)."""

PADDED_REGIONS: dict[int, int] = {9: 5, 13: 5, 25: 5}
"""Canvas -> side of the top-right square of a padded maze's interior the cheese is drawn from
in training: Procgen's 5 on every canvas. Mazes whose interior is no larger have the cheese
anywhere: on the 9 canvas the 5 and 7 mazes, the 9 maze confines it. A region scaled with the
9 canvas was measured first (behaviour clone of ``procmaze9-bc-ppo-impala``, seed 0; see
``docs/zoo.md``): with a side of 3 the clone headed for a cheese outside the region at 0.24 of
decision squares off the start, with 4 at 0.20 (0.18 after 100k PPO steps) -- no cheese
drive -- where 5 gives 0.62 (0.60)."""


def padded_region(size: int) -> int:
    """The top-right region side of a padded maze on a ``size`` canvas (:data:`PADDED_REGIONS`)."""
    if size not in PADDED_REGIONS:
        raise LayoutError(f"no padded maze canvas {size}; valid: {sorted(PADDED_REGIONS)}")
    return PADDED_REGIONS[size]


GOAL_RGB: RGB = (0.3, 0.8, 0.3)
CHEESE_RGB: RGB = (1.0, 0.75, 0.1)
LAVA_RGB: RGB = (1.0, 0.5, 0.0)


@dataclass(frozen=True)
class Feature:
    """The feature a family's claims are about."""

    vector: str
    """Feature name in :data:`avec.vectors.FEATURES` (what the with/without pair differs in)."""
    target: str
    """Target in :data:`avec.metrics.TARGETS` whose pull the feature carries."""
    event: str
    """:class:`~avec.rollouts.Trajectory` field set when the agent reached it."""
    avoided: bool = False
    """Whether the agent *avoids* the feature (LavaGap's lava) rather than heads for it: its
    response to the feature is then keeping off it, and claims read the vector sign-aware
    (:func:`avec.trials.measure_states`)."""


@dataclass(frozen=True)
class Family:
    """Everything avec needs to know about one layout family."""

    name: str
    """Name in ASCII headers, manifests and :attr:`Layout.family`."""
    layout: type[Layout]
    """The layout class."""
    sizes: tuple[int, ...]
    """Grid sizes (outer wall included; a padded maze's canvas) the generator builds."""
    default_sizes: tuple[int, ...]
    """Sizes its Hypothesis strategy draws when none are given: the smallest in the zoo."""
    env_name: str
    """Gymnasium id pattern, ``{size}`` and ``{variant}`` filled in (``avec/`` prefixed)."""
    wrappers: tuple[str, ...]
    """Observation wrappers its agents see (importable dotted names, applied in order)."""
    max_steps: Callable[[int], int]
    """Episode cap at a size."""
    navigation_only: bool
    """Agents use only MiniGrid's actions 0-2 (turn left, turn right, forward)."""
    feature: Feature
    """The feature its claims are about."""
    removable: str | None
    """The object :func:`avec.edits.remove` may take away."""
    world_objects: Callable[[Any], list[tuple[Cell, WorldObj]]]
    """The MiniGrid objects (beside walls) a layout is built from, with their cells."""
    drawing: Callable[[Any], list[tuple[str, Cell, RGB]]]
    """Glyph, cell and colour of every object, for figures."""
    variants: dict[str, dict[str, Any]] = field(default_factory=lambda: {"": {}})
    """Env id variant suffix -> generator options (``""``: the training distribution)."""
    trial_options: dict[str, Any] = field(default_factory=dict)
    """Generator/strategy options of the levels claims judge agents on."""
    minigrid_id: Callable[[int], str | None] = lambda size: None
    """MiniGrid's own id for the same levels at a size, where one exists."""
    extra_features: tuple[str, ...] = ()
    """Other vectors defined on the family (controls and second drives)."""
    top_right_region: Callable[[int], int] | None = None
    """Mazes: size -> side of the top-right square of the maze the cheese lies in during
    training."""
    absolute_moves: bool = False
    """Agents act with Procgen's four absolute moves instead of MiniGrid's turns: action ``d``
    (0 right, 1 down, 2 left, 3 up -- MiniGrid's direction indices) faces direction ``d``, then
    steps forward as MiniGrid's forward does. One action, one step of the episode."""

    @property
    def n_actions(self) -> int:
        """Size of its agents' action space: 4 absolute moves, 3 navigation actions or all 7."""
        if self.absolute_moves:
            return ABSOLUTE_MOVES
        return 3 if self.navigation_only else 7

    @property
    def action_names(self) -> tuple[str, ...]:
        """Its agents' actions by index: Procgen's absolute moves or MiniGrid's actions."""
        if self.absolute_moves:
            return ("right", "down", "left", "up")
        return ("turn left", "turn right", "forward", "pickup", "drop", "toggle", "done")[
            : self.n_actions
        ]

    def check_size(self, size: int) -> None:
        """Raise a :class:`LayoutError` listing the valid sizes unless ``size`` is one."""
        if size not in self.sizes:
            raise LayoutError(f"{self.name} has no size {size}; valid sizes: {list(self.sizes)}")

    def env_id(self, size: int, variant: str = "") -> str:
        """The registered Gymnasium id at a size (``variant`` a key of :attr:`variants`)."""
        self.check_size(size)
        if variant not in self.variants:
            raise LayoutError(f"{self.name} has no env variant {variant!r}; valid: {self.variants}")
        return "avec/" + self.env_name.format(size=size, variant=f"-{variant}" if variant else "")


def _color(name: str) -> RGB:
    return tuple(float(c) / 255 for c in COLORS[name])


def _doorkey_objects(layout: DoorKeyLayout) -> list[tuple[Cell, WorldObj]]:
    found = [(layout.door, Door(layout.door_color, is_locked=True)), (layout.goal, Goal())]
    if layout.key is not None:
        found.append((layout.key, Key(layout.key_color)))
    return found


def _doorkey_drawing(layout: DoorKeyLayout) -> list[tuple[str, Cell, RGB]]:
    found = [("D", layout.door, _color(layout.door_color)), ("G", layout.goal, GOAL_RGB)]
    if layout.key is not None:
        found.append(("K", layout.key, _color(layout.key_color)))
    return found


def _one_goal(cell_of: Callable[[Any], Cell | None]) -> Callable[[Any], list]:
    return lambda layout: [] if cell_of(layout) is None else [(cell_of(layout), Goal())]


def _glyph(char: str, cell_of: Callable[[Any], Cell | None], rgb: RGB) -> Callable[[Any], list]:
    return lambda layout: [] if cell_of(layout) is None else [(char, cell_of(layout), rgb)]


def _lavagap_objects(layout: LavaGapLayout) -> list[tuple[Cell, WorldObj]]:
    return [(layout.goal, Goal()), *((cell, Lava()) for cell in sorted(layout.lava))]


def _lavagap_drawing(layout: LavaGapLayout) -> list[tuple[str, Cell, RGB]]:
    return [("G", layout.goal, GOAL_RGB), *(("L", c, LAVA_RGB) for c in sorted(layout.lava))]


_CHEESE = Feature("cheese", "cheese", "goal_reached")
_MAZE_VARIANTS = {"": {}, "Anywhere": {"cheese_region": "anywhere"}}
# What every maze family shares: the whole grid observed, the cheese as feature and goal, the
# top-right vector beside it. They differ in layout class, sizes, region and moves.
_MAZE: dict[str, Any] = dict(
    wrappers=WHOLE_GRID,
    max_steps=lambda size: 4 * size**2,
    navigation_only=True,
    feature=_CHEESE,
    removable="cheese",
    world_objects=_one_goal(lambda layout: layout.cheese),
    drawing=_glyph("C", lambda layout: layout.cheese, CHEESE_RGB),
    variants=_MAZE_VARIANTS,
    trial_options={"cheese_region": "anywhere"},
    extra_features=("top_right",),
)

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="doorkey",
            layout=DoorKeyLayout,
            sizes=tuple(range(5, 17)),
            default_sizes=(5,),
            env_name="DoorKey-{size}x{size}{variant}-v0",
            wrappers=EGOCENTRIC,
            max_steps=lambda size: 10 * size**2,
            navigation_only=False,
            feature=Feature("key", "key", "key_picked_up"),
            removable="key",
            world_objects=_doorkey_objects,
            drawing=_doorkey_drawing,
            minigrid_id=lambda size: (
                f"MiniGrid-DoorKey-{size}x{size}-v0" if size in (5, 6, 8, 16) else None
            ),
            extra_features=("color", "door_color"),
        ),
        Family(
            name="fourrooms",
            layout=FourRoomsLayout,
            sizes=(19,),
            default_sizes=(19,),
            env_name="FourRooms{variant}-v0",
            wrappers=EGOCENTRIC,
            max_steps=lambda size: 100,
            navigation_only=True,
            feature=Feature("goal", "goal", "goal_reached"),
            removable="goal",
            world_objects=_one_goal(lambda layout: layout.goal),
            drawing=_glyph("G", lambda layout: layout.goal, GOAL_RGB),
            minigrid_id=lambda size: "MiniGrid-FourRooms-v0",
        ),
        Family(
            name="cheesemaze",
            layout=CheeseMazeLayout,
            sizes=tuple(range(7, 26, 2)),
            default_sizes=(9,),
            env_name="CheeseMaze-{size}x{size}{variant}-v0",
            **_MAZE,
            top_right_region=lambda size: TOP_RIGHT_REGION,
        ),
        Family(
            name="paddedmaze",
            layout=PaddedMazeLayout,
            # Canvas sizes: 9 and 13 (the zoo's) and 25 (Procgen's).
            sizes=(9, 13, 25),
            default_sizes=(13,),
            env_name="PaddedMaze-{size}x{size}{variant}-v0",
            **_MAZE,
            top_right_region=padded_region,
        ),
        Family(
            name="procmaze",
            layout=ProcMazeLayout,
            sizes=(9, 13, 25),
            default_sizes=(13,),
            env_name="ProcMaze-{size}x{size}{variant}-v0",
            **_MAZE,
            top_right_region=padded_region,
            absolute_moves=True,
        ),
        Family(
            name="lavagap",
            layout=LavaGapLayout,
            sizes=(5, 6, 7),
            default_sizes=(7,),
            env_name="LavaGapS{size}{variant}-v0",
            wrappers=EGOCENTRIC,
            # MiniGrid's LavaGapEnv cap.
            max_steps=lambda size: 4 * size**2,
            navigation_only=True,
            feature=Feature("lava", "goal", "lava_entered", avoided=True),
            removable="lava",
            world_objects=_lavagap_objects,
            drawing=_lavagap_drawing,
            minigrid_id=lambda size: f"MiniGrid-LavaGapS{size}-v0",
        ),
    )
}
"""Every family, by name."""


def get(name: str) -> Family:
    """The family called ``name``; a :class:`LayoutError` listing the valid names otherwise."""
    if name not in FAMILIES:
        raise LayoutError(f"unknown layout family {name!r}; valid: {sorted(FAMILIES)}")
    return FAMILIES[name]


def of(layout: Layout) -> Family:
    """The family of a layout."""
    return get(layout.family)


__all__ = [
    "ABSOLUTE_MOVES",
    "FAMILIES",
    "PADDED_REGIONS",
    "TOP_RIGHT_REGION",
    "Family",
    "Feature",
    "get",
    "of",
    "padded_region",
]
