"""The committed zoo of trained agents: ``fixtures/models/manifest.json`` and its checkpoints.

Every entry records how its model was trained (the full :class:`~avec.training.TrainConfig`,
library versions, wall-clock seconds), the sha256 of its checkpoint, its architecture and a
held-out evaluation. :func:`load` refuses a checkpoint that is missing, corrupt, altered or of
another architecture than recorded, and says which file and what was wrong.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from avec import training
from avec.training import ALGORITHMS, MODELS_DIR


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match its manifest entry."""


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

    @cached_property
    def config(self) -> training.TrainConfig:
        data = dict(self.entry["config"])
        data["net_arch"] = tuple(data["net_arch"])
        return training.TrainConfig(**data)


def manifest(models_dir: Path = MODELS_DIR) -> dict[str, dict[str, Any]]:
    """Manifest entries by model id (empty if no model has been trained)."""
    path = models_dir / "manifest.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())["models"]


def model_ids(models_dir: Path = MODELS_DIR, family: str | None = None) -> list[str]:
    """Ids of the committed models, optionally of one layout family."""
    return [
        model_id
        for model_id, entry in manifest(models_dir).items()
        if family is None or entry["config"]["family"] == family
    ]


def load(model_id: str, models_dir: Path = MODELS_DIR) -> Agent:
    """Load a committed model after checking its file against the manifest."""
    entries = manifest(models_dir)
    if model_id not in entries:
        raise CheckpointError(
            f"no model {model_id!r} in {models_dir / 'manifest.json'}; known: {sorted(entries)}"
        )
    entry = entries[model_id]
    path = models_dir / entry["file"]
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} of model {model_id!r} is missing")
    digest = training.sha256(path)
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"checkpoint {path} has sha256 {digest}, manifest records {entry['sha256']}: "
            "the file was altered or the manifest is stale"
        )
    return Agent(model_id, entry, load_checkpoint(path, entry))


def load_checkpoint(path: Path, entry: dict[str, Any]) -> BaseAlgorithm:
    """Load ``path`` as the algorithm ``entry`` names and check its recorded architecture."""
    try:
        model = ALGORITHMS[entry["algo"]].load(path, device="cpu")
    except (
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        ValueError,
        RuntimeError,
        OSError,
        AssertionError,
    ) as error:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a {entry['algo']} model: "
            f"{type(error).__name__}: {error}"
        ) from error
    found, recorded = training.architecture(model), entry["architecture"]
    if found != recorded:
        diffs = [k for k in recorded if found.get(k) != recorded[k]]
        raise CheckpointError(
            f"checkpoint {path} does not have the architecture its manifest records; "
            f"differs in {diffs}: found {[found.get(k) for k in diffs]}, "
            f"recorded {[recorded[k] for k in diffs]}"
        )
    return model


__all__ = ["Agent", "CheckpointError", "load", "load_checkpoint", "manifest", "model_ids"]
