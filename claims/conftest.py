"""The claims suite's plumbing: the zoo as parameters, the committed record, the report.

* Every claim test is parametrized over the zoo (``model_params(family)``), with readable ids
  such as ``doorkey5-ppo-mlp-s0``; a newly trained model gets every claim for free.
* ``claims/expected.toml`` (see :mod:`avec.verdicts`) marks each (claim, model) recorded as not
  holding ``xfail(strict=True)``, raising exactly the exception of the recorded verdict.
* Each test hands its result and figures to the ``report`` fixture. Under xdist the workers
  send theirs to the controller; at the end of a full run (``pytest claims/``) the controller
  writes ``reports/latest.json``, ``latest.md`` and ``figures/``. A partial run (``-k``, one
  file) writes to ``reports/partial/`` instead, so the committed record stays whole.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import settings

from avec import report as report_mod
from avec import training, verdicts, zoo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXPECTED = HERE / "expected.toml"
REPORTS = ROOT / "reports"

_results: list[dict[str, Any]] = []
_figures: dict[str, dict[str, Any]] = {}
_claim_texts: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-expected",
        action="store_true",
        help="rewrite claims/expected.toml from this run's verdicts (a deliberate act)",
    )


def model_params(family: str | None = None, recipe_contains: str = "") -> list[Any]:
    """``pytest.param`` per committed model (of ``family``), with the model id as test id."""
    return [
        pytest.param(model_id, id=model_id)
        for model_id in zoo.model_ids(family=family)
        if recipe_contains in model_id
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    record = verdicts.load_expected(EXPECTED)
    for item in items:
        marker = item.get_closest_marker("claim")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "model_id" not in callspec.params:
            continue
        entry = record.get((marker.args[0], callspec.params["model_id"]))
        if entry is None or entry["verdict"] == "holds":
            continue
        raises = verdicts.ClaimFails if entry["verdict"] == "fails" else verdicts.ClaimInconclusive
        item.add_marker(
            pytest.mark.xfail(
                strict=True, raises=raises, reason=f"recorded {entry['verdict']}: {entry['reason']}"
            )
        )


class Report:
    """Where a claim test puts its result and figures."""

    def __init__(self) -> None:
        self.record = verdicts.load_expected(EXPECTED)

    def expected(self, claim: str, model: str) -> str | None:
        entry = self.record.get((claim, model))
        return None if entry is None else entry["verdict"]

    def add(
        self,
        claim: verdicts.Claim,
        result: dict[str, Any],
        figures: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        _results.append(json.loads(json.dumps(result)))
        _claim_texts[claim.name] = claim.text()
        for name, spec in (figures or {}).items():
            _figures[name] = json.loads(json.dumps(spec))

    def figure(self, name: str, kind: str, data: dict[str, Any]) -> None:
        _figures[name] = json.loads(json.dumps({"kind": kind, "data": data}))


@pytest.fixture(scope="session")
def report() -> Report:
    return Report()


class Judge:
    """Runs one claim on one model: measure the trials, decide, shrink, record, check.

    A claim module draws its trials (:mod:`avec.trials`: held-out levels in seed order) and
    supplies three functions: ``measure(trials) -> dict of arrays`` (one batched pass),
    ``outcome(measured) -> verdicts.Outcome`` (per judged unit: passed, informative, the
    layout it is on, reference arms) and ``effects(measured) -> {name: Estimate}``. With
    ``shrink_with`` (a structural Hypothesis strategy of single trials) a failing informative
    trial is shrunk to a minimal counterexample by re-measuring single trials.
    """

    def __init__(self, report: Report, recording: bool) -> None:
        self.report = report
        self.recording = recording

    def __call__(
        self,
        claim: verdicts.Claim,
        model_id: str,
        trials: list[Any],
        measure: Callable[[list[Any]], dict[str, Any]],
        outcome: Callable[[dict[str, Any]], verdicts.Outcome],
        effects: Callable[[dict[str, Any]], dict[str, Any]],
        shrink_with: Any = None,
        figures: Callable[[list[Any], dict[str, Any]], dict[str, dict[str, Any]]] | None = None,
        notes: str | None = None,
    ) -> dict[str, Any]:
        measured = measure(trials)
        found = outcome(measured)
        failed = found.failed()
        example = None
        if failed.any():
            minimal = None
            if shrink_with is not None:
                minimal = verdicts.shrink(
                    shrink_with, lambda t: bool(outcome(measure([t])).failed().any())
                )
            if minimal is None:
                minimal = trials[found.trial_of(int(np.flatnonzero(failed)[0]))]
            stem = f"counterexample-{claim.name}-{model_id}"
            example = verdicts.counterexample(minimal, figure=f"{stem}.png")
            self.report.figure(
                stem, "layout", {"title": f"{claim.name}: {model_id}", "ascii": example["ascii"]}
            )
        result = verdicts.decide(
            claim,
            model_id,
            found.passed,
            found.informative,
            found.clusters,
            found.references,
            effects(measured),
            example,
            self.report.expected(claim.name, model_id),
            notes,
        )
        self.report.add(claim, result, figures(trials, measured) if figures else None)
        verdicts.check(result, recording=self.recording)
        return result


@pytest.fixture(scope="session")
def judge(report: Report, pytestconfig: pytest.Config) -> Judge:
    return Judge(report, recording=pytestconfig.getoption("--update-expected"))


_agents: dict[str, zoo.Agent] = {}


@pytest.fixture(scope="session")
def load_agent():
    """``load_agent(model_id)``: the committed model, loaded once per worker."""

    def load(model_id: str) -> zoo.Agent:
        if model_id not in _agents:
            _agents[model_id] = zoo.load(model_id)
        return _agents[model_id]

    return load


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_testnodedown(node: Any, error: Any) -> None:
    data = json.loads(node.workeroutput.get("avec_report", "{}") or "{}")
    _results.extend(data.get("results", []))
    _figures.update(data.get("figures", {}))
    _claim_texts.update(data.get("claim_texts", {}))


def _full_run(session: pytest.Session) -> bool:
    config = session.config
    if config.option.keyword or config.option.markexpr or getattr(config.option, "lf", False):
        return False
    return [Path(a.split("::")[0]).resolve() for a in config.args] == [HERE]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config):
        config.workeroutput["avec_report"] = json.dumps(
            {"results": _results, "figures": _figures, "claim_texts": _claim_texts}
        )
        return
    if not _results and not _figures:
        return
    out = REPORTS if _full_run(session) else REPORTS / "partial"
    out.mkdir(parents=True, exist_ok=True)
    generated_by = {
        "versions": {**training.versions(), **_library_versions(), "avec": _avec_version()},
        "profile": settings.get_current_profile_name(),
        "python_platform": platform.machine(),
        "models": sorted({r["model"] for r in _results}),
    }
    report_mod.write(out, _results, _figures, generated_by, _claim_texts)
    if config.getoption("--update-expected"):
        verdicts.write_expected(EXPECTED, _results, verdicts.load_expected(EXPECTED))


def _library_versions() -> dict[str, str]:
    """Versions of the libraries a verdict depends on beyond the training stack: Hypothesis
    (shrinking, profiles), scipy (every interval), matplotlib (figures), pytest and xdist."""
    from importlib.metadata import version

    names = ("hypothesis", "scipy", "matplotlib", "pytest", "pytest-xdist")
    return {name.replace("-", "_"): version(name) for name in names}


def _avec_version() -> str:
    import avec

    return avec.__version__
