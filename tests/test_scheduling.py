"""``avec train --all`` trains every agent as a Ray task -- on a two-node cluster as on this
machine -- gives the weights in-process training gives, and resumes an interrupted run.

The Ray tests start their cluster inside a fresh network namespace that has only the loopback
interface (``unshare -n``, then ``ip link set lo up``), so every Ray process binds 127.0.0.1
and nothing leaves the machine. Creating a network namespace needs root (CI runs as root);
elsewhere they are skipped, saying so. This file is also the script run inside the namespace
(``python tests/test_scheduling.py SCENARIO ...``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import avec
from avec import scheduling, training, zoo
from avec.training import TrainConfig

TINY_ZOO = """
[recipes.tiny-ppo]
family = "doorkey"
size = 5
policy = "mlp"
seeds = [0]
total_timesteps = 1024
n_envs = 2
eval_episodes = 10
hyperparameters = { n_steps = 64, batch_size = 64, n_epochs = 2 }

[recipes.tiny-a2c]
family = "doorkey"
size = 5
algo = "A2C"
policy = "mlp"
seeds = [1]
total_timesteps = 1024
n_envs = 4
eval_episodes = 10
hyperparameters = { n_steps = 8 }
"""
"""Two agents of two algorithms at a few thousand steps: the machinery, not learning."""

ROOT = Path(avec.__file__).resolve().parent.parent

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root to create a loopback-only network namespace (unshare -n) for Ray; "
    "CI runs as root",
)


def in_loopback_namespace(scenario: str, *args: str) -> dict:
    """Run this file's ``scenario`` in a new network namespace with only ``lo``, up.

    Returns the JSON the scenario prints last; fails with its output if it exits non-zero.
    """
    command = [
        "unshare",
        "-n",
        "sh",
        "-c",
        'ip link set lo up && exec "$0" "$@"',
        sys.executable,
        __file__,
        scenario,
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"{scenario} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def policy_weights(path: Path) -> dict[str, torch.Tensor]:
    """The policy parameters stored in an SB3 checkpoint (read as tensors, no code run)."""
    with zipfile.ZipFile(path) as archive, archive.open("policy.pth") as f:
        return torch.load(f, weights_only=True)


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zoo") / "zoo.toml"
    path.write_text(TINY_ZOO)
    return path


@pytest.mark.slow
@pytest.mark.ray
@needs_netns
def test_train_all_on_a_two_node_cluster_gives_the_weights_of_local_training(tiny_zoo, tmp_path):
    models_dir = tmp_path / "cluster"
    result = in_loopback_namespace("cluster", str(tiny_zoo), str(models_dir))
    assert result["nodes"] == 2 and set(result["node_ips"]) == {"127.0.0.1"}
    assert result["exit_code"] == 0

    configs = training.load_zoo_config(tiny_zoo)
    manifest = json.loads((models_dir / "manifest.json").read_text())["models"]
    assert sorted(manifest) == sorted(configs)
    assert not (models_dir / ".staging").exists()
    for model_id, config in configs.items():
        entry = manifest[model_id]
        assert entry["config"] == config.to_dict()
        assert entry["sha256"] == zoo.sha256(models_dir / entry["file"])
        local = training.train(config, tmp_path / "local", progress=False)
        cluster_weights = policy_weights(models_dir / entry["file"])
        local_weights = policy_weights(tmp_path / "local" / local["file"])
        assert cluster_weights.keys() == local_weights.keys()
        for name, tensor in local_weights.items():
            assert torch.equal(cluster_weights[name], tensor), f"{model_id}: {name} differs"
        assert entry["evaluation"] == local["evaluation"]


@pytest.mark.slow
@pytest.mark.ray
@needs_netns
def test_an_interrupted_run_resumes_without_retraining_finished_agents(tiny_zoo, tmp_path):
    models_dir = tmp_path / "models"
    result = in_loopback_namespace("resume", str(tiny_zoo), str(models_dir))
    first, second = result["first"], result["second"]
    assert len(first["staged"]) == 1, "the run was interrupted after its first agent"
    assert not first["manifest_written"], "an interrupted run must not write the manifest"
    [done] = first["staged"]
    assert second["resumed"] == [done]
    assert second["trained"] == [i for i in training.load_zoo_config(tiny_zoo) if i != done]
    manifest = json.loads((models_dir / "manifest.json").read_text())["models"]
    # Retraining would give a new checkpoint (its zip records when it was written) and timing.
    assert manifest[done]["sha256"] == first["staged_entry"]["sha256"]
    assert manifest[done]["train_seconds"] == first["staged_entry"]["train_seconds"]
    assert not (models_dir / ".staging").exists()


def test_a_staged_agent_is_reused_only_with_its_config_and_intact_checkpoint(tmp_path):
    config = TrainConfig(
        id="tiny-s0", env_id="avec/DoorKey-5x5-v0", family="doorkey", size=5, seed=0,
        total_timesteps=1,
    )  # fmt: skip
    staging = scheduling.staging_dir(tmp_path)
    entry = {"id": config.id, "file": f"{config.id}.zip", "config": config.to_dict()}
    entry["sha256"] = hashlib.sha256(b"checkpoint").hexdigest()
    scheduling._stage(entry, b"checkpoint", staging)
    assert scheduling._staged(config, staging) == entry
    other = TrainConfig(**{**config.to_dict(), "total_timesteps": 2, "net_arch": (64, 64)})
    assert scheduling._staged(other, staging) is None, "staged under another config"
    (staging / entry["file"]).write_bytes(b"truncated")
    assert scheduling._staged(config, staging) is None


def _cluster_scenario(zoo: str, models_dir: str) -> dict:
    """Two nodes (head + worker, one CPU each); ``avec train --all --address`` joins them."""
    import ray
    from ray.cluster_utils import Cluster

    from avec import cli

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        nodes = [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]]
        ray.shutdown()
        argv = ["train", "--all", "--config", zoo, "--models-dir", models_dir]
        code = cli.main([*argv, "--address", cluster.address])
    finally:
        cluster.shutdown()
    return {"nodes": len(nodes), "node_ips": nodes, "exit_code": code}


def _resume_scenario(zoo: str, models_dir: str) -> dict:
    """Interrupt a run (as Ctrl-C would) once its first agent is staged, then run it again."""
    from ray.cluster_utils import Cluster

    configs = list(training.load_zoo_config(Path(zoo)).values())
    models = Path(models_dir)
    staging = scheduling.staging_dir(models)

    def interrupt(entry: dict) -> None:
        raise KeyboardInterrupt

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    cluster.wait_for_nodes()
    try:
        with pytest.raises(KeyboardInterrupt):
            scheduling.train_all(
                configs, models, cluster.address, progress=False, on_staged=interrupt
            )
        staged = sorted(p.stem for p in staging.glob("*.json"))
        first = {
            "staged": staged,
            "staged_entry": json.loads((staging / f"{staged[0]}.json").read_text()),
            "manifest_written": (models / "manifest.json").exists(),
        }
        result = scheduling.train_all(configs, models, cluster.address, progress=False)
    finally:
        cluster.shutdown()
    second = {"resumed": list(result.resumed), "trained": list(result.trained)}
    return {"first": first, "second": second}


if __name__ == "__main__":
    scenario, *arguments = sys.argv[1:]
    run = {"cluster": _cluster_scenario, "resume": _resume_scenario}[scenario]
    print(json.dumps(run(*arguments)))
