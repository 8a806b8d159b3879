"""A claim declaration for tests of the machinery that judges claims (trials, verdicts, report):
every field a placeholder unless a test sets it."""

from __future__ import annotations

from typing import Any

from avec import verdicts


def claim(**fields: Any) -> verdicts.Claim:
    """A :class:`avec.verdicts.Claim` named ``x_claim``, threshold 0.5, with ``fields`` set."""
    defaults: dict[str, Any] = {
        "name": "x_claim",
        "statement": "s",
        "quote": "q",
        "source_expects": "holds",
        "trial": "t",
        "informative": "i",
        "estimand": "rate",
        "threshold": 0.5,
        "threshold_reason": "r",
        "reference": "ref",
        "lifetime": "l",
    }
    return verdicts.Claim(**{**defaults, **fields})
