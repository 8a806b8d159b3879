"""``avec zoo add``: an SB3 checkpoint, or an rl-baselines3-zoo run folder, registered into a
models folder loads as the agent it was (same parameters, same evaluation), normalises
observations as trained, and nothing in its files runs."""

from __future__ import annotations

import os
import pickle
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from avec import cli, envs, families, register, rollouts, zoo

SOURCE = "doorkey5-ppo-mlp-s0"
ENV = "MiniGrid-DoorKey-5x5-v0"
WRAPPERS = list(envs.OBSERVATION_WRAPPERS["doorkey"])


@pytest.fixture(scope="module")
def source(models_dir: Path) -> zoo.Agent:
    if SOURCE not in zoo.model_ids(models_dir):
        pytest.skip(f"no {SOURCE} in {models_dir}")
    return zoo.load(SOURCE, models_dir)


def rl_zoo_folder(root: Path, agent: zoo.Agent, models_dir: Path, mean=0.0, var=1.0) -> Path:
    """An rl-baselines3-zoo run folder of ``agent``, with a VecNormalize of the given stats."""
    run = root / "logs" / "ppo" / f"{ENV}_1"
    params = run / ENV
    params.mkdir(parents=True)
    shutil.copy(models_dir / agent.entry["file"], run / f"{ENV}.zip")
    config = OrderedDict(
        [("env_wrapper", WRAPPERS), ("n_timesteps", 100000.0), ("normalize", True)]
    )
    (params / "config.yml").write_text(yaml.dump(config))
    (params / "args.yml").write_text(yaml.dump(OrderedDict([("algo", "ppo"), ("env", ENV)])))
    venv = DummyVecEnv([lambda: envs.make(ENV, WRAPPERS)])
    normalize = VecNormalize(venv, norm_obs=True, norm_reward=False, clip_obs=255.0)
    shape = normalize.obs_rms.mean.shape
    normalize.obs_rms.mean = np.full(shape, mean)
    normalize.obs_rms.var = np.full(shape, var - normalize.epsilon)
    normalize.save(str(params / "vecnormalize.pkl"))
    return run


def observations(n: int = 8) -> np.ndarray:
    from avec import generators

    return envs.observe([generators.generate("doorkey", 5, s) for s in range(n)], WRAPPERS)


def test_an_rl_zoo_folder_registers_as_the_agent_it_was(source, models_dir, tmp_path):
    run = rl_zoo_folder(tmp_path, source, models_dir)
    out = tmp_path / "models"
    entry = register.add(run, ENV, models_dir=out, model_id="mine")
    assert (entry["algo"], entry["policy"], entry["env_id"]) == (
        "PPO",
        "mlp",
        source.entry["env_id"],
    )
    assert entry["observation_wrappers"] == WRAPPERS
    assert entry["architecture"] == source.entry["architecture"]
    # Same model, same held-out layouts and seed: the recorded evaluation, bit for bit.
    assert entry["evaluation"] == source.entry["evaluation"]
    mine = zoo.load("mine", out)
    obs = observations()
    np.testing.assert_array_equal(
        rollouts.action_probabilities(mine, obs), rollouts.action_probabilities(source, obs)
    )


def test_the_recorded_normalisation_is_applied_as_in_training(source, models_dir, tmp_path):
    run = rl_zoo_folder(tmp_path, source, models_dir, mean=1.0, var=4.0)
    out = tmp_path / "models"
    register.add(run, ENV, models_dir=out, model_id="mine", episodes=5)
    mine = zoo.load("mine", out)
    obs = observations()
    expected = rollouts.action_probabilities(source, (obs.astype(np.float32) - 1.0) / 2.0)
    np.testing.assert_allclose(rollouts.action_probabilities(mine, obs), expected, rtol=1e-6)
    assert not np.allclose(expected, rollouts.action_probabilities(source, obs))


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_vecnormalize_with_a_pickle_payload_is_refused_and_never_runs(
    source, models_dir, tmp_path
):
    run = rl_zoo_folder(tmp_path, source, models_dir)
    marker = tmp_path / "ran"
    (run / ENV / "vecnormalize.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(zoo.CheckpointError, match="posix.system is not allowed"):
        register.add(run, ENV, models_dir=tmp_path / "models")
    assert not marker.exists()
    assert not (tmp_path / "models" / "manifest.json").exists()


def test_the_command_registers_a_bare_zip_with_its_wrappers(source, models_dir, tmp_path, capsys):
    out = tmp_path / "models"
    zip_path = models_dir / source.entry["file"]
    code = cli.main(
        ["zoo", "add", str(zip_path), "--env", "avec/DoorKey-5x5-v0", "--wrappers", *WRAPPERS]
        + ["--models-dir", str(out), "--id", "bare", "--episodes", "10"]
    )
    assert code == 0
    assert "bare: PPO mlp on avec/DoorKey-5x5-v0" in capsys.readouterr().out
    loaded = zoo.load("bare", out).model.policy.state_dict()
    for name, tensor in source.model.policy.state_dict().items():
        assert torch.equal(loaded[name], tensor)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such.zip", "--env", ENV], "/no/such.zip does not exist"),
        (["MODEL", "--env", "Nope-v9"], "unknown env id 'Nope-v9'"),
        (["MODEL", "--env", ENV, "--episodes", "0"], "--episodes must be at least 1"),
    ],
    ids=["missing file", "unknown env", "no episodes"],
)
def test_bad_input_to_zoo_add_is_one_line_and_exit_code_2(
    source, models_dir, tmp_path, capsys, args, message
):
    args = [str(models_dir / source.entry["file"]) if a == "MODEL" else a for a in args]
    code = cli.main(["zoo", "add", *args, "--models-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        ("MiniGrid-DoorKey-5x5-v0", ("doorkey", 5, "avec/DoorKey-5x5-v0")),
        ("MiniGrid-DoorKey-8x8-v0", ("doorkey", 8, "avec/DoorKey-8x8-v0")),
        ("MiniGrid-FourRooms-v0", ("fourrooms", 19, "avec/FourRooms-v0")),
        ("avec/CheeseMaze-9x9-v0", ("cheesemaze", 9, "avec/CheeseMaze-9x9-v0")),
    ],
)
def test_an_env_id_names_the_family_and_size_whose_layouts_build_it(env_id, expected):
    assert register.family_of(env_id) == expected


def test_minigrid_ids_come_from_the_family_registry():
    known = register.minigrid_ids()
    assert known["MiniGrid-LavaGapS7-v0"] == ("lavagap", 7)
    assert all(families.get(f).minigrid_id(size) == i for i, (f, size) in known.items())


def test_an_env_without_avec_layouts_is_refused_naming_the_known_ones():
    with pytest.raises(zoo.CheckpointError, match="MiniGrid-DoorKey-5x5-v0"):
        register.family_of("MiniGrid-Empty-5x5-v0")
