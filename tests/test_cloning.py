"""The warm start: shortest-path labels on training levels, cloned into a policy, recorded."""

import json

import numpy as np
import pytest
import torch

from avec import cloning, envs, metrics, rollouts, training

MOVES = [(1, 0), (0, 1), (-1, 0), (0, -1)]


def test_each_label_is_the_move_one_cell_nearer_the_cheese_on_a_training_level():
    placed, labels = cloning.labelled_states("procmaze", 13, 300, 8, seed=0)
    assert labels.shape == (300, 4) and (labels.sum(axis=1) == 1).all()
    for state, label in zip(placed, labels, strict=True):
        assert state.in_top_right(state.cheese, 5)  # the training distribution's cheese
        here = metrics.distance(state, state.agent, state.agent_dir, {state.cheese})
        dx, dy = MOVES[int(np.flatnonzero(label)[0])]
        ahead = (state.agent[0] + dx, state.agent[1] + dy)
        nearer = 0 if ahead == state.cheese else metrics.distance(state, ahead, 0, {state.cheese})
        assert nearer == here - 1


def test_labelled_states_are_a_function_of_the_seed():
    a, labels_a = cloning.labelled_states("procmaze", 13, 50, 4, seed=3)
    b, labels_b = cloning.labelled_states("procmaze", 13, 50, 4, seed=3)
    c, _ = cloning.labelled_states("procmaze", 13, 50, 4, seed=4)
    assert a == b and np.array_equal(labels_a, labels_b) and a != c


def test_cloning_teaches_the_policy_the_shortest_path_move():
    model = training.untrained("cnn", family="procmaze", size=13)
    placed, labels = cloning.labelled_states("procmaze", 13, 400, 8, seed=1)
    before = _agreement(model, placed, labels)
    done = cloning.clone(model, "procmaze", 13, cloning.CloneConfig(states=2000, epochs=4), seed=0)
    after = _agreement(model, placed, labels)
    assert done["states"] == 2000 and len(done["epoch_losses"]) == 4
    assert done["epoch_losses"][-1] < done["epoch_losses"][0]
    assert after > before + 0.15, (before, after)


def _agreement(model, placed, labels):
    obs = envs.observe(placed, envs.OBSERVATION_WRAPPERS["procmaze"])
    chosen = rollouts.action_probabilities(model.policy, obs).argmax(axis=1)
    return float(labels[np.arange(len(placed)), chosen].mean())


def test_clone_configs_refuse_what_cannot_train():
    with pytest.raises(ValueError, match="warm_start states must be at least 1"):
        cloning.CloneConfig(states=0, epochs=1)
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        cloning.CloneConfig(states=1, epochs=1, learning_rate=0.0)


RECIPE = """
[recipes.tiny-bc]
family = "procmaze"
size = 13
policy = "cnn"
seeds = [0]
n_envs = 2
total_timesteps = 64
features_dim = 16
eval_episodes = 20
net_arch = [8]
warm_start = { states = 64, epochs = 1, batch_size = 32 }
hyperparameters = { n_steps = 32, batch_size = 32, n_epochs = 1 }
"""


def test_a_warm_start_recipe_clones_then_trains_and_the_manifest_says_how(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text(RECIPE)
    config = training.load_zoo_config(path)["tiny-bc-s0"]
    assert config.warm_start == cloning.CloneConfig(states=64, epochs=1, batch_size=32)
    runs = tmp_path / "run"
    entry = training.train(
        config, tmp_path / "models", progress=False, checkpoints=runs, checkpoint_every=32
    )
    assert entry["config"]["warm_start"]["states"] == 64
    assert entry["made_by"].startswith("behaviour cloning of the shortest-path move")
    assert json.loads((runs / training.WARM_START_FILE).read_text())["states"] == 64
    params, optimizer = training.checkpoint_paths(runs, 0)
    cloned = torch.load(params, weights_only=True)
    assert optimizer.exists() and set(cloned) == set(
        torch.load(training.checkpoint_paths(runs, 64)[0], weights_only=True)
    )


def test_a_warm_start_needs_a_family_with_cheese(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text(RECIPE.replace('"procmaze"', '"doorkey"').replace("size = 13", "size = 5"))
    with pytest.raises(ValueError, match="warm_start clones the way to the cheese; doorkey"):
        training.load_zoo_config(path)
