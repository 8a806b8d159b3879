"""The report's Markdown: a one-page summary (``latest.md``) and one page per claim
(``claims/<claim>.md``), from the JSON report alone -- dict in, text out.

The summary opens on the verdict grid, then a claim x recipe table, what moved since the
committed record, and links to the claim pages. A claim page holds the rest: the claim as its
module declares it, the recipe rows, the interval figure, one row per model (every scalar field
a result carries, its references and effects; a missing value is ``-``), notes,
counterexamples and the claim's figures. New result fields (e.g. a ``beats_null`` flag) show
up as columns without a change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from avec.verdicts import recipe_of

GRID = "verdicts"
"""File stem of the verdict grid figure."""
INTERVALS = "intervals-"
"""File stem prefix of the per-claim interval figures."""

FIGURE_CLAIMS = {
    "dose_response-top_right-": ("3a", "8a"),
    "dose_response-": ("3a", "3b"),
    "layer_sweep-": ("9",),
    "transfer-": ("5c",),
    "vector_field-": ("4c",),
}
"""Figures the claim suite draws for a claim without naming it, by stem prefix: the claim
numbers (the id up to its first ``_``) whose pages show them. Others name their claim."""

_CORE = (
    "claim",
    "model",
    "trials",
    "informative",
    "rate",
    "ci95",
    "verdict",
    "agrees_with_source",
    "expected",
    "references",
    "effects",
    "counterexample",
    "notes",
    "claim_text",
    "source_expects",
    "threshold",
)


def cell(value: Any) -> str:
    """A value as one Markdown table cell: ``-`` for missing, 3 decimals, no ``|``; an
    estimate dict (``value``, ``ci95``) as ``0.500 [0.400, 0.600]``, other dicts as
    ``key: value`` pairs."""
    if value is None or value == "":
        return "-"
    if isinstance(value, Mapping):
        if "value" in value:
            text = estimate(value["value"], value.get("ci95"))
            return cell(text + (f" ({value['comparison']})" if value.get("comparison") else ""))
        return "; ".join(f"{k}: {cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) for v in value)
    ):
        return f"[{value[0]:.3f}, {value[1]:.3f}]"
    return str(value).replace("|", "&#124;").replace("\n", " ")


def estimate(value: float | None, ci: Sequence[float] | None = None) -> str:
    """``0.500 [0.400, 0.600]``, or ``-`` without a value."""
    if value is None:
        return "-"
    return f"{value:.3f}" + ("" if ci is None else f" {cell(list(ci))}")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A well-formed Markdown table: as many cells in every row as in the header."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return lines


def _number(claim: str) -> str:
    return claim.split("_", 1)[0]


def figures_of(claim: str, figures: Sequence[str]) -> list[str]:
    """The figure file names shown on ``claim``'s page, sorted."""
    mine = []
    for name in sorted(figures):
        stem = name.rsplit(".", 1)[0]
        if stem == f"{INTERVALS}{claim}" or f"-{claim}-" in f"{stem}-":
            mine.append(name)
            continue
        prefix = next((p for p in FIGURE_CLAIMS if stem.startswith(p)), None)
        if prefix is not None and _number(claim) in FIGURE_CLAIMS[prefix]:
            mine.append(name)
    return mine


def claim_matrix(report: Mapping[str, Any], link: str | None = "claims/") -> list[str]:
    """One row per claim, one column per recipe: the recipe's verdict and IQM, ``(!)`` where
    the verdict disagrees with what the source expects."""
    aggregates = report["aggregates"]
    recipes = sorted({r for agg in aggregates.values() for r in agg["recipes"]})
    rows = []
    for claim, agg in aggregates.items():
        name = f"[{claim}]({link}{claim}.md)" if link is not None else claim
        row: list[Any] = [name, agg.get("source_expects")]
        for recipe in recipes:
            entry = agg["recipes"].get(recipe)
            if entry is None:
                row.append(None)
                continue
            iqm = entry.get("iqm")
            text = entry["verdict"] + ("" if iqm is None else f" {iqm:.2f}")
            row.append(text + (" (!)" if entry.get("agrees_with_source") is False else ""))
        rows.append(row)
    return table(["claim", "source expects", *recipes], rows)


def moved(report: Mapping[str, Any]) -> list[str]:
    """Counts of verdicts against the committed record, and each (claim, model) that moved."""
    results = report["results"]
    changed = [r for r in results if r.get("expected") not in (None, r["verdict"])]
    new = [r for r in results if r.get("expected") is None]
    lines = [
        f"{len(results) - len(changed) - len(new)} of {len(results)} claim x model verdicts as "
        f"recorded in `claims/expected.toml`; {len(changed)} moved; {len(new)} not recorded.",
    ]
    if changed or new:
        lines.append("")
        lines += [
            f"- {r['claim']} x {r['model']}: recorded {r.get('expected') or 'nothing'}, "
            f"now {r['verdict']}"
            for r in [*changed, *new]
        ]
    return lines


MEANINGS = (
    "A claim is judged on its *informative* trials only (those that can decide it, by a rule "
    "declared in its module). Verdict: *holds* when the 95% interval of the estimand clears "
    "the threshold, *fails* when it misses it, *inconclusive* otherwise, below the claim's "
    "minimum of informative trials, or when the removal reference (the feature deleted from "
    "the level) cannot reach the bar itself; *not applicable* where the claim does not apply to "
    "the agent. Per recipe: the interquartile mean (IQM) over training seeds with a bootstrap "
    "interval."
)


def summary(report: Mapping[str, Any], figures: Sequence[str] = ()) -> str:
    """``latest.md``: the grid, the claim x recipe table, what moved, links, references."""
    gen = report["generated_by"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(gen.get("versions", {}).items()))
    lines = [
        "# AVEC replication report",
        "",
        f"![verdict per claim and recipe](figures/{GRID}.png)",
        "",
        MEANINGS,
        "",
        "## Verdict and IQM per claim and recipe",
        "",
        "(!) marks a verdict that disagrees with what the source expects; `-` a recipe the "
        "claim was not measured on. Each claim's page has the per-model rows, references, "
        "effects, notes and figures.",
        "",
        *claim_matrix(report),
        "",
        "## Since the record",
        "",
        *moved(report),
    ]
    others = [
        f
        for f in sorted(figures)
        if f != f"{GRID}.png" and not any(f in figures_of(c, figures) for c in report["aggregates"])
    ]
    if others:
        lines += ["", "## Other figures", ""]
        lines += [f"- [{f}](figures/{f})" for f in others]
    lines += [
        "",
        "## Run",
        "",
        f"Profile `{gen.get('profile')}`; {versions}. Models not judged: "
        + (
            "; ".join(f"{m} ({why})" for m, why in sorted(gen.get("not_judged", {}).items()))
            or "none"
        )
        + ". The side-by-side with the published numbers: [published.md](published.md); "
        "everything measured: [latest.json](latest.json).",
    ]
    return "\n".join(lines) + "\n"


def _recipe_rows(agg: Mapping[str, Any]) -> list[str]:
    recipes = agg["recipes"]
    extra = sorted(
        {k for e in recipes.values() for k in e}
        - {"iqm", "ci95", "verdict", "agrees_with_source", "judged", "models", "interval"}
        # The per-model table shows each model's (Holm) verdict.
        - {"model_verdicts"}
    )
    rows = [
        [
            recipe,
            f"{e.get('judged', '-')}/{e.get('models', '-')}",
            estimate(e.get("iqm"), e.get("ci95")),
            e.get("interval"),
            e["verdict"],
            e.get("agrees_with_source"),
            *(e.get(k) for k in extra),
        ]
        for recipe, e in recipes.items()
    ]
    header = ["recipe", "judged/models", "IQM [95% CI]", "interval", "verdict", "agrees"]
    return table([*header, *(k.replace("_", " ") for k in extra)], rows)


def _scalar(value: Any) -> bool:
    """A field shown as a column: a scalar or an estimate dict (e.g. ``beats_null``)."""
    if isinstance(value, Mapping):
        return "value" in value
    return value is None or isinstance(value, str | int | float | bool)


def _model_rows(rows: Sequence[Mapping[str, Any]], holm: Mapping[str, str]) -> list[str]:
    refs = sorted({n for r in rows for n in r.get("references") or {}})
    effects = sorted({n for r in rows for n in r.get("effects") or {}})
    extra = sorted({k for r in rows for k, v in r.items() if k not in _CORE and _scalar(v)})
    header = ["model", "trials", "informative", "estimand [95% CI]"]
    header += [f"{n} reference" for n in refs]
    header += ["verdict", "Holm", "agrees", "record", *(k.replace("_", " ") for k in extra)]
    header += effects
    body = []
    for r in rows:
        references, found = r.get("references") or {}, r.get("effects") or {}
        body.append(
            [
                r["model"],
                r.get("trials"),
                r.get("informative"),
                estimate(r.get("rate"), r.get("ci95")),
                *(
                    estimate(references[n].get("value"), references[n].get("ci95"))
                    if n in references
                    else None
                    for n in refs
                ),
                r["verdict"],
                holm.get(r["model"]),
                r.get("agrees_with_source"),
                r.get("expected"),
                *(r.get(k) for k in extra),
                *(
                    estimate(found[n].get("value"), found[n].get("ci95")) if n in found else None
                    for n in effects
                ),
            ]
        )
    return table(header, body)


def claim_page(
    report: Mapping[str, Any], claim: str, figures: Sequence[str] = (), to_figures: str = ""
) -> str:
    """``claims/<claim>.md``: everything the report holds about one claim."""
    text = report.get("claims", {}).get(claim)
    agg = report["aggregates"][claim]
    rows = [r for r in report["results"] if r["claim"] == claim]
    lines = [f"# {claim}", "", "[back to the summary](../latest.md)", ""]
    if text:
        lines += [text, ""]
    lines += [
        f"Source expects: **{agg.get('source_expects')}**; threshold {cell(agg.get('threshold'))}.",
        "",
        "## Per recipe (IQM over training seeds)",
        "",
        *_recipe_rows(agg),
    ]
    mine = figures_of(claim, figures)
    interval = f"{INTERVALS}{claim}.png"
    if interval in mine:
        lines += ["", f"![intervals of {claim}]({to_figures}{interval})"]
    lines += [
        "",
        "## Per model",
        "",
        "`record` is the verdict in `claims/expected.toml`; Holm: the verdict after Holm's "
        "adjustment over the claim's models.",
        "",
        *_model_rows(rows, agg.get("holm", {})),
    ]
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
    shown = [f for f in mine if f != interval]
    if shown:
        lines += ["", "## Figures", ""]
        lines += [f"![{f}]({to_figures}{f})" for f in shown]
    return "\n".join(lines) + "\n"


def recipe_members(report: Mapping[str, Any], claim: str, recipe: str) -> list[Mapping[str, Any]]:
    """The results of ``claim`` on the models of ``recipe``."""
    return [r for r in report["results"] if r["claim"] == claim and recipe_of(r["model"]) == recipe]


__all__ = [
    "FIGURE_CLAIMS",
    "GRID",
    "INTERVALS",
    "MEANINGS",
    "cell",
    "claim_matrix",
    "claim_page",
    "estimate",
    "figures_of",
    "moved",
    "recipe_members",
    "summary",
    "table",
]
