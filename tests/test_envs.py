"""The env a layout builds is that layout, cell for cell; avec's DoorKey env plays exactly as
MiniGrid's own; every registered id works; bad ids and reset options fail clearly."""

import copy
import functools
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given
from hypothesis import strategies as st

from avec import edits, envs, families, generators, metrics, strategies
from avec.envs import LayoutEnv
from avec.layouts import LayoutError, from_ascii

AVEC_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("avec/"))

doorkeys = strategies.doorkey_layouts(sizes=(5, 6, 8, 16))
any_layout = st.one_of(
    st.builds(
        lambda lay, color: edits.recolor(lay, key=color),
        doorkeys,
        st.sampled_from(["yellow", "red", "blue"]),
    ),
    strategies.fourrooms_layouts(),
    strategies.cheesemaze_layouts(sizes=(7, 9, 11, 25), cheese_region="anywhere"),
)


@functools.cache
def layout_env(family: str, size: int) -> gym.Env:
    return gym.make(envs.env_id(family, size))


def assert_env_holds(env, layout, render_level, layout_rows):
    """The env's level is ``layout``: same glyph in every cell, same colours and door state."""
    assert render_level(env) == layout_rows(layout)
    assert env.unwrapped.layout == layout
    for obj in env.unwrapped.grid.grid:
        if obj is not None and obj.type == "key":
            assert obj.color == layout.key_color
        if obj is not None and obj.type == "door":
            assert (obj.color, obj.is_locked, obj.is_open) == (layout.door_color, True, False)


def test_avec_registers_every_family_and_size():
    expected = {envs.env_id("doorkey", n) for n in families.get("doorkey").sizes}
    expected.add("avec/FourRooms-v0")
    for n in families.get("cheesemaze").sizes:
        expected |= {f"avec/CheeseMaze-{n}x{n}-v0", f"avec/CheeseMaze-{n}x{n}-Anywhere-v0"}
    for n in families.get("paddedmaze").sizes:
        expected |= {f"avec/PaddedMaze-{n}x{n}-v0", f"avec/PaddedMaze-{n}x{n}-Anywhere-v0"}
        expected |= {f"avec/ProcMaze-{n}x{n}-v0", f"avec/ProcMaze-{n}x{n}-Anywhere-v0"}
    expected |= {f"avec/LavaGapS{n}-v0" for n in (5, 6, 7)}
    assert set(AVEC_IDS) == expected


@pytest.mark.parametrize("env_id", AVEC_IDS)
def test_registered_env_builds_the_solvable_layout_it_reports(env_id, render_level, layout_rows):
    env = gym.make(env_id)
    env.reset(seed=7)
    layout = env.unwrapped.layout
    assert layout.solvable
    assert layout.size == (env.unwrapped.width, env.unwrapped.height)
    assert_env_holds(env, layout, render_level, layout_rows)
    env.reset(seed=7)
    assert env.unwrapped.layout == layout


@pytest.mark.parametrize("env_id", AVEC_IDS)
def test_navigation_families_have_three_actions_doorkey_seven_and_procgen_moves_four(env_id):
    n_actions = 7 if "DoorKey" in env_id else 4 if "ProcMaze" in env_id else 3
    assert gym.make(env_id).action_space == spaces.Discrete(n_actions)


@given(layout=any_layout)
def test_env_built_from_a_layout_holds_it_cell_for_cell(layout, render_level, layout_rows):
    env = layout_env(layout.family, layout.width)
    env.reset(options={"layout": layout})
    assert_env_holds(env, layout, render_level, layout_rows)


def test_a_layout_given_at_construction_is_built_on_every_reset(render_level, layout_rows):
    layout = generators.cheesemaze(9, 3, cheese_region="anywhere")
    env = gym.make("avec/CheeseMaze-9x9-v0", layout=layout)
    for seed in range(3):
        env.reset(seed=seed)
        assert_env_holds(env, layout, render_level, layout_rows)


@pytest.mark.parametrize(
    "env_id, family, size, options",
    [
        ("avec/DoorKey-6x6-v0", "doorkey", 6, {}),
        ("avec/FourRooms-v0", "fourrooms", 19, {}),
        ("avec/CheeseMaze-11x11-v0", "cheesemaze", 11, {"cheese_region": "top_right"}),
        ("avec/CheeseMaze-11x11-Anywhere-v0", "cheesemaze", 11, {"cheese_region": "anywhere"}),
    ],
)
def test_layout_seed_option_builds_the_generators_level(env_id, family, size, options):
    env = gym.make(env_id)
    for seed in (0, 12, 2**31 + 5):
        env.reset(options={"layout_seed": seed})
        assert env.unwrapped.layout == generators.generate(family, size, seed, **options)


def test_the_next_plain_reset_goes_back_to_drawing_layouts():
    layout = generators.doorkey(5, 0)
    env = gym.make("avec/DoorKey-5x5-v0")
    env.reset(seed=1)
    drawn = env.unwrapped.layout
    env.reset(options={"layout": layout})
    assert env.unwrapped.layout == layout
    env.reset(seed=1)
    assert env.unwrapped.layout == drawn


BAD_RESETS = {
    "unknown option": ({"level": 3}, ValueError, "unknown reset options ['level']; valid: layout"),
    "layout of another family": (
        {"layout": generators.cheesemaze(7, 0)},
        LayoutError,
        "this env builds doorkey 5x5 levels; got a cheesemaze 7x7 layout",
    ),
    "layout of another size": (
        {"layout": generators.doorkey(6, 0)},
        LayoutError,
        "got a doorkey 6x6 layout",
    ),
}


@pytest.mark.parametrize("options, error, message", BAD_RESETS.values(), ids=BAD_RESETS.keys())
def test_bad_reset_options_raise(options, error, message):
    env = gym.make("avec/DoorKey-5x5-v0")
    with pytest.raises(error) as raised:
        env.reset(options=options)
    assert message in str(raised.value)


BAD_ENVS = {
    "unknown family": (lambda: LayoutEnv("maze", 9), "unknown layout family 'maze'; valid: ['"),
    "unknown size": (lambda: LayoutEnv("doorkey", 4), "doorkey has no size 4; valid sizes: [5,"),
    "unknown id size": (lambda: envs.env_id("cheesemaze", 8), "valid sizes: [7, 9, 11"),
    "layout of another size": (
        lambda: LayoutEnv("doorkey", 8, layout=generators.doorkey(5, 0)),
        "this env builds doorkey 8x8 levels",
    ),
}


@pytest.mark.parametrize("make, message", BAD_ENVS.values(), ids=BAD_ENVS.keys())
def test_unknown_family_or_size_raises_naming_the_valid_ones(make, message):
    with pytest.raises(LayoutError) as error:
        make()
    assert message in str(error.value)


# -- avec's DoorKey env plays exactly as MiniGrid's own ------------------------------------


def _state(env):
    u = env.unwrapped
    doors = tuple(o.is_open for o in u.grid.grid if o is not None and o.type == "door")
    carrying = None if u.carrying is None else u.carrying.type
    return (tuple(int(v) for v in u.agent_pos), int(u.agent_dir), carrying, doors)


def shortest_solution(env, actions=(0, 1, 2, 3, 5)) -> list[int]:
    """Fewest actions from the env's current state to a positive reward, by breadth-first
    search over copies of the env itself (no model of the dynamics of our own)."""
    start = copy.deepcopy(env.unwrapped)
    queue, seen = deque([(start, [])]), {_state(start)}
    while queue:
        node, path = queue.popleft()
        for action in actions:
            child = copy.deepcopy(node)
            _, reward, terminated, truncated, _ = child.step(action)
            if terminated and reward > 0:
                return [*path, action]
            if not (terminated or truncated) and _state(child) not in seen:
                seen.add(_state(child))
                queue.append((child, [*path, action]))
    raise AssertionError("no solution found")


def assert_same_play(ours, theirs, actions):
    for action in actions:
        obs_a, reward_a, term_a, trunc_a, _ = ours.step(action)
        obs_b, reward_b, term_b, trunc_b, _ = theirs.step(action)
        np.testing.assert_array_equal(obs_a["image"], obs_b["image"])
        assert (obs_a["direction"], obs_a["mission"]) == (obs_b["direction"], obs_b["mission"])
        assert (reward_a, term_a, trunc_a) == (reward_b, term_b, trunc_b)
        if term_a or trunc_a:
            return reward_a, term_a, trunc_a
    return 0.0, False, False


def reset_pair(size, seed):
    ours = gym.make(envs.env_id("doorkey", size))
    theirs = gym.make(f"MiniGrid-DoorKey-{size}x{size}-v0")
    obs_a, _ = ours.reset(options={"layout_seed": seed})
    obs_b, _ = theirs.reset(seed=seed)
    np.testing.assert_array_equal(obs_a["image"], obs_b["image"])
    assert obs_a["direction"] == obs_b["direction"]
    return ours, theirs


@pytest.mark.parametrize("size", [5, 8])
@pytest.mark.parametrize("seed", range(4))
def test_avec_doorkey_solved_like_minigrids_gives_the_same_observations_and_reward(size, seed):
    ours, theirs = reset_pair(size, seed)
    solution = shortest_solution(theirs)
    reward, terminated, _ = assert_same_play(ours, theirs, solution)
    assert terminated and reward == pytest.approx(1 - 0.9 * len(solution) / (10 * size**2))


@pytest.mark.parametrize("size", [5, 6])
@pytest.mark.parametrize("seed", range(4))
def test_avec_doorkey_under_random_actions_matches_minigrid_until_the_episode_ends(size, seed):
    ours, theirs = reset_pair(size, seed)
    actions = np.random.default_rng(seed).integers(7, size=10 * size**2 + 1)
    _, terminated, truncated = assert_same_play(ours, theirs, [int(a) for a in actions])
    assert terminated or truncated


def test_reaching_the_cheese_ends_the_episode_with_minigrids_reward():
    layout = generators.cheesemaze(9, 0, cheese_region="anywhere")
    env = gym.make("avec/CheeseMaze-9x9-v0")
    env.reset(options={"layout": layout})
    solution = shortest_solution(env, actions=(0, 1, 2))
    env.reset(options={"layout": layout})
    for action in solution:
        _, reward, terminated, truncated, _ = env.step(action)
    assert terminated and not truncated
    assert tuple(env.unwrapped.agent_pos) == layout.cheese
    assert reward == pytest.approx(
        1 - 0.9 * len(solution) / envs.default_max_steps("cheesemaze", 9)
    )


def test_an_absolute_move_faces_its_direction_then_steps_in_one_action():
    layout = generators.procmaze(13, 0, cheese_region="anywhere")
    env = gym.make("avec/ProcMaze-13x13-v0")
    moved = set()
    for move in range(4):
        env.reset(options={"layout": layout})
        _, _, _, _, _ = env.step(move)
        base = env.unwrapped
        dx, dy = [(1, 0), (0, 1), (-1, 0), (0, -1)][move]
        ahead = (layout.agent[0] + dx, layout.agent[1] + dy)
        expected = layout.agent if ahead in layout.walls else ahead
        assert (base.agent_dir, tuple(base.agent_pos), base.step_count) == (move, expected, 1)
        moved.add(tuple(base.agent_pos))
    assert len(moved) > 1, "every move bumped into a wall: the check is vacuous"
    with pytest.raises(ValueError, match=r"unknown move 4; valid: 0..3"):
        env.step(4)


def test_absolute_moves_solve_a_maze_along_its_shortest_cell_path():
    layout = generators.procmaze(13, 2, cheese_region="anywhere")
    env = gym.make("avec/ProcMaze-13x13-v0")
    env.reset(options={"layout": layout})
    path = metrics._cell_path(layout, layout.agent, layout.cheese)
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:], strict=False)]
    for step in steps:
        _, reward, terminated, _, _ = env.step([(1, 0), (0, 1), (-1, 0), (0, -1)].index(step))
    assert terminated and len(steps) == len(path) - 1
    assert reward == pytest.approx(1 - 0.9 * len(steps) / envs.default_max_steps("procmaze", 13))


# -- wrappers and start-state observations -------------------------------------------------


@pytest.mark.parametrize(
    "env_id, shape",
    [
        ("avec/DoorKey-5x5-v0", (7, 7, 3)),
        ("avec/FourRooms-v0", (7, 7, 3)),
        ("avec/CheeseMaze-9x9-v0", (9, 9, 3)),
        ("avec/CheeseMaze-13x13-Anywhere-v0", (13, 13, 3)),
    ],
)
def test_make_applies_the_familys_observation_wrappers(env_id, shape):
    env = envs.make(env_id)
    obs, _ = env.reset(seed=0)
    assert obs.shape == shape == env.observation_space.shape


def test_the_full_maze_view_shows_the_agent_and_the_cheese_where_the_layout_puts_them():
    layout = generators.cheesemaze(9, 5)
    env = envs.make("avec/CheeseMaze-9x9-v0")
    obs, _ = env.reset(options={"layout": layout})
    agent, goal, wall = 10, 8, 2  # MiniGrid's OBJECT_TO_IDX
    assert obs[layout.agent][0] == agent and obs[layout.agent][2] == layout.agent_dir
    assert obs[layout.cheese][0] == goal
    assert all(obs[cell][0] == wall for cell in layout.walls)


def test_make_needs_wrappers_for_envs_outside_avec():
    with pytest.raises(ValueError, match="MiniGrid-DoorKey-5x5-v0 is not an avec env"):
        envs.make("MiniGrid-DoorKey-5x5-v0")
    obs, _ = envs.make("MiniGrid-DoorKey-5x5-v0", ["minigrid.wrappers.ImgObsWrapper"]).reset()
    assert obs.shape == (7, 7, 3)


@pytest.mark.parametrize("name", ["minigrid.wrappers.NoSuchWrapper", "no_such_module.Wrapper"])
def test_wrappers_with_bad_dotted_names_raise_naming_them(name):
    with pytest.raises(ValueError, match=f"cannot import '{name}'"):
        envs.wrap(gym.make("avec/DoorKey-5x5-v0"), [name])


@pytest.mark.parametrize("family, size", [("doorkey", 6), ("cheesemaze", 9)])
def test_observe_stacks_the_first_observation_of_each_layout(family, size):
    layouts = [generators.generate(family, size, seed) for seed in range(5)]
    wrappers = envs.OBSERVATION_WRAPPERS[family]
    batch = envs.observe(layouts, wrappers)
    env = envs.make(envs.env_id(family, size), wrappers)
    expected = np.stack([env.reset(options={"layout": lay})[0] for lay in layouts])
    np.testing.assert_array_equal(batch, expected)
    assert batch.shape[0] == 5


def test_observe_sees_the_key_vanish_when_it_is_removed():
    layout = from_ascii("doorkey 5x5\n#####\n#K#.#\n#^D.#\n#.#G#\n#####")
    with_key, without_key = envs.observe(
        [layout, edits.remove(layout, "key")], envs.OBSERVATION_WRAPPERS["doorkey"]
    )
    key = 5  # MiniGrid's OBJECT_TO_IDX["key"]
    assert (with_key[..., 0] == key).sum() == 1 and (without_key[..., 0] == key).sum() == 0
    assert (with_key != without_key).any(axis=-1).sum() == 1


def test_observe_needs_a_layout():
    with pytest.raises(ValueError, match="at least one layout"):
        envs.observe([], envs.OBSERVATION_WRAPPERS["doorkey"])
