"""Reading an rl-baselines3-zoo run folder (or a bare SB3 zip) without running any of it.

* the policy's class, kwargs and observation space are read from the *readable* part of the
  zip's ``data`` member (SB3 writes a JSON object whose unpicklable values come with their
  ``repr``), parsed with :func:`ast.literal_eval` and an allow-list of classes
  (:mod:`avec.zoo`); training-only kwargs (``optimizer_class``) are kept as names;
* rl-baselines3-zoo's ``config.yml`` / ``args.yml`` are YAML dumps of ``OrderedDict``: read by
  a safe loader that knows only that one Python tag;
* its ``vecnormalize.pkl`` (a pickled ``VecNormalize``) is read by an unpickler whose
  ``find_class`` allows numpy's array reconstruction and a few inert state holders -- spaces,
  running statistics, and the ``Generator(PCG64)`` / ``SeedSequence`` state a seeded VecEnv
  pickles -- so only the running mean and variance come out. Nothing callable is allowed.

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
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from avec import zoo

ALGOS = ("PPO", "A2C", "DQN")
"""Algorithms avec judges: discrete-action agents (SAC, TD3, DDPG act continuously)."""
# Kwargs of training only: the optimizer does not act, so its class is recorded, not built.
_TRAINING_KWARGS = ("optimizer_class", "optimizer_kwargs")


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


__all__ = ["ALGOS", "checkpoint_recipe", "find_files", "read_run", "read_vecnormalize", "read_yaml"]
