"""Batched rollouts: known-answer events from scripted agents, per-row steering equal to
steering each layout alone, the same trajectories for the same seed in any process, and the
episodes behind the zoo's recorded evaluation unchanged from their original implementation."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import avec
from avec import envs, evaluation, hooks, rollouts, training, vectors, zoo
from avec.layouts import CheeseMazeLayout

DOORKEY = envs.OBSERVATION_WRAPPERS["doorkey"]
MAZE = envs.OBSERVATION_WRAPPERS["cheesemaze"]


fresh = functools.cache(training.untrained)
"""Untrained models, for mechanics that do not depend on training."""


@pytest.fixture(scope="module")
def doorkey_agent(models_dir: Path) -> zoo.Agent:
    ids = zoo.model_ids(models_dir, family="doorkey")
    if not ids:
        pytest.skip(f"no trained DoorKey agent in {models_dir}")
    return zoo.load(ids[0], models_dir)


def scripted(actions: list[int]):
    """A patch for ``action_net`` that makes a batch-of-one policy take ``actions`` in order."""
    remaining = iter(actions)

    def logits(output: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(output, -30.0)
        forced[:, next(remaining)] = 30.0
        return forced

    return {"action_net": logits}


LEFT, RIGHT, FORWARD, PICKUP, TOGGLE = 0, 1, 2, 3, 5

DOORKEY_LEVEL = avec.from_ascii("""
doorkey 5x5
#####
#K#.#
#^D.#
#.#G#
#####
""")

MAZE_LEVEL = avec.from_ascii("""
cheesemaze 7x7
#######
#C....#
#####.#
#.....#
#.###.#
#....^#
#######
""")


def test_scripted_doorkey_episode_records_key_door_and_goal_steps():
    script = [PICKUP, RIGHT, TOGGLE, FORWARD, FORWARD, RIGHT, FORWARD]
    model = fresh("mlp")
    with hooks.patch(model, scripted(script)):
        (t,) = rollouts.run(model, [DOORKEY_LEVEL], seed=0, wrappers=DOORKEY, greedy=True)
    assert (t.key_picked_up, t.door_opened, t.goal_reached, t.steps) == (1, 3, 7, 7)
    assert t.top_right_reached is None
    assert t.actions.tolist() == script
    assert t.cells.tolist() == [[1, 2]] * 4 + [[2, 2], [3, 2], [3, 2], [3, 3]]
    assert t.directions.tolist() == [3, 3, 0, 0, 0, 0, 1, 1]
    assert t.episode_return == pytest.approx(1 - 0.9 * 7 / 250)
    assert t.success and t.probabilities.shape == (7, 7)


def test_scripted_maze_episode_records_the_top_right_corner_and_stops_at_the_cap():
    model = fresh("mlp", "cheesemaze", 7)
    with hooks.patch(model, scripted([FORWARD] * 10)):
        (t,) = rollouts.run(model, [MAZE_LEVEL], seed=0, wrappers=MAZE, max_steps=10)
    assert (t.top_right_reached, t.goal_reached, t.steps, t.episode_return) == (4, None, 10, 0.0)
    assert tuple(t.cells[4]) == MAZE_LEVEL.top_right and tuple(t.cells[3]) != MAZE_LEVEL.top_right
    assert t.key_picked_up is None and t.door_opened is None and not t.success


def test_cheese_on_the_corner_is_reached_at_the_same_step_as_the_corner():
    level = MAZE_LEVEL.replace(cheese=MAZE_LEVEL.top_right)
    model = fresh("mlp", "cheesemaze", 7)
    with hooks.patch(model, scripted([FORWARD] * 4)):
        (t,) = rollouts.run(model, [level], seed=0, wrappers=MAZE)
    assert (t.top_right_reached, t.goal_reached, t.steps) == (4, 4, 4)


def test_trained_agent_trajectories_are_consistent(doorkey_agent):
    layouts = evaluation.held_out_layouts(doorkey_agent, 20)
    for t in rollouts.run(doorkey_agent, layouts, seed=0, greedy=True):
        assert t.cells.shape == (t.steps + 1, 2) and t.directions.shape == (t.steps + 1,)
        assert t.actions.shape == (t.steps,)
        np.testing.assert_allclose(t.probabilities.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(t.actions, t.probabilities.argmax(axis=1))
        if t.success:
            assert t.key_picked_up < t.door_opened < t.goal_reached == t.steps
            assert tuple(t.cells[-1]) == t.layout.goal


def test_same_seed_gives_the_same_trajectories_and_another_seed_does_not():
    model = fresh("mlp")
    layouts = [avec.generate("doorkey", 5, s) for s in range(8)]
    first, again, other = (
        rollouts.run(model, layouts, seed=s, wrappers=DOORKEY, max_steps=30) for s in (3, 3, 4)
    )
    assert digest(first) == digest(again)
    assert digest(first) != digest(other)


def digest(trajectories: list[rollouts.Trajectory]) -> str:
    h = hashlib.sha256()
    for t in trajectories:
        for array in (t.cells, t.directions, t.actions, t.probabilities):
            h.update(np.ascontiguousarray(array).tobytes())
        h.update(
            repr(
                (t.key_picked_up, t.door_opened, t.goal_reached, t.steps, t.episode_return)
            ).encode()
        )
    return h.hexdigest()


def test_same_seed_gives_the_same_trajectories_in_another_process(doorkey_agent, models_dir):
    script = textwrap.dedent(f"""
        import hashlib, sys
        import numpy as np, torch
        torch.set_num_threads(1)
        from pathlib import Path
        from avec import evaluation, rollouts, zoo
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_rollouts import digest
        agent = zoo.load({doorkey_agent.id!r}, Path({str(models_dir)!r}))
        layouts = evaluation.held_out_layouts(agent, 16)
        print(digest(rollouts.run(agent, layouts, seed=11)))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    layouts = evaluation.held_out_layouts(doorkey_agent, 16)
    assert result.stdout.strip() == digest(rollouts.run(doorkey_agent, layouts, seed=11))


def key_vectors(agent, layouts, coefficient: float, layer: str = "mlp_extractor.policy_net.1"):
    return [
        coefficient * vectors.feature_vector(agent, "key", lay, layer, wrappers=DOORKEY)
        for lay in layouts
    ]


def test_per_row_steering_equals_steering_each_layout_alone(doorkey_agent):
    layouts = evaluation.held_out_layouts(doorkey_agent, 6)
    steering = key_vectors(doorkey_agent, layouts, -3.0)
    together = rollouts.run(
        doorkey_agent, layouts, seed=0, greedy=True, steering=steering, max_steps=40
    )
    for layout, vector, batched in zip(layouts, steering, together, strict=True):
        (alone,) = rollouts.run(
            doorkey_agent, [layout], seed=0, greedy=True, steering=[vector], max_steps=40
        )
        np.testing.assert_array_equal(batched.actions, alone.actions)
        np.testing.assert_array_equal(batched.cells, alone.cells)
        np.testing.assert_allclose(batched.probabilities, alone.probabilities, atol=1e-6)


def test_steering_changes_behaviour_and_unsteered_rows_stay_unsteered(doorkey_agent):
    layouts = evaluation.held_out_layouts(doorkey_agent, 6)
    steering = key_vectors(doorkey_agent, layouts, -3.0)
    plain = rollouts.run(doorkey_agent, layouts, seed=0, greedy=True, max_steps=40)
    mixed = rollouts.run(
        doorkey_agent,
        layouts,
        seed=0,
        greedy=True,
        max_steps=40,
        steering=[v if i % 2 else None for i, v in enumerate(steering)],
    )
    for i, (p, m) in enumerate(zip(plain, mixed, strict=True)):
        if i % 2 == 0:
            np.testing.assert_array_equal(p.actions, m.actions)
            np.testing.assert_allclose(p.probabilities, m.probabilities, atol=1e-6)
        else:
            assert not np.allclose(p.probabilities[0], m.probabilities[0])


def test_one_shared_vector_equals_the_same_vector_for_every_layout():
    model = fresh("mlp")
    layouts = [avec.generate("doorkey", 5, s) for s in range(4)]
    vector = key_vectors(model, layouts[:1], 2.0)[0]
    shared = rollouts.run(model, layouts, seed=1, wrappers=DOORKEY, steering=vector, max_steps=20)
    rows = rollouts.run(
        model, layouts, seed=1, wrappers=DOORKEY, steering=[vector] * 4, max_steps=20
    )
    assert digest(shared) == digest(rows)


def test_several_vectors_for_one_layout_add_up():
    model = fresh("mlp")
    layouts = [avec.generate("doorkey", 5, s) for s in range(2)]
    a, b = key_vectors(model, layouts, 2.0)
    together = rollouts.run(
        model, layouts, seed=1, wrappers=DOORKEY, max_steps=20, steering=[[a, b], None]
    )
    summed = rollouts.run(
        model, layouts, seed=1, wrappers=DOORKEY, max_steps=20, steering=[a + b, None]
    )
    assert digest(together) == digest(summed)


def test_dqn_rollouts_are_greedy_in_the_q_values():
    model = fresh("dqn")
    (t,) = rollouts.run(model, [DOORKEY_LEVEL], seed=0, wrappers=DOORKEY, max_steps=5)
    assert set(np.unique(t.probabilities)) <= {0.0, 1.0}
    np.testing.assert_array_equal(t.actions, t.probabilities.argmax(axis=1))


def test_bad_requests_raise_clear_errors():
    model = fresh("mlp")
    layouts = [avec.generate("doorkey", 5, s) for s in range(2)]
    with pytest.raises(ValueError, match="share family and size"):
        rollouts.run(model, [layouts[0], avec.generate("doorkey", 6, 0)], seed=0, wrappers=DOORKEY)
    with pytest.raises(ValueError, match="1 entries for 2 layouts"):
        rollouts.run(
            model, layouts, seed=0, wrappers=DOORKEY, steering=key_vectors(model, layouts[:1], 1.0)
        )
    with pytest.raises(ValueError, match="wrappers"):
        rollouts.run(model, layouts, seed=0)
    with pytest.raises(ValueError, match="max_steps"):
        rollouts.run(model, layouts, seed=0, wrappers=DOORKEY, max_steps=0)


# -- rollouts give exactly the episodes the first evaluation played (which computed the manifest)


def reference_play(model, layouts, wrappers, seed, deterministic=False):
    """The evaluation's play as first committed (3f6c895), which computed the zoo manifest:
    ``(success, return, steps, reached top-right)`` per layout."""
    rng = np.random.default_rng(seed)
    family = layouts[0].family
    size = layouts[0].width
    env_list = [envs.make(envs.env_id(family, size), wrappers) for _ in layouts]
    obs = np.stack(
        [e.reset(options={"layout": lay})[0] for e, lay in zip(env_list, layouts, strict=True)]
    )
    n = len(layouts)
    live = np.ones(n, dtype=bool)
    success = np.zeros(n, dtype=bool)
    returns = np.zeros(n)
    steps = np.zeros(n, dtype=int)
    top_right = np.zeros(n, dtype=bool)
    top_right_first = np.zeros(n, dtype=bool)
    while live.any():
        idx = np.flatnonzero(live)
        probs = rollouts.action_probabilities(model, obs[idx])
        actions = probs.argmax(axis=1) if deterministic else rollouts.sample_actions(probs, rng)
        for i, action in zip(idx, actions, strict=True):
            o, reward, terminated, truncated, _ = env_list[i].step(int(action))
            obs[i] = o
            steps[i] += 1
            layout = layouts[i]
            at_goal = terminated and reward > 0
            if (
                isinstance(layout, CheeseMazeLayout)
                and not top_right[i]
                and tuple(env_list[i].unwrapped.agent_pos) == layout.top_right
            ):
                top_right[i] = True
                top_right_first[i] = not at_goal or layout.cheese == layout.top_right
            if terminated or truncated:
                live[i] = False
                success[i] = at_goal
                returns[i] = reward
    for e in env_list:
        e.close()
    return [
        (bool(success[i]), float(returns[i]), int(steps[i]), bool(top_right_first[i]))
        for i in range(n)
    ]


def played(model, layouts, wrappers, seed, deterministic=False):
    """What :func:`avec.evaluation.evaluate` takes from each of its rollouts."""
    trajectories = rollouts.run(model, layouts, seed=seed, wrappers=wrappers, greedy=deterministic)
    return [
        (t.success, t.episode_return, t.steps, t.top_right_reached is not None)
        for t in trajectories
    ]


@pytest.mark.parametrize("deterministic", [False, True], ids=["sampled", "greedy"])
def test_rollouts_play_as_the_first_evaluation_on_zoo_models(model_id, models_dir, deterministic):
    agent = zoo.load(model_id, models_dir)
    layouts = evaluation.held_out_layouts(agent, 12)
    assert played(agent.model, layouts, agent.wrappers, 5, deterministic) == reference_play(
        agent.model, layouts, agent.wrappers, 5, deterministic
    )


def test_rollouts_play_as_the_first_evaluation_on_mazes_with_cheese_anywhere():
    model = fresh("cnn", "cheesemaze", 7)
    layouts = [avec.generators.cheesemaze(7, s, cheese_region="anywhere") for s in range(20)]
    episodes = played(model, layouts, MAZE, 2)
    assert episodes == reference_play(model, layouts, MAZE, 2)
    assert any(e[3] for e in episodes) and any(e[0] for e in episodes)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_action_probabilities_are_sb3s_distribution_bit_for_bit(kind):
    """``action_probabilities`` skips building SB3's distribution object; its numbers must be
    the distribution's own, under a patch too (patches change what they are computed from)."""
    model = fresh(kind)  # both kinds play DoorKey-5x5
    config = training.TrainConfig(
        id="x",
        env_id=envs.env_id("doorkey", 5),
        family="doorkey",
        size=5,
        seed=0,
        total_timesteps=1,
    )
    obs = envs.observe(evaluation.held_out_layouts(config, 20), DOORKEY)
    policy = model.policy
    info = hooks.layers(policy)[1]
    for patches in ({}, {info.name: torch.full(info.shape, 0.3)}):
        with torch.no_grad(), hooks.patch(policy, patches):
            obs_t, _ = policy.obs_to_tensor(obs)
            reference = policy.get_distribution(obs_t).distribution.probs.numpy()
        with hooks.patch(policy, patches):
            ours = rollouts.action_probabilities(model, obs)
        assert np.array_equal(ours, reference)
    assert not np.array_equal(reference, rollouts.action_probabilities(model, obs))
