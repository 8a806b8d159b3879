"""From model verdicts to recipe rows: a summary never says more than what it summarises.

A *recipe* is the models that differ only by training seed (``doorkey5-ppo-mlp-s0`` ... ``-s4``,
:func:`avec.verdicts.recipe_of`). README's verdict table has one row per claim and recipe,
built here from the per-model results of :func:`avec.verdicts.decide`:

* **Holm per model.** The claim's models are one family of tests; a model keeps its own
  verdict only while its Holm-adjusted one-sided p-value of that verdict stays below 0.025
  (each tail of the 95% interval :func:`~avec.verdicts.decide` judges by), else it is
  inconclusive. Holm only ever weakens a model's verdict, never strengthens or flips it.
* **The recipe's estimate.** The interquartile mean over training seeds of each model's
  estimand (a ratio of sums over its informative units), with a two-stage bootstrap interval
  (:func:`avec.stats.hierarchical_iqm`: seeds, then levels within each seed), so a recipe
  interval carries the uncertainty inside each model too. A claim that asserts an effect
  gets the same for its paired difference steered - null, judged by
  :data:`avec.verdicts.NULL_RULE`. With one model the row *is* that model: its interval, its
  (Holm) verdict.
* **The rule.** A recipe is decisive only when (1) every model could be judged -- a model
  inconclusive because the removal reference cannot reach the bar, because the removal arm has
  no effect to share, or because too few trials were informative makes the recipe
  inconclusive for the same reason; (2) its interval (and, for an effect, its null
  comparison) is decisive; and (3) its models' Holm verdicts support it: at least one is
  decisive the same way and none the other way. Otherwise it is inconclusive, and
  ``inconclusive_because`` says which condition failed.

This is issue 14's "a recipe row never contradicts its models": before it, recipes whose every
model was inconclusive read *fails* or *holds*, and one-model recipes had point intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from avec import stats, verdicts

ALPHA = 0.025
"""One-sided level of a Holm-adjusted model verdict: each tail of a 95% two-sided interval,
the level :func:`avec.verdicts.decide` decides at, so Holm cannot be laxer than the model."""

OPPOSITE = {"holds": "fails", "fails": "holds"}


def _one_sided(value: float, ci95: Sequence[float], bar: float) -> tuple[float, float]:
    """p-values of "above ``bar``" and "below ``bar``" from an estimate and its 95% interval
    (normal approximation; an interval of zero width is certain)."""
    low, high = ci95
    se = (high - low) / (2 * float(norm.ppf(0.975)))
    if se <= 0:
        return (0.0, 1.0) if value > bar else (1.0, 0.0) if value < bar else (1.0, 1.0)
    z = (value - bar) / se
    return float(norm.sf(z)), float(norm.cdf(z))


def _p_values(result: Mapping[str, Any]) -> tuple[float, float]:
    """One-sided p-values of "holds" and "fails" for one model's result: the estimand against
    its bar and, for a claim that asserts an effect, the steered - null difference against 0
    (holds needs both: the larger p; fails needs either: the smaller, as
    :func:`avec.verdicts.decide` fails a claim on either at its own 95% interval)."""
    if not result.get("judged") or result["rate"] is None:
        return 1.0, 1.0
    if result["estimand"] == "rate":
        above, below = stats.one_sided_p(result["rate"], result["effective_n"], result["threshold"])
    else:
        above, below = _one_sided(result["rate"], result["ci95"], result["threshold"])
    beats = result.get("beats_null")
    if beats is None:
        return above, below
    beat, no_better = _one_sided(beats["value"], beats["ci95"], 0.0)
    return max(above, beat), min(below, no_better)


def holm_verdicts(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``model -> verdict`` for one claim's results: each model's own verdict where its
    Holm-adjusted p-value (the family is the claim's models) stays below :data:`ALPHA`,
    else ``inconclusive``."""
    holds, fails = zip(*(_p_values(r) for r in rows), strict=True)
    adjusted = {"holds": stats.holm(holds), "fails": stats.holm(fails)}
    out = {}
    for i, r in enumerate(rows):
        verdict = r["verdict"]
        kept = verdict in adjusted and adjusted[verdict][i] < ALPHA
        out[r["model"]] = verdict if kept else "inconclusive"
    return out


def _ratios(levels: Mapping[str, Sequence[int]], estimand: str, arm: str) -> tuple:
    """Per-level numerator and denominator of a model's estimand (``arm`` = ``steered``) or of
    its steered - null difference (``arm`` = ``difference``)."""
    steered = np.asarray(levels["steered"], dtype=float)
    top = steered - np.asarray(levels["null"], dtype=float) if arm == "difference" else steered
    bottom = levels["removal"] if estimand == "share_of_removal" else levels["units"]
    return top, np.asarray(bottom, dtype=float)


def _judge(
    entry: dict[str, Any], judged: list[Mapping[str, Any]], iqm: stats.Estimate
) -> tuple[str, str | None, str | None]:
    """The verdict of a recipe whose models can all be judged: its interval against the bar,
    its steered - null interval for an effect claim (stored in ``entry``), then its models'
    Holm verdicts; with why it is inconclusive, or why the null made it fail."""
    first = judged[0]
    verdict, why, failed_by_null = stats.verdict(iqm.ci95, first["threshold"]), None, None
    if first.get("asserts_effect"):
        beats = stats.hierarchical_iqm(
            [_ratios(r["per_level"], r["estimand"], "difference") for r in judged], seed=0
        )
        verdict, comparison, because = verdicts.against_null(verdict, beats)
        entry["beats_null"] = {**beats.to_dict(), "comparison": comparison}
        why, failed_by_null = (because, None) if verdict == "inconclusive" else (None, because)
    said = list(entry["model_verdicts"].values())
    if verdict in OPPOSITE and OPPOSITE[verdict] in said:
        return "inconclusive", f"its models disagree (Holm: {', '.join(said)})", None
    if verdict in OPPOSITE and verdict not in said:
        return (
            "inconclusive",
            "no model is decisive on its own after Holm over the claim's models",
            None,
        )
    return verdict, why, failed_by_null


def _recipe(members: list[Mapping[str, Any]], holm: Mapping[str, str]) -> dict[str, Any]:
    """One recipe row from its models' results (see the module docstring for the rule)."""
    first = members[0]
    judged = [r for r in members if r.get("judged")]
    entry: dict[str, Any] = {
        "models": len(members),
        "judged": len(judged),
        "model_verdicts": {r["model"]: holm[r["model"]] for r in members},
    }
    why = failed_by_null = None
    if len(members) == 1:
        verdict = holm[first["model"]]
        if first["rate"] is not None:
            entry.update(
                {"iqm": first["rate"], "ci95": first["ci95"], "interval": first["interval"]}
            )
        if first.get("beats_null"):
            entry["beats_null"] = first["beats_null"]
        why = first.get("inconclusive_because")
        if first["verdict"] != verdict:
            why = f"the model's {first['verdict']} does not survive Holm over the claim's models"
        failed_by_null = first.get("fails_because")
    else:
        verdict = "inconclusive"
        if len(judged) > 1:
            iqm = stats.hierarchical_iqm(
                [_ratios(r["per_level"], r["estimand"], "steered") for r in judged], seed=0
            )
            entry.update({"iqm": iqm.value, "ci95": list(iqm.ci95), "interval": iqm.method})
        if len(judged) < len(members):
            reasons = sorted({r["inconclusive_because"] for r in members if not r.get("judged")})
            why = (
                f"{len(members) - len(judged)} of {len(members)} models cannot be judged: "
                + "; ".join(reasons)
            )
        else:
            verdict, why, failed_by_null = _judge(entry, judged, iqm)
    entry["verdict"] = verdict
    entry["inconclusive_because"] = why if verdict == "inconclusive" else None
    entry["fails_because"] = failed_by_null if verdict == "fails" else None
    entry["agrees_with_source"] = verdicts.agreement(first["source_expects"], verdict)
    return entry


def aggregate(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per claim: the Holm verdict of every model (:func:`holm_verdicts`) and one row per
    recipe (``models``, ``judged``, ``model_verdicts``, ``iqm``, ``ci95``, ``interval``,
    ``beats_null`` for an effect claim, ``verdict``, ``inconclusive_because``,
    ``agrees_with_source``) by the rule of the module docstring."""
    claims: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        claims.setdefault(r["claim"], []).append(r)
    out: dict[str, Any] = {}
    for name in sorted(claims):
        rows = sorted(claims[name], key=lambda r: r["model"])
        holm = holm_verdicts(rows)
        recipes = {}
        for recipe in sorted({verdicts.recipe_of(r["model"]) for r in rows}):
            members = [r for r in rows if verdicts.recipe_of(r["model"]) == recipe]
            recipes[recipe] = _recipe(members, holm)
        out[name] = {
            "source_expects": rows[0]["source_expects"],
            "threshold": rows[0]["threshold"],
            "holm": holm,
            "recipes": recipes,
        }
    return out


__all__ = ["ALPHA", "aggregate", "holm_verdicts"]
