"""PPO training steps per second on the engine's VecEnv and on MiniGrid envs, in one process.

Each zoo recipe named is trained for the same number of timesteps from the same seed twice: with
``avec.training.vec_env(config, "engine")`` (one :class:`avec.engine.vecenv.EngineVecEnv`) and with
``vec_env(config, "minigrid")`` (MiniGrid envs in SB3's ``DummyVecEnv``, as before the engine).
Both runs must end with the same weights (they see the same levels and observations); the script
checks that and prints steps per second and where the time goes:

* env -- inside the ``VecEnv``'s ``reset`` / ``step`` (stepping, observations, new levels);
* update -- PPO's gradient epochs (``model.train``);
* collection -- the rest of ``learn``: SB3's per-step policy forward, buffer and callbacks.

One core (``torch.set_num_threads(1)``, as ``avec train`` uses).

    python benchmarks/training.py --quick      # a few minutes

The last line is ``training speedup engine/minigrid (RECIPE): X.XX`` for the first recipe;
target (the engine issue): >= 2 for the MLP recipes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from avec import training


class _Timed(VecEnvWrapper):
    """Adds up the seconds spent inside the wrapped ``VecEnv``."""

    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.seconds = 0.0

    def reset(self):
        start = time.perf_counter()
        obs = self.venv.reset()
        self.seconds += time.perf_counter() - start
        return obs

    def step_wait(self):
        start = time.perf_counter()
        result = self.venv.step_wait()
        self.seconds += time.perf_counter() - start
        return result


def run(config: training.TrainConfig, backend: str) -> dict:
    """Train ``config`` on ``backend``; seconds in total, in the env and in updates, weights."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    venv = _Timed(training.vec_env(config, backend))
    model = training.ALGORITHMS[config.algo](
        "MlpPolicy" if config.policy == "mlp" else "CnnPolicy",
        venv,
        seed=config.seed,
        policy_kwargs=config.policy_kwargs(),
        device="cpu",
        **dict(config.hyperparameters),
    )
    update = [0.0]
    gradient_epochs = model.train

    def timed_train() -> None:
        t = time.perf_counter()
        gradient_epochs()
        update[0] += time.perf_counter() - t

    model.train = timed_train
    model.learn(config.total_timesteps)
    total = time.perf_counter() - start
    return {
        "seconds": total,
        "env": venv.seconds,
        "update": update[0],
        "steps": model.num_timesteps,
        "weights": model.policy.state_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timesteps")
    parser.add_argument("--recipes", nargs="+", default=["doorkey5-ppo-mlp", "cheesemaze9-ppo-cnn"])
    parser.add_argument("--timesteps", type=int, default=None, help="default 16384 or 65536")
    ns = parser.parse_args(argv)
    timesteps = ns.timesteps or (16384 if ns.quick else 65536)
    configs = training.load_zoo_config()
    print(f"PPO, {timesteps} timesteps per run, seed 0, one core")
    print(
        f"{'recipe':<22} {'backend':<9} {'steps/s':>8} {'env':>6} {'collection':>11} {'update':>7}"
    )
    speedups, same = {}, True
    for recipe in ns.recipes:
        config = dataclasses.replace(configs[f"{recipe}-s0"], total_timesteps=timesteps)
        runs = {backend: run(config, backend) for backend in ("minigrid", "engine")}
        for backend, r in runs.items():
            collection = r["seconds"] - r["env"] - r["update"]
            print(
                f"{recipe:<22} {backend:<9} {r['steps'] / r['seconds']:>8.0f} "
                f"{r['env'] / r['seconds']:>6.0%} {collection / r['seconds']:>11.0%} "
                f"{r['update'] / r['seconds']:>7.0%}"
            )
        weights = [runs[b]["weights"] for b in ("engine", "minigrid")]
        same &= all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
        speedups[recipe] = runs["minigrid"]["seconds"] / runs["engine"]["seconds"]
    print(f"same weights after training on both: {'yes' if same else 'NO'}")
    for recipe, speedup in reversed(speedups.items()):
        print(f"training speedup engine/minigrid ({recipe}): {speedup:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
