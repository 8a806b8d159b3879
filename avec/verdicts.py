"""From trials to verdicts: how a claim of the conjecture is decided and recorded.

A *claim* is a property of a trained agent, judged on many *trials*. A trial is one example
Hypothesis draws -- a layout, with its paired without-feature version, and where behaviour is
sampled, a rollout seed -- on which the claim's per-trial predicate is decided. Trials are
recorded, not raised, so every one counts. The verdict then comes from a 95% Wilson interval
on the pass rate against the claim's threshold, declared in the claim module before any data
is seen:

* **holds** -- the interval's lower end reaches the threshold;
* **fails** -- its upper end lies below the threshold;
* **inconclusive** -- anything else: more trials are needed, not a verdict.

The committed record ``claims/expected.toml`` says which verdict each claim has on each model.
The claims suite marks a claim recorded as *fails* ``xfail(strict=True, raises=ClaimFails)``
and one recorded as *inconclusive* ``xfail(strict=True, raises=ClaimInconclusive)``, so
``pytest claims/`` passes exactly when every verdict matches the record: a claim that starts
or stops holding fails the run until the record is updated on purpose
(``pytest claims/ --update-expected``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from avec import atomic, stats
from avec.layouts import Layout

T = TypeVar("T")

VERDICTS = ("holds", "fails", "inconclusive")


class ClaimFails(AssertionError):
    """The claim's pass rate is credibly below its threshold."""


class ClaimInconclusive(AssertionError):
    """The claim's interval straddles its threshold."""


class ClaimUnrecorded(AssertionError):
    """The committed record has no verdict for this claim and model."""


@dataclass(frozen=True)
class Claim:
    """One claim of the conjecture, declared before any data is seen."""

    name: str
    """Short identifier, e.g. ``subtraction_removes_pull``; the key in reports and the record."""
    statement: str
    """The claim in one sentence, as the report shows it."""
    trial: str
    """What one trial is, and when it passes."""
    threshold: float
    """Pass rate the claim needs: holds when the 95% interval's lower end reaches it."""

    def text(self) -> str:
        return (
            f"{self.statement}\n\n*Trial:* {self.trial} *Threshold:* pass rate >= {self.threshold}."
        )


def draw_trials(strategy: st.SearchStrategy[T], max_examples: int | None = None) -> list[T]:
    """The distinct examples Hypothesis draws from ``strategy`` in one run of the active profile.

    Generation only (no shrinking, no database), derandomized by the profile: the same strategy
    and profile give the same list in any process. Duplicates are dropped, so a small layout
    space yields fewer trials rather than repeated ones.
    """
    drawn: list[T] = []
    seen: set[str] = set()
    base = settings()

    @settings(
        base,
        max_examples=max_examples or base.max_examples,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        key = repr(example)
        if key not in seen:
            seen.add(key)
            drawn.append(example)

    collect()
    return drawn


def shrink(
    strategy: st.SearchStrategy[T], fails: Callable[[T], bool], budget: int = 60
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


def decide(
    claim: Claim,
    model: str,
    passed: Sequence[bool] | np.ndarray,
    effects: Mapping[str, stats.Estimate] | None = None,
    example: dict[str, Any] | None = None,
    expected: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    """The result of a claim on one model: pass rate, interval, verdict, effects, record."""
    passed = np.asarray(passed, dtype=bool)
    if passed.ndim != 1 or len(passed) == 0:
        raise ValueError(f"{claim.name}/{model}: need a 1-d array of at least one trial outcome")
    rate = stats.proportion(passed)
    result = {
        "claim": claim.name,
        "model": model,
        "trials": int(len(passed)),
        "passes": int(passed.sum()),
        "pass_rate": rate.value,
        "ci95": list(rate.ci95),
        "threshold": claim.threshold,
        "verdict": stats.verdict(rate.ci95, claim.threshold),
        "expected": expected,
        "effects": {name: est.to_dict() for name, est in (effects or {}).items()},
        "counterexample": example,
    }
    if notes:
        result["notes"] = notes
    return result


class VerdictChanged(AssertionError):
    """A verdict differs from the one the committed record holds for its claim and model."""


UPDATE_HINT = "if this change is intended, run pytest claims/ --update-expected"


def check(result: Mapping[str, Any], recording: bool = False, gating: bool = True) -> None:
    """Hold a result to the committed record (``result["expected"]``).

    * not ``gating`` (a profile other than ``ci``) or ``recording`` (``--update-expected``):
      never raises -- the verdict is reported, the record is not consulted;
    * no recorded verdict: :class:`ClaimUnrecorded`;
    * a verdict other than the recorded one: :class:`VerdictChanged`, saying both, the pass
      rate, its interval and how to update the record on purpose;
    * the recorded verdict: passes if it is *holds*, else raises :class:`ClaimFails` or
      :class:`ClaimInconclusive` -- the exception the suite's ``xfail`` marker expects.
    """
    if recording or not gating:
        return
    lo, hi = result["ci95"]
    measured = (
        f"pass rate {result['pass_rate']:.3f} over {result['trials']} trials, "
        f"interval [{lo:.3f}, {hi:.3f}], threshold {result['threshold']}"
    )
    expected, verdict = result["expected"], result["verdict"]
    name = f"{result['claim']} \u00d7 {result['model']}"
    if expected is None:
        raise ClaimUnrecorded(
            f"{name}: recorded nothing, now {verdict} ({measured}); to record it, "
            "run pytest claims/ --update-expected"
        )
    if verdict != expected:
        raise VerdictChanged(
            f"{name}: recorded {expected}, now {verdict} ({measured}); {UPDATE_HINT}"
        )
    if verdict == "fails":
        raise ClaimFails(f"{name}: fails as recorded ({measured})")
    if verdict == "inconclusive":
        raise ClaimInconclusive(f"{name}: inconclusive as recorded ({measured})")


VERDICT_EXCEPTIONS = (ClaimFails, ClaimInconclusive, ClaimUnrecorded, VerdictChanged)
"""What a claim test raises when it reached its verdict (any other exception is an error)."""


def load_expected(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The committed record: ``{(claim, model): {"verdict", "reason"}}`` (empty if no file).

    A file that is not TOML, or an entry that is not ``{ verdict = ..., reason = ... }`` with
    a valid verdict, raises :class:`ValueError` naming the file (and line, for TOML errors).
    """
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    record = {}
    for claim, models in data.items():
        if not isinstance(models, dict):
            raise ValueError(f"{path}: {claim} must be a table [{claim}] of models")
        for model, entry in models.items():
            verdict = entry.get("verdict") if isinstance(entry, dict) else None
            if verdict not in VERDICTS:
                raise ValueError(
                    f"{path}: [{claim}] {model} has verdict {verdict!r}; valid: {VERDICTS}"
                )
            record[(claim, model)] = {"verdict": verdict, "reason": entry.get("reason", "")}
    return record


def unknown_entries(
    record: Mapping[tuple[str, str], Any], claims: set[str] | None, models: set[str]
) -> list[str]:
    """Record entries naming a model not in ``models`` or (unless ``claims`` is ``None``,
    i.e. unknown) a claim not in ``claims``, as ``[claim] model`` strings."""
    return [
        f"[{claim}] {model}"
        for claim, model in sorted(record)
        if model not in models or (claims is not None and claim not in claims)
    ]


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_expected(
    path: Path,
    results: Sequence[Mapping[str, Any]],
    old: Mapping[tuple[str, str], Mapping[str, str]],
) -> None:
    """Rewrite the record from ``results``, keeping the reason of every unchanged verdict."""
    record = dict(old)
    for r in results:
        key = (r["claim"], r["model"])
        lo, hi = r["ci95"]
        measured = (
            f"pass rate {r['pass_rate']:.3f} [{lo:.3f}, {hi:.3f}] vs threshold {r['threshold']}"
        )
        kept = old.get(key)
        reason = kept["reason"] if kept and kept["verdict"] == r["verdict"] else measured
        record[key] = {"verdict": r["verdict"], "reason": reason}
    lines = [
        "# Committed verdicts of the claims suite: claim -> model -> verdict and why.",
        "# A run whose verdicts differ from these fails; update on purpose with",
        "# `pytest claims/ --update-expected`.",
        "",
    ]
    for claim in sorted({c for c, _ in record}):
        lines.append(f"[{claim}]")
        for (c, model), entry in sorted(record.items()):
            if c == claim:
                lines.append(
                    f'"{model}" = {{ verdict = "{entry["verdict"]}", '
                    f"reason = {_toml_string(entry['reason'])} }}"
                )
        lines.append("")
    atomic.write_text(path, "\n".join(lines))


__all__ = [
    "VERDICTS",
    "Claim",
    "ClaimFails",
    "ClaimInconclusive",
    "ClaimUnrecorded",
    "UPDATE_HINT",
    "VERDICT_EXCEPTIONS",
    "VerdictChanged",
    "check",
    "counterexample",
    "decide",
    "draw_trials",
    "load_expected",
    "shrink",
    "unknown_entries",
    "write_expected",
]
