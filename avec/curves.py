"""Learning curves of maze agents: the maze paper's measurements at every saved checkpoint.

The maze paper's agent had two drives -- to the cheese and to the top-right corner -- and its
headline is about the first. Whether an agent of ours has them is measured here at each
parameter checkpoint a training run saved (``params-<steps>.pt``, see
:func:`avec.training.train`'s ``checkpoints``): :func:`avec.evaluation.maze_statistics`
(success beside the uniform-random policy's, by maze size; P(cheese | decision square) with the
cheese outside the top-right region; the top-right corner reached with the cheese removed), on
held-out mazes never drawn in training. Usage::

    python -m avec.curves train paddedmaze13-ppo-cnn-s0 --run /work/train-runs \
        --config fixtures/zoo-training.toml      # checkpoints every 100k steps
    python -m avec.curves measure paddedmaze13-ppo-cnn-s0 --run /work/train-runs \
        --config fixtures/zoo-training.toml

``train`` saves ``params-<steps>.pt`` and ``optimizer-<steps>.pt`` (and at the end the model
and its manifest entry as ``entry.json``) in ``RUN/MODEL_ID``; run again, it continues from the
folder's latest checkpoint (:func:`avec.training.restore`). ``measure`` writes ``curve.json``
there (only checkpoints not measured yet are evaluated; the file is replaced atomically) and
prints one row per checkpoint. Keep run folders outside the repository: checkpoints are not
committed. Two more commands carry a run across machines through the zoo::

    python -m avec.curves package paddedmaze13-ppo-cnn-s0 --run /work/train-runs \
        --config fixtures/zoo.toml --steps 1000000   # checkpoint -> fixtures/models + manifest
    python -m avec.curves unpack paddedmaze13-ppo-cnn-s0 --run /work/train-runs \
        --config fixtures/zoo.toml                   # committed agent -> a checkpoint to continue

``measure`` also keeps the curve as ``fixtures/curves/MODEL_ID.json`` (``--curves``), committed
while a run is still going or never packaged; ``table`` reads those when no agent of the recipe
is in the zoo. ``evaluate MODEL_ID --config fixtures/zoo.toml`` evaluates a committed agent
again and rewrites its manifest entry's evaluation (the held-out success must come out as
recorded): how older entries gain success by maze size with the random policy's beside it.

``package`` saves the checkpoint at ``--steps`` as the zoo agent ``MODEL_ID`` with its manifest
entry (:func:`avec.training.record`: held-out evaluation, the measurements above as
``maze_statistics`` and, for a two-drive recipe, its ``drives``; and the wall time
from the run's ``started`` marker to the checkpoint); ``unpack`` writes a committed agent's
parameters and optimizer state back as a checkpoint, so ``train`` continues it. ``package``
also copies the run's ``curve.json`` into the entry (``learning_curve``), and ``table`` prints
the learning curves of a recipe's committed agents as one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import PPO

from avec import atomic, envs, evaluation, families, training, zoo

CHECKPOINT = re.compile(r"params-(\d+)\.pt")

CURVES_DIR = zoo.ROOT / "fixtures" / "curves"
"""Learning curves of runs in progress or never packaged, one ``MODEL_ID.json`` each (the
``curve.json`` of the run), committed so they can be read without the run folder."""


def load_parameters(config: training.TrainConfig, path: Path) -> PPO:
    """A PPO model of ``config``'s architecture holding the parameters saved at ``path``.

    The file holds a state dict of tensors only; it is read with ``weights_only=True``, so
    loading never runs code, and every parameter name and shape must match.
    """
    model = PPO(
        "MlpPolicy" if config.policy == "mlp" else "CnnPolicy",
        envs.make(config.env_id, config.wrappers),
        policy_kwargs=config.policy_kwargs(),
        device="cpu",
        seed=config.seed,
        n_steps=64,
        batch_size=64,
    )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.policy.load_state_dict(state, strict=True)
    return model


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """``(steps, path)`` of every parameter checkpoint in a run folder, by steps."""
    found = [(CHECKPOINT.fullmatch(p.name), p) for p in run.iterdir()]
    return sorted((int(m.group(1)), p) for m, p in found if m)


def _row(steps: int, point: dict[str, Any]) -> str:
    def rate(name: str) -> str:
        value, ci = point[name]["value"], point[name]["ci95"]
        if ci is None:
            return "n/a" if value is None else f"{value:.3f}"
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"

    def plain(name: str) -> str:
        return "-" if point.get(name) is None else f"{point[name]:.3f}"

    return (
        f"| {steps:,} | {rate('success')} | {plain('random_success')} | "
        f"{rate('p_cheese')} | {rate('heads_for_cheese')} "
        f"(n={point['heads_for_cheese']['n']}) | {rate('top_right_without_cheese')} | "
        f"{plain('random_top_right_without_cheese')} |"
    )


def latest(run: Path) -> tuple[int, Path, Path] | None:
    """``(steps, parameters, optimizer)`` of the run folder's latest checkpoint that has both
    files, or None."""
    pairs = [_pair(run, steps) for steps, _ in checkpoints(run)]
    pairs = [pair for pair in pairs if pair is not None]
    return pairs[-1] if pairs else None


def restore(config: training.TrainConfig, run: Path, steps: int | None = None) -> Any:
    """The learner at the run's checkpoint of ``steps`` (default: its latest), with its
    optimizer state (:func:`avec.training.restore`)."""
    found = latest(run) if steps is None else _pair(run, steps)
    if found is None:
        raise FileNotFoundError(f"{run} has no checkpoint with parameters and optimizer state")
    steps, parameters, optimizer = found
    return training.restore(
        config,
        torch.load(parameters, map_location="cpu", weights_only=True),
        torch.load(optimizer, map_location="cpu", weights_only=True),
        steps,
    )


def _pair(run: Path, steps: int) -> tuple[int, Path, Path] | None:
    parameters, optimizer = training.checkpoint_paths(run, steps)
    return (steps, parameters, optimizer) if parameters.exists() and optimizer.exists() else None


def _seconds(run: Path, path: Path) -> float:
    """Wall seconds from the run's ``started`` marker to ``path`` being written."""
    return path.stat().st_mtime - (run / "started").stat().st_mtime


def _train(ns: argparse.Namespace, config: training.TrainConfig) -> int:
    run = ns.run / config.id
    run.mkdir(parents=True, exist_ok=True)
    started = run / "started"
    found = latest(run)
    model, before = None, 0.0
    if found is not None:
        before = _seconds(run, found[1]) if started.exists() else 0.0
        model = restore(config, run)
        print(f"{config.id}: continuing from {found[0]:,} steps", file=sys.stderr)
    # The marker's age is the run's wall time: set back by what it had cost before this start,
    # so the time between a stop and a restart is not counted.
    started.touch()
    marker = time.time() - before
    os.utime(started, (marker, marker))
    entry = training.train(
        config,
        run,
        progress=False,
        checkpoints=run,
        checkpoint_every=ns.every,
        model=model,
        seconds_before=before,
    )
    (run / "entry.json").write_text(json.dumps(entry, indent=2) + "\n")
    return 0


def _package(ns: argparse.Namespace, config: training.TrainConfig) -> int:
    run = ns.run / config.id
    if ns.steps is None or _pair(run, ns.steps) is None:
        have = [steps for steps, _ in checkpoints(run)] if run.is_dir() else []
        print(f"--steps must name a checkpoint of {run}; it has {have}", file=sys.stderr)
        return 2
    if ns.steps != config.total_timesteps:
        print(
            f"--steps {ns.steps:,} differs from the recipe's total_timesteps "
            f"{config.total_timesteps:,}; set the recipe's budget to what was trained",
            file=sys.stderr,
        )
        return 2
    model = restore(config, run, ns.steps)
    parameters, _ = training.checkpoint_paths(run, ns.steps)
    seconds = _seconds(run, parameters)
    entry = training.record(model, config, ns.models_dir, seconds, mazes=ns.mazes)
    curve_file = run / "curve.json"
    if curve_file.exists():
        curve = json.loads(curve_file.read_text())
        entry["learning_curve"] = {k: v for k, v in curve.items() if int(k) <= ns.steps}
    zoo.write_entry(entry, ns.models_dir)
    print(f"{config.id}: {ns.steps:,} steps -> {ns.models_dir / entry['file']}")
    return 0


def table(entries: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the learning curves the entries record (``package`` copies a run's
    ``curve.json`` into its entry), one row per checkpoint, one value per seed in each cell."""
    curves_ = [entry.get("learning_curve", {}) for entry in entries]
    steps = sorted({int(k) for curve in curves_ for k in curve})
    names = (
        ("success", "success, cheese in training region"),
        ("random_success", "uniform-random policy"),
        ("p_cheese", "mean P(cheese \\| DS)"),
        ("heads_for_cheese", "share P(cheese \\| DS) > 0.5"),
        ("top_right_without_cheese", "top-right reached, no cheese"),
        ("random_top_right_without_cheese", "random policy"),
    )
    seeds = " / ".join(f"s{entry['seed']}" for entry in entries)
    lines = [
        f"| steps | {' | '.join(f'{label} ({seeds})' for _, label in names)} |",
        "|---" * (len(names) + 1) + "|",
    ]
    for step in steps:
        cells = []
        for name, _ in names:
            values = [_value(curve.get(str(step), {}).get(name)) for curve in curves_]
            cells.append(" / ".join("-" if v is None else f"{v:.2f}" for v in values))
        lines.append(f"| {step:,} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _value(found: Any) -> float | None:
    """A measurement's value: an estimate's, or a plain number (the random policy's rate)."""
    return found.get("value") if isinstance(found, dict) else found


def _table(ns: argparse.Namespace, config: training.TrainConfig) -> int:
    recipe = config.id.rsplit("-s", 1)[0]
    found = _manifest(ns.models_dir)
    if found is None:
        return 2
    entries = [e for i, e in sorted(found.items()) if i.rsplit("-s", 1)[0] == recipe]
    if not entries:
        # Not packaged (yet): the curves kept by measure, with the seed from the file name.
        entries = [
            {
                "seed": int(path.stem.rsplit("-s", 1)[1]),
                "learning_curve": json.loads(path.read_text()),
            }
            for path in sorted(ns.curves.glob(f"{recipe}-s*.json"))
        ]
    if not any("learning_curve" in entry for entry in entries):
        print(f"no entry of {recipe} in {ns.models_dir} has a learning curve", file=sys.stderr)
        return 2
    print(table(entries))
    return 0


def _manifest(models_dir: Path) -> dict[str, dict[str, Any]] | None:
    """The zoo's manifest entries, or None after saying in one line why they cannot be read."""
    try:
        return zoo.manifest(models_dir)
    except zoo.CheckpointError as error:
        print(error, file=sys.stderr)
        return None


def _unpack(ns: argparse.Namespace, config: training.TrainConfig) -> int:
    found = _manifest(ns.models_dir)
    if found is None:
        return 2
    entry = found.get(config.id)
    if entry is None:
        print(f"{config.id} is not in {ns.models_dir / 'manifest.json'}", file=sys.stderr)
        return 2
    path = zoo.checkpoint_path(ns.models_dir, entry["file"])
    run = ns.run / config.id
    steps = int(entry["timesteps"])
    training.save_checkpoint(
        run,
        steps,
        zoo.read_policy_tensors(path, entry["algo"]),
        zoo.read_optimizer_state(path),
    )
    started = run / "started"
    started.touch(exist_ok=True)
    # The wall time already spent is carried over through the marker's age.
    parameters, _ = training.checkpoint_paths(run, steps)
    marker = parameters.stat().st_mtime - entry["train_seconds"]
    os.utime(started, (marker, marker))
    print(f"{config.id}: {steps:,} steps -> {run}")
    return 0


def _evaluate(ns: argparse.Namespace, config: training.TrainConfig) -> int:
    """Evaluate a committed agent again (:func:`avec.evaluation.evaluate`: the same held-out
    levels and seed, so the same episodes) and replace its manifest entry's evaluation, adding
    what newer evaluations report (success by maze size, the random policy's beside it). The
    held-out success must come out as recorded, or nothing is written."""
    found = _manifest(ns.models_dir)
    if found is None or config.id not in found:
        print(f"{config.id} is not in {ns.models_dir / 'manifest.json'}", file=sys.stderr)
        return 2
    entry = found[config.id]
    agent = zoo.load(config.id, ns.models_dir)
    episodes = entry["evaluation"]["held_out"]["episodes"]
    again = evaluation.evaluate(agent.model, agent, episodes)
    before = entry["evaluation"]["held_out"]["success_rate"]
    if again["held_out"]["success_rate"] != before:
        print(
            f"{config.id}: held-out success {again['held_out']['success_rate']} differs "
            f"from the recorded {before}; the manifest is left as it is",
            file=sys.stderr,
        )
        return 1
    zoo.write_entry({**entry, "evaluation": again}, ns.models_dir)
    sizes = again["held_out"].get("by_maze_size", {})
    print(
        f"{config.id}: "
        + "; ".join(
            f"{n}: {v['success_rate']:.3f} (random {v['random_success_rate']:.3f})"
            for n, v in sizes.items()
        )
    )
    return 0


def _measure(ns: argparse.Namespace, config: training.TrainConfig) -> int:
    run = ns.run / config.id
    if not run.is_dir():
        print(f"{run} is not a folder", file=sys.stderr)
        return 2
    out = run / "curve.json"
    curve = json.loads(out.read_text()) if out.exists() else {}
    for steps, path in checkpoints(run):
        done = curve.get(str(steps), {})
        if done.get("mazes") == ns.mazes and set(done) >= evaluation.MEASURED:
            continue
        model = load_parameters(config, path)
        statistics = evaluation.maze_statistics(model, config, ns.mazes)
        curve[str(steps)] = {"mazes": ns.mazes, **statistics}
        text = json.dumps(dict(sorted(curve.items(), key=lambda kv: int(kv[0]))), indent=2)
        atomic.write_text(out, text + "\n")
        ns.curves.mkdir(parents=True, exist_ok=True)
        atomic.write_text(ns.curves / f"{config.id}.json", text + "\n")
    print(
        "| steps | success | random policy | mean P(cheese \\| DS) | P(cheese \\| DS) > 0.5 "
        "| top-right, empty | random policy |"
    )
    print("|---|---|---|---|---|---|---|")
    for steps in sorted(curve, key=int):
        print(_row(int(steps), curve[steps]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avec.curves", description=__doc__)
    parser.add_argument(
        "command", choices=("train", "measure", "package", "unpack", "table", "evaluate")
    )
    parser.add_argument("model_id", help="id of the model, e.g. paddedmaze13-ppo-cnn-s0")
    parser.add_argument("--run", type=Path, help="folder of runs (RUN/MODEL_ID); not for table")
    parser.add_argument("--config", type=Path, default=training.ZOO_CONFIG, help="recipe file")
    parser.add_argument("--every", type=int, default=100_000, help="steps between checkpoints")
    parser.add_argument("--mazes", type=int, default=200, help="held-out mazes per measurement")
    parser.add_argument("--steps", type=int, help="package: the checkpoint to package")
    parser.add_argument(
        "--models-dir", type=Path, default=zoo.MODELS_DIR, help="package/unpack: the zoo folder"
    )
    parser.add_argument(
        "--curves",
        type=Path,
        default=CURVES_DIR,
        help="measure: also keep the curve here as MODEL_ID.json (committed); table: read it",
    )
    ns = parser.parse_args(argv)
    if ns.run is None and ns.command not in ("table", "evaluate"):
        print(f"{ns.command} needs --run, the folder of runs (RUN/MODEL_ID)", file=sys.stderr)
        return 2
    configs = training.load_zoo_config(ns.config)
    if ns.model_id not in configs:
        print(f"unknown model id {ns.model_id!r}; valid: {sorted(configs)}", file=sys.stderr)
        return 2
    config = configs[ns.model_id]
    if families.get(config.family).top_right_region is None:
        print(f"{ns.model_id} does not play mazes ({config.family})", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    commands = {
        "train": _train,
        "measure": _measure,
        "package": _package,
        "unpack": _unpack,
        "table": _table,
        "evaluate": _evaluate,
    }
    return commands[ns.command](ns, config)


__all__ = [
    "checkpoints",
    "load_parameters",
]

if __name__ == "__main__":
    sys.exit(main())
