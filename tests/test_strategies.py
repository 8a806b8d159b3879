"""The Hypothesis strategies draw exactly the levels the generators can build, all solvable, and
shrink a failing claim to the smallest, simplest level that still shows it."""

import random
from collections import deque

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from avec import families, generators, strategies
from avec.envs import HELD_OUT_SEED_START
from avec.layouts import (
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    LavaGapLayout,
    Layout,
    LayoutError,
    PaddedMazeLayout,
    ProcMazeLayout,
    from_ascii,
)

FIND = settings(max_examples=2000, database=None, deadline=None)


def minimal(strategy, condition=lambda layout: True) -> Layout:
    """The layout Hypothesis shrinks to among those meeting ``condition``."""
    return find(strategy, condition, settings=FIND, random=random.Random(0))


def outer_wall(size: int) -> set:
    return {(x, y) for x in range(size) for y in range(size) if {x, y} & {0, size - 1}}


def doorkey_rule_violations(layout: DoorKeyLayout) -> list[str]:
    """Where a level departs from what MiniGrid's ``DoorKeyEnv._gen_grid`` can build."""
    size, (split, door_row) = layout.width, layout.door
    wall = outer_wall(size) | {(split, y) for y in range(size) if y != door_row}
    checks = {
        "square": layout.height == size,
        "goal bottom-right": layout.goal == (size - 2, size - 2),
        "split column in 2..size-3": 2 <= split <= size - 3,
        "door row in 1..size-3": 1 <= door_row <= size - 3,
        "walls are the outer wall and the split": layout.walls == wall,
        "agent left of the split": 0 < layout.agent[0] < split,
        "key left of the split": layout.key is not None and 0 < layout.key[0] < split,
        "yellow key and door": layout.key_color == layout.door_color == "yellow",
    }
    return [name for name, ok in checks.items() if not ok]


def fourrooms_rule_violations(layout: FourRoomsLayout) -> list[str]:
    """Where a level departs from what MiniGrid's ``FourRoomsEnv._gen_grid`` can build."""
    size = layout.width
    mid = size // 2
    cross = {(mid, i) for i in range(size)} | {(i, mid) for i in range(size)}
    doorways = (outer_wall(size) | cross) - layout.walls
    arms = {
        "top": {(mid, y) for y in range(1, mid)},
        "bottom": {(mid, y) for y in range(mid + 1, size - 1)},
        "left": {(x, mid) for x in range(1, mid)},
        "right": {(x, mid) for x in range(mid + 1, size - 1)},
    }
    checks = {
        "19x19": layout.size == (19, 19),
        "no walls off the cross": layout.walls <= outer_wall(size) | cross,
        "one doorway per arm": all(len(doorways & arm) == 1 for arm in arms.values()),
        "no other doorways": len(doorways) == 4,
        "a goal": layout.goal is not None,
    }
    return [name for name, ok in checks.items() if not ok]


def is_perfect_maze(layout: CheeseMazeLayout) -> bool:
    """Nodes on odd cells all free, even-even cells walls, and the free cells form a tree."""
    size = layout.width
    inner = [(x, y) for x in range(1, size - 1) for y in range(1, size - 1)]
    free = {c for c in inner if c not in layout.walls}
    if not outer_wall(size) <= layout.walls:
        return False
    if any(x % 2 and y % 2 and (x, y) not in free for x, y in inner):
        return False
    if any(x % 2 == 0 and y % 2 == 0 and (x, y) in free for x, y in inner):
        return False
    edges = sum((x + 1, y) in free for x, y in free) + sum((x, y + 1) in free for x, y in free)
    return edges == len(free) - 1 and layout.reachable() == free


def path_length(layout: Layout, target) -> int:
    distance = {layout.agent: 0}
    queue = deque([layout.agent])
    while queue:
        x, y = queue.popleft()
        for nxt in ((x + 1, y), (x, y + 1), (x - 1, y), (x, y - 1)):
            if nxt not in layout.walls and nxt not in distance:
                distance[nxt] = distance[(x, y)] + 1
                queue.append(nxt)
    return distance[target]


def in_top_right(layout: CheeseMazeLayout, cell) -> bool:
    region = families.TOP_RIGHT_REGION
    return cell[0] >= layout.width - 1 - region and cell[1] <= region


# -- support: what the strategies draw is what the generators build ------------------------


@given(strategies.doorkey_layouts(sizes=range(5, 17)))
def test_drawn_doorkey_levels_follow_minigrid_rules_and_are_solvable(layout):
    assert doorkey_rule_violations(layout) == []
    assert layout.solvable


@pytest.mark.parametrize("size", [5, 6, 8, 16])
def test_minigrid_doorkey_levels_follow_the_rules_the_strategy_draws_by(size):
    for seed in range(40):
        assert doorkey_rule_violations(generators.doorkey(size, seed)) == [], seed


@given(strategies.fourrooms_layouts())
def test_drawn_fourrooms_levels_follow_minigrid_rules_and_are_solvable(layout):
    assert fourrooms_rule_violations(layout) == []
    assert layout.solvable


def test_minigrid_fourrooms_levels_follow_the_rules_the_strategy_draws_by():
    for seed in range(40):
        assert fourrooms_rule_violations(generators.fourrooms(seed)) == [], seed


@given(strategies.cheesemaze_layouts(sizes=(7, 9, 11, 15, 25)))
def test_drawn_mazes_are_perfect_with_the_agent_bottom_left_and_cheese_top_right(layout):
    assert is_perfect_maze(layout)
    assert layout.agent == (1, layout.height - 2)
    assert in_top_right(layout, layout.cheese)
    assert layout.solvable


@given(strategies.cheesemaze_layouts(sizes=(9,), cheese_region="anywhere"))
def test_mazes_with_cheese_anywhere_keep_it_off_the_agent(layout):
    assert is_perfect_maze(layout)
    assert layout.cheese != layout.agent
    assert layout.solvable


def test_cheese_anywhere_can_lie_outside_the_top_right_region():
    strategy = strategies.cheesemaze_layouts(sizes=(9,), cheese_region="anywhere")
    layout = minimal(strategy, lambda lay: not in_top_right(lay, lay.cheese))
    assert not in_top_right(layout, layout.cheese)


@given(st.sampled_from([7, 9, 13, 25]), st.integers(0, 2**31 - 1))
def test_generated_mazes_are_perfect_mazes_too(size, seed):
    assert is_perfect_maze(generators.cheesemaze(size, seed))


# -- shrinking: a failing claim ends on the simplest level that shows it -------------------


def test_doorkey_layouts_shrink_to_the_simplest_5x5_level():
    expected = from_ascii("doorkey 5x5\n#####\n#>D.#\n#K#.#\n#.#G#\n#####")
    assert minimal(strategies.doorkey_layouts(sizes=range(5, 17))) == expected


def test_a_doorkey_counterexample_shrinks_to_the_smallest_size_that_shows_it():
    # The door can sit in row 3 only from 6x6 on.
    layout = minimal(strategies.doorkey_layouts(sizes=range(5, 17)), lambda lay: lay.door[1] >= 3)
    expected = from_ascii("doorkey 6x6\n######\n#>#..#\n#K#..#\n#.D..#\n#.#.G#\n######")
    assert layout == expected


def test_fourrooms_layouts_shrink_to_agent_and_goal_side_by_side_in_the_top_left():
    layout = minimal(strategies.fourrooms_layouts())
    assert (layout.agent, layout.agent_dir, layout.goal) == ((1, 1), 0, (2, 1))
    assert {(9, 1), (1, 9), (10, 9), (9, 10)}.isdisjoint(layout.walls)


def test_mazes_shrink_to_the_maze_that_always_carves_the_first_way():
    layout = minimal(strategies.cheesemaze_layouts(sizes=(9, 11, 25)))
    assert layout.size == (9, 9)
    assert layout.walls == generators.carve_maze(9, lambda n: 0)
    assert layout.agent_dir == 0
    assert layout.cheese == generators.cheese_cells(9, layout.walls)[0]


def test_a_maze_counterexample_shrinks_to_the_smallest_size_that_shows_it():
    # A 9x9 maze has 31 free cells, so no path in it is longer than 30 steps.
    layout = minimal(
        strategies.cheesemaze_layouts(sizes=(9, 11, 25)),
        lambda lay: path_length(lay, lay.cheese) > 30,
    )
    assert layout.size == (11, 11)


def test_seeded_layouts_draw_generator_levels_from_held_out_seeds():
    layout = minimal(strategies.seeded_layouts("cheesemaze", sizes=(11, 9)))
    assert layout == generators.cheesemaze(9, HELD_OUT_SEED_START)
    assert minimal(strategies.seeded_layouts("doorkey", first_seed=7)) == generators.doorkey(5, 7)


@given(strategies.seeded_layouts("cheesemaze", cheese_region="anywhere"))
def test_seeded_layouts_pass_generator_options_on(layout):
    assert is_perfect_maze(layout)


@pytest.mark.parametrize(
    "family, cls",
    [
        ("doorkey", DoorKeyLayout),
        ("fourrooms", FourRoomsLayout),
        ("cheesemaze", CheeseMazeLayout),
        ("paddedmaze", PaddedMazeLayout),
        ("procmaze", ProcMazeLayout),
        ("lavagap", LavaGapLayout),
    ],
)
def test_layouts_dispatches_by_family_at_its_default_size(family, cls):
    layout = minimal(strategies.layouts(family))
    assert isinstance(layout, cls)
    assert layout.width == families.get(family).default_sizes[0]


def test_lavagap_strategy_draws_exactly_minigrids_levels():
    from_generator = {generators.lavagap(7, seed) for seed in range(300)}
    drawn = set()
    with pytest.raises(NoSuchExample):
        find(
            strategies.lavagap_layouts(),
            lambda layout: drawn.add(layout) or False,
            settings=settings(FIND, max_examples=500, phases=[Phase.generate]),
            random=random.Random(0),
        )
    assert drawn == from_generator
    assert len(drawn) == 15


@given(strategies.paddedmaze_layouts())
def test_drawn_padded_mazes_are_centred_perfect_mazes_with_cheese_top_right(layout):
    assert layout.solvable and layout.in_maze(layout.cheese)
    assert layout.in_top_right(layout.cheese, families.padded_region(13))
    outside = {(x, y) for x in range(13) for y in range(13) if not layout.in_maze((x, y))}
    assert outside <= layout.walls


def test_padded_mazes_shrink_to_the_smallest_maze_in_the_middle():
    layout = minimal(strategies.paddedmaze_layouts())
    assert (layout.maze_size, layout.offset) == (5, 4)


def test_lavagap_levels_shrink_to_the_column_next_to_the_agent_with_the_gap_on_top():
    layout = minimal(strategies.lavagap_layouts())
    assert layout.lava == frozenset((2, y) for y in range(2, 6))


# -- bad arguments fail at once, naming what is valid -------------------------------------


BAD = {
    "unknown family": (lambda: strategies.layouts("maze"), "valid: ['cheesemaze', 'doorkey'"),
    "unknown family, seeded": (lambda: strategies.seeded_layouts("maze"), "valid: ["),
    "doorkey size": (lambda: strategies.doorkey_layouts(sizes=(4,)), "valid sizes: [5, 6"),
    "fourrooms size": (lambda: strategies.fourrooms_layouts(sizes=(9,)), "valid sizes: [19]"),
    "even maze size": (lambda: strategies.cheesemaze_layouts(sizes=(10,)), "valid sizes: [7, 9"),
    "no sizes": (lambda: strategies.doorkey_layouts(sizes=()), "no sizes given for doorkey"),
    "cheese region": (
        lambda: strategies.cheesemaze_layouts(cheese_region="left"),
        "'top_right' or 'anywhere'",
    ),
    "region side": (lambda: strategies.cheesemaze_layouts(region=8), "region must be 1..7"),
}


@pytest.mark.parametrize("make, message", BAD.values(), ids=BAD.keys())
def test_bad_strategy_arguments_raise_before_drawing(make, message):
    with pytest.raises(LayoutError) as error:
        make()
    assert message in str(error.value)
