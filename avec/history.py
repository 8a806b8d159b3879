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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def history(
    repo: Path, spec: str | None = None
) -> tuple[list[Revision], dict[tuple[str, str], list[State | None]]]:
    """The revisions, and per (claim, model) its :class:`State` at each (``None`` where that
    revision's report has no result for the pair)."""
    revs = revisions(repo, spec)
    if not revs:
        raise ValueError(f"no commit in {spec or 'HEAD'} changed {REPORT}")
    table: dict[tuple[str, str], list[State | None]] = {}
    for i, rev in enumerate(revs):
        report = _json_at(repo, rev.commit, REPORT)
        if not isinstance(report, dict) or not isinstance(report.get("results"), list):
            raise ValueError(f"{REPORT} at {rev.commit[:8]} is not an avec report")
        manifest = _json_at(repo, rev.commit, MANIFEST) or {}
        models = manifest.get("models", {}) if isinstance(manifest, dict) else {}
        for r in report["results"]:
            states = table.setdefault((r["claim"], r["model"]), [None] * len(revs))
            sha = models.get(r["model"], {}).get("sha256")
            states[i] = State(r["verdict"], _rate(r), sha)
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


def lines(revs: list[Revision], table: dict[tuple[str, str], list[State | None]]) -> list[str]:
    """The revisions, then one line per claim x model whose state changed: each distinct state
    with the commit it first appeared at, ``->`` between them."""
    out = [f"{r.commit[:8]} {r.date} {r.subject}" for r in revs]
    changed = 0
    for (claim, model), states in table.items():
        steps = []
        for rev, state in zip(revs, states, strict=True):
            if not steps or steps[-1][1] != state:
                steps.append((rev, state))
        if len(steps) > 1:
            changed += 1
            moves = " -> ".join(f"{_state_text(s)} @{r.commit[:8]}" for r, s in steps)
            out.append(f"{claim} \u00d7 {model}: {moves}")
    out.append(
        f"{changed} of {len(table)} claim \u00d7 model pairs changed over {len(revs)} revisions"
    )
    return out


__all__ = ["Revision", "State", "history", "lines", "rate_text", "revisions"]
