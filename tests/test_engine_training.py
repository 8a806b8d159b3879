"""Training on the engine's ``VecEnv`` is training on MiniGrid: from the same seed, PPO, A2C and
DQN see the same levels and observations, so they end with the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO

from avec import training

RECIPES = {
    "PPO": (PPO, {"n_steps": 128, "batch_size": 64, "n_epochs": 2}),
    "A2C": (A2C, {"n_steps": 8}),
    "DQN": (DQN, {"learning_starts": 200, "buffer_size": 1000, "train_freq": 4}),
}


def config(family: str, size: int, policy: str, timesteps: int = 1024) -> training.TrainConfig:
    return training.TrainConfig(
        id="engine-vs-minigrid",
        env_id=training.envs.env_id(family, size),
        family=family,
        size=size,
        seed=7,
        total_timesteps=timesteps,
        policy=policy,
        features_dim=32,
        n_envs=4,
    )


def trained_weights(algo: str, cfg: training.TrainConfig, backend: str):
    """Weights before and after training, and the lengths of the episodes logged."""
    cls, hyperparameters = RECIPES[algo]
    torch.set_num_threads(1)
    model = cls(
        "MlpPolicy" if cfg.policy == "mlp" else "CnnPolicy",
        training.vec_env(cfg, backend),
        seed=cfg.seed,
        policy_kwargs=cfg.policy_kwargs(),
        device="cpu",
        **hyperparameters,
    )
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(cfg.total_timesteps)
    episodes = [e["l"] for e in model.ep_info_buffer]
    return before, model.policy.state_dict(), episodes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "family", "size", "policy", "timesteps"),
    [
        ("PPO", "doorkey", 5, "mlp", 4096),
        ("PPO", "cheesemaze", 7, "cnn", 1024),
        ("A2C", "fourrooms", 19, "mlp", 1024),
        ("DQN", "doorkey", 5, "mlp", 1024),
    ],
)
def test_training_on_engine_and_minigrid_gives_equal_weights(algo, family, size, policy, timesteps):
    cfg = config(family, size, policy, timesteps)
    initial, engine_weights, engine_episodes = trained_weights(algo, cfg, "engine")
    _, minigrid_weights, minigrid_episodes = trained_weights(algo, cfg, "minigrid")
    assert engine_episodes, "no episode ended: the comparison would not cover resets"
    assert engine_episodes == minigrid_episodes
    assert engine_weights.keys() == minigrid_weights.keys()
    for name, value in engine_weights.items():
        assert torch.equal(value, minigrid_weights[name]), name
    assert not all(torch.equal(initial[k], v) for k, v in engine_weights.items()), "untrained"


def test_engine_vec_env_draws_the_levels_of_minigrid_envs_from_each_seed():
    cfg = config("cheesemaze", 9, "cnn")
    engine_env, minigrid_env = (training.vec_env(cfg, b) for b in ("engine", "minigrid"))
    for seed in (0, 5):
        engine_env.seed(seed)
        minigrid_env.seed(seed)
        np.testing.assert_array_equal(engine_env.reset(), minigrid_env.reset())
