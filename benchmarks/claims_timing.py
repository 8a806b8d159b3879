"""A pytest plugin for ``benchmarks/claims.py``: where a claims run's time goes, per process.

Loaded with ``-p claims_timing`` (``benchmarks/`` on ``PYTHONPATH``) in the controller and in
every xdist worker. It wraps the functions that do each kind of work and charges the time to
the innermost one running (a rollout's forward pass is *policy* even though it runs inside a
shrink), so the parts add up to each process's time:

* ``startup+collection`` -- process start to the first test (imports, numba's cached
  kernels, loading the claim modules, collecting);
* ``env`` -- start-state observations, episode resets and steps (engine or MiniGrid);
* ``levels`` -- drawing levels from the generators;
* ``policy`` -- forward passes (action probabilities, activations for vectors);
* ``Hypothesis`` -- shrinking counterexamples (the search itself, beyond the env and policy
  work its re-measurements do);
* ``report`` -- drawing figures (workers) and writing the report (controller);
* ``claims code`` -- the rest of the tests: metrics, statistics, vector bookkeeping, fixtures.

Each process writes ``{"pid", "worker", "started", "first_test", "ended", "seconds"}`` to a
JSON file in ``$AVEC_TIMING_DIR`` when its session ends.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from avec import envs as avec_envs
from avec import families, hooks, report, rollouts, verdicts


def _process_start() -> float:
    """Wall-clock time this process started (Linux ``/proc``; else this module's import)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


STARTED = _process_start()
_seconds: dict[str, float] = defaultdict(float)
_stack: list[str] = []
_last = time.perf_counter()
_first_test: float | None = None


def _charge() -> None:
    global _last
    now = time.perf_counter()
    if _stack:
        _seconds[_stack[-1]] += now - _last
    _last = now


def _timed(category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _charge()
        _stack.append(category)
        try:
            return fn(*args, **kwargs)
        finally:
            _charge()
            _stack.pop()

    return wrapper


def _wrap(owner: Any, name: str, category: str) -> None:
    setattr(owner, name, _timed(category, getattr(owner, name)))


for _owner, _name, _category in (
    (avec_envs, "observe", "env"),
    (avec_envs, "make", "env"),
    (rollouts._EngineEpisodes, "__init__", "env"),
    (rollouts._EngineEpisodes, "step", "env"),
    (rollouts._EnvEpisodes, "__init__", "env"),
    (rollouts._EnvEpisodes, "step", "env"),
    (families.Family, "generate", "levels"),
    (rollouts, "action_probabilities", "policy"),
    (hooks, "run", "policy"),
    (verdicts, "shrink", "Hypothesis"),
    (report, "draw", "report"),
    (report, "write", "report"),
):
    _wrap(_owner, _name, _category)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Any:
    global _first_test
    if _first_test is None:
        _first_test = time.time()
    _charge()
    _stack.append("claims code")
    try:
        return (yield)
    finally:
        _charge()
        _stack.pop()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Any:
    _charge()
    _stack.append("report" if not hasattr(session.config, "workerinput") else "claims code")
    try:
        return (yield)
    finally:
        _charge()
        _stack.pop()
        _write(session.config)


def _write(config: pytest.Config) -> None:
    folder = os.environ.get("AVEC_TIMING_DIR")
    if not folder:
        return
    worker = getattr(config, "workerinput", {}).get("workerid", "controller")
    record = {
        "pid": os.getpid(),
        "worker": worker,
        "started": STARTED,
        "first_test": _first_test,
        "ended": time.time(),
        "seconds": dict(_seconds),
    }
    (Path(folder) / f"{worker}-{os.getpid()}.json").write_text(json.dumps(record))
