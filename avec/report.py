"""The replication report: JSON, Markdown and figures from claim results, and diffs between runs.

Dict in, files out: a report never trains, hooks or rolls out. The claims suite hands it
*results* (one dict per claim x model, see :data:`RESULT_FIELDS`) and *figures* (a kind and the
data to draw, drawn by :mod:`avec.plots`); :func:`write` renders ``latest.json``,
``latest.md``, ``published.md`` (the side-by-side with the sources, which the README copies)
and ``figures/*.png``.

JSON schema 2::

    {"schema": 2,
     "generated_by": {"versions": {... hypothesis, scipy, torch ...}, "profile": "ci", ...},
     "claims": {claim: text declared in its module},
     "aggregates": {claim: {"source_expects", "threshold", "holm": {model: verdict},
                            "recipes": {recipe: {"iqm", "ci95", "verdict",
                                                 "agrees_with_source", ...}}}},
     "results": [{"claim", "model", "source_expects", "estimand", "trials", "informative",
                  "rate", "ci95", "threshold", "verdict", "agrees_with_source",
                  "references": {"removal"|"null"|...: {"value", "ci95", "n"}},
                  "effects": {name: {"value", "ci95", "n", "method"}}, "expected",
                  "counterexample", ...}]}

``rate`` is the estimand on informative trials (a pass rate, or a share of the removal
effect); ``references`` are the same pass flags for the reference arms on the same trials.
Results are sorted by (claim, model) and floats rounded, so two runs on the same fixtures give
byte-identical files whatever the number of workers, and ``avec report --diff`` shows exactly
what changed when models or code change.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avec import atomic, verdicts
from avec.plots import DRAWERS

SCHEMA = 2
RESULT_FIELDS = (
    "claim",
    "model",
    "source_expects",
    "estimand",
    "trials",
    "informative",
    "rate",
    "ci95",
    "threshold",
    "verdict",
    "agrees_with_source",
    "references",
    "expected",
    "effects",
    "counterexample",
)
DIGITS = 6
"""Floats are rounded to this many digits in the JSON: far below any interval's width, and it
keeps the file stable against last-bit differences in summation order."""

PUBLISHED: dict[str, tuple[str, str]] = {
    "1a_subtraction_removes_pull_away_from_source": (
        "maze paper, cheese vector -1",
        "median P(cheese | decision square) 0.81 -> 0.03 (mazes 0-99)",
    ),
    "1b_subtraction_prevents_reaching": ("poster, key vector -1", "agent should ignore the key"),
    "14_headline_cheese_vector_flips_decision_square": (
        "maze paper, cheese vector -1 (headline)",
        "median P(cheese | decision square) 0.81 -> 0.03 over mazes 0-99",
    ),
    "2_addition_little_effect": ("maze paper, cheese vector +1", "not much happened"),
    "3a_large_coefficients_break_behaviour": (
        "maze paper, top-right vector scale",
        "10 starts to crumble into garbage, 20 goes down/left",
    ),
    "3b_small_coefficients_barely_matter": (
        "maze paper / poster",
        "0.5 minor; small barely matter",
    ),
    "4b_identity_across_layouts": ("poster", "A - (A - B) = B still often seems to work"),
    "4c_start_vector_at_every_state": (
        "maze paper, patched vector field",
        "the patched field resembles the no-cheese field",
    ),
    "5a_generalizes_across_layout_seeds": (
        "maze paper",
        "a vector averaged over 100 mazes transferred poorly",
    ),
    "5b_generalizes_across_map_sizes": ("poster", "not perfect across map sizes"),
    "5c_generalizes_across_training_seeds": ("poster", "not perfect across seeds"),
    "6_specificity": ("maze paper", "a random vector of similar norm destroys the policy"),
    "7a_composition_additive": ("maze paper", "subtract cheese + add top-right: roughly additive"),
    "8a_top_right_raises_pull": ("maze paper, top-right vector +1", "pulls the agent top-right"),
    "8b_top_right_subtraction_little_effect": ("maze paper, top-right vector -1", "~nothing"),
    "8c_top_right_transfers": ("maze paper", "the top-right vector transfers across mazes"),
}
"""What the maze paper (Turner, Mini et al. 2023) and the poster reported, by claim."""


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, Mapping):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, np.generic):
        return _rounded(value.item())
    return value


def build(
    results: Sequence[Mapping[str, Any]],
    generated_by: Mapping[str, Any],
    claim_texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON report: results checked for their fields, rounded and sorted by (claim,
    model), with the per-recipe and Holm-adjusted aggregates of :func:`verdicts.aggregate`."""
    for result in results:
        missing = [f for f in RESULT_FIELDS if f not in result]
        if missing:
            raise ValueError(f"result {result.get('claim')}/{result.get('model')} lacks {missing}")
    rows = sorted((_rounded(dict(r)) for r in results), key=lambda r: (r["claim"], r["model"]))
    return {
        "schema": SCHEMA,
        "generated_by": _rounded(dict(generated_by)),
        "claims": dict(sorted((claim_texts or {}).items())),
        "aggregates": _rounded(verdicts.aggregate(rows)),
        "results": rows,
    }


def _fmt_ci(ci: Sequence[float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _fmt(value: float | None, ci: Sequence[float] | None = None) -> str:
    return "-" if value is None else f"{value:.3f} {_fmt_ci(ci)}".strip()


def _agree(flag: bool | None) -> str:
    return "-" if flag is None else "yes" if flag else "no"


def summary_table(report: Mapping[str, Any]) -> list[str]:
    """One row per claim and recipe: what the source expects, the recipe's aggregate over
    training seeds (interquartile mean with its interval), its verdict, and agreement."""
    lines = [
        "| claim | source expects | recipe | models | estimand IQM [95% CI] | threshold | "
        "verdict | agrees with source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for claim, agg in report["aggregates"].items():
        for recipe, entry in agg["recipes"].items():
            lines.append(
                f"| {claim} | {agg['source_expects']} | {recipe} | {entry['judged']}/"
                f"{entry['models']} | {_fmt(entry.get('iqm'), entry.get('ci95'))} | "
                f"{agg['threshold']} | {entry['verdict']} | {_agree(entry['agrees_with_source'])} |"
            )
    return lines


def published_table(report: Mapping[str, Any]) -> str:
    """The side-by-side with the published numbers, from the report: per claim, what the
    source reported and what the suite measured per recipe (interval, informative trials)."""
    results = report["results"]
    lines = [
        "| claim | source | published | recipe | measured (estimand, 95% CI) | informative trials "
        "| verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for claim, agg in report["aggregates"].items():
        source, said = PUBLISHED.get(claim, ("-", "-"))
        for recipe, entry in agg["recipes"].items():
            members = [
                r
                for r in results
                if r["claim"] == claim and verdicts.recipe_of(r["model"]) == recipe
            ]
            n = sum(r["informative"] for r in members)
            total = sum(r["trials"] for r in members)
            lines.append(
                f"| {claim} | {source} | {said.replace('|', '&#124;')} | {recipe} | "
                f"{_fmt(entry.get('iqm'), entry.get('ci95'))} | {n} of {total} | "
                f"{entry['verdict']} |"
            )
    return "\n".join(lines) + "\n"


def markdown(
    report: Mapping[str, Any],
    figures: Sequence[str] = (),
    claim_texts: Mapping[str, str] | None = None,
) -> str:
    """The Markdown report: per-claim summary, per-model detail, published numbers, figures."""
    claim_texts = claim_texts or report.get("claims", {})
    results = report["results"]
    claims = sorted({r["claim"] for r in results})
    gen = report["generated_by"]
    lines = [
        "# AVEC replication report",
        "",
        f"Profile `{gen.get('profile')}`; "
        + ", ".join(f"{k} {v}" for k, v in sorted(gen.get("versions", {}).items())),
        "",
        "A claim is judged on its *informative* trials only (those that can decide it, by a rule "
        "declared in its module). Verdict: *holds* when the 95% interval of the estimand "
        "clears the threshold, *fails* when it misses it, *inconclusive* otherwise, below the "
        "claim's minimum of informative trials, or when the removal reference (the feature "
        "deleted from the level) cannot reach the bar itself. Per recipe: the interquartile "
        "mean over training seeds with a bootstrap interval.",
        "",
        "## Verdicts per claim and recipe",
        "",
        *summary_table(report),
    ]
    for claim in claims:
        lines += ["", f"## {claim}", ""]
        if claim in claim_texts:
            lines += [claim_texts[claim], ""]
        rows = [r for r in results if r["claim"] == claim]
        holm = report["aggregates"].get(claim, {}).get("holm", {})
        ref_names = sorted({name for r in rows for name in r["references"]})
        effect_names = sorted({name for r in rows for name in r["effects"]})
        lines += [
            "| model | trials | informative | estimand [95% CI] | "
            + "".join(f"{n} reference | " for n in ref_names)
            + "verdict | Holm | agrees | record | "
            + " | ".join(effect_names)
            + " |",
            "|---|" + "---|" * (7 + len(ref_names) + len(effect_names)),
        ]
        for r in rows:
            refs = [
                _fmt(r["references"][n]["value"], r["references"][n]["ci95"])
                if n in r["references"]
                else "-"
                for n in ref_names
            ]
            effects = [
                _fmt(r["effects"][n]["value"], r["effects"][n].get("ci95"))
                if n in r["effects"]
                else ""
                for n in effect_names
            ]
            flag = "" if r["expected"] in (None, r["verdict"]) else " !"
            lines.append(
                f"| {r['model']} | {r['trials']} | {r['informative']} | "
                f"{_fmt(r['rate'], r['ci95'])} | "
                + "".join(f"{x} | " for x in refs)
                + f"{r['verdict']}{flag} | {holm.get(r['model'], '-')} | "
                f"{_agree(r['agrees_with_source'])} | {r['expected']} | "
                + " | ".join(effects)
                + " |"
            )
        notes = [(r["model"], r["notes"]) for r in rows if r.get("notes")]
        if notes:
            lines += ["", "Where drawing stopped and why:", ""]
            lines += [f"- {model}: {note}" for model, note in notes]
        for r in rows:
            example = r.get("counterexample")
            if example:
                extra = f" (trial parameters {example['with']})" if example.get("with") else ""
                lines += ["", f"Minimal failing trial for {r['model']}{extra}:"]
                for ascii_ in [example["ascii"], *example.get("more_layouts", [])]:
                    lines += ["", "```", ascii_, "```"]
                if example.get("figure"):
                    lines.append(f"![counterexample {r['model']}](figures/{example['figure']})")
    lines += ["", "## Published numbers beside ours", "", published_table(report)]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{name}](figures/{name})" for name in sorted(figures)]
    return "\n".join(lines) + "\n"


def register_drawer(kind: str, drawer: Callable[[Mapping[str, Any], Path], None]) -> None:
    """Add a figure kind (e.g. vector fields, drawn by :mod:`avec.fields`)."""
    DRAWERS[kind] = drawer


def draw(spec: Mapping[str, Any]) -> bytes:
    """The PNG of one figure ``{"kind": one of DRAWERS, "data": {...}}``: the bytes
    :func:`write` puts in ``figures/``, so a figure can be drawn where it is made (the claims
    suite's xdist workers draw theirs while the other workers still run) and handed over."""
    if spec["kind"] not in DRAWERS:
        raise ValueError(f"unknown figure kind {spec['kind']!r}; known: {sorted(DRAWERS)}")
    with tempfile.TemporaryDirectory(prefix="avec-figure-") as folder:
        path = Path(folder) / "figure.png"
        DRAWERS[spec["kind"]](spec["data"], path)
        return path.read_bytes()


def write(
    out_dir: Path,
    results: Sequence[Mapping[str, Any]],
    figures: Mapping[str, Mapping[str, Any]],
    generated_by: Mapping[str, Any],
    claim_texts: Mapping[str, str] | None = None,
    drawn: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """Write ``latest.json``, ``latest.md`` and ``figures/<name>.png``; return the report.

    ``figures`` maps a file stem to ``{"kind": one of DRAWERS, "data": {...}}``; ``drawn`` maps
    stems to PNGs :func:`draw` already made of them (the rest are drawn here). Everything is
    written into a staging folder first, then renamed into ``out_dir``
    (:func:`avec.atomic.staged`): an error or an interruption leaves the previous report whole,
    and the figures folder holds exactly this report's figures.
    """
    report = build(results, generated_by, claim_texts)
    drawn = drawn or {}
    with atomic.staged(out_dir) as stage:
        fig_dir = stage / "figures"
        fig_dir.mkdir()
        names = []
        for stem, spec in sorted(figures.items()):
            name = f"{stem}.png"
            png = drawn.get(stem)
            (fig_dir / name).write_bytes(png if png is not None else draw(spec))
            names.append(name)
        (stage / "latest.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (stage / "latest.md").write_text(markdown(report, names, claim_texts))
        (stage / "published.md").write_text(published_table(report))
    return report


def _by_pair(report: Any, which: str) -> dict[tuple[str, str], Mapping[str, Any]]:
    needed = ("claim", "model", "verdict", "rate", "ci95")
    results = report.get("results") if isinstance(report, Mapping) else None
    if not isinstance(results, list) or not all(
        isinstance(r, Mapping) and all(k in r for k in needed) for r in results
    ):
        raise ValueError(
            f"the {which} JSON is not an avec report: it needs a 'results' list whose "
            f"entries have {', '.join(needed)}"
        )
    return {(r["claim"], r["model"]): r for r in results}


README_SECTIONS = {"verdicts": summary_table, "published": published_table}
"""README.md sections regenerated from the report, each between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->`` markers."""


def fill_readme(readme: str, report: Mapping[str, Any]) -> str:
    """``readme`` with every :data:`README_SECTIONS` section rewritten from ``report``."""
    for name, table in README_SECTIONS.items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        if begin not in readme or end not in readme:
            raise ValueError(f"the README lacks the {begin.strip()} ... {end} markers")
        head, rest = readme.split(begin, 1)
        body = table(report)
        body = "\n".join(body) + "\n" if isinstance(body, list) else body
        readme = head + begin + body + end + rest.split(end, 1)[1]
    return readme


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every verdict, pass rate and interval that changed between two reports, one line each.

    Raises :class:`ValueError` if either is not a report (a ``results`` list of results with
    claim, model, verdict, pass rate and interval).
    """
    before, after = _by_pair(old, "old"), _by_pair(new, "new")
    lines = []
    for k in sorted(before.keys() | after.keys()):
        name = f"{k[0]} / {k[1]}"
        if k not in after:
            lines.append(f"- {name}: removed (was {before[k]['verdict']})")
        elif k not in before:
            lines.append(f"+ {name}: new, {after[k]['verdict']} {_fmt(after[k]['rate'])}")
        else:
            a, b = before[k], after[k]
            if a["verdict"] != b["verdict"]:
                lines.append(f"! {name}: verdict {a['verdict']} -> {b['verdict']}")
            if a.get("rate") != b.get("rate") or a["ci95"] != b["ci95"]:
                lines.append(
                    f"~ {name}: {_fmt(a.get('rate'), a['ci95'])} -> "
                    f"{_fmt(b.get('rate'), b['ci95'])}"
                )
    return lines


__all__ = [
    "DRAWERS",
    "PUBLISHED",
    "RESULT_FIELDS",
    "SCHEMA",
    "build",
    "draw",
    "published_table",
    "summary_table",
    "diff",
    "markdown",
    "register_drawer",
    "write",
]
