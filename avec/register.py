"""Registering an existing stable-baselines3 checkpoint into a models folder (``avec zoo add``).

A researcher's own agent -- saved by their SB3 script, or by rl-baselines3-zoo -- becomes a
manifest entry like the zoo's own: sha256, architecture, held-out evaluation, and the config
needed to rebuild it. Nothing in the files is unpickled as code: they are read by
:mod:`avec.rlzoo` (the zip's readable ``data`` JSON, safe YAML, an allow-list unpickler for
``vecnormalize.pkl``) and :mod:`avec.zoo` (tensors only); the entry records the observation
normalisation and :func:`avec.zoo.load` applies it as the agent was trained.

Observation fidelity: the zip's ``data`` records the observation space the policy was trained
on (after ``VecNormalize`` it is float32 and *not* transposed; a uint8 image SB3 transposes to
channels first). The entry records it and the policy is built on it; then, before anything is
written, the action probabilities of the agent as avec loads it are compared with those of an
SB3 policy built on that space, fed MiniGrid's own observations normalised as ``VecNormalize``
does: a difference over :data:`FIDELITY_TOLERANCE` is refused.

Ids are ``<name>-s<seed>`` (the claims read a training seed from the suffix): derived from
``args.yml``'s ``algo``, ``env`` and ``seed``, or given with ``--id``. An id already in the
manifest is replaced only with ``force``; everything is validated before the checkpoint and
entry are written (each atomically).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from avec import engine, envs, evaluation, families, rollouts, training, zoo
from avec.rlzoo import read_run

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*-s[0-9]+$")
FIDELITY_TOLERANCE = 1e-5
"""Largest difference in any action probability between avec's agent and SB3's (float32
rounding of the same computation in another order)."""
FIDELITY_OBSERVATIONS = 32


def minigrid_ids() -> dict[str, tuple[str, int]]:
    """MiniGrid's own env ids whose levels an avec family builds: ``id -> (family, size)``."""
    return {
        spec.minigrid_id(size): (name, size)
        for name, spec in families.FAMILIES.items()
        for size in spec.sizes
        if spec.minigrid_id(size) is not None
    }


def family_of(env_id: str) -> tuple[str, int, str]:
    """``(family, size, avec env id)`` of an avec or MiniGrid env id avec has layouts for."""
    known = minigrid_ids()
    if env_id in known:
        family, size = known[env_id]
        return family, size, envs.env_id(family, size)
    zoo.check_env_id(env_id)
    try:
        env = envs.make(env_id, wrappers=())
    except Exception as error:  # gymnasium raises its own error types for unknown ids
        raise zoo.CheckpointError(f"unknown env id {env_id!r}: {error}") from None
    family = getattr(env.unwrapped, "family", None)
    if family is None:
        raise zoo.CheckpointError(
            f"{env_id} is neither an avec env nor a MiniGrid env avec has layouts for "
            f"({', '.join(sorted(known))})"
        )
    return family, int(env.unwrapped.width), env_id


def recipe_bar(family: str, size: int) -> float | None:
    """The success bar of avec's own recipes for this kind of level (the lowest, if several),
    or None if avec trains none."""
    bars = [
        c.success_bar
        for c in training.load_zoo_config().values()
        if (c.family, c.size) == (family, size)
    ]
    return min(bars) if bars else None


def model_id_of(args: dict[str, Any], env_id: str, given: str | None) -> str:
    """``given``, or ``<algo>-<env>-s<seed>`` from rl-zoo's ``args.yml``; refused without a
    ``-s<N>`` seed suffix."""
    if given is None:
        if "seed" not in args or not isinstance(args["seed"], int):
            raise zoo.CheckpointError(
                "no model id: give --id NAME-s<SEED> (no args.yml with an integer seed to "
                "derive one from)"
            )
        name = env_id.removeprefix("MiniGrid-").removeprefix("avec/").lower().replace("/", "-")
        given = f"{str(args.get('algo', 'model')).lower()}-{name}-s{args['seed']}"
    if not ID_PATTERN.match(given):
        raise zoo.CheckpointError(
            f"model id {given!r} must be NAME-s<SEED> (letters, digits, '.', '_', '-', then "
            "-s and the training seed), e.g. ppo-doorkey-5x5-s0"
        )
    return given


def load_run(
    path: Path,
    env_id: str,
    wrappers: list[str] | None = None,
    model_id: str | None = None,
    bar: float | None = None,
    file: str | None = None,
) -> zoo.Agent:
    """The agent of an SB3 zip or rl-zoo run folder with its manifest entry built in memory
    (no evaluation), loaded safely and checked for observation fidelity; nothing is written.
    ``bar`` None: no success bar recorded (a one-off look in a notebook)."""
    family, size, avec_env = family_of(env_id)
    checkpoint, recipe, args, wrappers, normalization = read_run(path, env_id, wrappers)
    if engine.backend() == "engine":
        try:
            engine.view_of(wrappers)
        except ValueError as error:
            raise zoo.CheckpointError(
                f"{error}; set AVEC_BACKEND=minigrid to play them in MiniGrid itself (slower)"
            ) from None
    if model_id is None:
        seeded = isinstance(args.get("seed"), int)
        model_id = model_id_of(args, env_id, None) if seeded else Path(path).stem
    config: dict[str, Any] = {
        "family": family,
        "size": size,
        "source": str(Path(path).resolve()),
        "training_kwargs": recipe["training_kwargs"],
    }
    if bar is not None:
        config["success_bar"] = bar
    if ID_PATTERN.match(model_id):
        config["seed"] = int(model_id.rsplit("-s", 1)[1])
    entry: dict[str, Any] = {
        "id": model_id,
        "file": file or checkpoint.name,
        "sha256": zoo.sha256(checkpoint),
        "env_id": avec_env,
        "minigrid_env_id": env_id if env_id != avec_env else None,
        "observation_wrappers": wrappers,
        "observation_space": recipe["observation_space"],
        "algo": recipe["algo"],
        "policy": recipe["policy"],
        "policy_kwargs": recipe["policy_kwargs"],
        "config": config,
        "versions": training.versions(),
    }
    if normalization:
        entry["observation_normalization"] = normalization
    entry["architecture"] = zoo.architecture(zoo.build(entry))
    agent = zoo.Agent(model_id, entry, zoo.load_checkpoint(checkpoint, entry))
    check_fidelity(agent, checkpoint, env_id)
    return agent


def add(
    path: Path,
    env_id: str,
    wrappers: list[str] | None = None,
    models_dir: Path = zoo.MODELS_DIR,
    model_id: str | None = None,
    episodes: int = 200,
    bar: float | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Validate a checkpoint (safe reading, observation fidelity, evaluation), then copy it into
    ``models_dir`` and write its manifest entry; nothing is written unless all of it passes."""
    family, size, _ = family_of(env_id)
    checkpoint, _, args, _, _ = read_run(path, env_id, wrappers)
    model_id = model_id_of(args, env_id, model_id)
    models_dir = Path(models_dir)
    existing = zoo.manifest(models_dir) if (models_dir / "manifest.json").is_file() else {}
    if model_id in existing and not force:
        raise zoo.CheckpointError(
            f"{model_id} is already in {models_dir / 'manifest.json'}: pass --force to replace "
            f"it, or `avec zoo remove {model_id} --models-dir {models_dir}`"
        )
    if bar is None:
        bar = recipe_bar(family, size)
        if bar is None:
            raise zoo.CheckpointError(
                f"avec trains no {family} {size}x{size} agent to take a success bar from: "
                "give --bar (the held-out success rate the agent must reach to be judged)"
            )
    if not 0.0 <= bar <= 1.0:
        raise zoo.CheckpointError(f"--bar must be a success rate in [0, 1], got {bar}")
    target = zoo.checkpoint_path(models_dir, f"{model_id}.zip")
    agent = load_run(path, env_id, wrappers, model_id, bar, file=target.name)
    entry = agent.entry
    entry["evaluation"] = evaluation.evaluate(agent.model, agent, episodes)
    entry["meets_bar"] = entry["evaluation"]["held_out"]["success_rate"] >= bar
    models_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint.resolve() != target.resolve():
        _copy_checked(checkpoint, target, entry["sha256"])
    zoo.write_entry(entry, models_dir)
    return entry


def _copy_checked(source: Path, target: Path, digest: str) -> None:
    """Copy ``source`` to ``target`` in chunks (a temporary file renamed into place), refused
    if the bytes copied are not the ones validated (sha256 ``digest``)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        sha = hashlib.sha256()
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                sha.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if sha.hexdigest() != digest:
            raise zoo.CheckpointError(f"{source} changed while it was being registered")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def remove(model_id: str, models_dir: Path) -> dict[str, Any]:
    """Drop a model's manifest entry and its checkpoint; returns the entry removed."""
    entry = zoo.remove_entry(model_id, Path(models_dir))
    zoo.checkpoint_path(Path(models_dir), entry["file"]).unlink(missing_ok=True)
    return entry


def fidelity_observations(env_id: str, wrappers: list[str], n: int) -> np.ndarray:
    """``n`` observations of MiniGrid's own env (through the agent's wrappers): the first
    observations of held-out seeds and the states a few random steps after them."""
    env = envs.make(env_id, wrappers)
    rng = np.random.default_rng(0)
    out = []
    seed = envs.HELD_OUT_SEED_START
    while len(out) < n:
        obs, _ = env.reset(seed=seed)
        out.append(obs)
        for _ in range(3):
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            if terminated or truncated:
                break
            out.append(obs)
        seed += 1
    env.close()
    return np.stack(out[:n])


def sb3_probabilities(agent: zoo.Agent, checkpoint: Path, raw: np.ndarray) -> np.ndarray:
    """What SB3 itself computes for raw wrapper observations: the agent's policy class built
    directly on the observation space the checkpoint records (not through avec's env), its
    tensors loaded, observations normalised in numpy as ``VecNormalize.normalize_obs`` does."""
    entry = agent.entry
    recorded = entry["observation_space"]
    dtype = np.dtype(recorded["dtype"])
    low, high = (0, 255) if dtype == np.uint8 else (-np.inf, np.inf)
    space = gym.spaces.Box(low, high, tuple(recorded["shape"]), dtype)
    policy = type(agent.model.policy)(
        space,
        agent.model.action_space,
        lambda _: 0.0,
        **zoo.resolve_policy_kwargs(entry["policy_kwargs"]),
    )
    policy.load_state_dict(zoo.read_policy_tensors(checkpoint, entry["algo"]))
    policy.set_training_mode(False)
    obs = raw.astype(np.float32)
    norm = entry.get("observation_normalization")
    if norm:
        mean, var = np.asarray(norm["mean"]), np.asarray(norm["var"])
        obs = np.clip(
            (obs - mean) / np.sqrt(var + norm["epsilon"]), -norm["clip"], norm["clip"]
        ).astype(np.float32)
    with torch.no_grad():
        obs_t, _ = policy.obs_to_tensor(obs)
        if hasattr(policy, "get_distribution"):
            return policy.get_distribution(obs_t).distribution.probs.numpy()
        q = policy.q_net(obs_t).numpy()
    return np.eye(q.shape[1], dtype=np.float32)[q.argmax(axis=1)]


def check_fidelity(agent: zoo.Agent, checkpoint: Path, env_id: str) -> float:
    """Largest difference between avec's and SB3's action probabilities on MiniGrid's own
    observations; refused over :data:`FIDELITY_TOLERANCE`."""
    if gym.registry.get(env_id) is None:
        env_id = agent.entry["env_id"]
    raw = fidelity_observations(env_id, list(agent.wrappers), FIDELITY_OBSERVATIONS)
    ours = rollouts.action_probabilities(agent, raw)
    theirs = sb3_probabilities(agent, checkpoint, raw)
    gap = float(np.abs(ours - theirs).max())
    if gap > FIDELITY_TOLERANCE:
        raise zoo.CheckpointError(
            f"{checkpoint}: avec's action probabilities differ from SB3's by up to {gap:.3g} on "
            f"{len(raw)} observations of {env_id}: avec does not reproduce the observations "
            "the agent was trained on"
        )
    return gap


__all__ = [
    "add",
    "check_fidelity",
    "family_of",
    "load_run",
    "model_id_of",
    "recipe_bar",
    "remove",
]
