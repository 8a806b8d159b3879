"""Registering an existing stable-baselines3 checkpoint into a models folder (``avec zoo add``).

A researcher's own agent -- saved by their SB3 script, or by rl-baselines3-zoo -- becomes a
manifest entry like the zoo's own: sha256, architecture, held-out evaluation, and the config
needed to rebuild it. Nothing in the files is unpickled as code:

* the policy's class and kwargs are read from the *readable* part of the zip's ``data``
  member (SB3 writes a JSON object whose unpicklable values come with their ``repr``), parsed
  with :func:`ast.literal_eval` and an allow-list of classes (:mod:`avec.zoo`);
* rl-baselines3-zoo's ``config.yml`` / ``args.yml`` are YAML dumps of ``OrderedDict``: read by
  a safe loader that knows only that one Python tag;
* its ``vecnormalize.pkl`` (a pickled ``VecNormalize``) is read by an unpickler whose
  ``find_class`` allows numpy's array reconstruction and a few inert state holders, so only
  the running mean and variance come out; the entry records them and :func:`avec.zoo.load`
  normalises observations as the agent was trained. A seeded VecEnv pickles its spaces'
  ``Generator(PCG64)``: bit generators and seed sequences are inert state and allowed.

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

rl-baselines3-zoo's folder layout, e.g. ``logs/ppo/MiniGrid-DoorKey-5x5-v0_1/``::

    MiniGrid-DoorKey-5x5-v0.zip
    MiniGrid-DoorKey-5x5-v0/config.yml
    MiniGrid-DoorKey-5x5-v0/args.yml
    MiniGrid-DoorKey-5x5-v0/vecnormalize.pkl     (where normalisation was used)
"""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import yaml

from avec import atomic, engine, envs, families, rollouts, training, zoo

ALGOS = ("PPO", "A2C", "DQN")
"""Algorithms avec judges: discrete-action agents (SAC, TD3, DDPG act continuously)."""
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*-s[0-9]+$")
FIDELITY_TOLERANCE = 1e-5
"""Largest difference in any action probability between avec's agent and SB3's (float32
rounding of the same computation in another order)."""
FIDELITY_OBSERVATIONS = 32
# Kwargs of training only: the optimizer does not act, so its class is recorded, not built.
_TRAINING_KWARGS = ("optimizer_class", "optimizer_kwargs")


def minigrid_ids() -> dict[str, tuple[str, int]]:
    """MiniGrid's own env ids whose levels an avec family builds: ``id -> (family, size)``."""
    return {
        spec.minigrid_id(size): (name, size)
        for name, spec in families.FAMILIES.items()
        for size in spec.sizes
        if spec.minigrid_id(size) is not None
    }


class _OrderedDictLoader(yaml.SafeLoader):
    """YAML's safe loader plus rl-baselines3-zoo's one Python tag (an ``OrderedDict``)."""


def _ordered_dict(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    (pairs,) = loader.construct_sequence(node, deep=True)
    return {key: value for key, value in pairs}


_OrderedDictLoader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered_dict
)


def read_yaml(path: Path) -> dict[str, Any]:
    """An rl-baselines3-zoo ``config.yml`` or ``args.yml`` as a dict, read safely."""
    try:
        data = yaml.load(path.read_text(), Loader=_OrderedDictLoader)
    except yaml.YAMLError as error:
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise zoo.CheckpointError(
            f"{path} is not YAML avec can read safely{where}: {problem}"
        ) from None
    if not isinstance(data, dict):
        raise zoo.CheckpointError(f"{path} is not a mapping of hyperparameters")
    return data


class _State:
    """Stands in for an allowed class while unpickling: keeps its state, runs nothing."""

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray

# A pickle written under numpy 1 names numpy.core, under numpy 2 numpy._core.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
_STATE_HOLDERS = {
    ("stable_baselines3.common.vec_env.vec_normalize", "VecNormalize"),
    ("stable_baselines3.common.running_mean_std", "RunningMeanStd"),
    ("gymnasium.spaces.box", "Box"),
    ("gymnasium.spaces.discrete", "Discrete"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("collections", "OrderedDict"),
    # A seeded space's Generator: bit-generator state and seed sequences are plain numbers.
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._pcg64", "PCG64DXSM"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._philox", "Philox"),
    ("numpy.random._sfc64", "SFC64"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[module, name]
        if (module, name) in _STATE_HOLDERS:
            return _State
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a vecnormalize.pkl")


def read_vecnormalize(path: Path) -> dict[str, Any]:
    """The observation normalisation a ``vecnormalize.pkl`` holds, without running its code:
    ``{"mean", "var", "epsilon", "clip"}`` (lists and floats), or ``{}`` if observations were
    not normalised."""
    try:
        with open(path, "rb") as f:
            saved = _Unpickler(f).load()
        state = saved.state
        rms = state["obs_rms"].state
        normalised = bool(state.get("norm_obs", True))
        result = {
            "mean": np.asarray(rms["mean"], dtype=np.float64).tolist(),
            "var": np.asarray(rms["var"], dtype=np.float64).tolist(),
            "epsilon": float(state["epsilon"]),
            "clip": float(state["clip_obs"]),
        }
    except (pickle.UnpicklingError, AttributeError, KeyError, TypeError, EOFError) as error:
        raise zoo.CheckpointError(f"{path} is refused: {error}") from None
    return result if normalised else {}


def _readable(value: Any) -> Any:
    """A value of SB3's ``data`` JSON: as is, or literal-evaluated from its repr."""
    if not isinstance(value, str):
        return value
    if value.startswith("<class '") and value.endswith("'>"):
        return value[len("<class '") : -2]
    return ast.literal_eval(value)


def checkpoint_recipe(path: Path) -> dict[str, Any]:
    """Algorithm, policy kind and policy kwargs of an SB3 zip, from its ``data`` JSON only."""
    try:
        data = json.loads(zoo.read_zip_member(path, "data"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise zoo.CheckpointError(f"{path} is not an SB3 checkpoint: {error}") from None
    if not isinstance(data, dict):
        raise zoo.CheckpointError(f"{path} is not an SB3 checkpoint: its data is not an object")
    policy_class = data.get("policy_class", {})
    init = policy_class.get("__init__", "") if isinstance(policy_class, dict) else ""
    policy = "cnn" if "Cnn" in init else "mlp"
    raw = data.get("policy_kwargs", {})
    try:
        kwargs = {key: _readable(value) for key, value in raw.items() if not key.startswith(":")}
    except (ValueError, SyntaxError) as error:
        raise zoo.CheckpointError(f"{path}: unreadable policy kwargs: {error}") from None
    training_only = {key: str(kwargs.pop(key)) for key in _TRAINING_KWARGS if key in kwargs}
    space = data.get("observation_space", {})
    if not (isinstance(space, dict) and "_shape" in space and "dtype" in space):
        raise zoo.CheckpointError(f"{path}: its data records no observation shape and dtype")
    if "clip_range" in data:
        algo = "PPO"
    elif "target_update_interval" in data:
        algo = "DQN"
    elif "n_steps" in data:
        algo = "A2C"
    else:
        raise zoo.CheckpointError(f"{path}: cannot tell its algorithm (PPO, A2C or DQN)")
    return {
        "algo": algo,
        "policy": policy,
        "policy_kwargs": kwargs,
        "training_kwargs": training_only,
        "observation_space": {"shape": list(space["_shape"]), "dtype": str(space["dtype"])},
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


def find_files(path: Path, env_id: str) -> tuple[Path, Path | None]:
    """The checkpoint and (rl-baselines3-zoo layout) its hyperparameter folder."""
    path = Path(path)
    if path.is_file():
        return path, None
    if not path.is_dir():
        raise zoo.CheckpointError(f"{path} does not exist")
    zips = [path / f"{env_id}.zip", path / "best_model.zip"]
    found = next((z for z in zips if z.is_file()), None)
    if found is None:
        raise zoo.CheckpointError(f"{path} holds neither {env_id}.zip nor best_model.zip")
    params = path / env_id
    return found, params if params.is_dir() else None


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


def read_run(
    path: Path, env_id: str, wrappers: list[str] | None
) -> tuple[Path, dict[str, Any], dict[str, Any], list[str], dict[str, Any]]:
    """Checkpoint, recipe (:func:`checkpoint_recipe`), args.yml, wrappers and normalisation of
    an SB3 zip or rl-zoo run folder; a bare zip needs its wrappers given."""
    checkpoint, params = find_files(Path(path), env_id)
    recipe = checkpoint_recipe(checkpoint)
    args: dict[str, Any] = {}
    normalization: dict[str, Any] = {}
    if params is None and wrappers is None:
        raise zoo.CheckpointError(
            f"{checkpoint} is a bare checkpoint: give its observation wrappers with --wrappers "
            "(e.g. minigrid.wrappers.ImgObsWrapper)"
        )
    if params is not None:
        args = read_yaml(params / "args.yml") if (params / "args.yml").is_file() else {}
        config = read_yaml(params / "config.yml") if (params / "config.yml").is_file() else {}
        if args.get("algo"):
            algo = str(args["algo"]).upper()
            if algo not in ALGOS:
                raise zoo.CheckpointError(
                    f"{params / 'args.yml'}: algo {args['algo']!r} is not judged by avec; valid: "
                    f"{', '.join(a.lower() for a in ALGOS)} (MiniGrid's actions are discrete)"
                )
            recipe["algo"] = algo
        if wrappers is None:
            listed = config.get("env_wrapper") or []
            wrappers = [listed] if isinstance(listed, str) else list(listed)
        pkl = params / "vecnormalize.pkl"
        if config.get("normalize") and not pkl.is_file():
            raise zoo.CheckpointError(
                f"{params / 'config.yml'} says normalize but {pkl} is missing"
            )
        if pkl.is_file():
            normalization = read_vecnormalize(pkl)
    wrappers = list(wrappers or [])
    if not all(isinstance(w, str) for w in wrappers):
        raise zoo.CheckpointError(f"wrappers must be dotted names without arguments: {wrappers}")
    return checkpoint, recipe, args, wrappers, normalization


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
    family, size, avec_env = family_of(env_id)
    checkpoint, recipe, args, wrappers, normalization = read_run(path, env_id, wrappers)
    if engine.backend() == "engine":
        try:
            engine.view_of(wrappers)
        except ValueError as error:
            raise zoo.CheckpointError(
                f"{error}; set AVEC_BACKEND=minigrid to play them in MiniGrid itself (slower)"
            ) from None
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
    entry: dict[str, Any] = {
        "id": model_id,
        "file": target.name,
        "sha256": zoo.sha256(checkpoint),
        "env_id": avec_env,
        "minigrid_env_id": env_id if env_id != avec_env else None,
        "observation_wrappers": wrappers,
        "observation_space": recipe["observation_space"],
        "algo": recipe["algo"],
        "policy": recipe["policy"],
        "policy_kwargs": recipe["policy_kwargs"],
        "config": {
            "family": family,
            "size": size,
            "success_bar": bar,
            "seed": int(model_id.rsplit("-s", 1)[1]),
            "source": str(Path(path).resolve()),
            "training_kwargs": recipe["training_kwargs"],
        },
        "versions": training.versions(),
    }
    if normalization:
        entry["observation_normalization"] = normalization
    entry["architecture"] = zoo.architecture(zoo.build(entry))
    agent = zoo.Agent(model_id, entry, zoo.load_checkpoint(checkpoint, entry))
    check_fidelity(agent, checkpoint, env_id)
    entry["evaluation"] = training.evaluate(agent.model, agent, episodes)
    entry["meets_bar"] = entry["evaluation"]["held_out"]["success_rate"] >= bar
    data = checkpoint.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise zoo.CheckpointError(f"{checkpoint} changed while it was being registered")
    models_dir.mkdir(parents=True, exist_ok=True)
    if checkpoint.resolve() != target.resolve():
        atomic.write_bytes(target, data)
    zoo.write_entry(entry, models_dir)
    return entry


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
    "ALGOS",
    "add",
    "check_fidelity",
    "checkpoint_recipe",
    "family_of",
    "model_id_of",
    "read_run",
    "read_vecnormalize",
    "read_yaml",
    "recipe_bar",
    "remove",
]
