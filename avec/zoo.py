"""A models folder: ``manifest.json`` and its checkpoints, loaded without running their code.

The manifest (schema 1) maps each model id to an entry recording how the model was made (the
full config, library versions, wall-clock seconds), the sha256 of its checkpoint, its
architecture and a held-out evaluation. This module owns that file: it reads and validates it,
writes it atomically (a temporary file renamed into place, so a reader never sees half of one),
and loads its models.

Why loading never unpickles: stable-baselines3's ``Algorithm.load`` unpickles the zip's ``data``
member with cloudpickle, so a crafted checkpoint runs arbitrary code on load -- and a sha256
beside it in the manifest proves nothing when both were replaced together. :func:`load` builds
the policy from the entry's recorded config (algorithm, env, wrappers, policy kwargs) and reads
only the tensors of the zip's ``policy.pth`` with ``torch.load(weights_only=True)``; the
``data`` member is never read. The file's sha256, its parameters' shapes and the built
policy's classes are checked against the entry, and a manifest ``file`` must lie inside the
models folder. Nothing is imported by a name the manifest holds: its ``env_id`` must be one avec
registers or MiniGrid's own (gymnasium imports the module of a ``module:id`` name), and a zip
member is read only within size caps (:mod:`avec.checkpoints`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from stable_baselines3.common import torch_layers
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.preprocessing import is_image_space

from avec import atomic, envs, policies
from avec.checkpoints import (
    CheckpointError,
    read_optimizer_state,
    read_policy_tensors,
    read_zip_member,
)

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT / "fixtures" / "models"
SCHEMA = 1

_REQUIRED = ("file", "sha256", "algo", "env_id", "observation_wrappers", "architecture")
_POLICY_NAMES = {"mlp": "MlpPolicy", "cnn": "CnnPolicy", "impala": "CnnPolicy"}
# Classes a manifest may name in its policy kwargs: resolved from this table, never imported
# by whatever dotted name the file holds.
_CLASSES: dict[str, type] = {
    f"{cls.__module__}.{cls.__qualname__}": cls
    for cls in (
        policies.GridCNN,
        policies.ImpalaCNN,
        torch_layers.FlattenExtractor,
        torch_layers.NatureCNN,
        torch.nn.Tanh,
        torch.nn.ReLU,
        torch.nn.LeakyReLU,
        torch.nn.ELU,
        torch.nn.GELU,
        torch.nn.SiLU,
    )
}
# Wrappers are imported by name: only from these packages.
_WRAPPER_MODULES = ("minigrid.wrappers.", "gymnasium.wrappers.", "avec.")
# Env ids are made only if gymnasium builds them from these packages' own classes.
_ENV_PACKAGES = ("avec.", "minigrid.")
# Only the policy is needed to act; the training buffers are kept minimal.
_INFERENCE_KWARGS = {"DQN": {"buffer_size": 1}}


@dataclass(frozen=True)
class Agent:
    """A trained model and its manifest entry."""

    id: str
    """Model id, e.g. ``doorkey5-ppo-mlp-s0``."""
    entry: dict[str, Any]
    """The model's manifest entry."""
    model: BaseAlgorithm
    """The loaded stable-baselines3 model (on the CPU)."""

    @property
    def family(self) -> str:
        return self.entry["config"]["family"]

    @property
    def size(self) -> int:
        return int(self.entry["config"]["size"])

    @property
    def wrappers(self) -> tuple[str, ...]:
        return tuple(self.entry["observation_wrappers"])


# -- the manifest ---------------------------------------------------------------------------


def manifest(models_dir: Path = MODELS_DIR) -> dict[str, dict[str, Any]]:
    """Manifest entries by model id; a :class:`CheckpointError` if the folder or file is
    missing or not a manifest."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise CheckpointError(f"models folder {models_dir} does not exist")
    path = models_dir / "manifest.json"
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; train a model (`avec train ID`) first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not JSON: line {error.lineno}: {error.msg}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise CheckpointError(f"{path} is not a schema-{SCHEMA} manifest")
    models = data.get("models")
    if not isinstance(models, dict):
        raise CheckpointError(f"{path} has no 'models' table")
    for model_id, entry in models.items():
        missing = [key for key in _REQUIRED if key not in entry]
        if missing:
            raise CheckpointError(f"{path}: model {model_id!r} lacks {missing}")
    return models


def model_ids(
    models_dir: Path = MODELS_DIR, family: str | None = None, trained_only: bool = False
) -> list[str]:
    """Ids of the folder's models, optionally of one layout family; with ``trained_only``,
    only those that meet their recipe's success bar (see :func:`below_bar`)."""
    entries = manifest(models_dir)
    below = below_bar(entries) if trained_only else {}
    return [
        model_id
        for model_id, entry in entries.items()
        if (family is None or entry.get("config", {}).get("family") == family)
        and model_id not in below
    ]


def below_bar(entries: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Models whose held-out success misses their recipe's bar, each with a one-line reason.

    The claims judge trained agents only: an agent that does not do its task has no behaviour
    for a vector to edit, so its verdicts would describe the failed training, not the vector.
    """
    below = {}
    for model_id, entry in entries.items():
        if entry.get("meets_bar", True):
            continue
        held_out = entry["evaluation"]["held_out"]
        lo, hi = held_out["success_ci95"]
        if held_out["success_rate"] < entry["config"]["success_bar"]:
            below[model_id] = (
                f"held-out success {held_out['success_rate']:.3f} [{lo:.3f}, {hi:.3f}] is below "
                f"its bar {entry['config']['success_bar']}"
            )
        else:
            below[model_id] = _missing_drives(entry.get("drives"))
    return below


def beside_random(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Held-out success of every agent whose evaluation has the uniform-random policy's on the
    same levels (the maze families, :func:`avec.evaluation.against_random`), overall and by
    maze size, and whether it is judged: success is read beside chance."""
    found = {}
    for model_id, entry in sorted(entries.items()):
        held_out = entry.get("evaluation", {}).get("held_out", {})
        if "random_success_rate" not in held_out:
            continue
        by_size = held_out["by_maze_size"]
        found[model_id] = {
            "episodes": held_out["episodes"],
            "success": held_out["success_rate"],
            "ci95": list(held_out["success_ci95"]),
            "random": held_out["random_success_rate"],
            "by_maze_size": {
                size: [by_size[size]["success_rate"], by_size[size]["random_success_rate"]]
                for size in sorted(by_size, key=int)
            },
            "judged": bool(entry.get("meets_bar", True)),
        }
    return found


def _missing_drives(drives: dict[str, bool] | None) -> str:
    """Why a two-drive maze agent that succeeds is still below its bar."""
    if drives is None:
        return "its two drives were not measured (avec train or python -m avec.curves package)"
    missing = [name for name in ("cheese", "top_right") if not drives[name]]
    return f"it lacks the maze paper's {' and '.join(missing)} drive (avec.evaluation.drive_checks)"


def write_entry(entry: dict[str, Any], models_dir: Path = MODELS_DIR) -> None:
    """Insert or replace one model's entry in ``manifest.json`` (sorted by id), atomically."""
    write_entries([entry], models_dir)


def write_entries(entries: Sequence[dict[str, Any]], models_dir: Path = MODELS_DIR) -> None:
    """Insert or replace several models' entries in ``manifest.json`` in one atomic write."""
    models_dir = Path(models_dir)
    for entry in entries:
        missing = [key for key in ("id", *_REQUIRED) if key not in entry]
        if missing:
            raise CheckpointError(f"manifest entry {entry.get('id')!r} lacks {missing}")
        checkpoint_path(models_dir, entry["file"])
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / "manifest.json"
    # Several `avec train` processes may finish at once: serialise read-modify-write.
    with open(models_dir / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {"schema": SCHEMA, "models": {}}
        for entry in entries:
            data["models"][entry["id"]] = entry
        data["models"] = dict(sorted(data["models"].items()))
        atomic.write_text(path, json.dumps(data, indent=2) + "\n")


def remove_entry(model_id: str, models_dir: Path = MODELS_DIR) -> dict[str, Any]:
    """Drop one model's entry from ``manifest.json`` atomically; returns it."""
    models_dir = Path(models_dir)
    entries = manifest(models_dir)
    if model_id not in entries:
        raise CheckpointError(
            f"no model {model_id!r} in {models_dir / 'manifest.json'}; known: {sorted(entries)}"
        )
    path = models_dir / "manifest.json"
    with open(models_dir / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text())
        entry = data["models"].pop(model_id)
        atomic.write_text(path, json.dumps(data, indent=2) + "\n")
    return entry


def checkpoint_path(models_dir: Path, file: str) -> Path:
    """``models_dir / file``, refusing a name that is absolute or resolves outside the folder."""
    folder = Path(models_dir).resolve()
    path = (folder / file).resolve()
    if Path(file).is_absolute() or not path.is_relative_to(folder):
        raise CheckpointError(f"manifest file {file!r} lies outside the models folder {folder}")
    return Path(models_dir) / file


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
        "policy_class": _dotted(type(policy)),
        "features_extractor": _dotted(type(extractor)),
        "observation_shape": list(policy.observation_space.shape),
        "n_actions": int(policy.action_space.n),
        "parameters": {name: list(p.shape) for name, p in policy.named_parameters()},
    }


_EXTRACTORS = {"cnn": policies.GridCNN, "impala": policies.ImpalaCNN}
"""Feature extractor of each policy kind with one (``mlp`` flattens the observation)."""


def policy_kwargs(
    policy: str, net_arch: Sequence[int], features_dim: int = 128, normalize_images: bool = False
) -> dict[str, Any]:
    """The JSON form of a policy's constructor kwargs, as a manifest records them.

    ``normalize_images`` is off for avec's agents: MiniGrid cells are small integers (object,
    colour, state), and dividing by 255 as SB3 does for images would squash them to zero.
    """
    kwargs: dict[str, Any] = {"net_arch": list(net_arch), "normalize_images": normalize_images}
    if policy in _EXTRACTORS:
        kwargs["features_extractor_class"] = _dotted(_EXTRACTORS[policy])
        kwargs["features_extractor_kwargs"] = {"features_dim": features_dim}
    return kwargs


def resolve_policy_kwargs(recorded: dict[str, Any]) -> dict[str, Any]:
    """Policy kwargs for SB3 from their JSON form: class names resolved from an allow-list."""
    kwargs = dict(recorded)
    for key in ("features_extractor_class", "activation_fn"):
        if key in kwargs:
            if kwargs[key] not in _CLASSES:
                raise CheckpointError(
                    f"policy kwarg {key}={kwargs[key]!r} is not one of {sorted(_CLASSES)}"
                )
            kwargs[key] = _CLASSES[kwargs[key]]
    return kwargs


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _recorded_policy_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    if "policy_kwargs" in entry:
        return entry["policy_kwargs"]
    config = entry.get("config", {})
    policy = entry.get("policy", "mlp")
    return policy_kwargs(policy, config.get("net_arch", [64, 64]), config.get("features_dim", 128))


# -- loading --------------------------------------------------------------------------------


def load(model_id: str, models_dir: Path = MODELS_DIR) -> Agent:
    """Load a model of ``models_dir`` after checking its file against the manifest.

    For a one-off look at an SB3 zip or rl-baselines3-zoo run folder outside any models folder,
    :func:`avec.register.load_run` builds its entry in memory with the same safe loader.
    """
    model_id = str(model_id)
    entries = manifest(models_dir)
    if model_id not in entries:
        raise CheckpointError(
            f"no model {model_id!r} in {Path(models_dir) / 'manifest.json'}; "
            f"known: {sorted(entries)}"
        )
    entry = entries[model_id]
    path = checkpoint_path(models_dir, entry["file"])
    return Agent(model_id, entry, load_checkpoint(path, entry))


def load_checkpoint(path: Path, entry: dict[str, Any]) -> BaseAlgorithm:
    """Build the model ``entry`` records and load ``path``'s tensors into it.

    Checks the file's sha256 and every parameter's shape against the entry; reads only the
    zip's ``policy.pth``, with ``torch.load(weights_only=True)``: nothing in the file is run.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} of model {entry.get('id')!r} is missing")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, manifest records {entry['sha256']}: "
            "the file was altered or the manifest is stale"
        )
    state = read_policy_tensors(path, entry["algo"])
    model = build(entry)
    built = architecture(model)
    if built != entry["architecture"]:
        _refuse_architecture(path, built, entry["architecture"])
    expected = {name: list(t.shape) for name, t in model.policy.state_dict().items()}
    found = {name: list(t.shape) for name, t in state.items()}
    if found != expected:
        names = sorted(n for n in {*found, *expected} if found.get(n) != expected.get(n))
        _refuse_architecture(
            path,
            {"parameters": {n: found.get(n) for n in names}},
            {"parameters": {n: expected.get(n) for n in names}},
        )
    model.policy.load_state_dict(state, strict=True)
    model.policy.set_training_mode(False)
    if entry.get("observation_normalization"):
        _normalize_observations(model.policy, entry["observation_normalization"], path)
    return model


def _normalize_observations(policy: Any, recorded: dict[str, Any], path: Path) -> None:
    """Normalise observations as a ``VecNormalize`` did in training: ``clip((obs - mean) /
    sqrt(var + epsilon), -clip, clip)`` before the features extractor, in the frame of the raw
    observation (SB3 divides images by 255 after the env's normalisation, so that is undone
    and redone around it)."""
    target = tuple(policy.observation_space.shape)
    mean, var = np.asarray(recorded["mean"]), np.asarray(recorded["var"])
    if mean.shape != target and mean.ndim == 3 and mean.transpose(2, 0, 1).shape == target:
        mean, var = mean.transpose(2, 0, 1), var.transpose(2, 0, 1)
    if mean.shape != target or var.shape != target:
        raise CheckpointError(
            f"checkpoint {path}: observation normalisation of shape {mean.shape} does not fit "
            f"observations of shape {target}"
        )
    # In float64, as VecNormalize computes: where a feature never varied in training (var ~ 0,
    # e.g. FlatObsWrapper's constant mission), float32 rounding would be amplified 1e4-fold.
    mean_t = torch.tensor(mean, dtype=torch.float64)
    std_t = torch.sqrt(torch.tensor(var, dtype=torch.float64) + float(recorded["epsilon"]))
    clip = float(recorded["clip"])
    scale = 255.0 if policy.normalize_images and is_image_space(policy.observation_space) else 1.0

    def normalize(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> tuple:
        raw = args[0].double() * scale
        normalized = torch.clamp((raw - mean_t) / std_t, -clip, clip) / scale
        return (normalized.to(args[0].dtype), *args[1:])

    extractors = {
        id(m): m for m in policy.modules() if isinstance(m, torch_layers.BaseFeaturesExtractor)
    }
    for module in extractors.values():
        module.register_forward_pre_hook(normalize)


def build(entry: dict[str, Any]) -> BaseAlgorithm:
    """A freshly initialised model of the algorithm, env and policy an entry records."""
    algo = entry["algo"]
    cls = getattr(stable_baselines3, algo, None) if algo in stable_baselines3.__all__ else None
    if not (isinstance(cls, type) and issubclass(cls, BaseAlgorithm)):
        raise CheckpointError(f"unknown algo {algo!r}; stable-baselines3 has none of that name")
    policy = entry.get("policy", "mlp")
    if policy not in _POLICY_NAMES:
        raise CheckpointError(f"unknown policy {policy!r}; valid: {sorted(_POLICY_NAMES)}")
    unsafe = [w for w in entry["observation_wrappers"] if not w.startswith(_WRAPPER_MODULES)]
    if unsafe:
        raise CheckpointError(f"observation wrappers {unsafe} are not from {_WRAPPER_MODULES}")
    check_env_id(entry["env_id"])
    env = envs.make(entry["env_id"], entry["observation_wrappers"])
    if entry.get("observation_space"):
        env = _TrainedSpace(env, observation_space(entry["observation_space"], env))
    kwargs = dict(_INFERENCE_KWARGS.get(algo, {}))
    use_sde = entry.get("config", {}).get("hyperparameters", {}).get("use_sde")
    if use_sde:
        kwargs["use_sde"] = True
    return cls(
        _POLICY_NAMES[policy],
        env,
        policy_kwargs=resolve_policy_kwargs(_recorded_policy_kwargs(entry)),
        device="cpu",
        **kwargs,
    )


def check_env_id(env_id: str) -> None:
    """Refuse an env id gymnasium would build from code outside avec and MiniGrid (a
    ``module:id`` name makes gymnasium import ``module``)."""
    spec = None if ":" in env_id else gym.registry.get(env_id)
    entry_point = getattr(spec, "entry_point", None)
    if not (isinstance(entry_point, str) and entry_point.startswith(_ENV_PACKAGES)):
        raise CheckpointError(
            f"env id {env_id!r} is refused: only ids avec registers (avec/...) or MiniGrid's own "
            "(MiniGrid-...) are made"
        )


def observation_space(recorded: dict[str, Any], env: gym.Env) -> gym.spaces.Box:
    """The Box a policy was trained on (``{"shape", "dtype"}``, read from its checkpoint):
    the wrappers' observations, as the agent's VecNormalize handed them over (float32, not
    transposed: SB3 transposes only uint8 images). Refused if the shapes differ."""
    shape, dtype = tuple(recorded["shape"]), np.dtype(recorded["dtype"])
    own = env.observation_space
    if (
        isinstance(own, gym.spaces.Box)
        and is_image_space(own)
        and dtype == own.dtype
        and shape == (own.shape[-1], *own.shape[:-1])
    ):
        return own  # a uint8 image SB3 transposed in training, and will transpose again
    if not isinstance(own, gym.spaces.Box) or tuple(own.shape) != shape:
        raise CheckpointError(
            f"the agent was trained on observations of shape {list(shape)}; its wrappers give "
            f"{list(getattr(own, 'shape', ()) or ())}: not the wrappers it was trained with"
        )
    if dtype == own.dtype:
        return own
    return gym.spaces.Box(-np.inf, np.inf, shape, dtype)


class _TrainedSpace(gym.ObservationWrapper):
    """Declares the observation space the policy was trained on (dtype only; same shape)."""

    def __init__(self, env: gym.Env, space: gym.spaces.Box) -> None:
        super().__init__(env)
        self.observation_space = space

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation.astype(self.observation_space.dtype)


def _refuse_architecture(path: Path, found: dict, recorded: dict) -> None:
    diffs = [k for k in recorded if found.get(k) != recorded[k]]
    raise CheckpointError(
        f"checkpoint {path} does not have the architecture its manifest records; "
        f"differs in {diffs}: found {[found.get(k) for k in diffs]}, "
        f"recorded {[recorded[k] for k in diffs]}"
    )


__all__ = [
    "below_bar",
    "beside_random",
    "MODELS_DIR",
    "Agent",
    "CheckpointError",
    "architecture",
    "build",
    "check_env_id",
    "checkpoint_path",
    "load",
    "load_checkpoint",
    "manifest",
    "model_ids",
    "observation_space",
    "policy_kwargs",
    "read_optimizer_state",
    "read_policy_tensors",
    "read_zip_member",
    "remove_entry",
    "sha256",
    "write_entries",
    "write_entry",
]
