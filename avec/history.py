"""How the record moved: ``reports/latest.json`` at every commit that changed it (``avec report
--history``).

The committed report is the record of which claims hold on which models; git keeps every
version. This module reads them back -- ``git log`` for the commits that touched the report,
``git show`` for the report and the models manifest at each -- and lays out, per claim and
model, the verdict and pass rate at each commit beside the sha256 of the checkpoint judged
then, so a change can be traced to a new model or to new code. Nothing is checked out.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avec.verdicts import recipe_of

REPORT = "reports/latest.json"
MANIFEST = "fixtures/models/manifest.json"


@dataclass(frozen=True)
class Revision:
    """One commit that changed the report."""

    commit: str
    """Full commit hash."""
    date: str
    """Commit date, ``YYYY-MM-DD``."""
    subject: str
    """First line of the commit message."""


@dataclass(frozen=True)
class State:
    """A claim on a model as one revision of the report recorded it."""

    verdict: str
    rate: float | None
    """The claim's estimate: the pass rate (schema 1 reports) or the estimand among informative
    trials (schema 2); ``None`` where a schema-2 claim had no estimate."""
    model_sha256: str | None
    """The checkpoint's sha256 in the manifest of the same commit (``None`` if absent)."""
    recipe_verdict: str | None = None
    """The verdict of the model's recipe (the report's aggregate over training seeds; ``None``
    in reports without aggregates)."""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["failed"])[0]
        raise ValueError(f"git {' '.join(args)}: {message}")
    return done.stdout


def revisions(repo: Path, spec: str | None = None) -> list[Revision]:
    """Commits (oldest first) within ``spec`` (a git revision range; default: all of HEAD's
    history) that changed the report."""
    out = _git(repo, "log", "--reverse", "--format=%H%x09%cs%x09%s", spec or "HEAD", "--", REPORT)
    return [Revision(*line.split("\t", 2)) for line in out.splitlines() if line]


def _json_at(repo: Path, commit: str, path: str) -> Any:
    try:
        return json.loads(_git(repo, "show", f"{commit}:{path}"))
    except ValueError:
        return None


Table = dict[tuple[str, str], list["State | None"]]


def history(
    repo: Path,
    spec: str | None = None,
    progress: Callable[[list[Revision]], Iterable[Revision]] = iter,
) -> tuple[list[Revision], Table]:
    """The revisions, and per (claim, model) its :class:`State` at each (``None`` where that
    revision's report has no result for the pair). ``progress`` wraps the loop over revisions
    (e.g. a tqdm bar)."""
    revs = revisions(repo, spec)
    if not revs:
        raise ValueError(f"no commit in {spec or 'HEAD'} changed {REPORT}")
    table: Table = {}
    index = {rev.commit: i for i, rev in enumerate(revs)}
    for rev in progress(revs):
        i = index[rev.commit]
        report = _json_at(repo, rev.commit, REPORT)
        if not isinstance(report, dict) or not isinstance(report.get("results"), list):
            raise ValueError(f"{REPORT} at {rev.commit[:8]} is not an avec report")
        manifest = _json_at(repo, rev.commit, MANIFEST) or {}
        models = manifest.get("models", {}) if isinstance(manifest, dict) else {}
        aggregates = report.get("aggregates") or {}
        for r in report["results"]:
            states = table.setdefault((r["claim"], r["model"]), [None] * len(revs))
            sha = models.get(r["model"], {}).get("sha256")
            recipe = aggregates.get(r["claim"], {}).get("recipes", {}).get(recipe_of(r["model"]))
            states[i] = State(r["verdict"], _rate(r), sha, recipe and recipe["verdict"])
    return revs, dict(sorted(table.items()))


def _rate(result: dict) -> float | None:
    rate = result.get("rate", result.get("pass_rate"))
    return None if rate is None else float(rate)


def rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}"


def _state_text(state: State | None) -> str:
    if state is None:
        return "absent"
    sha = state.model_sha256[:8] if state.model_sha256 else "?"
    return f"{state.verdict} {rate_text(state.rate)} (model {sha})"


def _moves(values: list[Any]) -> list[tuple[int, Any]]:
    """``(index, value)`` where each new value starts; ``None`` (absent from that report) is
    skipped, so appearing or disappearing is not a change."""
    steps: list[tuple[int, Any]] = []
    for i, value in enumerate(values):
        if value is not None and (not steps or steps[-1][1] != value):
            steps.append((i, value))
    return steps


def recipe_verdicts(table: Table) -> dict[tuple[str, str], list[str | None]]:
    """Per (claim, recipe): the recipe's verdict at each revision (``None`` where absent)."""
    out: dict[tuple[str, str], list[str | None]] = {}
    for (claim, model), states in table.items():
        row = out.setdefault((claim, recipe_of(model)), [None] * len(states))
        for i, state in enumerate(states):
            if state is not None and state.recipe_verdict is not None:
                row[i] = state.recipe_verdict
    return dict(sorted(out.items()))


def lines(revs: list[Revision], table: Table, every: bool = False) -> list[str]:
    """The revisions, then one line per claim x recipe whose verdict changed between two
    reports that both judged it, with the number of changes; with ``every`` also one line per
    claim x model whose verdict or estimate moved. A count closes the list."""
    out = [f"{r.commit[:8]} {r.date} {r.subject}" for r in revs]
    recipes = recipe_verdicts(table)
    changed = 0
    for (claim, recipe), verdicts in recipes.items():
        steps = _moves(verdicts)
        if len(steps) > 1:
            changed += 1
            moves = " -> ".join(f"{v} @{revs[i].commit[:8]}" for i, v in steps)
            n = len(steps) - 1
            out.append(f"{claim} \u00d7 {recipe}: {moves} ({n} change{'s' * (n != 1)})")
    if every:
        for (claim, model), states in table.items():
            steps = _moves(states)
            if len(steps) > 1:
                moves = " -> ".join(f"{_state_text(s)} @{revs[i].commit[:8]}" for i, s in steps)
                out.append(f"  {claim} \u00d7 {model}: {moves}")
    out.append(
        f"{changed} of {len(recipes)} claim \u00d7 recipe verdicts changed over {len(revs)} "
        "revisions (appearing or disappearing is not a change)"
    )
    return out


def figure_data(revs: list[Revision], table: Table) -> dict[str, Any]:
    """The history figure's data (:func:`avec.verdict_plots.draw_history`): the claim x recipe
    rows whose verdict changed, one column per revision."""
    rows = [
        {"name": f"{claim} \u00d7 {recipe} ({len(_moves(v)) - 1})", "verdicts": v}
        for (claim, recipe), v in recipe_verdicts(table).items()
        if len(_moves(v)) > 1
    ]
    return {
        "title": f"claim \u00d7 recipe verdicts that changed ({len(rows)} rows; changes in "
        "brackets)",
        "columns": [f"{r.commit[:8]} {r.date}" for r in revs],
        "rows": rows,
    }


__all__ = [
    "Revision",
    "State",
    "figure_data",
    "history",
    "lines",
    "rate_text",
    "recipe_verdicts",
    "revisions",
]
