"""Training many agents as Ray tasks, on this machine or on a cluster, resumable.

``avec train --all`` hands every agent of the zoo config to :func:`train_all`, which runs each
one as a `Ray <https://docs.ray.io>`_ task that asks for one CPU (``num_cpus=1``; training sets
torch to one thread). Without an address Ray starts on this machine; with ``--address`` the
run joins an existing cluster (``ray start --head`` on one node, ``ray start --address`` on the
others; every node needs avec installed, as the tasks import it).

A task trains in a scratch folder on whichever node runs it and returns the checkpoint's bytes
with its manifest entry, so nodes need no shared file system. As each agent finishes, the
driver stores both in the *staging area* ``<models>/.staging/``: the zip first, then the entry,
each through a temporary file and a rename, so an entry present means its agent is complete.
Rerunning after an interruption (Ctrl-C, a lost node, a killed driver) keeps every staged agent
whose recorded config equals the one asked for and whose checkpoint matches its sha256, and
trains the rest -- also when the rerun asks for a subset or a superset of the first run.

An agent interrupted mid-training restarts from scratch. Resuming SB3 from a mid-run checkpoint
would not replay the same run: the replay buffer, the optimiser's moments, the env and sampler
RNG states and a partly collected rollout would all have to be restored exactly. From scratch,
an agent is a pure function of its config, so the same seed gives the same weights bit for
bit whichever node, process or order trains it (``tests/test_scheduling.py`` checks it).

Once every agent is staged, the checkpoints are copied into the models folder and the manifest
is written once, atomically (:func:`avec.zoo.write_entries`); only then are the
published agents removed from the staging area.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from avec import training, zoo
from avec.training import TrainConfig


@dataclass(frozen=True)
class RunResult:
    """What one :func:`train_all` call did."""

    entries: dict[str, dict[str, Any]]
    """Manifest entry of every chosen agent, by id, in config order."""
    trained: tuple[str, ...]
    """Ids trained by this call."""
    resumed: tuple[str, ...]
    """Ids taken from the staging area of an earlier, interrupted call."""


def staging_dir(models_dir: Path) -> Path:
    """Where runs into ``models_dir`` keep finished agents until the manifest is written."""
    return models_dir / ".staging"


def train_all(
    configs: Sequence[TrainConfig],
    models_dir: Path = zoo.MODELS_DIR,
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool = True,
    on_staged: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train ``configs`` as Ray tasks, then publish checkpoints and manifest at once.

    Args:
        configs: agents to train; ids must be distinct.
        models_dir: where the checkpoints and ``manifest.json`` go.
        address: a Ray cluster to join (``host:port``, or ``auto``); ``None`` starts Ray on this
            machine with ``num_cpus`` CPUs (default: every core).
        num_cpus: CPUs of the local Ray; ignored when joining a cluster.
        progress: show a progress bar over agents.
        on_staged: called with each entry as soon as its agent is staged (e.g. to print it).
    """
    import ray

    ids = [c.id for c in configs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"model ids must be distinct; got {ids}")
    staging = staging_dir(models_dir)
    staging.mkdir(parents=True, exist_ok=True)
    entries = {c.id: entry for c in configs if (entry := _staged(c, staging)) is not None}
    resumed = tuple(entries)
    pending = [c for c in configs if c.id not in entries]

    started_ray = False
    if pending and not ray.is_initialized():
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
        )
        started_ray = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_train_remote)
        futures = {task.remote(c): c for c in pending}
        with tqdm(
            total=len(configs), initial=len(resumed), unit="agent", disable=not progress
        ) as bar:
            while futures:
                [done], _ = ray.wait(list(futures), num_returns=1)
                config = futures.pop(done)
                entry, checkpoint = ray.get(done)
                _stage(entry, checkpoint, staging)
                entries[config.id] = entry
                bar.update(1)
                bar.set_postfix_str(config.id)
                if on_staged is not None:
                    on_staged(entry)
    finally:
        if started_ray:
            ray.shutdown()

    ordered = {c.id: entries[c.id] for c in configs}
    _publish(ordered, staging, models_dir)
    trained = tuple(c.id for c in pending)
    return RunResult(entries=ordered, trained=trained, resumed=resumed)


def _train_remote(config: TrainConfig) -> tuple[dict[str, Any], bytes]:
    """The Ray task: train one agent in a scratch folder; return its entry and checkpoint."""
    with tempfile.TemporaryDirectory(prefix="avec-train-") as scratch:
        entry = training.train(config, Path(scratch), progress=False)
        return entry, (Path(scratch) / entry["file"]).read_bytes()


def _staged(config: TrainConfig, staging: Path) -> dict[str, Any] | None:
    """The staged entry of ``config``, if complete and intact; else ``None`` (train it)."""
    entry_path = staging / f"{config.id}.json"
    if not entry_path.exists():
        return None
    entry = json.loads(entry_path.read_text())
    checkpoint = staging / entry["file"]
    if (
        entry["config"] != config.to_dict()
        or not checkpoint.exists()
        or zoo.sha256(checkpoint) != entry["sha256"]
    ):
        return None
    return entry


def _stage(entry: dict[str, Any], checkpoint: bytes, staging: Path) -> None:
    # Checkpoint before entry: an entry on disk always has its whole checkpoint beside it.
    _write_atomic(staging / entry["file"], checkpoint)
    _write_atomic(staging / f"{entry['id']}.json", (json.dumps(entry, indent=2) + "\n").encode())


def _publish(entries: dict[str, dict[str, Any]], staging: Path, models_dir: Path) -> None:
    # Copy, not move: if this is interrupted, the staging area still holds every agent and a
    # rerun publishes again without training.
    for entry in entries.values():
        _write_atomic(models_dir / entry["file"], (staging / entry["file"]).read_bytes())
    zoo.write_entries(list(entries.values()), models_dir)
    for entry in entries.values():
        (staging / f"{entry['id']}.json").unlink()
        (staging / entry["file"]).unlink()
    if not any(staging.iterdir()):
        staging.rmdir()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["RunResult", "staging_dir", "train_all"]
