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
  normalises observations as the agent was trained.

rl-baselines3-zoo's folder layout, e.g. ``logs/ppo/MiniGrid-DoorKey-5x5-v0_1/``::

    MiniGrid-DoorKey-5x5-v0.zip
    MiniGrid-DoorKey-5x5-v0/config.yml
    MiniGrid-DoorKey-5x5-v0/args.yml
    MiniGrid-DoorKey-5x5-v0/vecnormalize.pkl     (where normalisation was used)
"""

from __future__ import annotations

import ast
import json
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from avec import envs, families, training, zoo


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
        raise zoo.CheckpointError(f"{path} is not YAML avec can read safely: {error}") from None
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
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, OSError, json.JSONDecodeError) as error:
        raise zoo.CheckpointError(f"{path} is not an SB3 checkpoint: {error}") from None
    policy_class = data.get("policy_class", {})
    init = policy_class.get("__init__", "") if isinstance(policy_class, dict) else ""
    policy = "cnn" if "Cnn" in init else "mlp"
    raw = data.get("policy_kwargs", {})
    kwargs = {key: _readable(value) for key, value in raw.items() if not key.startswith(":")}
    if "clip_range" in data:
        algo = "PPO"
    elif "target_update_interval" in data:
        algo = "DQN"
    elif "n_steps" in data:
        algo = "A2C"
    else:
        raise zoo.CheckpointError(f"{path}: cannot tell its algorithm (PPO, A2C or DQN)")
    return {"algo": algo, "policy": policy, "policy_kwargs": kwargs}


def family_of(env_id: str) -> tuple[str, int, str]:
    """``(family, size, avec env id)`` of an avec or MiniGrid env id avec has layouts for."""
    known = minigrid_ids()
    if env_id in known:
        family, size = known[env_id]
        return family, size, envs.env_id(family, size)
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


def add(
    path: Path,
    env_id: str,
    wrappers: list[str] | None = None,
    models_dir: Path = zoo.MODELS_DIR,
    model_id: str | None = None,
    episodes: int = 200,
) -> dict[str, Any]:
    """Copy a checkpoint into ``models_dir``, evaluate it and write its manifest entry."""
    checkpoint, params = find_files(Path(path), env_id)
    recipe = checkpoint_recipe(checkpoint)
    normalization: dict[str, Any] = {}
    if params is not None:
        args = read_yaml(params / "args.yml") if (params / "args.yml").is_file() else {}
        config = read_yaml(params / "config.yml") if (params / "config.yml").is_file() else {}
        if args.get("algo"):
            recipe["algo"] = str(args["algo"]).upper()
        if wrappers is None and config.get("env_wrapper"):
            listed = config["env_wrapper"]
            wrappers = [listed] if isinstance(listed, str) else list(listed)
        if (params / "vecnormalize.pkl").is_file():
            normalization = read_vecnormalize(params / "vecnormalize.pkl")
    wrappers = list(wrappers or [])
    if not all(isinstance(w, str) for w in wrappers):
        raise zoo.CheckpointError(f"wrappers must be dotted names without arguments: {wrappers}")
    family, size, avec_env = family_of(env_id)
    model_id = model_id or f"{checkpoint.parent.name if params else checkpoint.stem}"
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = zoo.checkpoint_path(models_dir, f"{model_id}.zip")
    if checkpoint.resolve() != target.resolve():
        shutil.copyfile(checkpoint, target)
    entry: dict[str, Any] = {
        "id": model_id,
        "file": target.name,
        "sha256": zoo.sha256(target),
        "env_id": avec_env,
        "minigrid_env_id": env_id if env_id != avec_env else None,
        "observation_wrappers": wrappers,
        "algo": recipe["algo"],
        "policy": recipe["policy"],
        "policy_kwargs": recipe["policy_kwargs"],
        "config": {"family": family, "size": size, "source": str(Path(path).resolve())},
        "versions": training.versions(),
    }
    if normalization:
        entry["observation_normalization"] = normalization
    entry["architecture"] = zoo.architecture(zoo.build(entry))
    agent = zoo.Agent(model_id, entry, zoo.load_checkpoint(target, entry))
    entry["evaluation"] = training.evaluate(agent.model, agent, episodes)
    zoo.write_entry(entry, models_dir)
    return entry


__all__ = ["add", "checkpoint_recipe", "family_of", "read_vecnormalize", "read_yaml"]
