"""The ``avec`` command: the work that is not a test.

avec train doorkey5-ppo-mlp-s0     # one model of fixtures/zoo.toml
avec train --all                    # the whole zoo, one Ray task per agent
avec zoo                            # the committed models and how well they play
avec layout doorkey 5 --seed 3      # print a layout as ASCII
avec report --diff OLD.json NEW.json  # every verdict and pass rate that changed
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from avec import generators, training


def cmd_train(ns: argparse.Namespace) -> int:
    from avec import scheduling

    configs = training.load_zoo_config(Path(ns.config))
    if ns.all:
        chosen = list(configs.values())
    else:
        unknown = [i for i in ns.ids if i not in configs]
        if unknown or not ns.ids:
            print(
                f"unknown or missing model ids {unknown}; valid: {sorted(configs)}", file=sys.stderr
            )
            return 2
        chosen = [configs[i] for i in ns.ids]
    if ns.jobs < 0:
        print(f"--jobs must be 0 (every core) or positive, not {ns.jobs}", file=sys.stderr)
        return 2
    result = scheduling.train_all(
        chosen,
        Path(ns.models_dir),
        address=ns.address,
        num_cpus=ns.jobs or None,
        on_staged=_print_entry,
    )
    if result.resumed:
        print(f"resumed from an interrupted run (not retrained): {list(result.resumed)}")
    failed = [i for i, entry in result.entries.items() if not entry["meets_bar"]]
    if failed:
        print(f"below their success bar: {failed}", file=sys.stderr)
        return 1
    return 0


def _print_entry(entry: dict) -> None:
    held_out = entry["evaluation"]["held_out"]
    lo, hi = held_out["success_ci95"]
    status = "ok" if entry["meets_bar"] else "BELOW BAR"
    # tqdm.write keeps the progress bar over agents intact below the printed lines.
    tqdm.write(
        f"{entry['id']}: success {held_out['success_rate']:.3f} [{lo:.3f}, {hi:.3f}] "
        f"in {entry['timesteps']} steps, {entry['train_seconds']:.0f}s  {status}"
    )


def cmd_zoo(ns: argparse.Namespace) -> int:
    from avec import zoo

    entries = zoo.manifest(Path(ns.models_dir))
    if ns.markdown:
        print(zoo_table(entries))
        return 0
    print(f"{'model':32} {'steps':>9} {'secs':>6} {'success':>8}  95% CI          bar")
    for model_id, entry in entries.items():
        held = entry["evaluation"]["held_out"]
        lo, hi = held["success_ci95"]
        print(
            f"{model_id:32} {entry['timesteps']:>9} {entry['train_seconds']:>6.0f} "
            f"{held['success_rate']:>8.3f}  [{lo:.3f}, {hi:.3f}]  {entry['config']['success_bar']}"
        )
    return 0


def zoo_table(entries: dict) -> str:
    """Markdown table of the zoo, one row per recipe: budget, wall time, held-out success."""
    recipes: dict[str, list[dict]] = {}
    for model_id, entry in entries.items():
        recipes.setdefault(model_id.rsplit("-s", 1)[0], []).append(entry)
    lines = [
        "| recipe | env | seeds | steps | wall s (mean) | success per seed (200 held-out) "
        "| mean return | bar |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, group in recipes.items():
        rates = ", ".join(f"{e['evaluation']['held_out']['success_rate']:.3f}" for e in group)
        seconds = sum(e["train_seconds"] for e in group) / len(group)
        returns = sum(e["evaluation"]["held_out"]["mean_return"] for e in group) / len(group)
        lines.append(
            f"| {name} | {group[0]['env_id']} | {len(group)} | {group[0]['timesteps']:,} | "
            f"{seconds:.0f} | {rates} | {returns:.3f} | {group[0]['config']['success_bar']} |"
        )
    return "\n".join(lines)


def cmd_layout(ns: argparse.Namespace) -> int:
    options = {"cheese_region": ns.cheese} if ns.family == "cheesemaze" else {}
    print(generators.generate(ns.family, ns.size, ns.seed, **options).to_ascii())
    return 0


def cmd_report(ns: argparse.Namespace) -> int:
    import json

    from avec import report

    old, new = (json.loads(Path(p).read_text()) for p in ns.diff)
    changes = report.diff(old, new)
    print("\n".join(changes) if changes else "no verdict or pass rate changed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="avec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train zoo models and record them in the manifest")
    train.add_argument("ids", nargs="*", help="model ids from the zoo config")
    train.add_argument("--all", action="store_true", help="train every model of the zoo config")
    train.add_argument("--config", default=str(training.ZOO_CONFIG), help="zoo config (TOML)")
    train.add_argument("--models-dir", default=str(training.MODELS_DIR))
    train.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join, host:port (default: start Ray here)",
    )
    train.add_argument(
        "--jobs", type=int, default=0, help="CPUs of the local Ray (default: every core)"
    )
    train.set_defaults(func=cmd_train)

    zoo = sub.add_parser("zoo", help="list the committed models")
    zoo.add_argument("--models-dir", default=str(training.MODELS_DIR))
    zoo.add_argument("--markdown", action="store_true", help="one row per recipe, as Markdown")
    zoo.set_defaults(func=cmd_zoo)

    layout = sub.add_parser("layout", help="print a generated layout as ASCII")
    layout.add_argument("family", choices=sorted(generators.SIZES))
    layout.add_argument("size", type=int)
    layout.add_argument("--seed", type=int, default=0)
    layout.add_argument("--cheese", choices=["top_right", "anywhere"], default="top_right")
    layout.set_defaults(func=cmd_layout)

    rep = sub.add_parser("report", help="compare two replication reports")
    rep.add_argument(
        "--diff",
        nargs=2,
        metavar=("OLD.json", "NEW.json"),
        required=True,
        help="list every verdict and pass rate that changed",
    )
    rep.set_defaults(func=cmd_report)

    ns = parser.parse_args(argv)
    try:
        return ns.func(ns)
    except (ValueError, OSError, RuntimeError) as error:  # LayoutError, CheckpointError, ...
        print(f"avec {ns.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
