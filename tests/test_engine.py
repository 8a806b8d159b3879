"""The engine against MiniGrid itself: random levels of every family x action sequences biased
towards the interesting events, stepped side by side in both. Egocentric and full-grid
observations, rewards, terminated, truncated and the agent's pose must be identical at every
step, on batches of several levels stepped in one call.

Each family's test records which events its examples reached and fails if one that can happen
in that family never did, so a change that stops exercising (say) re-closing doors is caught.
"""

from __future__ import annotations

from collections import Counter, deque

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minigrid.core.world_object import Box
from minigrid.wrappers import FullyObsWrapper

from avec import edits, engine, envs, families, generators, strategies
from avec.engine.state import BALL, BOX, CLOSED, DOOR, EMPTY, FLOOR, GOAL, KEY, LAVA, OPEN
from avec.engine.step import DX, DY

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)

EVENTS = {
    "doorkey": {
        "key picked up",
        "key dropped",
        "door opened",
        "door re-closed",
        "goal",
        "truncated",
    },
    "fourrooms": {"goal", "truncated"},
    "cheesemaze": {"goal", "truncated"},
    "paddedmaze": {"goal", "truncated"},
    "procmaze": {"goal", "truncated", "bump"},
    "lavagap": {"goal", "lava", "truncated"},
    # MiniGrid's own LavaGapS7 levels, read from its env rather than built from avec's layouts.
    "minigrid-lavagap": {"goal", "lava", "truncated"},
}
"""Events each family's levels allow, all of which its test must reach."""

SIZES = {**{name: f.sizes for name, f in families.FAMILIES.items()}, "minigrid-lavagap": (7,)}

_ENVS: dict[tuple[str, int, int], gym.Env] = {}


def reference_env(family: str, size: int, k: int) -> gym.Env:
    """The ``k``-th reusable MiniGrid env of a family and size (a reset rebuilds it entirely)."""
    if (family, size, k) not in _ENVS:
        if family == "minigrid-lavagap":
            _ENVS[family, size, k] = gym.make("MiniGrid-LavaGapS7-v0").unwrapped
        else:
            _ENVS[family, size, k] = envs.LayoutEnv(family, size)
    return _ENVS[family, size, k]


def reset(env: gym.Env, family: str, seed: int, max_steps: int | None):
    base = env.unwrapped
    if family == "minigrid-lavagap":
        base.max_steps = max_steps or 4 * 7**2
        return base.reset(seed=seed)[0]
    base.max_steps = max_steps or envs.default_max_steps(family, base.width)
    return base.reset(options={"layout": generators.generate(family, base.width, seed)})[0]


def _passable(cell: np.ndarray) -> bool:
    return cell[0] in (EMPTY, FLOOR, GOAL) or (cell[0] == DOOR and cell[2] == OPEN)


def guided_action(state: engine.State, row: int) -> int:
    """The next action towards the level's next task (key, door, goal) on a shortest path."""
    act, facing = _first_step(state, row)
    if state.absolute:
        return facing
    turn = (facing - int(state.dir[row])) % 4
    return act if turn == 0 else (RIGHT if turn == 1 else LEFT)


def _first_step(state: engine.State, row: int) -> tuple[int, int]:
    """The action due at the end of a shortest path to the next task, and the direction of the
    path's first step (the action's facing when the agent is already next to the target)."""
    grid = state.grid[row]
    if state.carrying[row, 0] == 0 and (grid[..., 0] == KEY).any():
        target, act = KEY, PICKUP
    elif ((grid[..., 0] == DOOR) & (grid[..., 2] != OPEN)).any():
        target, act = DOOR, TOGGLE
    else:
        target, act = GOAL, FORWARD
    goals = {tuple(c) for c in np.argwhere(grid[..., 0] == target)}
    if target == DOOR:
        goals = {c for c in goals if grid[c][2] != OPEN}
    start = (int(state.pos[row, 0]), int(state.pos[row, 1]))
    previous = {start: None}
    queue, found = deque([start]), None
    while queue and found is None:
        cell = queue.popleft()
        for d in range(4):
            nxt = (cell[0] + int(DX[d]), cell[1] + int(DY[d]))
            if nxt in goals:
                found = (cell, d)
                break
            if nxt not in previous and _passable(grid[nxt]):
                previous[nxt] = cell
                queue.append(nxt)
    if found is None:
        return FORWARD, int(state.dir[row])
    cell, facing = found
    while cell != start:
        before = previous[cell]
        facing = next(d for d in range(4) if (before[0] + DX[d], before[1] + DY[d]) == cell)
        cell, act = before, FORWARD
    return act, facing


def explorer_action(state: engine.State, row: int, rng: np.random.Generator, guided: float) -> int:
    """Mostly guided; sometimes random, sometimes undoing progress (drop the key, shut the door,
    step into lava)."""
    x, y = state.pos[row] + (DX[state.dir[row]], DY[state.dir[row]])
    front = state.grid[row, x, y]
    u = rng.random()
    if front[0] == DOOR and front[2] == OPEN and u < 0.3:
        return TOGGLE
    if front[0] == EMPTY and state.carrying[row, 0] != 0 and u < 0.15:
        return DROP
    if front[0] == LAVA and u < 0.2:
        return FORWARD
    if u < guided:
        return guided_action(state, row)
    return int(rng.integers(4 if state.absolute else 7))


def events_of(before: engine.State, after: engine.State, row: int, reward, term, trunc) -> set:
    events = set()
    if before.carrying[row, 0] == 0 and after.carrying[row, 0] == KEY:
        events.add("key picked up")
    if before.carrying[row, 0] == KEY and after.carrying[row, 0] == 0:
        events.add("key dropped")
    doors = before.grid[row, ..., 0] == DOOR
    states_before, states_after = before.grid[row, ..., 2][doors], after.grid[row, ..., 2][doors]
    if ((states_before != OPEN) & (states_after == OPEN)).any():
        events.add("door opened")
    if ((states_before == OPEN) & (states_after == CLOSED)).any():
        events.add("door re-closed")
    if term:
        events.add("goal" if reward > 0 else "lava")
    if trunc:
        events.add("truncated")
    if after.absolute and (before.pos[row] == after.pos[row]).all() and not term:
        events.add("bump")
    return events


def assert_same_observations(state: engine.State, ref_envs: list[gym.Env]) -> None:
    ego, full = engine.observe(state, "egocentric"), engine.observe(state, "full")
    for row, env in enumerate(ref_envs):
        obs = env.gen_obs()
        np.testing.assert_array_equal(ego[row], obs["image"], err_msg=f"egocentric, level {row}")
        expected = FullyObsWrapper(env).observation(obs)["image"]
        np.testing.assert_array_equal(full[row], expected, err_msg=f"full grid, level {row}")
        assert (tuple(state.pos[row]), state.dir[row]) == (tuple(env.agent_pos), env.agent_dir)


def levels(family: str):
    max_steps = st.one_of(st.none(), st.integers(3, 60))
    return st.tuples(
        st.sampled_from(SIZES[family]),
        st.lists(
            st.tuples(st.integers(0, 2**20), max_steps, st.integers(0, 2**32 - 1)),
            min_size=1,
            max_size=3,
        ),
        st.sampled_from([0.5, 0.8, 0.95]),
    )


@pytest.mark.parametrize("family", sorted(EVENTS))
def test_engine_matches_minigrid_step_by_step(family: str, record_property):
    covered: Counter = Counter()

    @settings(
        max_examples=30,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(levels(family))
    def check(drawn):
        size, specs, guided = drawn
        ref_envs = [reference_env(family, size, k) for k in range(len(specs))]
        for env, (seed, max_steps, _) in zip(ref_envs, specs, strict=True):
            reset(env, family, seed, max_steps)
        state = engine.from_minigrid(ref_envs)
        if family != "minigrid-lavagap":
            layouts = [generators.generate(family, size, s) for s, _, _ in specs]
            start = engine.from_layouts(layouts, [e.max_steps for e in ref_envs])
            np.testing.assert_array_equal(start.grid, state.grid)
        assert_same_observations(state, ref_envs)
        rngs = [np.random.default_rng(s) for _, _, s in specs]
        live = list(range(len(specs)))
        for _ in range(100):
            if not live:
                break
            actions = [explorer_action(state, row, rngs[row], guided) for row in live]
            before = state.copy()
            reward, term, trunc = engine.step(state, actions, live)
            for k, row in enumerate(live):
                _, r, te, tr, _ = ref_envs[row].step(actions[k])
                assert (reward[k], term[k], trunc[k]) == (r, te, tr), f"level {row}"
                covered.update(events_of(before, state, row, reward[k], te, tr))
            assert_same_observations(state, ref_envs)
            live = [row for k, row in enumerate(live) if not (term[k] or trunc[k])]

    check()
    record_property("events", dict(covered))
    print(f"{family}: events covered {dict(sorted(covered.items()))}")
    missing = EVENTS[family] - set(covered)
    assert not missing, f"{family}: no example reached {sorted(missing)}; covered {dict(covered)}"


@pytest.mark.parametrize("family", sorted(families.FAMILIES))
@given(data=st.data())
def test_engine_encodes_a_layout_as_minigrid_encodes_the_grid_built_from_it(family, data):
    layout = data.draw(strategies.layouts(family, sizes=families.get(family).sizes[:2]))
    edited = [
        layout,
        edits.remove(layout, families.get(family).removable),
        edits.move_agent(layout, layout.free_cells()[-1], 2),
    ]
    state = engine.from_layouts(edited)
    for row, level in enumerate(edited):
        np.testing.assert_array_equal(state.grid[row], envs.build_grid(level).encode())
        assert (*state.pos[row], state.dir[row]) == (*level.agent, level.agent_dir)


def test_locked_door_opens_only_for_a_key_of_its_colour():
    layout = generators.generate("doorkey", 5, 0)
    state = engine.from_layouts([layout, layout])
    x, y = layout.door
    state.pos[:] = (x - 1, y)
    state.dir[:] = 0
    state.carrying[0] = (KEY, state.grid[0, x, y, 1], 0)
    state.carrying[1] = (KEY, (state.grid[1, x, y, 1] + 1) % 6, 0)
    engine.step(state, [TOGGLE, TOGGLE])
    assert state.grid[:, x, y, 2].tolist() == [OPEN, 2]


def test_unknown_action_is_refused_with_the_valid_range():
    state = engine.from_layouts([generators.generate("doorkey", 5, 0)])
    with pytest.raises(ValueError, match=r"unknown action 7; valid: 0..6"):
        engine.step(state, [7])


def test_absolute_moves_face_the_direction_then_step_as_forward_does():
    maze = generators.generate("procmaze", 13, 3)
    turned = engine.from_layouts([generators.generate("paddedmaze", 13, 3)] * 4)
    moved = engine.from_layouts([maze] * 4)
    assert moved.absolute and not turned.absolute
    turned.dir[:] = [0, 1, 2, 3]
    engine.step(turned, [FORWARD] * 4)
    engine.step(moved, [0, 1, 2, 3])
    np.testing.assert_array_equal(moved.pos, turned.pos)
    np.testing.assert_array_equal(moved.dir, turned.dir)
    assert len({tuple(p) for p in moved.pos}) > 1, "every move bumped: the check is vacuous"
    with pytest.raises(ValueError, match=r"unknown action 4; valid: 0..3"):
        engine.step(moved, [4, 0, 0, 0])


def test_turn_actions_and_absolute_moves_cannot_share_a_batch():
    layouts = [generators.generate("paddedmaze", 13, 0), generators.generate("procmaze", 13, 0)]
    with pytest.raises(ValueError, match="must share their actions"):
        engine.from_layouts(layouts)


def test_unknown_backend_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("AVEC_BACKEND", "gpu")
    with pytest.raises(ValueError, match="unknown AVEC_BACKEND 'gpu'; valid: engine, minigrid"):
        engine.backend()
    assert engine.backend("minigrid") == "minigrid"


def test_levels_of_different_sizes_cannot_share_a_batch():
    layouts = [generators.generate("doorkey", 5, 0), generators.generate("doorkey", 6, 0)]
    with pytest.raises(ValueError, match="must share a grid size"):
        engine.from_layouts(layouts)


@pytest.mark.parametrize(
    ("env_id", "objects"),
    [("MiniGrid-BlockedUnlockPickup-v0", {BALL, BOX}), ("MiniGrid-KeyCorridorS3R2-v0", {KEY})],
)
def test_engine_matches_minigrid_on_wide_levels_with_balls_and_boxes(env_id: str, objects: set):
    """Objects and shapes avec's families lack: balls and boxes (picked up, dropped, a box
    toggled open; one is put in front of the agent), non-square grids; random actions weighted
    towards pickup, drop and toggle.
    ``objects``: what the agent must have carried at some step."""
    env = gym.make(env_id).unwrapped
    weights = np.array([2, 2, 3, 3, 2, 2, 0.5])
    carried: Counter = Counter()
    for seed in range(6):
        env.reset(seed=seed)
        if env.grid.get(*env.front_pos) is None:
            env.grid.set(*env.front_pos, Box("purple"))
        state = engine.from_minigrid([env])
        rng = np.random.default_rng(seed)
        for action in rng.choice(7, size=150, p=weights / weights.sum()).tolist():
            reward, term, trunc = engine.step(state, [action])
            _, r, te, tr, _ = env.step(action)
            assert (reward[0], term[0], trunc[0]) == (r, te, tr)
            assert_same_observations(state, [env])
            carried[int(state.carrying[0, 0])] += 1
            if te or tr:
                break
    assert env.width != env.height
    assert objects <= set(carried), f"carried only {carried} (object index: steps)"
