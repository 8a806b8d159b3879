"""Training agents from frozen configs, and the zoo config they come from.

``avec train ID`` trains one model of the zoo config (``fixtures/zoo.toml``), saves
``fixtures/models/<id>.zip`` and records how it was trained and how well it plays in
``fixtures/models/manifest.json`` (see :mod:`avec.zoo`). ``avec train --all`` retrains the
whole zoo, one Ray task per agent (:mod:`avec.scheduling`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import minigrid
import numpy as np
import stable_baselines3
import tomllib
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv
from tqdm.auto import tqdm

from avec import envs, evaluation, generators

ROOT = Path(__file__).resolve().parent.parent
ZOO_CONFIG = ROOT / "fixtures" / "zoo.toml"
MODELS_DIR = ROOT / "fixtures" / "models"

ALGORITHMS = {"PPO": PPO, "A2C": A2C, "DQN": DQN}
POLICIES = ("mlp", "cnn")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one trained agent."""

    id: str
    """Model id, e.g. ``doorkey5-ppo-mlp-s0``: recipe name and training seed."""
    env_id: str
    """Registered avec env id trained on, e.g. ``avec/DoorKey-5x5-v0``."""
    family: str
    """Layout family of the env."""
    size: int
    """Grid size of the env, outer wall included."""
    seed: int
    """Training seed: network initialisation, env layouts and PPO's sampling."""
    total_timesteps: int
    """Environment steps to train for (summed over parallel envs)."""
    algo: str = "PPO"
    """stable-baselines3 algorithm name; one of :data:`ALGORITHMS`."""
    policy: str = "mlp"
    """``mlp`` (flattened observation) or ``cnn`` (:class:`avec.policies.GridCNN`)."""
    net_arch: tuple[int, ...] = (64, 64)
    """Hidden sizes of the policy and value MLP heads."""
    features_dim: int = 128
    """Output size of the CNN feature extractor (``cnn`` only)."""
    n_envs: int = 8
    """Parallel environments collecting experience."""
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments of the algorithm (n_steps, batch_size, learning_rate, ...)."""
    success_bar: float = 0.0
    """Success rate on held-out layouts (stochastic policy) this recipe must reach."""
    eval_episodes: int = 200
    """Held-out layouts evaluated after training."""

    def __post_init__(self) -> None:
        generators.check_family_size(self.family, self.size)
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algo {self.algo!r}; valid: {sorted(ALGORITHMS)}")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; valid: {POLICIES}")

    @property
    def wrappers(self) -> tuple[str, ...]:
        return envs.OBSERVATION_WRAPPERS[self.family]

    def policy_kwargs(self) -> dict[str, Any]:
        # MiniGrid cells are small integers (object, colour, state); dividing by 255 as SB3
        # does for images would squash them towards zero.
        kwargs: dict[str, Any] = {"net_arch": list(self.net_arch), "normalize_images": False}
        if self.policy == "cnn":
            from avec.policies import GridCNN

            kwargs["features_extractor_class"] = GridCNN
            kwargs["features_extractor_kwargs"] = {"features_dim": self.features_dim}
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["net_arch"] = list(self.net_arch)
        data["hyperparameters"] = dict(self.hyperparameters)
        return data


def load_zoo_config(path: Path = ZOO_CONFIG) -> dict[str, TrainConfig]:
    """Every model the zoo config describes, by id, in file order.

    Each ``[recipes.NAME]`` table gives ``family``, ``size``, ``seeds`` and the
    :class:`TrainConfig` fields; it yields one model ``NAME-s{seed}`` per seed.
    """
    with open(path, "rb") as f:
        data = tomllib.load(f)
    configs: dict[str, TrainConfig] = {}
    for name, recipe in data["recipes"].items():
        fields = dict(recipe)
        seeds = fields.pop("seeds")
        family, size = fields.pop("family"), int(fields.pop("size"))
        if "net_arch" in fields:
            fields["net_arch"] = tuple(fields["net_arch"])
        for seed in seeds:
            model_id = f"{name}-s{seed}"
            configs[model_id] = TrainConfig(
                id=model_id,
                env_id=envs.env_id(family, size),
                family=family,
                size=size,
                seed=int(seed),
                **fields,
            )
    return configs


class _ProgressBar(BaseCallback):
    def __init__(self, total: int, label: str, position: int) -> None:
        super().__init__()
        self.bar = tqdm(
            total=total,
            desc=label,
            unit="step",
            position=position,
            leave=True,
            dynamic_ncols=True,
            mininterval=1.0,
        )

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_rollout_end(self) -> None:
        # MiniGrid pays a positive reward only on success, so this is the recent success rate.
        episodes = self.model.ep_info_buffer
        if episodes:
            self.bar.set_postfix(success=f"{np.mean([e['r'] > 0 for e in episodes]):.2f}")

    def _on_training_end(self) -> None:
        self.bar.close()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def architecture(model: Any) -> dict[str, Any]:
    """What a checkpoint must match on load: policy classes and every parameter's shape."""
    policy = model.policy
    # A DQN policy keeps its extractor inside the Q-network (its target net has a copy).
    extractor = getattr(policy, "q_net", policy).features_extractor
    return {
        "policy_class": f"{type(policy).__module__}.{type(policy).__qualname__}",
        "features_extractor": f"{type(extractor).__module__}.{type(extractor).__qualname__}",
        "observation_shape": list(policy.observation_space.shape),
        "n_actions": int(policy.action_space.n),
        "parameters": {name: list(p.shape) for name, p in policy.named_parameters()},
    }


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "minigrid": minigrid.__version__,
        "numpy": np.__version__,
    }


def held_out_layouts(config: TrainConfig, n: int, cheese_region: str = "top_right") -> list:
    """``n`` evaluation layouts of the config's family, from seeds no training run draws."""
    options = {"cheese_region": cheese_region} if config.family == "cheesemaze" else {}
    return [
        generators.generate(config.family, config.size, envs.HELD_OUT_SEED_START + i, **options)
        for i in range(n)
    ]


def evaluate(model: Any, config: TrainConfig, n: int, seed: int = 0) -> dict[str, Any]:
    """Held-out evaluation recorded in the manifest (stochastic policy)."""
    episodes = evaluation.play(model, held_out_layouts(config, n), config.wrappers, seed=seed)
    result: dict[str, Any] = {"held_out": evaluation.summarize(episodes)}
    if config.family == "cheesemaze":
        region = generators.TOP_RIGHT_REGION
        elsewhere = [
            lay
            for lay in held_out_layouts(config, 3 * n, cheese_region="anywhere")
            if not (lay.cheese[0] >= lay.width - 1 - region and lay.cheese[1] <= region)
        ][:n]
        result["cheese_elsewhere"] = evaluation.summarize_cheese_elsewhere(
            evaluation.play(model, elsewhere, config.wrappers, seed=seed)
        )
    return result


def train(
    config: TrainConfig, models_dir: Path = MODELS_DIR, progress: bool = True, position: int = 0
) -> dict[str, Any]:
    """Train one agent, save it under ``models_dir`` and return its manifest entry."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    venv = make_vec_env(
        lambda: envs.make(config.env_id, config.wrappers),
        n_envs=config.n_envs,
        seed=config.seed,
        vec_env_cls=DummyVecEnv,
    )
    model = ALGORITHMS[config.algo](
        "MlpPolicy" if config.policy == "mlp" else "CnnPolicy",
        venv,
        seed=config.seed,
        policy_kwargs=config.policy_kwargs(),
        device="cpu",
        verbose=0,
        **dict(config.hyperparameters),
    )
    callback = _ProgressBar(config.total_timesteps, config.id, position) if progress else None
    model.learn(config.total_timesteps, callback=callback)
    train_seconds = time.perf_counter() - start
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{config.id}.zip"
    model.save(path)
    entry = {
        "id": config.id,
        "file": path.name,
        "sha256": sha256(path),
        "env_id": config.env_id,
        "minigrid_env_id": _minigrid_id(config),
        "observation_wrappers": list(config.wrappers),
        "algo": config.algo,
        "policy": config.policy,
        "architecture": architecture(model),
        "seed": config.seed,
        "timesteps": int(model.num_timesteps),
        "config": config.to_dict(),
        "train_seconds": round(train_seconds, 1),
        "versions": versions(),
        "evaluation": evaluate(model, config, config.eval_episodes),
    }
    entry["meets_bar"] = entry["evaluation"]["held_out"]["success_rate"] >= config.success_bar
    return entry


def untrained(kind: str, family: str = "doorkey", size: int = 5, seed: int = 0) -> Any:
    """A freshly initialised model of one of the zoo's architectures, never trained.

    ``kind``: ``mlp`` or ``cnn`` (PPO, as the zoo) or ``dqn``. For tests of mechanics that do
    not depend on training -- hooks, patching identities, rollout bookkeeping -- never as a
    stand-in for a trained agent.
    """
    env = envs.make(envs.env_id(family, size))
    if kind == "dqn":
        return DQN(
            "MlpPolicy",
            env,
            buffer_size=16,
            policy_kwargs={"net_arch": [16]},
            seed=seed,
            device="cpu",
        )
    config = TrainConfig(
        id=f"untrained-{kind}",
        env_id=envs.env_id(family, size),
        family=family,
        size=size,
        seed=seed,
        total_timesteps=1,
        policy=kind,
        features_dim=32,
    )
    return PPO(
        "MlpPolicy" if kind == "mlp" else "CnnPolicy",
        env,
        policy_kwargs=config.policy_kwargs(),
        seed=seed,
        device="cpu",
        n_steps=64,
        batch_size=64,
    )


def _minigrid_id(config: TrainConfig) -> str | None:
    """MiniGrid's own id for the same levels, where one exists."""
    if config.family == "doorkey" and config.size in (5, 6, 8, 16):
        return f"MiniGrid-DoorKey-{config.size}x{config.size}-v0"
    if config.family == "fourrooms":
        return "MiniGrid-FourRooms-v0"
    return None


def write_manifest_entry(entry: dict[str, Any], models_dir: Path = MODELS_DIR) -> None:
    """Insert or replace one model's entry in ``manifest.json`` (sorted by id)."""
    write_manifest_entries([entry], models_dir)


def write_manifest_entries(entries: list[dict[str, Any]], models_dir: Path = MODELS_DIR) -> None:
    """Insert or replace several models' entries in ``manifest.json`` in one atomic write.

    The new manifest goes to a temporary file that replaces the old one by a rename, so a
    reader never sees it half-written.
    """
    path = models_dir / "manifest.json"
    # Several `avec train` processes may finish at once: serialise read-modify-write.
    with open(models_dir / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = json.loads(path.read_text()) if path.exists() else {"schema": 1, "models": {}}
        for entry in entries:
            manifest["models"][entry["id"]] = entry
        manifest["models"] = dict(sorted(manifest["models"].items()))
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, path)


__all__ = [
    "MODELS_DIR",
    "ZOO_CONFIG",
    "TrainConfig",
    "architecture",
    "evaluate",
    "held_out_layouts",
    "load_zoo_config",
    "sha256",
    "train",
    "untrained",
    "write_manifest_entries",
    "write_manifest_entry",
]
