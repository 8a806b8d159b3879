"""Training turns a frozen config into a checkpoint plus a manifest entry that records how it
was made and how well it plays, and that :func:`avec.zoo.load` accepts."""

import dataclasses
import json
import os

import numpy as np
import pytest

from avec import edits, envs, evaluation, families, generators, training, zoo
from avec.generators import HELD_OUT_SEED_START
from avec.training import TrainConfig

SMOKE = TrainConfig(
    id="smoke-doorkey5-ppo-mlp-s0",
    env_id="avec/DoorKey-5x5-v0",
    family="doorkey",
    size=5,
    seed=0,
    total_timesteps=512,
    n_envs=2,
    eval_episodes=5,
    hyperparameters={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
)
SMOKE_CNN = dataclasses.replace(
    SMOKE,
    id="smoke-cheesemaze7-ppo-cnn-s1",
    env_id="avec/CheeseMaze-7x7-v0",
    family="cheesemaze",
    size=7,
    seed=1,
    policy="cnn",
    features_dim=32,
)
"""Tiny budgets: these check the machinery, not how well an agent learns."""

EXPECTED = {
    SMOKE.id: {
        "wrappers": ["minigrid.wrappers.ImgObsWrapper"],
        "minigrid_env_id": "MiniGrid-DoorKey-5x5-v0",
        "observation_shape": [3, 7, 7],
        "n_actions": 7,
        "features_extractor": "stable_baselines3.common.torch_layers.FlattenExtractor",
    },
    SMOKE_CNN.id: {
        "wrappers": ["minigrid.wrappers.FullyObsWrapper", "minigrid.wrappers.ImgObsWrapper"],
        "minigrid_env_id": None,
        "observation_shape": [3, 7, 7],
        "n_actions": 3,
        "features_extractor": "avec.policies.GridCNN",
    },
}


@pytest.fixture(scope="module", params=[SMOKE, SMOKE_CNN], ids=lambda config: config.id)
def smoke(request, tmp_path_factory):
    """``(config, models_dir, entry)``: an agent trained on a tiny budget, saved with its
    manifest entry."""
    config = request.param
    models_dir = tmp_path_factory.mktemp("models")
    entry = training.train(config, models_dir, progress=False)
    zoo.write_entry(entry, models_dir)
    return config, models_dir, entry


@pytest.mark.slow
def test_training_writes_a_checkpoint_and_a_complete_manifest_entry(smoke):
    config, models_dir, entry = smoke
    expected = EXPECTED[config.id]
    assert (models_dir / f"{config.id}.zip").is_file()
    assert entry["file"] == f"{config.id}.zip"
    assert entry["sha256"] == zoo.sha256(models_dir / entry["file"])
    assert (entry["id"], entry["env_id"], entry["algo"], entry["policy"], entry["seed"]) == (
        config.id,
        config.env_id,
        "PPO",
        config.policy,
        config.seed,
    )
    assert entry["observation_wrappers"] == expected["wrappers"]
    assert entry["minigrid_env_id"] == expected["minigrid_env_id"]
    architecture = entry["architecture"]
    assert architecture["features_extractor"] == expected["features_extractor"]
    assert architecture["observation_shape"] == expected["observation_shape"]
    assert architecture["n_actions"] == expected["n_actions"]
    assert architecture["parameters"]
    assert entry["timesteps"] >= config.total_timesteps
    assert entry["config"] == config.to_dict()
    assert entry["config"]["hyperparameters"] == {"n_steps": 64, "batch_size": 64, "n_epochs": 1}
    assert entry["train_seconds"] > 0
    assert {"python", "torch", "stable_baselines3", "gymnasium", "minigrid", "numpy"} <= set(
        entry["versions"]
    )
    held_out = entry["evaluation"]["held_out"]
    assert held_out["episodes"] == config.eval_episodes
    lo, hi = held_out["success_ci95"]
    assert 0 <= lo <= held_out["success_rate"] <= hi <= 1
    assert 0 <= held_out["mean_return"] <= 1
    assert entry["meets_bar"] == (held_out["success_rate"] >= config.success_bar)


@pytest.mark.slow
def test_maze_agents_record_how_they_fare_with_the_cheese_elsewhere(smoke):
    config, _, entry = smoke
    if config.family != "cheesemaze":
        assert "cheese_elsewhere" not in entry["evaluation"]
        return
    elsewhere = entry["evaluation"]["cheese_elsewhere"]
    assert elsewhere["episodes"] == config.eval_episodes
    for rate in ("reaches_cheese", "top_right_first"):
        lo, hi = elsewhere[f"{rate}_ci95"]
        assert 0 <= lo <= elsewhere[rate] <= hi <= 1


@pytest.mark.slow
def test_the_manifest_is_json_that_zoo_reads_back(smoke):
    config, models_dir, entry = smoke
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert manifest["schema"] == 1
    assert manifest["models"] == {config.id: entry}
    assert zoo.model_ids(models_dir) == [config.id]
    assert zoo.model_ids(models_dir, family=config.family) == [config.id]
    assert zoo.model_ids(models_dir, family="fourrooms") == []


@pytest.mark.slow
def test_a_trained_agent_loads_back_through_the_zoo_and_acts(smoke):
    config, models_dir, entry = smoke
    agent = zoo.load(config.id, models_dir=models_dir)
    assert agent.entry["config"] == config.to_dict()
    assert (agent.family, agent.size) == (config.family, config.size)
    assert agent.wrappers == envs.OBSERVATION_WRAPPERS[config.family]
    assert zoo.architecture(agent.model) == entry["architecture"]
    obs = envs.observe(evaluation.held_out_layouts(config, 2), agent.wrappers)
    actions, _ = agent.model.predict(obs, deterministic=True)
    assert actions.shape == (2,)
    assert all(0 <= a < EXPECTED[config.id]["n_actions"] for a in actions)


def test_the_zoo_config_names_every_recipe_seed_and_builds_valid_configs():
    configs = training.load_zoo_config()
    assert configs, "fixtures/zoo.toml describes no models"
    for model_id, config in configs.items():
        assert model_id == config.id == f"{model_id.rsplit('-s', 1)[0]}-s{config.seed}"
        assert config.env_id == envs.env_id(config.family, config.size)
        assert 0 < config.success_bar <= 1
        assert config.eval_episodes >= 200
    trained = {config.family for config in configs.values()}
    assert trained == set(families.FAMILIES), "every family has a recipe in the zoo"
    assert training.load_zoo_config(training.ROOT / "fixtures" / "zoo-training.toml")


def test_config_round_trips_through_its_dict():
    config = training.load_zoo_config()["doorkey5-ppo-cnn-s0"]
    data = json.loads(json.dumps(config.to_dict()))
    data["net_arch"] = tuple(data["net_arch"])
    assert TrainConfig(**data) == config


def test_held_out_layouts_come_from_seeds_training_never_draws():
    layouts = evaluation.held_out_layouts(SMOKE, 3)
    assert layouts == [generators.doorkey(5, envs.HELD_OUT_SEED_START + i) for i in range(3)]


BAD = {
    "unknown family": (dict(family="maze"), "unknown layout family 'maze'"),
    "unknown size": (dict(size=4), "doorkey has no size 4; valid sizes"),
    "unknown algo": (dict(algo="SAC"), "unknown algo 'SAC'; valid: ['A2C', 'DQN', 'PPO']"),
    "unknown policy": (dict(policy="rnn"), "unknown policy 'rnn'; valid: ('mlp', 'cnn', 'impala')"),
}


@pytest.mark.parametrize("changes, message", BAD.values(), ids=BAD.keys())
def test_bad_configs_raise_naming_the_valid_choices(changes, message):
    with pytest.raises(ValueError) as error:
        dataclasses.replace(SMOKE, **changes)
    assert message in str(error.value)


def test_architecture_names_the_extractor_inside_a_dqn_q_network():
    architecture = zoo.architecture(training.untrained("dqn"))
    assert architecture["policy_class"] == "stable_baselines3.dqn.policies.DQNPolicy"
    assert architecture["features_extractor"] == (
        "stable_baselines3.common.torch_layers.FlattenExtractor"
    )


def test_a_failed_save_leaves_the_agent_file_as_it_was(tmp_path, monkeypatch):
    config = training.TrainConfig(
        id="x", env_id="avec/DoorKey-5x5-v0", family="doorkey", size=5, seed=0, total_timesteps=1
    )
    (tmp_path / "x.zip").write_bytes(b"the agent saved before")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        training.record(training.untrained("mlp"), config, tmp_path, 0.0)
    assert [p.name for p in tmp_path.iterdir()] == ["x.zip"]
    assert (tmp_path / "x.zip").read_bytes() == b"the agent saved before"


def test_success_by_maze_size_sits_beside_the_random_policys_on_the_same_levels():
    layouts = [generators.generate("procmaze", 13, HELD_OUT_SEED_START + i) for i in range(60)]
    sizes = np.array([evaluation.maze_size(lay) for lay in layouts])
    found = evaluation.against_random(layouts, sizes == 5, seed=0)
    by_size = found["by_maze_size"]
    assert sorted(by_size, key=int) == [str(n) for n in sorted(set(sizes.tolist()))]
    assert sum(v["episodes"] for v in by_size.values()) == 60
    assert by_size["5"]["success_rate"] == 1.0 and by_size["13"]["success_rate"] == 0.0
    # A random walk solves the 3x3 interior within the cap; the 11x11 one it mostly does not.
    assert by_size["5"]["random_success_rate"] == 1.0 > 0.5 > by_size["13"]["random_success_rate"]
    assert found == evaluation.against_random(layouts, sizes == 5, seed=0)
    assert found != evaluation.against_random(layouts, sizes == 5, seed=1)


def test_the_random_policy_reaches_a_cell_only_when_the_cap_lets_it():
    small = [
        edits.remove(lay, "cheese")
        for seed in range(40)
        if evaluation.maze_size(lay := generators.generate("procmaze", 13, seed)) == 5
    ]
    corners = [lay.top_right for lay in small]
    # The corner is four moves from the start in a 3x3 interior: never within three steps.
    assert not evaluation.random_successes(small, 5, 0, corners, max_steps=3).any()
    assert evaluation.random_successes(small, 5, 0, corners, max_steps=169).mean() > 0.9


def test_two_drives_are_asked_of_maze_agents_only_and_recorded_only_when_asked():
    common = {"id": "x", "seed": 0, "total_timesteps": 1}
    with pytest.raises(ValueError, match="two_drives are a maze agent's; lavagap"):
        training.TrainConfig(
            env_id="avec/LavaGapS7-v0", family="lavagap", size=7, two_drives=True, **common
        )
    maze = {"env_id": envs.env_id("procmaze", 9), "family": "procmaze", "size": 9, **common}
    assert training.TrainConfig(**maze, two_drives=True).to_dict()["two_drives"] is True
    assert "two_drives" not in training.TrainConfig(**maze).to_dict()


@pytest.mark.slow
def test_a_two_drive_recipe_is_recorded_with_its_drives_and_meets_its_bar_only_with_both(
    tmp_path, monkeypatch
):
    """``avec train`` of a two-drive recipe measures the drives itself: the entry it records
    is judged or not on them, with no packaging step after it."""
    config = dataclasses.replace(SMOKE_CNN, two_drives=True, success_bar=0.0)
    model = training.untrained("cnn", "cheesemaze", 7)
    entry = training.record(model, config, tmp_path, 1.0)
    statistics = entry["maze_statistics"]
    assert statistics["mazes"] == config.eval_episodes
    assert statistics["success"]["n"] == config.eval_episodes
    assert entry["drives"] == evaluation.drive_checks(statistics)
    assert entry["meets_bar"] == entry["drives"]["both"]
    for both in (True, False):
        drives = {"cheese": both, "top_right": both, "both": both}
        monkeypatch.setattr(evaluation, "drive_checks", lambda _, drives=drives: drives)
        assert training.record(model, config, tmp_path, 1.0)["meets_bar"] is both
    plain = training.record(model, SMOKE_CNN, tmp_path, 1.0)
    assert "drives" not in plain and "maze_statistics" not in plain
    # ``mazes`` (curves package --mazes) sets how many mazes are measured, drives or not.
    assert training.record(model, config, tmp_path, 1.0, mazes=6)["maze_statistics"]["mazes"] == 6
    measured = training.record(model, SMOKE_CNN, tmp_path, 1.0, mazes=6)
    assert measured["maze_statistics"]["success"]["n"] == 6 and "drives" not in measured
