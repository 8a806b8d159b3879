"""Real rl-baselines3-zoo run folders, made with plain stable-baselines3 (no avec code).

``write_run`` trains a PPO the way rl-baselines3-zoo's ``train.py`` does for
``MiniGrid-DoorKey-5x5-v0`` (its ``hyperparams/ppo.yml`` entry: ``FlatObsWrapper``,
``normalize: true``, 8 envs, ``n_steps`` 128, ``batch_size`` 64, ``gae_lambda`` 0.95,
``gamma`` 0.99, ``n_epochs`` 10, ``ent_coef`` 0, ``learning_rate`` 2.5e-4, ``clip_range`` 0.2,
``MlpPolicy``) and lays out its run folder as rl-zoo's ``ExperimentManager`` saves it::

    logs/ppo/MiniGrid-DoorKey-5x5-v0_1/
        MiniGrid-DoorKey-5x5-v0.zip                      model.save(save_path/env_name)
        MiniGrid-DoorKey-5x5-v0/config.yml               the hyperparameters, sorted
        MiniGrid-DoorKey-5x5-v0/args.yml                 the command line, sorted
        MiniGrid-DoorKey-5x5-v0/vecnormalize.pkl         the VecNormalize, pickled

seeded as rl-zoo seeds (``set_random_seed(seed)``; ``make_vec_env(..., seed=seed)`` seeds every
env and its action space, so the pickled VecNormalize carries ``Generator(PCG64)`` state).

Run as a script to make a folder by hand: ``python tests/rl_zoo_run.py OUT --steps 100000``.
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from pathlib import Path

import yaml

ENV = "MiniGrid-DoorKey-5x5-v0"
FLAT = "minigrid.wrappers.FlatObsWrapper"
IMAGE = "minigrid.wrappers.ImgObsWrapper"
HYPERPARAMETERS = {
    "batch_size": 64,
    "clip_range": 0.2,
    "ent_coef": 0.0,
    "gae_lambda": 0.95,
    "gamma": 0.99,
    "learning_rate": 2.5e-4,
    "n_envs": 8,
    "n_epochs": 10,
    "n_steps": 128,
    "normalize": True,
    "policy": "MlpPolicy",
}


def write_run(root: Path, steps: int, seed: int = 0, wrapper: str = IMAGE, exp_id: int = 1) -> Path:
    """Train and save one rl-zoo run folder under ``root``; returns ``root/logs/ppo/ENV_<id>``."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers MiniGrid's env ids)
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    module, _, name = wrapper.rpartition(".")
    wrapper_class = getattr(__import__(module, fromlist=[name]), name)
    set_random_seed(seed)
    venv = make_vec_env(
        lambda **kwargs: gym.make(ENV, **kwargs),
        n_envs=HYPERPARAMETERS["n_envs"],
        seed=seed,
        wrapper_class=wrapper_class,
    )
    venv = VecNormalize(venv, gamma=HYPERPARAMETERS["gamma"])
    kwargs = {
        k: v for k, v in HYPERPARAMETERS.items() if k not in ("n_envs", "normalize", "policy")
    }
    model = PPO(HYPERPARAMETERS["policy"], venv, seed=seed, device="cpu", verbose=0, **kwargs)
    model.learn(total_timesteps=steps)

    run = Path(root) / "logs" / "ppo" / f"{ENV}_{exp_id}"
    params = run / ENV
    params.mkdir(parents=True)
    model.save(run / ENV)
    venv.save(str(params / "vecnormalize.pkl"))
    config = {**HYPERPARAMETERS, "env_wrapper": wrapper, "n_timesteps": float(steps)}
    (params / "config.yml").write_text(yaml.dump(OrderedDict(sorted(config.items()))))
    args = {
        "algo": "ppo",
        "env": ENV,
        "seed": seed,
        "n_timesteps": -1,
        "log_folder": "logs",
        "exp_id": 0,
        "device": "auto",
        "vec_env": "dummy",
        "n_eval_envs": 1,
        "eval_freq": 25000,
    }
    (params / "args.yml").write_text(yaml.dump(OrderedDict(sorted(args.items()))))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wrapper", default=IMAGE, choices=[IMAGE, FLAT])
    ns = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # as the test suite runs: one intra-op thread
    print(write_run(ns.root, ns.steps, ns.seed, ns.wrapper))


if __name__ == "__main__":
    main()
