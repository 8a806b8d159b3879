"""The ``avec`` command: the work that is not a test.

avec train doorkey5-ppo-mlp-s0     # one model of fixtures/zoo.toml
avec train --all                    # the whole zoo, one Ray task per agent
avec zoo                            # the committed models and how well they play
avec zoo add RUN_DIR --env MiniGrid-DoorKey-5x5-v0 --models-dir DIR  # register an SB3 agent
avec zoo remove ID --models-dir DIR  # drop an agent (entry and checkpoint)
avec layout doorkey 5 --seed 3      # print a layout as ASCII
avec field MODEL_ID (--seed N | --layout FILE.txt) --vector V --coef C [--layer L] [-o PNG]
avec report --diff OLD.json NEW.json  # every verdict and estimate that changed
avec report --history                 # how the record's verdicts moved, commit by commit
avec report --readme                  # rewrite README's and docs' generated tables
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from avec import families

# The paths zoo.MODELS_DIR and training.ZOO_CONFIG, without importing them: both load torch,
# which --help, `avec layout` and `avec report` never need (tests/test_cli.py checks they agree).
_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = _ROOT / "fixtures" / "models"
ZOO_CONFIG = _ROOT / "fixtures" / "zoo.toml"


class _Parser(argparse.ArgumentParser):
    """Bad arguments get one line on stderr and exit code 2 (argparse adds a usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be an integer in [0, 2**63), got {text}")
    return value


def cmd_train(ns: argparse.Namespace) -> int:
    from avec import scheduling, training

    try:
        configs = training.load_zoo_config(Path(ns.config))
    except KeyError as error:
        raise ValueError(
            f"{ns.config} lacks {error}: a train config has [recipes.NAME] tables"
        ) from None
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
    from tqdm.auto import tqdm

    held_out = entry["evaluation"]["held_out"]
    lo, hi = held_out["success_ci95"]
    status = "ok" if entry["meets_bar"] else "BELOW BAR"
    # tqdm.write keeps the progress bar over agents intact below the printed lines.
    tqdm.write(
        f"{entry['id']}: success {held_out['success_rate']:.3f} [{lo:.3f}, {hi:.3f}] "
        f"in {entry['timesteps']} steps, {entry['train_seconds']:.0f}s  {status}"
    )


def _stage(bar, text: str) -> None:
    """Advance a progress bar of named stages and say which one runs now."""
    if getattr(bar, "avec_stage", None) is not None:
        bar.update()
    bar.avec_stage = text
    bar.set_description_str(text)


def cmd_zoo_add(ns: argparse.Namespace) -> int:
    if ns.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {ns.episodes}")
    models_dir = Path(ns.add_models_dir or ns.models_dir)
    with _stages(2) as bar:
        _stage(bar, "loading avec and torch")
        from avec import register

        _stage(bar, f"checking, copying and evaluating on {ns.episodes} held-out layouts")
        entry = register.add(
            Path(ns.path),
            ns.env,
            ns.wrappers,
            models_dir,
            model_id=ns.id,
            episodes=ns.episodes,
            bar=ns.bar,
            force=ns.force,
        )
        bar.update()
    held = entry["evaluation"]["held_out"]
    lo, hi = held["success_ci95"]
    bar = entry["config"]["success_bar"]
    judged = "judged by the claims" if entry["meets_bar"] else "BELOW BAR: listed, not judged"
    print(
        f"{entry['id']}: {entry['algo']} {entry['policy']} on {entry['env_id']}, success "
        f"{held['success_rate']:.3f} [{lo:.3f}, {hi:.3f}] on {held['episodes']} held-out layouts "
        f"(bar {bar}: {judged}); registered in {models_dir / 'manifest.json'}"
    )
    return 0


def cmd_zoo_remove(ns: argparse.Namespace) -> int:
    from avec import register

    models_dir = Path(ns.remove_models_dir or ns.models_dir)
    entry = register.remove(ns.model_id, models_dir)
    print(f"{ns.model_id}: removed from {models_dir / 'manifest.json'} with {entry['file']}")
    return 0


def cmd_zoo(ns: argparse.Namespace) -> int:
    from avec import zoo

    entries = zoo.manifest(Path(ns.models_dir))
    if ns.markdown:
        print(zoo_table(entries))
        return 0
    print(f"{'model':32} {'steps':>9} {'secs':>6} {'success':>8}  95% CI          bar")
    if not entries:
        print(f"no models in {Path(ns.models_dir) / 'manifest.json'}", file=sys.stderr)
        return 2
    reasons = zoo.below_bar(entries)
    for model_id, entry in entries.items():
        held = entry.get("evaluation", {}).get("held_out")
        if held is None:
            print(f"{model_id:32} (no evaluation recorded)")
            continue
        lo, hi = held["success_ci95"]
        # Agents added with `avec zoo add` were not trained here: no steps or seconds.
        steps, secs = entry.get("timesteps", "-"), entry.get("train_seconds")
        secs = "-" if secs is None else f"{secs:.0f}"
        bar = entry.get("config", {}).get("success_bar", "-")
        below = f"  below bar, not judged: {reasons[model_id]}" if model_id in reasons else ""
        print(
            f"{model_id:32} {steps:>9} {secs:>6} {held['success_rate']:>8.3f}  "
            f"[{lo:.3f}, {hi:.3f}]  {bar}{below}"
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
        returns = sum(e["evaluation"]["held_out"]["mean_return"] for e in group) / len(group)
        # Agents added with `avec zoo add` were not trained here: no steps or seconds.
        trained = all("train_seconds" in e for e in group)
        seconds = f"{sum(e['train_seconds'] for e in group) / len(group):.0f}" if trained else "-"
        steps = f"{group[0]['timesteps']:,}" if "timesteps" in group[0] else "-"
        lines.append(
            f"| {name} | {group[0]['env_id']} | {len(group)} | {steps} | "
            f"{seconds} | {rates} | {returns:.3f} | {group[0]['config']['success_bar']} |"
        )
    return "\n".join(lines)


def _stages(total: int):
    """A progress bar over named stages, on a terminal only (stderr keeps one-line errors)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="stage", leave=False, disable=None)


def cmd_field(ns: argparse.Namespace) -> int:
    with _stages(5) as bar:
        return _field(ns, bar)


def _field(ns: argparse.Namespace, bar) -> int:
    _stage(bar, "loading avec and torch")
    import numpy as np

    from avec import experiments, fields, generators, hooks, layouts, plots, vectors, zoo

    _stage(bar, f"loading {ns.model_id}")
    agent = zoo.load(ns.model_id, Path(ns.models_dir))
    if ns.layout is not None:
        layout = layouts.from_ascii(Path(ns.layout).read_text())
        if (layout.family, layout.width) != (agent.family, agent.size):
            raise ValueError(
                f"{ns.layout} is a {layout.family} {layout.width}x{layout.height} layout; "
                f"{agent.id} plays {agent.family} {agent.size}x{agent.size}"
            )
    else:
        layout = generators.generate(agent.family, agent.size, ns.seed)
    layer = ns.layer or experiments.claim_layer(agent)
    valid = [info.name for info in hooks.layers(agent)]
    if layer not in valid:
        raise ValueError(f"unknown layer {layer!r}; valid: {valid}")
    feature = ns.vector.replace("-", "_")
    _stage(bar, f"building the {ns.vector} vector at {layer}")
    vector = ns.coef * vectors.feature_vector(agent, feature, layout, layer)
    _stage(bar, "computing the original and patched fields")
    original, patched = fields.vector_fields(
        agent, layout, agent.wrappers, lambda: hooks.patch(agent, {layer: vector})
    )
    _stage(bar, "drawing")
    title = f"{agent.id}: {ns.coef:+g} x {ns.vector} vector at {layer}"
    path = plots.plot_fields(ns.output, original, patched, title=title)
    bar.update()
    print(layout.to_ascii())
    change = float(np.abs(fields.difference(original, patched).vectors).sum(axis=1).max())
    print(f"{title}; largest change of an arrow {change:.3f}; drawn to {path}")
    return 0


def cmd_layout(ns: argparse.Namespace) -> int:
    from avec import generators

    options = {"cheese_region": ns.cheese} if families.get(ns.family).trial_options else {}
    print(generators.generate(ns.family, ns.size, ns.seed, **options).to_ascii())
    return 0


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: line {error.lineno}: {error.msg}") from None


def cmd_report(ns: argparse.Namespace) -> int:
    if ns.history is not None:
        from tqdm.auto import tqdm

        if ns.history.startswith("-"):
            # git would read it as an option (--output=FILE writes a file)
            raise ValueError(f"--history takes a git revision range, not {ns.history!r}")
        from avec import history, verdict_plots

        revs, table = history.history(
            Path(ns.repo),
            ns.history or None,
            progress=lambda revs: tqdm(
                revs, unit="revision", desc="reading", leave=False, disable=None
            ),
        )
        print("\n".join(history.lines(revs, table, every=ns.all)))
        figure = history.figure_data(revs, table)
        print(f"figure: {verdict_plots.draw_history(figure, Path(ns.output))}")
        return 0
    from avec import atomic, report

    if ns.readme is not None:
        built = _read_json(Path(ns.report))
        if not (isinstance(built, dict) and {"results", "aggregates"} <= set(built)):
            raise ValueError(f"{ns.report} is not an avec report (no results and aggregates)")
        for name in ns.readme or report.GENERATED_FILES:
            path = Path(name)
            atomic.write_text(path, report.fill_readme(path.read_text(), built))
            print(f"{path}: generated tables rewritten from {ns.report}")
        return 0
    old, new = (_read_json(Path(p)) for p in ns.diff)
    changes = report.diff(old, new)
    print("\n".join(changes) if changes else "no verdict, estimate or interval changed")
    return 0


_MODELS_HELP = "models folder with a manifest.json (default: fixtures/models)"


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="avec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train zoo models and record them in the manifest")
    train.add_argument("ids", nargs="*", help="model ids from the zoo config")
    train.add_argument("--all", action="store_true", help="train every model of the zoo config")
    train.add_argument("--config", default=str(ZOO_CONFIG), help="zoo config (TOML)")
    train.add_argument("--models-dir", default=str(MODELS_DIR), help=_MODELS_HELP)
    train.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join, host:port (default: start Ray here)",
    )
    train.add_argument(
        "--jobs", type=int, default=0, help="CPUs of the local Ray (default: every core)"
    )
    train.set_defaults(func=cmd_train)

    zoo_cmd = sub.add_parser("zoo", help="list the committed models")
    zoo_cmd.add_argument("--models-dir", default=str(MODELS_DIR), help=_MODELS_HELP)
    zoo_cmd.add_argument("--markdown", action="store_true", help="one row per recipe, as Markdown")
    zoo_cmd.set_defaults(func=cmd_zoo)
    zoo_sub = zoo_cmd.add_subparsers(dest="zoo_action")
    add = zoo_sub.add_parser("add", help="register an existing SB3 checkpoint in a models folder")
    add.add_argument("path", help="an SB3 .zip, or an rl-baselines3-zoo run folder")
    add.add_argument("--env", required=True, help="env id it was trained on")
    add.add_argument("--wrappers", nargs="*", default=None, help="observation wrappers, dotted")
    add.add_argument(
        "--id",
        default=None,
        help="model id NAME-s<SEED> (default: from args.yml's algo, env and seed)",
    )
    add.add_argument("--episodes", type=int, default=200, help="held-out evaluation episodes")
    add.add_argument(
        "--bar",
        type=float,
        default=None,
        help="held-out success the agent must reach to be judged (default: the bar of avec's "
        "own recipes for the same levels)",
    )
    add.add_argument("--force", action="store_true", help="replace a model of the same id")
    add.add_argument(
        "--models-dir",
        dest="add_models_dir",
        default=None,
        help="models folder to register into (default: zoo's --models-dir, itself "
        "defaulting to fixtures/models)",
    )
    add.set_defaults(func=cmd_zoo_add)
    remove = zoo_sub.add_parser("remove", help="drop a model's entry and checkpoint")
    remove.add_argument("model_id")
    remove.add_argument("--models-dir", dest="remove_models_dir", default=None)
    remove.set_defaults(func=cmd_zoo_remove)

    layout = sub.add_parser("layout", help="print a generated layout as ASCII")
    layout.add_argument("family", choices=sorted(families.FAMILIES))
    layout.add_argument("size", type=int)
    layout.add_argument("--seed", type=_seed, default=0)
    layout.add_argument("--cheese", choices=["top_right", "anywhere"], default="top_right")
    layout.set_defaults(func=cmd_layout)

    field = sub.add_parser(
        "field", help="draw an agent's original, patched and difference vector fields"
    )
    field.add_argument("model_id", help="model id of the models folder's manifest")
    where = field.add_mutually_exclusive_group(required=True)
    where.add_argument("--seed", type=_seed, help="generate the agent's kind of layout")
    where.add_argument("--layout", metavar="FILE.txt", help="a layout written as ASCII")
    field.add_argument("--vector", required=True, choices=["key", "cheese", "goal", "top-right"])
    field.add_argument("--coef", type=float, required=True, help="coefficient of the vector")
    field.add_argument("--layer", default=None, help="layer to patch (default: the claim layer)")
    field.add_argument("-o", "--output", default="field.png", help="PNG to write")
    field.add_argument("--models-dir", default=str(MODELS_DIR), help=_MODELS_HELP)
    field.set_defaults(func=cmd_field)

    rep = sub.add_parser("report", help="compare replication reports, or follow the record")
    which = rep.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--diff",
        nargs=2,
        metavar=("OLD.json", "NEW.json"),
        help="list every verdict and pass rate that changed",
    )
    which.add_argument(
        "--history",
        nargs="?",
        const="",
        metavar="REVISIONS",
        help="the verdicts that changed between the commits that changed "
        "reports/latest.json (a git revision range; default: HEAD's history)",
    )
    which.add_argument(
        "--readme",
        nargs="*",
        metavar="FILE",
        help="rewrite the generated tables of FILEs (default: README.md docs/claims.md) from "
        "the report",
    )
    rep.add_argument("--report", default="reports/latest.json", help="the report (--readme)")
    rep.add_argument("--repo", default=".", help="git repository (--history)")
    rep.add_argument("-o", "--output", default="history.png", help="figure (--history)")
    rep.add_argument(
        "--all",
        action="store_true",
        help="--history: also list estimates that moved with the verdict kept",
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
