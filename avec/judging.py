"""What a claim test calls: the :class:`Judge` that measures, decides, shrinks and checks one
claim on one model, and the :class:`Report` it puts results and figures in.

The pytest plugin (:mod:`avec.pytest_plugin`) hands them out as the ``judge`` and ``report``
session fixtures over the run's state (record, results, figures); they are a thin layer over
:mod:`avec.verdicts` (deciding), :mod:`avec.record` (checking against the record) and
:mod:`avec.report` (drawing figures), plus the shrinking of a failing trial to a minimal
counterexample (:func:`shrink`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

from avec import families, record, verdicts
from avec import report as report_mod
from avec.layouts import Layout, from_ascii

T = TypeVar("T")


class Report:
    """Where a claim test puts its result and figures."""

    def __init__(self, run: Any) -> None:
        """``run``: the plugin's state of this run (record path, results, figures)."""
        self.run = run
        self.record = record.load_expected(run.record_path)

    def expected(self, claim: str, model: str) -> str | None:
        entry = self.record.get((claim, model))
        return None if entry is None else entry["verdict"]

    def add(
        self,
        claim: verdicts.Claim,
        result: dict[str, Any],
        figures: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.run.results.append(json.loads(json.dumps(result)))
        self.run.claim_texts[claim.name] = claim.text()
        for name, spec in (figures or {}).items():
            self._store(name, spec)

    def figure(self, name: str, kind: str, data: dict[str, Any]) -> None:
        self._store(name, {"kind": kind, "data": data})

    def _store(self, name: str, spec: dict[str, Any]) -> None:
        spec = json.loads(json.dumps(spec))
        self.run.figures[name] = spec
        self.run.drawn.pop(name, None)
        if self.run.worker:
            # An xdist worker draws its figures as they come, while the others still run
            # tests, instead of leaving them all to the controller at the end. One that cannot
            # be drawn is left to the controller, whose report.write says why.
            with contextlib.suppress(Exception):
                self.run.drawn[name] = report_mod.draw(spec)


class Judge:
    """Runs one claim on one model: measure the trials, decide, shrink, record, check.

    A claim module draws its trials (:mod:`avec.trials`: held-out levels in seed order) and
    supplies three functions: ``measure(trials) -> dict of arrays`` (one batched pass),
    ``outcome(measured) -> verdicts.Outcome`` (per judged unit: passed, informative, the
    layout it is on, reference arms) and ``effects(measured) -> {name: Estimate}``. With
    ``shrink_with`` (a structural Hypothesis strategy of single trials) a failing informative
    trial is shrunk to a minimal counterexample by re-measuring single trials.
    """

    def __init__(
        self, report: Report, recording: bool, gating: bool = True, command: str = "pytest claims/"
    ) -> None:
        self.report = report
        self.recording = recording
        self.gating = gating
        self.command = command

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
                minimal = shrink(shrink_with, lambda t: bool(outcome(measure([t])).failed().any()))
            if minimal is None:
                minimal = trials[found.trial_of(int(np.flatnonzero(failed)[0]))]
            stem = f"counterexample-{claim.name}-{model_id}"
            example = counterexample(minimal, figure=f"{stem}.png")
            self.report.figure(
                stem,
                "counterexample",
                _counterexample_data(claim, model_id, example, measure, outcome, minimal),
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
        record.check(result, recording=self.recording, gating=self.gating, command=self.command)
        return result


def _counterexample_data(
    claim: verdicts.Claim,
    model_id: str,
    example: dict[str, Any],
    measure: Callable[[list[Any]], dict[str, Any]],
    outcome: Callable[[dict[str, Any]], verdicts.Outcome],
    minimal: Any,
) -> dict[str, Any]:
    """The ``counterexample`` figure's data, re-measured on the failing trial alone: its level;
    at its first failing unit every per-unit number the claim measured (unsteered, steered,
    removal, null, ...), the bar the judged arm was held to (:class:`avec.verdicts.Bar`,
    where the claim states one), the agent's state (a measurement's ``agent_state``, or the
    episode's first state, its ``start_state``, for a claim judged on episodes) and the
    action probabilities per arm (its ``probs_<arm>``, ``(n, n_actions)``); and the claim's
    pass rule."""
    measured = measure([minimal])
    found = outcome(measured)
    failing = np.flatnonzero(found.failed())
    arms: dict[str, float] = {}
    data: dict[str, Any] = {}
    if len(failing):
        unit, n = int(failing[0]), len(found.passed)
        for name, values in measured.items():
            if isinstance(values, np.ndarray) and values.shape == (n,):
                if values.dtype.kind == "f":
                    arms[name] = float(values[unit])
                elif values.dtype.kind == "b":
                    arms[f"{name} (1 = yes)"] = float(values[unit])
        for key, what in (("agent_state", "failing"), ("start_state", "start")):
            state = measured.get(key)
            if isinstance(state, np.ndarray) and state.shape == (n, 3):
                data["state"], data["state_is"] = [int(v) for v in state[unit]], what
        probabilities = {
            name.removeprefix("probs_"): [float(p) for p in values[unit]]
            for name, values in measured.items()
            if name.startswith("probs_") and isinstance(values, np.ndarray) and values.ndim == 2
        }
        if probabilities:
            data["probabilities"] = probabilities
            layout = from_ascii(example["ascii"])
            data["actions"] = list(families.of(layout).action_names)
        if found.bar is not None:
            data["bar"] = {
                "arm": found.bar.arm,
                "value": float(found.bar.values[unit]),
                "side": found.bar.side,
            }
    return {
        "title": f"{claim.name}: {model_id}",
        "ascii": example["ascii"],
        "with": example.get("with", ""),
        "arms": arms,
        "rule": _rule(claim.trial),
        **data,
    }


def shrink(
    strategy: st.SearchStrategy[T], fails: Callable[[T], bool], budget: int = 25
) -> T | None:
    """A minimal example on which ``fails`` is true, found by Hypothesis' shrinker, or ``None``
    if Hypothesis draws no failing example.

    ``fails`` is called at most ``budget`` times on new examples: after that, an example not
    yet seen counts as passing, so the shrinker keeps the smallest failure found so far. (Each
    call may run rollouts; an unbounded shrink could cost minutes per claim.) Answers are
    memoized, so a replayed example always gets the same answer.
    """
    answers: dict[str, bool] = {}

    def condition(example: T) -> bool:
        key = repr(example)
        if key not in answers:
            answers[key] = len(answers) < budget and bool(fails(example))
        return answers[key]

    try:
        with _without_local_constants():
            return find(
                strategy,
                condition,
                settings=settings(
                    max_examples=budget,
                    # No explain phase: it re-runs the condition many times under a tracer.
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    database=None,
                    derandomize=True,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                ),
            )
    except (NoSuchExample, Unsatisfiable):
        return None


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis without the integers, floats and strings it collects from the source of the
    modules it deems local (all of ``avec`` and the tests, when installed editable): with them,
    a new literal anywhere in the code, or a module imported earlier in one worker than in
    another, would change which examples it draws and so which counterexample a shrink finds.
    Only the global constants remain, so a shrink depends on its strategy and seed alone."""
    original = providers._get_local_constants
    providers._get_local_constants = Constants
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        providers.CONSTANTS_CACHE.cache.clear()


def counterexample(example: Any, figure: str | None = None) -> dict[str, Any]:
    """JSON form of a failing trial: its first layout as ASCII, any further layouts under
    ``more_layouts``, and its other parts (seeds, coefficients, ...) under ``with``."""
    parts = example if isinstance(example, tuple) else (example,)
    layouts = [part.to_ascii() for part in parts if isinstance(part, Layout)]
    others = tuple(part for part in parts if not isinstance(part, Layout))
    data: dict[str, Any] = {"ascii": layouts[0] if layouts else repr(example)}
    if len(layouts) > 1:
        data["more_layouts"] = layouts[1:]
    if others and layouts:
        data["with"] = repr(others)
    if figure:
        data["figure"] = figure
    return data


def _rule(trial: str) -> str:
    """The sentence of a claim's trial text that says when a trial passes ("Passes when ...",
    to the end of its sentence: a full stop before a capital or the end)."""
    found = re.search(r"[Pp]asses when .*?\.(?=\s+[A-Z(]|\s*$)", trial, flags=re.S)
    return found.group(0)[0].upper() + found.group(0)[1:] if found else ""


__all__ = ["Judge", "Report", "counterexample", "shrink"]
