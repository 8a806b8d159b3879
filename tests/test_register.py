"""``avec zoo add``: a real rl-baselines3-zoo run folder (trained here with plain SB3, seeded,
with a ``VecNormalize``) registers as the agent it is -- avec's action probabilities equal SB3's
own on the same observations -- nothing in its files runs, and nothing is written unless
everything checks out."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import rl_zoo_run
import torch
import yaml
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from avec import cli, envs, families, register, rlzoo, rollouts, zoo

ENV = rl_zoo_run.ENV
MODEL_ID = "ppo-doorkey-5x5-v0-s0"
STEPS = 1024  # one PPO update of 8 envs x 128 steps: a real, briefly trained SB3 agent


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    return rl_zoo_run.write_run(tmp_path_factory.mktemp("img"), STEPS, wrapper=rl_zoo_run.IMAGE)


@pytest.fixture(scope="module")
def flat_run(tmp_path_factory) -> Path:
    return rl_zoo_run.write_run(tmp_path_factory.mktemp("flat"), STEPS, wrapper=rl_zoo_run.FLAT)


def copy_run(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "logs" / "ppo" / run.name
    shutil.copytree(run, out)
    return out


def sb3_own_probabilities(run: Path, wrapper: str, obs: np.ndarray) -> np.ndarray:
    """SB3's own answer, from its own (unpickling) loaders: trusted here, because this test
    wrote these files itself."""
    model = PPO.load(run / f"{ENV}.zip", device="cpu")
    venv = DummyVecEnv([lambda: envs.make(ENV, [wrapper])])
    normalize = VecNormalize.load(str(run / ENV / "vecnormalize.pkl"), venv)
    normalized = normalize.normalize_obs(obs)
    with torch.no_grad():
        obs_t, _ = model.policy.obs_to_tensor(normalized)
        probs = model.policy.get_distribution(obs_t).distribution.probs.numpy()
    actions, _ = model.predict(normalized, deterministic=True)
    np.testing.assert_array_equal(actions, probs.argmax(axis=1))
    return probs


def minigrid_observations(wrapper: str, n: int = 24) -> np.ndarray:
    env = envs.make(ENV, [wrapper])
    rng = np.random.default_rng(1)
    out = []
    for seed in range(n // 4):
        obs, _ = env.reset(seed=10_000 + seed)
        out.append(obs)
        for _ in range(3):
            obs, *_ = env.step(int(rng.integers(3)))
            out.append(obs)
    return np.stack(out)


def test_a_seeded_image_run_registers_and_acts_as_sb3s_own_agent(image_run, tmp_path):
    out = tmp_path / "mine"
    entry = register.add(image_run, ENV, models_dir=out, episodes=10)
    assert entry["id"] == MODEL_ID  # <algo>-<env>-s<seed> from args.yml
    # After VecNormalize SB3 neither transposes nor keeps uint8: the policy saw (7, 7, 3) floats.
    assert entry["observation_space"] == {"shape": [7, 7, 3], "dtype": "float32"}
    assert entry["architecture"]["observation_shape"] == [7, 7, 3]
    obs = minigrid_observations(rl_zoo_run.IMAGE)
    ours = rollouts.action_probabilities(zoo.load(MODEL_ID, out), obs)
    theirs = sb3_own_probabilities(image_run, rl_zoo_run.IMAGE, obs)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert np.abs(theirs - theirs.mean(axis=0)).max() > 1e-3  # observations the agent tells apart


def test_a_seeded_flat_run_acts_as_sb3s_own_agent_in_minigrid(flat_run, tmp_path, monkeypatch):
    with pytest.raises(zoo.CheckpointError, match="AVEC_BACKEND=minigrid"):
        register.add(flat_run, ENV, models_dir=tmp_path / "engine", episodes=5)
    assert not (tmp_path / "engine").exists()
    # MiniGrid itself plays FlatObsWrapper (rl-zoo's MiniGrid default) observations.
    monkeypatch.setenv("AVEC_BACKEND", "minigrid")
    out = tmp_path / "mine"
    entry = register.add(flat_run, ENV, models_dir=out, episodes=5)
    assert entry["observation_space"]["shape"] == [147 + 28 * 96]
    obs = minigrid_observations(rl_zoo_run.FLAT)
    ours = rollouts.action_probabilities(zoo.load(MODEL_ID, out), obs)
    np.testing.assert_allclose(
        ours, sb3_own_probabilities(flat_run, rl_zoo_run.FLAT, obs), atol=1e-6
    )


def test_the_fidelity_check_refuses_an_agent_built_on_other_observations(image_run, tmp_path):
    out = tmp_path / "mine"
    register.add(image_run, ENV, models_dir=out, episodes=5)
    agent = zoo.load(MODEL_ID, out)
    checkpoint = image_run / f"{ENV}.zip"
    assert register.check_fidelity(agent, checkpoint, ENV) <= register.FIDELITY_TOLERANCE
    # What avec did before reading the space: a uint8 image space, transposed to channels first.
    entry = {k: v for k, v in agent.entry.items() if k != "observation_space"}
    entry["architecture"] = zoo.architecture(zoo.build(entry))
    transposed = zoo.Agent(
        MODEL_ID,
        {**entry, "observation_space": agent.entry["observation_space"]},
        zoo.load_checkpoint(checkpoint, entry),
    )
    with pytest.raises(zoo.CheckpointError, match="differ from SB3's by up to"):
        register.check_fidelity(transposed, checkpoint, ENV)


def test_an_agent_below_its_family_bar_is_listed_not_judged(image_run, tmp_path, capsys):
    out = tmp_path / "mine"
    entry = register.add(image_run, ENV, models_dir=out, episodes=10)
    assert entry["config"]["success_bar"] == register.recipe_bar("doorkey", 5) == 0.95
    assert not entry["meets_bar"]  # one PPO update does not solve DoorKey
    assert zoo.model_ids(out, trained_only=True) == []
    assert MODEL_ID in zoo.below_bar(zoo.manifest(out))
    assert cli.main(["zoo", "--models-dir", str(out)]) == 0
    assert "below bar, not judged: held-out success" in capsys.readouterr().out


def test_a_given_bar_decides_whether_the_agent_is_judged(image_run, tmp_path):
    out = tmp_path / "mine"
    entry = register.add(image_run, ENV, models_dir=out, episodes=10, bar=0.0)
    assert entry["meets_bar"] and zoo.model_ids(out, trained_only=True) == [MODEL_ID]


def test_an_id_without_a_seed_suffix_is_refused_before_anything_is_written(image_run, tmp_path):
    with pytest.raises(zoo.CheckpointError, match="must be NAME-s<SEED>"):
        register.add(image_run, ENV, models_dir=tmp_path / "mine", model_id="my-agent")
    assert not (tmp_path / "mine").exists()


def test_an_existing_id_is_replaced_only_with_force_and_a_failed_add_writes_nothing(
    image_run, tmp_path
):
    out = tmp_path / "mine"
    register.add(image_run, ENV, models_dir=out, episodes=5)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(zoo.CheckpointError, match="already in .*--force"):
        register.add(image_run, ENV, models_dir=out, episodes=5)
    broken = copy_run(image_run, tmp_path)
    (broken / ENV / "vecnormalize.pkl").write_bytes(b"not a pickle")
    with pytest.raises(zoo.CheckpointError):
        register.add(broken, ENV, models_dir=out, episodes=5, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    entry = register.add(image_run, ENV, models_dir=out, episodes=7, force=True)
    assert zoo.manifest(out)[MODEL_ID]["evaluation"] == entry["evaluation"]
    assert entry["evaluation"]["held_out"]["episodes"] == 7


def test_zoo_remove_drops_the_entry_and_its_checkpoint(image_run, tmp_path, capsys):
    out = tmp_path / "mine"
    register.add(image_run, ENV, models_dir=out, episodes=5)
    assert cli.main(["zoo", "remove", MODEL_ID, "--models-dir", str(out)]) == 0
    assert zoo.manifest(out) == {} and not (out / f"{MODEL_ID}.zip").exists()
    assert cli.main(["zoo", "remove", MODEL_ID, "--models-dir", str(out)]) == 2
    assert f"no model '{MODEL_ID}'" in capsys.readouterr().err


def test_a_seeded_vecnormalize_is_read_without_running_it(image_run):
    raw = (image_run / ENV / "vecnormalize.pkl").read_bytes()
    assert b"PCG64" in raw and b"SeedSequence" in raw
    read = rlzoo.read_vecnormalize(image_run / ENV / "vecnormalize.pkl")
    saved = VecNormalize.load(
        str(image_run / ENV / "vecnormalize.pkl"),
        DummyVecEnv([lambda: envs.make(ENV, [rl_zoo_run.IMAGE])]),
    )
    np.testing.assert_array_equal(read["mean"], saved.obs_rms.mean)
    np.testing.assert_array_equal(read["var"], saved.obs_rms.var)
    assert (read["clip"], read["epsilon"]) == (saved.clip_obs, saved.epsilon)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_vecnormalize_with_a_pickle_payload_is_refused_and_never_runs(image_run, tmp_path):
    run = copy_run(image_run, tmp_path)
    marker = tmp_path / "ran"
    (run / ENV / "vecnormalize.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(zoo.CheckpointError, match="posix.system is not allowed"):
        register.add(run, ENV, models_dir=tmp_path / "models")
    assert not marker.exists()
    assert not (tmp_path / "models").exists()


def test_an_a2c_with_rl_zoos_optimizer_class_registers_without_building_it(tmp_path):
    env = envs.make(ENV, [rl_zoo_run.IMAGE])
    kwargs = {"optimizer_class": RMSpropTFLike, "optimizer_kwargs": {"alpha": 0.99, "eps": 1e-5}}
    A2C("MlpPolicy", env, policy_kwargs=kwargs, seed=0, device="cpu").save(tmp_path / "a2c.zip")
    out = tmp_path / "mine"
    entry = register.add(
        tmp_path / "a2c.zip", ENV, [rl_zoo_run.IMAGE], out, "a2c-s0", episodes=5, bar=0.0
    )
    assert entry["algo"] == "A2C" and "optimizer_class" not in entry["policy_kwargs"]
    assert "RMSpropTFLike" in entry["config"]["training_kwargs"]["optimizer_class"]
    zoo.load("a2c-s0", out)


def _one_line_exit_2(capsys, argv: list[str], message: str) -> None:
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_bare_zip_without_wrappers_is_one_line_exit_2(image_run, tmp_path, capsys):
    zip_path = str(image_run / f"{ENV}.zip")
    argv = ["zoo", "add", zip_path, "--env", ENV, "--models-dir", str(tmp_path / "m")]
    _one_line_exit_2(capsys, argv, "is a bare checkpoint: give its observation wrappers")


def test_an_algorithm_avec_does_not_judge_is_one_line_exit_2(image_run, tmp_path, capsys):
    run = copy_run(image_run, tmp_path)
    args = rlzoo.read_yaml(run / ENV / "args.yml")
    args["algo"] = "sac"
    (run / ENV / "args.yml").write_text(yaml.dump(args))
    argv = ["zoo", "add", str(run), "--env", ENV, "--models-dir", str(tmp_path / "m")]
    _one_line_exit_2(capsys, argv, "algo 'sac' is not judged by avec; valid: ppo, a2c, dqn")


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['touch ran']\n",
        "a: [1, 2\nb: 3\n",
        "a: b: c\n",
    ],
    ids=["python tag", "unclosed", "nested mapping"],
)
def test_yaml_avec_cannot_read_safely_is_one_line_exit_2(image_run, tmp_path, capsys, text):
    run = copy_run(image_run, tmp_path)
    (run / ENV / "config.yml").write_text(text)
    argv = ["zoo", "add", str(run), "--env", ENV, "--models-dir", str(tmp_path / "m")]
    _one_line_exit_2(capsys, argv, "is not YAML avec can read safely")
    assert not (tmp_path / "ran").exists()


def test_a_pickle_payload_in_policy_pth_is_one_line_exit_2(image_run, tmp_path, capsys):
    run = copy_run(image_run, tmp_path)
    zip_path = run / f"{ENV}.zip"
    with zipfile.ZipFile(image_run / f"{ENV}.zip") as src, zipfile.ZipFile(zip_path, "w") as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "policy.pth":
                content = pickle.dumps(_Payload(tmp_path / "ran"))
            dst.writestr(item, content)
    argv = ["zoo", "add", str(run), "--env", ENV, "--models-dir", str(tmp_path / "m")]
    _one_line_exit_2(capsys, argv, "holds more than tensors in policy.pth and is refused")
    assert not (tmp_path / "ran").exists()


def test_avec_zoo_lists_a_folder_filled_by_zoo_add(image_run, tmp_path, capsys):
    out = tmp_path / "mine"
    register.add(image_run, ENV, models_dir=out, episodes=5)
    capsys.readouterr()
    assert cli.main(["zoo", "--models-dir", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.split()[:3] == [MODEL_ID, "-", "-"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such.zip", "--env", ENV], "/no/such.zip does not exist"),
        (["RUN", "--env", "Nope-v9"], "env id 'Nope-v9' is refused"),
        (["RUN", "--env", "os:Nope-v9"], "env id 'os:Nope-v9' is refused"),
        (["RUN", "--env", ENV, "--episodes", "0"], "--episodes must be at least 1"),
        (["RUN", "--env", ENV, "--bar", "2"], "--bar must be a success rate in [0, 1]"),
    ],
    ids=["missing file", "unknown env", "module env", "no episodes", "bad bar"],
)
def test_bad_input_to_zoo_add_is_one_line_and_exit_code_2(
    image_run, tmp_path, capsys, args, message
):
    args = [str(image_run) if a == "RUN" else a for a in args]
    _one_line_exit_2(capsys, ["zoo", "add", *args, "--models-dir", str(tmp_path / "m")], message)


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


def test_the_generated_folder_is_laid_out_as_rl_zoo_saves_it(image_run):
    files = sorted(str(p.relative_to(image_run)) for p in image_run.rglob("*") if p.is_file())
    assert files == [
        f"{ENV}.zip",
        *(f"{ENV}/{n}" for n in ("args.yml", "config.yml", "vecnormalize.pkl")),
    ]
    config = rlzoo.read_yaml(image_run / ENV / "config.yml")
    assert config["normalize"] is True and config["n_envs"] == 8
    assert json.loads(zipfile.ZipFile(image_run / f"{ENV}.zip").read("data"))["n_envs"] == 8
    assert gym.registry[ENV].entry_point.startswith("minigrid.")


def test_load_run_of_a_path_is_a_one_off_look_that_writes_nothing(image_run, tmp_path):
    before = sorted(image_run.rglob("*"))
    agent = register.load_run(image_run, ENV)
    assert agent.id == MODEL_ID and "evaluation" not in agent.entry
    obs = minigrid_observations(rl_zoo_run.IMAGE)
    np.testing.assert_allclose(
        rollouts.action_probabilities(agent, obs),
        sb3_own_probabilities(image_run, rl_zoo_run.IMAGE, obs),
        atol=1e-6,
    )
    bare = register.load_run(image_run / f"{ENV}.zip", ENV, wrappers=[rl_zoo_run.IMAGE])
    assert bare.id == ENV and "observation_normalization" not in bare.entry
    assert sorted(image_run.rglob("*")) == before
