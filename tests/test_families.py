"""The family registry: every entry's parts fit together, and what it declares is what the
rest of avec does with a family's levels."""

import dataclasses

import numpy as np
import pytest
import torch

from avec import (
    edits,
    envs,
    experiments,
    families,
    generators,
    metrics,
    rollouts,
    strategies,
    training,
    vectors,
)
from avec.generators import HELD_OUT_SEED_START
from avec.layouts import CheeseMazeLayout, LayoutError, from_ascii
from avec.rollouts import Trajectory

TRAJECTORY_FIELDS = {f.name for f in dataclasses.fields(Trajectory)}


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_each_family_generates_its_class_round_trips_ascii_and_builds_its_env(name):
    family = families.get(name)
    size = family.sizes[0]
    layout = generators.generate(name, size, HELD_OUT_SEED_START)
    assert type(layout) is family.layout and layout.family == name
    assert from_ascii(layout.to_ascii()) == layout
    env = envs.make(family.env_id(size))
    obs, _ = env.reset(options={"layout": layout})
    assert env.unwrapped.layout == layout
    assert (
        env.action_space.n
        == family.n_actions
        == (4 if family.absolute_moves else 3 if family.navigation_only else 7)
    )
    assert env.unwrapped.max_steps == family.max_steps(size)
    assert obs.shape == ((size, size, 3) if "FullyObs" in family.wrappers[0] else (7, 7, 3))
    assert family.feature.vector in vectors.FEATURES
    assert family.feature.target in metrics.TARGETS
    assert family.feature.event in TRAJECTORY_FIELDS
    assert experiments.FEATURES[name] == family.feature
    assert family.removable is not None and edits.remove(layout, family.removable) != layout


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_each_familys_feature_pair_differs_and_its_drawing_names_every_object(name):
    family = families.get(name)
    layout = generators.generate(name, family.sizes[0], HELD_OUT_SEED_START + 1)
    with_, without = vectors.FEATURES[family.feature.vector](layout)
    assert with_ != without
    drawn = {cell for _, cell, _ in family.drawing(layout)}
    built = {cell for cell, _ in family.world_objects(layout)}
    assert drawn == built != set()


def test_every_family_has_a_generator_and_a_strategy_and_nothing_else_does():
    assert set(generators.GENERATORS) == set(strategies.STRATEGIES) == set(families.FAMILIES)


@pytest.mark.parametrize("name", sorted(families.FAMILIES))
def test_each_familys_default_sizes_are_sizes_it_comes_in(name):
    family = families.get(name)
    assert family.default_sizes and set(family.default_sizes) <= set(family.sizes)


def test_unknown_family_names_the_valid_ones():
    with pytest.raises(LayoutError, match="valid: \\['cheesemaze', 'doorkey', 'fourrooms'"):
        families.get("maze")


def test_procmaze_levels_are_the_padded_mazes_for_agents_with_absolute_moves():
    proc, padded = families.get("procmaze"), families.get("paddedmaze")
    assert proc.absolute_moves and not padded.absolute_moves
    assert (proc.n_actions, padded.n_actions) == (4, 3)
    for seed in (0, HELD_OUT_SEED_START + 5):
        for options in ({}, {"cheese_region": "anywhere"}):
            a = generators.generate("procmaze", 13, seed, **options)
            b = generators.generate("paddedmaze", 13, seed, **options)
            assert a.family == "procmaze" and b.family == "paddedmaze"
            assert (a.walls, a.agent, a.cheese, a.maze_size) == (
                b.walls,
                b.agent,
                b.cheese,
                b.maze_size,
            )
    assert proc.env_id(13, "Anywhere") == "avec/ProcMaze-13x13-Anywhere-v0"


def test_env_ids_name_family_size_and_variant():
    assert families.get("paddedmaze").env_id(13, "Anywhere") == "avec/PaddedMaze-13x13-Anywhere-v0"
    assert families.get("lavagap").env_id(7) == "avec/LavaGapS7-v0"
    with pytest.raises(LayoutError, match="no env variant"):
        families.get("lavagap").env_id(7, "Anywhere")


# -- padded mazes: the canvas, the top-right corridor, the decision square --------------------


def test_open_top_right_runs_a_corridor_from_the_maze_corner_to_the_canvas_corner():
    maze = generators.generate("paddedmaze", 13, 0, maze_size=7)
    opened = edits.open_top_right(maze)
    assert maze.canvas_top_right in maze.walls
    assert maze.canvas_top_right in opened.reachable()
    removed = maze.walls - opened.walls
    o, n = maze.offset, maze.maze_size
    corner_x = o + n - 2
    for x, y in removed:
        in_maze_edge = maze.in_maze((x, y)) and (y == o + 1 or x == corner_x)
        up_the_padding = x == corner_x and y <= o
        along_the_top = y == 1 and x >= corner_x
        assert in_maze_edge or up_the_padding or along_the_top, (x, y)
    assert opened.walls >= {(0, y) for y in range(13)}  # the canvas's own wall stays closed


def test_decision_square_on_the_canvas_is_the_unpadded_mazes_shifted():
    checked = 0
    for seed in range(40):
        maze = generators.generate("paddedmaze", 13, seed, cheese_region="anywhere")
        o, n = maze.offset, maze.maze_size
        bare = CheeseMazeLayout(
            width=n,
            height=n,
            walls=frozenset(
                (x - o, y - o) for x, y in maze.walls if o <= x < o + n and o <= y < o + n
            ),
            agent=(maze.agent[0] - o, maze.agent[1] - o),
            agent_dir=maze.agent_dir,
            cheese=(maze.cheese[0] - o, maze.cheese[1] - o),
        )
        square, bare_square = metrics.decision_square(maze), metrics.decision_square(bare)
        if bare_square is None:
            assert square is None
            continue
        assert square == (bare_square[0] + o, bare_square[1] + o)
        checked += o > 0
    assert checked >= 5


def test_padded_maze_ascii_needs_its_maze_size():
    maze = generators.generate("paddedmaze", 13, 3)
    text = maze.to_ascii()
    assert text.splitlines()[-1] == f"maze={maze.maze_size}"
    with pytest.raises(LayoutError, match="maze=N"):
        from_ascii("\n".join(text.splitlines()[:-1]))


# -- LavaGap: the lava vector's pair and the rollout event -----------------------------------


def test_lava_pair_puts_floor_in_the_lava_column_and_keeps_everything_else():
    level = generators.generate("lavagap", 7, 5)
    with_, without = vectors.lava_pair(level)
    assert with_ == level and without.lava == frozenset()
    assert without.replace(lava=level.lava) == level
    column = {x for x, _ in level.lava}
    assert len(column) == 1


def test_stepping_into_lava_is_recorded_and_ends_the_episode_unrewarded():
    level = from_ascii("lavagap 7x7\n#######\n#>L...#\n#.L...#\n#.....#\n#.L...#\n#.L..G#\n#######")
    model = training.untrained("mlp", "lavagap", 7)
    with torch.no_grad():  # always forward
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.copy_(torch.tensor([0.0, 0.0, 50.0]))
    [burnt] = rollouts.run(model, [level], seed=0, greedy=True, wrappers=families.EGOCENTRIC)
    assert (burnt.lava_entered, burnt.goal_reached, burnt.steps) == (1, None, 1)
    assert burnt.episode_return == 0.0
    [safe] = rollouts.run(
        model, [edits.remove(level, "lava")], seed=0, greedy=True, wrappers=families.EGOCENTRIC
    )
    assert safe.lava_entered is None


def test_lava_is_a_target_the_search_can_walk_into_and_the_goal_path_avoids_it():
    level = from_ascii("lavagap 7x7\n#######\n#>L...#\n#.L...#\n#.....#\n#.L...#\n#.L..G#\n#######")
    assert metrics.target_actions(level, "lava") == {metrics.FORWARD}
    assert metrics.FORWARD not in metrics.target_actions(level, "goal")


# -- DoorKey's colour vector ------------------------------------------------------------------


def test_color_pair_recolours_key_and_door_together():
    level = generators.generate("doorkey", 5, 0)
    with_, without = vectors.color_pair(level, to="purple")
    assert (with_.key_color, with_.door_color) == (level.door_color, level.door_color)
    assert (without.key_color, without.door_color) == ("purple", "purple")
    assert with_.solvable and without.solvable
    assert without.replace(key_color=with_.key_color, door_color=with_.door_color) == with_
    with pytest.raises(LayoutError, match="already"):
        vectors.color_pair(level, to=level.door_color)


def test_color_vector_of_an_untrained_agent_is_nonzero_and_finite():
    model = training.untrained("mlp", "doorkey", 5)
    level = generators.generate("doorkey", 5, 0)
    vector = vectors.feature_vector(
        model, "color", level, "mlp_extractor.policy_net.1", wrappers=families.EGOCENTRIC
    )
    assert np.isfinite(vector.values).all() and np.abs(vector.values).sum() > 0
