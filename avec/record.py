"""The committed record of verdicts, and holding each result to it.

The committed record ``claims/expected.toml`` says which verdict each claim has on each model.
The claims suite marks a claim recorded as *fails* ``xfail(strict=True, raises=ClaimFails)``
and one recorded as *inconclusive* ``xfail(strict=True, raises=ClaimInconclusive)``, so
``pytest claims/`` passes exactly when every verdict matches the record: a claim that starts
or stops holding fails the run until the record is updated on purpose
(``pytest claims/ --update-expected``).

:func:`load_expected` and :func:`write_expected` read and write the record (written whole or
not at all, :mod:`avec.atomic`; a malformed file is named with its line); :func:`check` holds
one result (:func:`avec.verdicts.decide`) to it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from avec import atomic
from avec.verdicts import NO_MODEL, NOT_APPLICABLE, VERDICTS


class ClaimFails(AssertionError):
    """The claim's pass rate is credibly below its threshold."""


class ClaimInconclusive(AssertionError):
    """The claim's interval straddles its threshold."""


class ClaimUnrecorded(AssertionError):
    """The committed record has no verdict for this claim and model."""


class VerdictChanged(AssertionError):
    """A verdict differs from the one the committed record holds for its claim and model."""


UPDATE_HINT = "if this change is intended, run pytest claims/ --update-expected"


def check(
    result: Mapping[str, Any],
    recording: bool = False,
    gating: bool = True,
    command: str = "pytest claims/",
) -> None:
    """Hold a result to the committed record (``result["expected"]``).

    * not ``gating`` (a profile other than ``ci``) or ``recording`` (``--update-expected``):
      never raises -- the verdict is reported, the record is not consulted;
    * no recorded verdict: :class:`ClaimUnrecorded`;
    * a verdict other than the recorded one: :class:`VerdictChanged`, saying both, the pass
      rate, its interval and how to update the record on purpose (``command``: the run's own
      command, e.g. with its ``--avec-models DIR``);
    * the recorded verdict: passes if it is *holds*, else raises :class:`ClaimFails` or
      :class:`ClaimInconclusive` -- the exception the suite's ``xfail`` marker expects.
    """
    if recording or not gating:
        return
    expected, verdict = result["expected"], result["verdict"]
    name = f"{result['claim']} \u00d7 {result['model']}"
    detail = estimate(result)
    if expected is None:
        raise ClaimUnrecorded(
            f"{name}: recorded nothing, now {verdict} ({detail}); to record it, "
            f"run {command} --update-expected"
        )
    if verdict != expected:
        hint = UPDATE_HINT.replace("pytest claims/", command)
        raise VerdictChanged(f"{name}: recorded {expected}, now {verdict} ({detail}); {hint}")
    if verdict == "fails":
        raise ClaimFails(f"{name}: fails as recorded ({detail})")
    if verdict == "inconclusive":
        raise ClaimInconclusive(f"{name}: inconclusive as recorded ({detail})")


VERDICT_EXCEPTIONS = (ClaimFails, ClaimInconclusive, ClaimUnrecorded, VerdictChanged)
"""What a claim test raises when it reached its verdict (any other exception is an error)."""


def estimate(result: Mapping[str, Any]) -> str:
    """The estimand with its interval, the informative trials and the threshold, in one line."""
    if result["rate"] is None:
        value = "no estimate"
    else:
        lo, hi = result["ci95"]
        value = f"{result['estimand']} {result['rate']:.3f} [{lo:.3f}, {hi:.3f}]"
    return (
        f"{value} on {result['informative']} informative of {result['trials']} trials, "
        f"threshold {result['threshold']}"
    )


def measured(result: Mapping[str, Any]) -> str:
    """One line: verdict (and why, if inconclusive), then :func:`estimate`."""
    because = result.get("inconclusive_because") or result.get("fails_because")
    why = f" ({because})" if because else ""
    return f"{result['verdict']}{why}, {estimate(result)}"


def _is_measured(reason: str, verdict: str) -> bool:
    """Whether a recorded reason is a line :func:`measured` wrote for ``verdict``."""
    return reason.startswith((f"{verdict}, ", f"{verdict} (")) and " informative of " in reason


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
            valid = (NOT_APPLICABLE,) if model == NO_MODEL else VERDICTS
            if verdict not in valid:
                raise ValueError(
                    f"{path}: [{claim}] {model} has verdict {verdict!r}; valid: {valid}"
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
    not_applicable: Mapping[str, str] | None = None,
    command: str = "pytest claims/",
) -> None:
    """Rewrite the record from ``results``, keeping the reason of every unchanged verdict that
    someone wrote; a reason that is a measured line (:func:`measured`) is measured again.
    ``not_applicable``: claims no model could be judged on, with why (:data:`NOT_APPLICABLE`);
    a claim judged now loses its not-applicable entry."""
    judged = {r["claim"] for r in results}
    record = {k: v for k, v in old.items() if not (k[1] == NO_MODEL and k[0] in judged)}
    for claim, why in (not_applicable or {}).items():
        record[(claim, NO_MODEL)] = {"verdict": NOT_APPLICABLE, "reason": why}
    for r in results:
        key = (r["claim"], r["model"])
        kept = old.get(key)
        written = kept and not _is_measured(kept["reason"], kept["verdict"])
        reason = kept["reason"] if written and kept["verdict"] == r["verdict"] else measured(r)
        record[key] = {"verdict": r["verdict"], "reason": reason}
    lines = [
        "# Committed verdicts of the claims suite: claim -> model -> verdict and why.",
        "# A run whose verdicts differ from these fails; update on purpose with",
        f"# `{command} --update-expected`.",
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
    "UPDATE_HINT",
    "VERDICT_EXCEPTIONS",
    "ClaimFails",
    "ClaimInconclusive",
    "ClaimUnrecorded",
    "VerdictChanged",
    "check",
    "estimate",
    "load_expected",
    "measured",
    "unknown_entries",
    "write_expected",
]
