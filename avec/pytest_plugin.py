"""avec's pytest plugin: claim tests judged on a models folder, and a record that stays whole.

Shipped as a ``pytest11`` entry point, so any project with avec installed can run the claims on
its own agents. It is inert unless a run collects from the claims folder (ini option
``avec_claims``, default ``claims`` under the rootdir). Then:

* **Models.** Claim modules parametrize over ``model_params(family)``: one ``pytest.param``
  per model of the models folder -- the committed ``fixtures/models`` or ``--avec-models DIR``
  (any folder with a ``manifest.json``, e.g. filled by ``avec zoo add``). A missing folder or
  manifest is an error, not an empty zoo. The ``load_agent`` fixture loads each model once per
  process, through :func:`avec.zoo.load` (tensors only, nothing unpickled).
* **The record.** ``claims/expected.toml`` holds each (claim, model)'s verdict; for another
  models folder, ``DIR/expected.toml``. Under the ``ci`` profile a verdict other than the
  recorded one fails its test with ``claim × model: recorded X, now Y (...)``, and a claim
  recorded as not holding is ``xfail(strict=True)``. Under any other profile verdicts are
  reported, not gated. ``--update-expected`` writes the run's verdicts into the record -- only
  under ``ci``, and only when every test it ran reached its verdict (a selection updates the
  entries it judged). The record is written under a lock, and only if no other run rewrote it
  since this one started (two runs at once: the later is refused, not silently kept).
* **Not applicable.** A claim with no model of the folder to judge (a maze claim and no maze
  agent, a claim across training seeds and one seed per recipe) is *not applicable*: its test
  is skipped, recorded as such (``[claim] "*" = { verdict = "not applicable" }``) and gated like
  a verdict. Every hint names the command run, with its ``--avec-models DIR``.
* **The report.** Results and figures go to the ``report`` fixture; xdist workers hand theirs
  to the controller. ``reports/latest.*`` (for ``--avec-models DIR``: ``DIR/reports/latest.*``)
  is written only by a *complete* run: the whole claims folder, nothing deselected, no ``-x``,
  the ``ci`` profile, not interrupted, no crashed worker, every test at its verdict. Anything
  else writes ``reports/partial/`` (or nothing, if no claim reached a verdict), and the
  terminal summary says where and why. Every write is staged and renamed into place.

The :class:`Judge` and :class:`Report` fixtures are a thin layer over :mod:`avec.verdicts`
(drawing, deciding, checking) and :mod:`avec.report` (building, writing).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import avec
from avec import record as record_mod
from avec import report as report_mod
from avec import training, verdicts, zoo
from avec.judging import Judge, Report

GATED_PROFILE = "ci"
"""The profile whose verdicts are the committed record."""


@dataclass
class _Run:
    """What one pytest process knows about the claims run."""

    claims_dir: Path
    models_dir: Path
    record_path: Path
    reports_dir: Path
    active: bool
    recording: bool
    profile: str = ""
    worker: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    drawn: dict[str, bytes] = field(default_factory=dict)
    claim_texts: dict[str, str] = field(default_factory=dict)
    agents: dict[str, zoo.Agent] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    reached: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)
    crashed: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    command: str = "pytest claims/"
    """The command of this run, as a hint to re-record repeats it."""
    not_applicable: dict[str, str] = field(default_factory=dict)
    """Claims with no model of the folder to judge, and why."""
    record_seen: bytes | None = None
    """The record's bytes when the run started (None: no record), to refuse a lost update."""

    @property
    def gating(self) -> bool:
        return self.profile == GATED_PROFILE


_RUN = pytest.StashKey[_Run]()
_OUTER = pytest.StashKey["_Run | None"]()
_REACHED = ("avec_verdict", "reached")
_NOT_APPLICABLE = "avec_not_applicable"
_NA_ITEM = pytest.StashKey[tuple[str, str]]()
_current: _Run | None = None
"""The run of this process, for ``model_params`` (called while claim modules are imported)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("avec", "avec claims")
    group.addoption(
        "--update-expected",
        action="store_true",
        help="rewrite the record (claims/expected.toml) from this run's verdicts, on purpose; "
        "ci profile only",
    )
    group.addoption(
        "--avec-models",
        metavar="DIR",
        default=None,
        help="judge the models of DIR (a folder with manifest.json) instead of the committed "
        "zoo; the record is DIR/expected.toml and reports go to DIR/reports/",
    )
    parser.addini(
        "avec_claims", "folder of the claim modules, relative to the rootdir", default="claims"
    )


def pytest_configure(config: pytest.Config) -> None:
    global _current
    config.addinivalue_line("markers", "claim(name): the claim of the conjecture a test decides")
    claims_dir = (config.rootpath / config.getini("avec_claims")).resolve()
    option = config.getoption("--avec-models")
    models_dir = Path(option).resolve() if option else zoo.MODELS_DIR
    if models_dir == zoo.MODELS_DIR.resolve():
        record_path, reports_dir = claims_dir / "expected.toml", config.rootpath / "reports"
    else:
        record_path, reports_dir = models_dir / "expected.toml", models_dir / "reports"
    args = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    active = any(
        a == claims_dir or claims_dir in a.parents or a in claims_dir.parents for a in args
    )
    run = _Run(
        claims_dir,
        models_dir,
        record_path,
        reports_dir,
        active,
        recording=bool(config.getoption("--update-expected")),
        worker=hasattr(config, "workerinput"),
        command="pytest claims/" + (f" --avec-models {option}" if option else ""),
    )
    config.stash[_RUN] = run
    # A pytest run inside a pytest run (pytester) restores the outer run when it ends.
    config.stash[_OUTER] = _current
    _current = run


def pytest_unconfigure(config: pytest.Config) -> None:
    global _current
    _current = config.stash.get(_OUTER, None)


def pytest_sessionstart(session: pytest.Session) -> None:
    run = session.config.stash[_RUN]
    if not run.active:
        return
    run.profile = settings.get_current_profile_name()
    if run.recording and not run.gating:
        raise pytest.UsageError(
            f"--update-expected records {GATED_PROFILE}-profile verdicts only; this run uses "
            f"the {run.profile!r} profile"
        )
    try:
        models = set(zoo.model_ids(run.models_dir))
        record = record_mod.load_expected(run.record_path)
        run.record_seen = run.record_path.read_bytes() if run.record_path.exists() else None
    except (zoo.CheckpointError, ValueError) as error:
        raise pytest.UsageError(str(error)) from None
    except OSError as error:
        raise pytest.UsageError(
            f"cannot read the record {run.record_path}: {error.strerror or error}"
        ) from None
    if not models:
        raise pytest.UsageError(
            f"{run.models_dir / 'manifest.json'} lists no models; add one with "
            f"`avec zoo add RUN_DIR --env ENV_ID --models-dir {run.models_dir}`"
        )
    unknown = record_mod.unknown_entries(record, None, models | {verdicts.NO_MODEL})
    if unknown:
        raise pytest.UsageError(
            f"{run.record_path} has entries for models not in "
            f"{run.models_dir / 'manifest.json'}: {', '.join(unknown)}"
        )


def model_params(family: str | None = None, recipe_contains: str = "") -> list[Any]:
    """``pytest.param`` per model of the run's models folder (of ``family``) that meets its
    success bar (:func:`avec.zoo.below_bar`), id = model id."""
    models_dir = _current.models_dir if _current else zoo.MODELS_DIR
    return [
        pytest.param(model_id, id=model_id)
        for model_id in zoo.model_ids(models_dir, family=family, trained_only=True)
        if recipe_contains in model_id
    ]


def models_dir() -> Path:
    """The models folder the running claims suite judges."""
    return _current.models_dir if _current else zoo.MODELS_DIR


def _mark_not_applicable(run: _Run, items: list[pytest.Item]) -> None:
    """A claim test parametrized over no model (pytest's "empty parameter set") is not
    applicable to the folder: skipped with that reason, reported as such to the controller."""
    for item in items:
        claim = item.get_closest_marker("claim")
        empty = [
            m
            for m in getattr(item, "own_markers", [])
            if m.name == "skip" and str(m.kwargs.get("reason", "")).startswith("got empty")
        ]
        if claim is None or not empty:
            continue
        why = f"no model of {run.models_dir} meets what this claim judges (family, seeds, bar)"
        item.own_markers = [m for m in item.own_markers if m not in empty]
        item.add_marker(pytest.mark.skip(reason=f"{verdicts.NOT_APPLICABLE}: {why}"))
        item.stash[_NA_ITEM] = (claim.args[0], why)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash[_RUN]
    if run.active:
        _mark_not_applicable(run, items)
    if not run.active or not run.gating or run.recording:
        return
    record = record_mod.load_expected(run.record_path)
    for item in items:
        marker = item.get_closest_marker("claim")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "model_id" not in callspec.params:
            continue
        entry = record.get((marker.args[0], callspec.params["model_id"]))
        if entry is None or entry["verdict"] == "holds":
            continue
        raises = (
            record_mod.ClaimFails if entry["verdict"] == "fails" else record_mod.ClaimInconclusive
        )
        item.add_marker(
            pytest.mark.xfail(
                strict=True, raises=raises, reason=f"recorded {entry['verdict']}: {entry['reason']}"
            )
        )
        _short_repr(item, raises)


def _short_repr(item: pytest.Item, expected: type[BaseException]) -> None:
    """Report the recorded verdict's exception by its message alone. Its traceback says
    nothing the message does not, and pytest's would parse the source of every file on it --
    about 0.1 s per test, for each of the hundreds of claims recorded as not holding."""
    full = item.repr_failure

    def repr_failure(excinfo: pytest.ExceptionInfo[BaseException], **kwargs: Any) -> Any:
        if excinfo.type is expected:
            return f"{excinfo.typename}: {excinfo.value}"
        return full(excinfo, **kwargs)

    item.repr_failure = repr_failure  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.when == "setup" and _NA_ITEM in item.stash:
        report.user_properties.append((_NOT_APPLICABLE, json.dumps(item.stash[_NA_ITEM])))
    # Marked here, where the exception is at hand; the controller reads the mark.
    if (
        item.config.stash[_RUN].active
        and call.when == "call"
        and (call.excinfo is None or call.excinfo.errisinstance(record_mod.VERDICT_EXCEPTIONS))
    ):
        report.user_properties.append(_REACHED)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    run = _current
    if run is None or not run.active:
        return
    if report.when == "setup":
        run.started.add(report.nodeid)
        for name, value in report.user_properties:
            if name == _NOT_APPLICABLE:
                claim, why = json.loads(value)
                run.not_applicable[claim] = why
                run.reached.add(report.nodeid)
    if report.when == "call" and any(tuple(p) == _REACHED for p in report.user_properties):
        run.reached.add(report.nodeid)
    elif report.failed:
        run.errors.add(report.nodeid)


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> Report:
    return Report(pytestconfig.stash[_RUN])


@pytest.fixture(scope="session")
def judge(report: Report, pytestconfig: pytest.Config) -> Judge:
    run = pytestconfig.stash[_RUN]
    return Judge(report, recording=run.recording, gating=run.gating, command=run.command)


@pytest.fixture(scope="session")
def load_agent(pytestconfig: pytest.Config) -> Callable[[str], zoo.Agent]:
    """``load_agent(model_id)``: a model of the run's models folder, loaded once per process."""
    run = pytestconfig.stash[_RUN]

    def load(model_id: str) -> zoo.Agent:
        if model_id not in run.agents:
            run.agents[model_id] = zoo.load(model_id, run.models_dir)
        return run.agents[model_id]

    return load


# -- the end of the run: workers hand over, the controller writes -----------------------------


def pytest_testnodedown(node: Any, error: Any) -> None:
    run = _current
    output = getattr(node, "workeroutput", None)
    if run is None or not run.active:
        return
    if error is not None or output is None or "avec_report" not in output:
        # A worker that died never sent its results: the run cannot be complete.
        run.crashed.append(str(getattr(getattr(node, "gateway", None), "id", node)))
        return
    data = json.loads(output["avec_report"])
    run.results.extend(data["results"])
    run.figures.update(data["figures"])
    for name in data["figures"]:
        run.drawn.pop(name, None)
    run.drawn.update({name: base64.b64decode(png) for name, png in data["drawn"].items()})
    run.claim_texts.update(data["claim_texts"])


def _incomplete(session: pytest.Session, run: _Run, exitstatus: int) -> tuple[list[str], list[str]]:
    """Why this run is not a complete run of the whole claims folder: how it was narrowed
    (a selection), and what went wrong (a fault). Both empty for a complete run."""
    config, option = session.config, session.config.option
    selection, faults = [], []
    args = [Path(str(a).split("::")[0]).resolve() for a in config.args]
    if args != [run.claims_dir] or any("::" in str(a) for a in config.args):
        selection.append(f"selected {' '.join(map(str, config.args))}, not the claims folder")
    for name, flag in (
        ("keyword", "-k"),
        ("markexpr", "-m"),
        ("lf", "--lf"),
        ("deselect", "--deselect"),
        ("ignore", "--ignore"),
        ("ignore_glob", "--ignore-glob"),
        ("stepwise", "--sw"),
        ("maxfail", "-x/--maxfail"),
    ):
        if getattr(option, name, None):
            selection.append(f"{flag} given")
    if exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop or session.shouldfail:
        faults.append("interrupted")
    if run.crashed:
        faults.append(f"worker(s) {', '.join(run.crashed)} crashed")
    unreached = sorted((run.started - run.reached) | run.errors)
    if unreached:
        faults.append(f"{len(unreached)} test(s) did not reach a verdict: {', '.join(unreached)}")
    if len(run.started) != session.testscollected:
        faults.append(f"{len(run.started)} of {session.testscollected} collected tests ran")
    return selection, faults


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash[_RUN]
    if not run.active:
        return
    if hasattr(config, "workerinput"):
        drawn = {name: base64.b64encode(png).decode("ascii") for name, png in run.drawn.items()}
        config.workeroutput["avec_report"] = json.dumps(
            {
                "results": run.results,
                "figures": run.figures,
                "drawn": drawn,
                "claim_texts": run.claim_texts,
            }
        )
        return
    selection, faults = _incomplete(session, run, exitstatus)
    reasons = selection + faults
    record = record_mod.load_expected(run.record_path)
    if run.gating and not run.recording:
        unrecorded = [
            claim
            for claim in sorted(run.not_applicable)
            if record.get((claim, verdicts.NO_MODEL), {}).get("verdict") != verdicts.NOT_APPLICABLE
        ]
        if unrecorded:
            _fail(
                session,
                run,
                f"{', '.join(unrecorded)}: not applicable to {run.models_dir}, which "
                f"{run.record_path} does not record; run {run.command} --update-expected",
            )
    if not reasons:
        judged = {r["claim"] for r in run.results}
        models = {r["model"] for r in run.results}
        unknown = record_mod.unknown_entries(
            {k: v for k, v in record.items() if k[1] != verdicts.NO_MODEL}, judged, models
        ) + [
            f"[{claim}] {model} (now judged)"
            for claim, model in sorted(record)
            if model == verdicts.NO_MODEL and claim in judged and not run.recording
        ]
        if unknown:
            _fail(
                session,
                run,
                f"{run.record_path} has entries no claim test judged: {unknown}; "
                f"run {run.command} --update-expected",
            )
            reasons.append("the record names unknown claims or models")
    if not run.gating:
        reasons.append(f"profile {run.profile!r}, not {GATED_PROFILE!r}")
    if not run.results:
        run.summary.append("no claim reached a verdict; no report written")
        return
    out = run.reports_dir if not reasons else run.reports_dir / "partial"
    results = run.results
    if run.recording and not faults:
        # The record is rewritten from these verdicts below, so the report states the record
        # as it will be -- what a later run of the same code reads and reproduces.
        results = [{**r, "expected": r["verdict"]} for r in run.results]
    manifest = zoo.manifest(run.models_dir)
    generated_by = {
        "versions": {**training.versions(), **_library_versions(), "avec": avec.__version__},
        "profile": run.profile,
        "python_platform": platform.machine(),
        "models": sorted({r["model"] for r in run.results}),
        "not_judged": zoo.below_bar(manifest),
        "beside_random": zoo.beside_random(manifest),
        "not_applicable": dict(sorted(run.not_applicable.items())),
    }
    try:
        report_mod.write(out, results, run.figures, generated_by, run.claim_texts, run.drawn)
    except OSError as error:
        _fail(session, run, f"cannot write the report to {out}: {error.strerror or error}")
        return
    except Exception as error:  # a figure that cannot be drawn: say so, keep the record
        _fail(session, run, f"cannot write the report to {out}: {type(error).__name__}: {error}")
        return
    if reasons:
        run.summary.append(
            f"partial run ({'; '.join(reasons)}): report written to {out}/, "
            f"{run.reports_dir}/latest.* untouched"
        )
    else:
        run.summary.append(f"complete run: report written to {out}/latest.*")
    if run.recording:
        # A selection updates the entries it judged; a fault leaves the record alone.
        if faults:
            message = f"--update-expected: {'; '.join(faults)}; {run.record_path} untouched"
            _fail(session, run, message)
            return
        try:
            with _record_lock(run.record_path):
                now = run.record_path.read_bytes() if run.record_path.exists() else None
                if now != run.record_seen:
                    _fail(
                        session,
                        run,
                        f"{run.record_path} was rewritten by another run while this one ran; "
                        f"not overwritten: run {run.command} --update-expected again",
                    )
                    return
                old = record_mod.load_expected(run.record_path)
                record_mod.write_expected(
                    run.record_path, run.results, old, run.not_applicable, run.command
                )
        except OSError as error:
            _fail(session, run, f"cannot write {run.record_path}: {error.strerror or error}")
            return
        run.summary.append(f"record updated: {run.record_path}")


@contextlib.contextmanager
def _record_lock(path: Path) -> Any:
    """An exclusive lock on the record's folder while the record is compared and rewritten
    (``flock`` on the folder itself: no lock file is left beside the record)."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fail(session: pytest.Session, run: _Run, message: str) -> None:
    run.summary.append(f"ERROR: {message}")
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    run = terminalreporter.config.stash.get(_RUN, None)
    for line in run.summary if run else []:
        terminalreporter.write_line(f"avec: {line}", red=line.startswith("ERROR"))


__all__ = ["GATED_PROFILE", "Judge", "Report", "model_params", "models_dir"]


def _library_versions() -> dict[str, str]:
    """Versions of the libraries a verdict depends on beyond the training stack: Hypothesis
    (shrinking, profiles), scipy (every interval), numba (the engine), matplotlib (figures),
    pytest and xdist."""
    names = ("hypothesis", "scipy", "numba", "matplotlib", "pytest", "pytest-xdist")
    return {name.replace("-", "_"): metadata.version(name) for name in names}
