"""Training agents from frozen configs, and the zoo config they come from.

``avec train ID`` trains one model of the zoo config (``fixtures/zoo.toml``), saves
``fixtures/models/<id>.zip`` and records how it was trained and how well it plays in
``fixtures/models/manifest.json`` (see :mod:`avec.zoo`). ``avec train --all`` retrains the
whole zoo, one Ray task per agent (:mod:`avec.scheduling`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import platform
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import minigrid
import numpy as np
import stable_baselines3
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from tqdm.auto import tqdm

from avec import atomic, cloning, engine, envs, evaluation, families, zoo
from avec.engine.vecenv import EngineVecEnv
from avec.zoo import MODELS_DIR, ROOT

ZOO_CONFIG = ROOT / "fixtures" / "zoo.toml"

ALGORITHMS = {"PPO": PPO, "A2C": A2C, "DQN": DQN}
POLICIES = ("mlp", "cnn", "impala")


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
    """``mlp`` (flattened observation), ``cnn`` (:class:`avec.policies.GridCNN`) or ``impala``
    (:class:`avec.policies.ImpalaCNN`, the maze paper's residual network)."""
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
    warm_start: cloning.CloneConfig | None = None
    """Behaviour cloning of the shortest-path move before RL (:mod:`avec.cloning`); ``None``:
    RL from a random initialisation."""
    two_drives: bool = False
    """Mazes: the bar also asks for the maze paper's two drives, measured on
    ``eval_episodes`` held-out mazes when the agent is recorded
    (:func:`avec.evaluation.drive_checks`)."""

    def __post_init__(self) -> None:
        families.get(self.family).check_size(self.size)
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algo {self.algo!r}; valid: {sorted(ALGORITHMS)}")
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; valid: {POLICIES}")
        if self.warm_start is not None and families.get(self.family).top_right_region is None:
            raise ValueError(f"warm_start clones the way to the cheese; {self.family} has none")
        if self.two_drives and families.get(self.family).top_right_region is None:
            raise ValueError(f"two_drives are a maze agent's; {self.family} has no cheese maze")

    @property
    def wrappers(self) -> tuple[str, ...]:
        return envs.OBSERVATION_WRAPPERS[self.family]

    def policy_kwargs(self) -> dict[str, Any]:
        return zoo.resolve_policy_kwargs(
            zoo.policy_kwargs(self.policy, self.net_arch, self.features_dim)
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["net_arch"] = list(self.net_arch)
        data["hyperparameters"] = dict(self.hyperparameters)
        if self.warm_start is None:
            # Agents trained before warm starts existed record configs without the field.
            del data["warm_start"]
        if not self.two_drives:
            del data["two_drives"]
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
        if "warm_start" in fields:
            fields["warm_start"] = cloning.CloneConfig(**fields["warm_start"])
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


class _Checkpoints(BaseCallback):
    """Saves the policy's parameters every ``every`` steps as ``params-<steps>.pt`` in
    ``folder``, and its optimizer's state beside them as ``optimizer-<steps>.pt`` (so a run
    stopped there can be packaged or continued with its Adam moments): state dicts of tensors
    (``torch.load(..., weights_only=True)`` reads them back without running code), each
    written to a temporary file and renamed into place, the parameters last."""

    def __init__(self, folder: Path, every: int, start: int = 0) -> None:
        super().__init__()
        self.folder, self.every, self.saved = folder, every, start // every

    def _on_step(self) -> bool:
        if self.num_timesteps // self.every > self.saved:
            self.saved = self.num_timesteps // self.every
            policy = self.model.policy
            save_checkpoint(
                self.folder, self.num_timesteps, policy.state_dict(), policy.optimizer.state_dict()
            )
        return True


def checkpoint_paths(folder: Path, steps: int) -> tuple[Path, Path]:
    """``(parameters, optimizer)``: the files of the checkpoint at ``steps`` in ``folder``."""
    return folder / f"params-{steps:09d}.pt", folder / f"optimizer-{steps:09d}.pt"


def save_checkpoint(
    folder: Path, steps: int, parameters: Mapping[str, Any], optimizer: Mapping[str, Any]
) -> None:
    """Write a checkpoint of state dicts (see :class:`_Checkpoints`): each file to a temporary
    name, then renamed into place, the optimizer first, so a parameters file is never seen
    without its optimizer state or half-written."""
    folder.mkdir(parents=True, exist_ok=True)
    params_path, optimizer_path = checkpoint_paths(folder, steps)
    for path, state in ((optimizer_path, optimizer), (params_path, parameters)):
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "minigrid": minigrid.__version__,
        "numpy": np.__version__,
    }


def vec_env(config: TrainConfig, backend: str | None = None) -> VecEnv:
    """The config's ``n_envs`` training envs, seeded with its seed, on ``backend`` (default:
    :func:`avec.engine.backend`): one engine ``VecEnv``, or MiniGrid envs in a ``DummyVecEnv``.
    Both draw the same levels and give the same observations."""
    if engine.backend(backend) == "engine":
        venv = EngineVecEnv(config.env_id, config.n_envs, config.wrappers)
        venv.seed(config.seed)
        return venv
    return make_vec_env(
        lambda: envs.make(config.env_id, config.wrappers),
        n_envs=config.n_envs,
        seed=config.seed,
        vec_env_cls=DummyVecEnv,
    )


def learner(config: TrainConfig, venv: VecEnv | None = None) -> Any:
    """The config's learner, freshly initialised from its seed, on ``venv`` (default: the
    config's training envs, :func:`vec_env`)."""
    return ALGORITHMS[config.algo](
        "MlpPolicy" if config.policy == "mlp" else "CnnPolicy",
        vec_env(config) if venv is None else venv,
        seed=config.seed,
        policy_kwargs=config.policy_kwargs(),
        device="cpu",
        verbose=0,
        **dict(config.hyperparameters),
    )


def restore(
    config: TrainConfig,
    parameters: Mapping[str, torch.Tensor],
    optimizer: Mapping[str, Any],
    steps: int,
) -> Any:
    """The config's learner as a run left it after ``steps`` steps: its policy parameters and
    its optimizer's state (state dicts of tensors, as :class:`_Checkpoints` saves them).

    Training continues from here with ``learn(..., reset_num_timesteps=False)``. The training
    envs restart from fresh levels, seeded with ``config.seed + steps`` (the rollout left
    unfinished at the checkpoint is not restored), so a continued run is reproducible from the
    same checkpoint but not bit-identical to an uninterrupted one.
    """
    venv = vec_env(config)
    venv.seed(config.seed + steps)
    model = learner(config, venv)
    model.policy.load_state_dict(parameters, strict=True)
    model.policy.optimizer.load_state_dict(optimizer)
    model.num_timesteps = steps
    return model


def train(
    config: TrainConfig,
    models_dir: Path = MODELS_DIR,
    progress: bool = True,
    position: int = 0,
    checkpoints: Path | None = None,
    checkpoint_every: int = 250_000,
    model: Any = None,
    seconds_before: float = 0.0,
) -> dict[str, Any]:
    """Train one agent, save it under ``models_dir`` and return its manifest entry.

    With ``checkpoints``, the policy's parameters are also saved there every
    ``checkpoint_every`` steps (for learning curves, see :mod:`avec.curves`). With ``model``
    (from :func:`restore`), training continues it up to ``config.total_timesteps``;
    ``seconds_before`` is the wall time it had already cost.
    """
    torch.set_num_threads(1)
    start = time.perf_counter()
    resumed = model is not None
    if not resumed:
        model = learner(config)
        if config.warm_start is not None:
            warm_start(model, config, checkpoints)
    callbacks: list[BaseCallback] = []
    if progress:
        callbacks.append(_ProgressBar(config.total_timesteps, config.id, position))
    if checkpoints is not None:
        callbacks.append(_Checkpoints(checkpoints, checkpoint_every, model.num_timesteps))
    model.learn(
        config.total_timesteps - model.num_timesteps,
        callback=callbacks,
        reset_num_timesteps=not resumed,
    )
    return record(model, config, models_dir, seconds_before + time.perf_counter() - start)


WARM_START_FILE = "warm_start.json"
"""What cloning did (:func:`avec.cloning.clone`), kept in a run's checkpoint folder."""


def warm_start(model: Any, config: TrainConfig, checkpoints: Path | None) -> dict[str, Any]:
    """Clone the shortest-path move into a fresh ``model`` (:mod:`avec.cloning`). With a
    checkpoint folder, the clone is saved there as the checkpoint at 0 steps (a learning curve
    starts from it; a run stopped before its first PPO checkpoint resumes from it) and what
    cloning did as :data:`WARM_START_FILE`."""
    done = cloning.clone(model, config.family, config.size, config.warm_start, config.seed)
    if checkpoints is not None:
        checkpoints.mkdir(parents=True, exist_ok=True)
        atomic.write_text(checkpoints / WARM_START_FILE, json.dumps(done, indent=2) + "\n")
        policy = model.policy
        save_checkpoint(checkpoints, 0, policy.state_dict(), policy.optimizer.state_dict())
    return done


def made_by(config: TrainConfig) -> str:
    """One line on how an agent of ``config`` was made, for the manifest and README."""
    rl = f"{config.algo} for {config.total_timesteps:,} steps"
    if config.warm_start is None:
        return f"{rl} from a random initialisation"
    clone = config.warm_start
    return (
        f"behaviour cloning of the shortest-path move to the cheese on {clone.states:,} states "
        f"of training levels ({clone.epochs} epochs), then {rl}"
    )


def record(
    model: Any,
    config: TrainConfig,
    models_dir: Path,
    train_seconds: float,
    mazes: int | None = None,
) -> dict:
    """Save a trained ``model`` of ``config`` as ``models_dir/<id>.zip`` and return its
    manifest entry, with its held-out evaluation and whether it meets the recipe's bar.

    With ``mazes``, the entry also has the maze paper's statistics on that many held-out mazes
    (:func:`avec.evaluation.maze_statistics`); a two-drive recipe always has them (on
    ``eval_episodes`` mazes unless ``mazes`` says otherwise) and meets its bar only with both
    drives."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / f"{config.id}.zip"
    saved = io.BytesIO()
    model.save(saved)
    atomic.write_bytes(path, saved.getvalue())
    entry = {
        "id": config.id,
        "file": path.name,
        "sha256": zoo.sha256(path),
        "env_id": config.env_id,
        "minigrid_env_id": _minigrid_id(config),
        "observation_wrappers": list(config.wrappers),
        "algo": config.algo,
        "policy": config.policy,
        "architecture": zoo.architecture(model),
        "policy_kwargs": zoo.policy_kwargs(config.policy, config.net_arch, config.features_dim),
        "seed": config.seed,
        "timesteps": int(model.num_timesteps),
        "config": config.to_dict(),
        "made_by": made_by(config),
        "train_seconds": round(train_seconds, 1),
        "versions": versions(),
        "evaluation": evaluation.evaluate(model, config, config.eval_episodes),
    }
    succeeds = entry["evaluation"]["held_out"]["success_rate"] >= config.success_bar
    entry["meets_bar"] = succeeds
    if config.two_drives and mazes is None:
        mazes = config.eval_episodes
    if mazes is not None:
        statistics = evaluation.maze_statistics(model, config, mazes)
        entry["maze_statistics"] = {"mazes": mazes, **statistics}
        if config.two_drives:
            entry["drives"] = evaluation.drive_checks(statistics)
            entry["meets_bar"] = succeeds and entry["drives"]["both"]
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
    return families.get(config.family).minigrid_id(config.size)


__all__ = [
    "MODELS_DIR",
    "ZOO_CONFIG",
    "TrainConfig",
    "load_zoo_config",
    "train",
    "made_by",
    "untrained",
    "vec_env",
    "warm_start",
]
