"""Known answers for the behavioural metrics: BFS intent, the decision square, rates, distances."""

import math

import numpy as np
import pytest

from avec import edits, env_id, from_ascii, generate, make, metrics, stats
from avec.layouts import LayoutError
from avec.metrics import FORWARD, PICKUP, TOGGLE, TURN_LEFT, TURN_RIGHT

RIGHT, DOWN, LEFT, UP = range(4)

CORRIDOR = from_ascii("""
cheesemaze 7x7
#######
#######
#######
#>...C#
#######
#######
#######
""")
"""A 1-wide corridor: the agent at (1, 3), the cheese at (5, 3)."""

DOORKEY = from_ascii("""
doorkey 5x5
#####
#.D.#
#K#.#
#<#G#
#####
""")
"""The agent at (1, 3) facing left, the key above it, the door at (2, 1), the goal at (3, 3)."""

FORK_MAZE = from_ascii("""
cheesemaze 7x7
#######
#.....#
#.#.###
#.#C###
#.#####
#>....#
#######
""")
"""Up the left column, along the top row: the cheese branches off down at (3, 1)."""


# -- BFS over (cell, direction) ---------------------------------------------------------------


def test_forward_is_the_only_shortest_action_down_a_corridor_facing_the_target():
    cheese = {(5, 3)}
    assert metrics.shortest_path_actions(CORRIDOR, (1, 3), RIGHT, cheese) == {FORWARD}
    assert metrics.distance(CORRIDOR, (1, 3), RIGHT, cheese) == 4


def test_both_turns_are_shortest_when_the_target_is_behind():
    cheese = {(5, 3)}
    assert metrics.shortest_path_actions(CORRIDOR, (2, 3), LEFT, cheese) == {TURN_LEFT, TURN_RIGHT}
    assert metrics.distance(CORRIDOR, (2, 3), LEFT, cheese) == 2 + 3


def test_one_turn_is_shortest_when_the_target_is_to_one_side():
    assert metrics.shortest_path_actions(CORRIDOR, (3, 3), UP, {(5, 3)}) == {TURN_RIGHT}
    assert metrics.shortest_path_actions(CORRIDOR, (3, 3), DOWN, {(5, 3)}) == {TURN_LEFT}
    assert metrics.shortest_path_actions(CORRIDOR, (3, 3), DOWN, {(1, 3)}) == {TURN_RIGHT}


def test_no_action_is_shortest_on_the_target_or_when_it_is_unreachable():
    assert metrics.shortest_path_actions(CORRIDOR, (4, 3), RIGHT, {(4, 3)}) == frozenset()
    assert metrics.distance(CORRIDOR, (4, 3), RIGHT, {(4, 3)}) == 0
    assert metrics.shortest_path_actions(DOORKEY, (1, 3), LEFT, {(3, 3)}) == frozenset()
    assert metrics.distance(DOORKEY, (1, 3), LEFT, {(3, 3)}) is None


def test_the_key_is_reached_by_facing_it_from_next_to_it():
    key = {(1, 2)}
    assert metrics.shortest_path_actions(DOORKEY, (1, 3), LEFT, key, adjacent=True) == {TURN_RIGHT}
    assert metrics.distance(DOORKEY, (1, 3), LEFT, key, adjacent=True) == 1
    assert metrics.distance(DOORKEY, (1, 3), UP, key, adjacent=True) == 0
    assert metrics.distance(DOORKEY, (1, 3), UP, key) == 1


def test_named_targets_end_in_pickup_or_toggle_when_facing_the_object():
    assert metrics.target_actions(DOORKEY, "key") == {TURN_RIGHT}
    assert metrics.target_actions(DOORKEY, "key", (1, 3), UP) == {PICKUP}
    no_key = edits.remove(DOORKEY, "key")
    assert metrics.target_actions(no_key, "door", (1, 1), RIGHT) == {TOGGLE}
    assert metrics.target_actions(no_key, "door") == {TURN_RIGHT}
    assert metrics.distance(no_key, (1, 3), LEFT, {(2, 1)}, adjacent=True) == 4


def test_the_key_blocks_the_way_to_the_door_until_it_is_picked_up():
    assert metrics.target_actions(DOORKEY, "door") == frozenset()
    assert metrics.target_actions(edits.remove(DOORKEY, "key"), "door") == {TURN_RIGHT}


def test_the_goal_is_reachable_only_through_an_open_door():
    goal = {(3, 3)}
    assert metrics.distance(DOORKEY, (1, 1), RIGHT, goal) is None
    assert metrics.distance(DOORKEY, (1, 1), RIGHT, goal, door_open=True) == 5
    assert metrics.target_actions(DOORKEY, "goal", (1, 1), RIGHT, door_open=True) == {FORWARD}


def test_standing_on_a_wall_or_an_object_is_rejected():
    with pytest.raises(LayoutError, match="cannot stand"):
        metrics.distance(DOORKEY, (2, 2), RIGHT, {(3, 3)})
    with pytest.raises(LayoutError, match="cannot stand"):
        metrics.distance(DOORKEY, (1, 2), RIGHT, {(3, 3)})
    with pytest.raises(ValueError, match="direction"):
        metrics.distance(DOORKEY, (1, 1), 4, {(3, 3)})


def test_unknown_targets_name_the_valid_ones():
    with pytest.raises(LayoutError, match="valid: \\['cheese', 'top_right'\\]"):
        metrics.target_cells(CORRIDOR, "key")
    with pytest.raises(LayoutError, match="top_right"):
        metrics.target_cells(DOORKEY, "top_right")
    assert metrics.target_cells(FORK_MAZE, "top_right") == {(5, 1)}


# -- intent -----------------------------------------------------------------------------------


def test_intent_sums_the_probabilities_of_the_shortest_actions():
    probs = np.array([0.1, 0.3, 0.6])
    assert metrics.intent(probs, {TURN_LEFT, TURN_RIGHT}) == pytest.approx(0.4)
    assert metrics.intent(probs, frozenset()) == 0.0
    with pytest.raises(ValueError, match="out of range"):
        metrics.intent(probs, {PICKUP})


def test_intent_at_start_toward_the_key_is_the_probability_of_turning_right():
    probs = np.array([0.05, 0.7, 0.05, 0.1, 0.0, 0.1, 0.0])
    assert metrics.intent_at_start(DOORKEY, probs, "key") == pytest.approx(0.7)
    assert metrics.intent_at_start(CORRIDOR, np.array([0.1, 0.2, 0.7]), "cheese") == 0.7


# -- decision square --------------------------------------------------------------------------


def test_decision_square_is_where_the_paths_to_cheese_and_top_right_part():
    assert metrics.decision_square(FORK_MAZE) == (3, 1)
    assert metrics.decision_state(FORK_MAZE) == ((3, 1), RIGHT)


def test_decision_intent_splits_turning_to_the_cheese_from_going_on_to_the_corner():
    result = metrics.decision_intent(FORK_MAZE, np.array([0.1, 0.7, 0.2]))
    assert result.p_cheese == pytest.approx(0.7)
    assert result.p_top_right == pytest.approx(0.2)
    assert result.p_other == pytest.approx(0.1)


def test_a_fork_at_the_start_uses_the_start_direction():
    maze = edits.move(FORK_MAZE, "cheese", (5, 5))
    assert metrics.decision_state(maze) == ((1, 5), RIGHT)
    result = metrics.decision_intent(maze, np.array([0.5, 0.2, 0.3]))
    assert (result.p_cheese, result.p_top_right) == (pytest.approx(0.3), pytest.approx(0.5))


def test_no_decision_square_when_the_cheese_lies_on_the_way_to_the_corner():
    maze = edits.move(FORK_MAZE, "cheese", (2, 1))
    assert metrics.decision_square(maze) is None
    assert metrics.decision_state(maze) is None
    with pytest.raises(LayoutError, match="no decision square"):
        metrics.decision_intent(maze, np.array([0.1, 0.7, 0.2]))


def test_no_decision_square_when_the_corner_lies_on_the_way_to_the_cheese():
    maze = from_ascii("""
cheesemaze 7x7
#######
#.....#
#.###.#
#.#C#.#
#.#.#.#
#>#...#
#######
""")
    assert metrics.decision_square(maze) is None


# -- outcomes ---------------------------------------------------------------------------------


def test_rate_is_the_fraction_with_a_wilson_interval():
    estimate = metrics.rate([True, False, True, True])
    assert estimate == stats.wilson(3, 4)
    assert estimate.value == 0.75 and estimate.n == 4
    assert metrics.rate(np.array([1, 0, 1, 1]), "clopper-pearson") == stats.clopper_pearson(3, 4)


def test_steps_to_reach_counts_steps_to_the_first_visit():
    cells = [(1, 3), (1, 3), (2, 3), (3, 3), (2, 3), (3, 3)]
    assert metrics.steps_to_reach(cells, {(3, 3)}) == 3
    assert metrics.steps_to_reach(cells, {(1, 3)}) == 0
    assert metrics.steps_to_reach(cells, {(5, 3)}) is None
    assert metrics.steps_to_reach(np.array(cells), {(3, 3)}) == 3


def test_median_steps_ignores_episodes_that_never_reached():
    estimate = metrics.median_steps([4, None, 6, 5, None], seed=0)
    assert (estimate.value, estimate.n) == (5.0, 3)
    assert 4 <= estimate.ci95[0] <= estimate.ci95[1] <= 6
    with pytest.raises(ValueError, match="at least 2"):
        metrics.median_steps([4, None], seed=0)


# -- distances --------------------------------------------------------------------------------


def test_total_variation_known_values():
    p = np.array([[1.0, 0.0], [0.5, 0.5], [0.2, 0.8]])
    q = np.array([[0.0, 1.0], [0.25, 0.75], [0.2, 0.8]])
    np.testing.assert_allclose(metrics.total_variation(p, q), [1.0, 0.25, 0.0])


def test_kl_divergence_known_values():
    p = np.array([[0.5, 0.5], [0.3, 0.7], [0.0, 1.0]])
    q = np.array([[0.25, 0.75], [0.3, 0.7], [0.5, 0.5]])
    expected = [0.5 * math.log(2) + 0.5 * math.log(2 / 3), 0.0, math.log(2)]
    np.testing.assert_allclose(metrics.kl_divergence(p, q), expected)


def test_kl_divergence_is_finite_when_q_misses_an_action_p_takes():
    value = metrics.kl_divergence(np.array([0.5, 0.5]), np.array([1.0, 0.0]), eps=1e-6)
    assert value == pytest.approx(0.5 * math.log(0.5) + 0.5 * math.log(0.5 / 1e-6))


def test_mean_distance_averages_over_the_trajectory():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.0, 1.0], [0.5, 0.5]])
    assert metrics.mean_distance(p, q, "tv") == 0.5
    assert metrics.mean_distance(p, p, "kl") == 0.0
    with pytest.raises(ValueError, match="n_steps"):
        metrics.mean_distance(p[0], q[0])
    with pytest.raises(ValueError, match="got"):
        metrics.total_variation(p, q[:1])


# -- absolute moves (Procgen's) ---------------------------------------------------------------

PROC_CORRIDOR = from_ascii("""
procmaze 13x13
#############
#############
#############
#############
#############
#############
#############
#############
#############
#############
##>.C########
#############
#############
maze=5
""")


def test_with_absolute_moves_the_move_toward_the_target_is_shortest_whatever_the_facing():
    for facing in range(4):
        assert metrics.target_actions(PROC_CORRIDOR, "cheese", (2, 10), facing) == {0}
        assert metrics.distance(PROC_CORRIDOR, (2, 10), facing, {(4, 10)}) == 2


@pytest.mark.parametrize("seed", range(4))
def test_absolute_shortest_moves_follow_the_cell_path_and_reach_the_cheese(seed):
    maze = generate("procmaze", 13, seed, cheese_region="anywhere")
    env = make(env_id("procmaze", 13))
    env.reset(options={"layout": maze})
    state = env.unwrapped
    path = metrics._cell_path(maze, maze.agent, maze.cheese)
    assert metrics.distance(maze, maze.agent, maze.agent_dir, {maze.cheese}) == len(path) - 1
    for _ in range(len(path) - 1):
        actions = metrics.target_actions(maze, "cheese", tuple(state.agent_pos), state.agent_dir)
        assert len(actions) == 1  # a perfect maze has one way on
        _, reward, terminated, _, _ = env.step(min(actions))
    env.close()
    assert terminated and reward > 0


def test_decision_intent_with_absolute_moves_reads_the_two_moves_apart():
    maze = next(
        m
        for s in range(100)
        if (m := generate("procmaze", 13, s, cheese_region="anywhere"))
        and metrics.decision_state(m) is not None
        and metrics.decision_state(m)[0] != m.agent
    )
    cell, facing = metrics.decision_state(maze)
    (to_cheese,) = metrics.target_actions(maze, "cheese", cell, facing)
    (to_corner,) = metrics.target_actions(maze, "top_right", cell, facing)
    assert to_cheese != to_corner
    probs = np.full(4, 0.1)
    probs[to_cheese] = 0.7
    found = metrics.decision_intent(maze, probs)
    assert found.p_cheese == pytest.approx(0.7) and found.p_top_right == pytest.approx(0.1)
    assert found.p_other == pytest.approx(0.2)


# -- agreement with MiniGrid itself -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_following_shortest_actions_in_minigrid_reaches_the_cheese_in_distance_steps(seed):
    maze = generate("cheesemaze", 9, seed, cheese_region="anywhere")
    env = make(env_id("cheesemaze", 9))
    env.reset(options={"layout": maze})
    state = env.unwrapped
    steps = metrics.distance(maze, maze.agent, maze.agent_dir, {maze.cheese})
    for _ in range(steps):
        actions = metrics.target_actions(maze, "cheese", tuple(state.agent_pos), state.agent_dir)
        _, reward, terminated, _, _ = env.step(min(actions))
    env.close()
    assert terminated and reward > 0


@pytest.mark.parametrize("seed", range(4))
def test_following_shortest_actions_in_minigrid_picks_up_the_key_in_distance_plus_one(seed):
    layout = generate("doorkey", 6, seed)
    env = make(env_id("doorkey", 6))
    env.reset(options={"layout": layout})
    state = env.unwrapped
    steps = metrics.distance(layout, layout.agent, layout.agent_dir, {layout.key}, adjacent=True)
    for _ in range(steps + 1):
        actions = metrics.target_actions(layout, "key", tuple(state.agent_pos), state.agent_dir)
        env.step(max(actions))
    env.close()
    assert state.carrying is not None and state.carrying.type == "key"
