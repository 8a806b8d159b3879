"""Generators are pure functions of (family, size, seed), yield solvable levels only, and
DoorKey, FourRooms and LavaGap levels are exactly the ones MiniGrid's own envs build for that
seed, at every size (the generators replay MiniGrid's draws without building its envs)."""

import functools

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from minigrid.core.world_object import Ball
from minigrid.envs import DoorKeyEnv, FourRoomsEnv, LavaGapEnv

from avec import families, generators
from avec.layouts import LayoutError

seeds = st.integers(0, 2**31 - 1)
held_out_seeds = st.integers(generators.HELD_OUT_SEED_START, generators.HELD_OUT_SEED_START + 10**5)
"""The seeds claims draw their levels from."""

MINIGRID_ENVS = {"doorkey": DoorKeyEnv, "fourrooms": FourRoomsEnv, "lavagap": LavaGapEnv}


@functools.cache
def minigrid_env(env_id: str) -> gym.Env:
    return gym.make(env_id)


def assert_same_level(minigrid_id, seed, layout, render_level, layout_rows):
    env = minigrid_env(minigrid_id)
    env.reset(seed=seed)
    assert render_level(env) == layout_rows(layout)
    for x, y in ((x, y) for x in range(layout.width) for y in range(layout.height)):
        obj = env.unwrapped.grid.get(x, y)
        if obj is not None and obj.type == "key":
            assert obj.color == layout.key_color
        if obj is not None and obj.type == "door":
            assert (obj.color, obj.is_locked, obj.is_open) == (layout.door_color, True, False)


@pytest.mark.parametrize("size", [5, 6, 8, 16])
@given(seed=seeds)
def test_doorkey_generator_builds_minigrids_level_for_the_same_seed(
    size, seed, render_level, layout_rows
):
    layout = generators.doorkey(size, seed)
    assert_same_level(f"MiniGrid-DoorKey-{size}x{size}-v0", seed, layout, render_level, layout_rows)


@given(seed=seeds)
def test_fourrooms_generator_builds_minigrids_level_for_the_same_seed(
    seed, render_level, layout_rows
):
    layout = generators.fourrooms(seed)
    assert_same_level("MiniGrid-FourRooms-v0", seed, layout, render_level, layout_rows)


@functools.cache
def minigrid_level_env(family: str, size: int):
    return MINIGRID_ENVS[family]() if family == "fourrooms" else MINIGRID_ENVS[family](size=size)


@pytest.mark.parametrize(
    "family, size", [(f, size) for f in MINIGRID_ENVS for size in families.get(f).sizes]
)
@given(seed=seeds | held_out_seeds)
def test_generator_draws_the_level_minigrid_builds_for_the_seed_at_every_size(family, size, seed):
    env = minigrid_level_env(family, size)
    env.reset(seed=seed)
    assert generators.generate(family, size, seed) == generators.read_minigrid_level(env)


family_sizes = st.sampled_from(
    [(name, size) for name, family in families.FAMILIES.items() for size in family.sizes]
)


@given(family_sizes, seeds)
def test_generated_layouts_are_solvable(family_size, seed):
    assert generators.generate(*family_size, seed).solvable


@given(family_sizes, seeds, seeds)
def test_generators_are_deterministic_per_seed_whatever_ran_before(family_size, seed, other):
    first = generators.generate(*family_size, seed)
    generators.generate(*family_size, other)
    assert generators.generate(*family_size, seed) == first


@pytest.mark.parametrize("family, size", [("doorkey", 8), ("fourrooms", 19), ("cheesemaze", 9)])
def test_different_seeds_give_different_layouts(family, size):
    assert len({generators.generate(family, size, seed) for seed in range(20)}) >= 10


@given(st.sampled_from(families.get("cheesemaze").sizes), seeds)
def test_training_mazes_start_bottom_left_with_cheese_in_the_top_right_region(size, seed):
    layout = generators.cheesemaze(size, seed)
    region = families.TOP_RIGHT_REGION
    assert layout.agent == (1, size - 2) == generators.maze_start(size)
    assert layout.cheese[0] >= size - 1 - region and layout.cheese[1] <= region


def test_cheese_anywhere_reaches_every_part_of_the_maze():
    mazes = [generators.cheesemaze(9, seed, cheese_region="anywhere") for seed in range(200)]
    quadrants = {(maze.cheese[0] < 4, maze.cheese[1] < 4) for maze in mazes}
    assert len(quadrants) == 4


def test_a_smaller_region_keeps_the_cheese_closer_to_the_corner():
    for seed in range(50):
        x, y = generators.cheesemaze(11, seed, region=1).cheese
        assert (x, y) == (9, 1)


def test_maze_walls_are_a_function_of_the_generator_state():
    a = generators.maze_walls(11, np.random.default_rng(3))
    b = generators.maze_walls(11, np.random.default_rng(3))
    c = generators.maze_walls(11, np.random.default_rng(4))
    assert a == b != c


def test_a_chooser_outside_the_options_is_refused():
    with pytest.raises(ValueError, match="returned 5; valid: 0..1"):
        generators.carve_maze(9, lambda n: 5)


BAD = {
    "unknown family": (("maze", 9, 0), {}, "unknown layout family 'maze'; valid: ['cheesemaze'"),
    "doorkey size": (("doorkey", 4, 0), {}, "doorkey has no size 4; valid sizes: [5, 6, 7"),
    "fourrooms size": (("fourrooms", 9, 0), {}, "valid sizes: [19]"),
    "even maze": (("cheesemaze", 8, 0), {}, "valid sizes: [7, 9, 11"),
    "cheese region": (("cheesemaze", 9, 0), {"cheese_region": "left"}, "'top_right' or"),
    "region side": (("cheesemaze", 9, 0), {"region": 0}, "region must be 1..7 for size 9, got 0"),
}


@pytest.mark.parametrize("args, options, message", BAD.values(), ids=BAD.keys())
def test_bad_generator_arguments_raise_naming_the_valid_ones(args, options, message):
    with pytest.raises(LayoutError) as error:
        generators.generate(*args, **options)
    assert message in str(error.value)


def test_reading_an_object_layouts_cannot_hold_raises():
    env = DoorKeyEnv(size=5)
    env.reset(seed=0)
    env.unwrapped.grid.set(3, 1, Ball("red"))
    with pytest.raises(LayoutError, match=r"cannot read a ball at \(3, 1\)"):
        generators.read_minigrid_level(env)


@pytest.mark.parametrize("size", [5, 6, 7])
@given(seed=seeds)
def test_lavagap_generator_builds_minigrids_level_for_the_same_seed(
    size, seed, render_level, layout_rows
):
    layout = generators.lavagap(size, seed)
    assert_same_level(f"MiniGrid-LavaGapS{size}-v0", seed, layout, render_level, layout_rows)
    assert len(layout.lava) == size - 3


@given(seed=seeds)
def test_padded_maze_is_a_maze_centred_in_walls_with_the_agent_bottom_left(seed):
    layout = generators.paddedmaze(13, seed)
    n, o = layout.maze_size, layout.offset
    assert n in (5, 7, 9, 11, 13) and o == (13 - n) // 2
    outside = {(x, y) for x in range(13) for y in range(13) if not layout.in_maze((x, y))}
    assert outside <= layout.walls
    assert layout.agent == (o + 1, o + n - 2)
    free = {(x, y) for x in range(13) for y in range(13)} - layout.walls
    assert layout.reachable(blocked=layout.walls) == free  # one connected maze, no pockets


@given(seed=seeds)
def test_padded_maze_puts_the_cheese_in_the_mazes_top_right_5x5_in_training(seed):
    layout = generators.paddedmaze(13, seed)
    assert layout.in_top_right(layout.cheese, families.padded_region(13))
    assert layout.in_maze(layout.cheese)


def test_padded_maze_sizes_are_all_drawn_and_large_mazes_put_cheese_outside_the_corner():
    drawn = [generators.paddedmaze(13, s, cheese_region="anywhere") for s in range(300)]
    assert {m.maze_size for m in drawn} == {5, 7, 9, 11, 13}
    outside = [m for m in drawn if not m.in_top_right(m.cheese, families.padded_region(13))]
    assert outside and all(m.maze_size > 7 for m in outside)
    small = [m for m in drawn if m.maze_size <= 7]
    assert all(m.in_top_right(m.cheese, families.padded_region(13)) for m in small)


def test_padded_maze_of_a_chosen_size_is_the_same_maze_whatever_the_canvas_offset():
    maze = generators.paddedmaze(13, 4, maze_size=9)
    assert maze.maze_size == 9 and maze.offset == 2
    with pytest.raises(LayoutError, match="maze_size must be one of"):
        generators.paddedmaze(13, 4, maze_size=15)
