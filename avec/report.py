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
from scipy.stats import trim_mean

from avec import atomic, pages, recipes

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
    model), with the per-recipe and Holm-adjusted aggregates of :func:`avec.recipes.aggregate`."""
    for result in results:
        missing = [f for f in RESULT_FIELDS if f not in result]
        if missing:
            raise ValueError(f"result {result.get('claim')}/{result.get('model')} lacks {missing}")
    rows = sorted((_rounded(dict(r)) for r in results), key=lambda r: (r["claim"], r["model"]))
    return {
        "schema": SCHEMA,
        "generated_by": _rounded(dict(generated_by)),
        "claims": dict(sorted((claim_texts or {}).items())),
        "aggregates": _rounded(recipes.aggregate(rows)),
        "results": rows,
    }


def _fmt(value: float | None, ci: Sequence[float] | None = None) -> str:
    return pages.estimate(value, ci)


def summary_table(report: Mapping[str, Any]) -> list[str]:
    """One row per claim, one column per recipe: verdict and IQM (see
    :func:`avec.pages.claim_matrix`), linking each claim to its page of the report."""
    return pages.claim_matrix(report, link="reports/claims/")


def published_table(report: Mapping[str, Any]) -> str:
    """The side-by-side with the published numbers, from the report: per claim, what the
    source reported and what the suite measured per recipe (interval, informative trials)."""
    rows = []
    for claim, agg in report["aggregates"].items():
        # 3a_..._negative and 3a_..._positive share the published 3a_... entry.
        key = max((k for k in PUBLISHED if claim.startswith(k)), key=len, default=None)
        # Claims without a published number show the source's words their module quotes.
        source, said = (
            PUBLISHED[key] if key else ("quoted in the claim", _paragraphs(report, claim)[1])
        )
        for recipe, entry in agg["recipes"].items():
            members = pages.recipe_members(report, claim, recipe)
            n = sum(r["informative"] for r in members)
            total = sum(r["trials"] for r in members)
            rows.append(
                [
                    claim,
                    source,
                    said,
                    recipe,
                    _fmt(entry.get("iqm"), entry.get("ci95")),
                    f"{n} of {total}",
                    entry["verdict"],
                ]
            )
    header = ["claim", "source", "published", "recipe", "measured (estimand, 95% CI)"]
    table = "\n".join(pages.table([*header, "informative trials", "verdict"], rows)) + "\n"
    beside = beside_random_table(report)
    if beside:
        beside = "\n## The maze agents beside a uniform-random policy\n\n" + beside
    return table + headline_table(report) + beside


HEADLINE_ARMS = ("unsteered", "subtracted", "removed", "random")
"""Arms of the maze paper's headline statistic, as claim 14 reports them (its effects'
``median_p_cheese_<arm>``)."""


def headline_table(report: Mapping[str, Any]) -> str:
    """The maze paper's headline statistic per maze agent, beside the paper's: the median over
    the judged mazes of P(step toward cheese | decision square) in each arm, with its
    bootstrap interval (empty when no result carries it)."""
    rows = []
    for result in report["results"]:
        effects = result.get("effects") or {}
        keys = [f"median_p_cheese_{arm}" for arm in HEADLINE_ARMS]
        if not all(key in effects for key in keys):
            continue
        medians = [_fmt(effects[k]["value"], effects[k].get("ci95")) for k in keys]
        rows.append([result["model"], str(effects[keys[0]]["n"]), *medians, result["verdict"]])
    if not rows:
        return ""
    header = ["model", "mazes", *(f"median, {arm}" for arm in HEADLINE_ARMS), "verdict"]
    published = ["maze paper", "100", "0.81", "0.03", "-", "-", "-"]
    return (
        "\n## The headline statistic: median P(step toward cheese | decision square)\n\n"
        "Over the first 100 held-out mazes whose decision square is off the start (claim 14): "
        "the median with its 95% bootstrap interval, unsteered, with the maze's cheese vector "
        "subtracted, with the cheese removed (a perfect intervention) and with a norm-matched "
        "random vector (the null).\n\n" + "\n".join(pages.table(header, [published, *rows])) + "\n"
    )


def beside_random_table(report: Mapping[str, Any]) -> str:
    """Held-out success of the maze agents beside the uniform-random policy's on the same
    levels, overall and by maze size (the run's ``generated_by.beside_random``), and whether
    each is judged; empty when the run had none."""
    agents = report["generated_by"].get("beside_random") or {}
    if not agents:
        return ""
    rows = []
    for model_id, agent in agents.items():
        sizes = sorted(agent["by_maze_size"].items(), key=lambda item: int(item[0]))
        rows.append(
            [
                model_id,
                str(agent["episodes"]),
                _fmt(agent["success"], agent["ci95"]),
                f"{agent['random']:.3f}",
                "; ".join(f"{size}: {mine:.2f} / {chance:.2f}" for size, (mine, chance) in sizes),
                "yes" if agent["judged"] else "no (below its bar)",
            ]
        )
    header = [
        "model",
        "mazes",
        "success",
        "uniform-random",
        "by maze size: agent / random",
        "judged",
    ]
    return (
        "Held-out success (one episode a maze, the cheese where training puts it, sampled "
        "actions) beside the uniform-random policy's on the same mazes (10 episodes a maze):\n\n"
        + "\n".join(pages.table(header, rows))
        + "\n"
    )


def grid_data(report: Mapping[str, Any]) -> dict[str, Any]:
    """The ``verdict_grid`` figure's data: claims x recipes, verdict, IQM, agreement."""
    aggregates = report["aggregates"]
    names = sorted({r for agg in aggregates.values() for r in agg["recipes"]})
    cells = [
        [
            None
            if recipe not in agg["recipes"]
            else {
                "verdict": agg["recipes"][recipe]["verdict"],
                "iqm": agg["recipes"][recipe].get("iqm"),
                "agrees": agg["recipes"][recipe].get("agrees_with_source"),
            }
            for recipe in names
        ]
        for agg in aggregates.values()
    ]
    return {
        "title": "verdict per claim and recipe (IQM of the estimand over training seeds)",
        "claims": list(aggregates),
        "recipes": names,
        "cells": cells,
    }


def _reference_iqm(members: Sequence[Mapping[str, Any]], name: str) -> float | None:
    values = [
        r["references"][name]["value"]
        for r in members
        if name in (r.get("references") or {}) and r["references"][name].get("value") is not None
    ]
    return float(trim_mean(values, 0.25)) if values else None


def interval_data(report: Mapping[str, Any], claim: str) -> dict[str, Any]:
    """The ``intervals`` figure's data of one claim: per recipe its IQM, interval and verdict,
    and the removal and null references' IQM over the same models."""
    agg = report["aggregates"][claim]
    rows = []
    for recipe, entry in agg["recipes"].items():
        members = pages.recipe_members(report, claim, recipe)
        rows.append(
            {
                "name": f"{recipe} ({entry.get('judged', '-')}/{entry.get('models', '-')})",
                "verdict": entry["verdict"],
                "iqm": entry.get("iqm"),
                "ci95": entry.get("ci95"),
                "removal": _reference_iqm(members, "removal"),
                "null": _reference_iqm(members, "null"),
            }
        )
    points = [v for r in rows for v in (r["iqm"], r["removal"], r["null"]) if v is not None]
    points += [v for r in rows if r["ci95"] for v in r["ci95"]]
    threshold = agg.get("threshold")
    if isinstance(threshold, int | float):
        points.append(threshold)
    estimand = next(
        (r.get("estimand") for r in report["results"] if r["claim"] == claim), "estimand"
    )
    return {
        "title": f"{claim}: source expects {agg.get('source_expects')}",
        "xlabel": f"{estimand}: IQM over training seeds, 95% interval (recipe: judged/models)",
        "threshold": threshold,
        "xlim": [min([0.0, *points]) - 0.05, max([1.0, *points]) + 0.05],
        "recipes": rows,
    }


def summary_figures(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures every report has: the verdict grid and one interval plot per claim."""
    figures = {pages.GRID: {"kind": "verdict_grid", "data": grid_data(report)}}
    for claim in report["aggregates"]:
        figures[f"{pages.INTERVALS}{claim}"] = {
            "kind": "intervals",
            "data": interval_data(report, claim),
        }
    return figures


def markdown(report: Mapping[str, Any], figures: Sequence[str] = ()) -> str:
    """``latest.md``, the summary (:func:`avec.pages.summary`)."""
    return pages.summary(report, figures)


def __getattr__(name: str) -> Any:
    # The drawers (matplotlib, and the level renderer) load on first use: a diff of two
    # reports or a README rewrite never needs them.
    if name == "DRAWERS":
        from avec.plots import DRAWERS

        return DRAWERS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_drawer(kind: str, drawer: Callable[[Mapping[str, Any], Path], None]) -> None:
    """Add a figure kind (e.g. vector fields, drawn by :mod:`avec.fields`)."""
    from avec.plots import DRAWERS

    DRAWERS[kind] = drawer


def draw(spec: Mapping[str, Any]) -> bytes:
    """The PNG of one figure ``{"kind": one of DRAWERS, "data": {...}}``: the bytes
    :func:`write` puts in ``figures/``, so a figure can be drawn where it is made (the claims
    suite's xdist workers draw theirs while the other workers still run) and handed over."""
    from avec.plots import DRAWERS

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
    """Write ``latest.json``, ``latest.md`` (the summary), ``claims/<claim>.md`` (a page per
    claim), ``published.md`` and ``figures/<name>.png``; return the report.

    Besides the claims' ``figures``, every report draws :func:`summary_figures` (the verdict
    grid and an interval plot per claim). ``figures`` maps a file stem to ``{"kind": one of
    DRAWERS, "data": {...}}``; ``drawn`` maps stems to PNGs :func:`draw`
    already made of them (the rest are drawn here). Everything is
    written into a staging folder first, then renamed into ``out_dir``
    (:func:`avec.atomic.staged`): an error or an interruption leaves the previous report whole,
    and the figures folder holds exactly this report's figures.
    """
    report = build(results, generated_by, claim_texts)
    drawn = drawn or {}
    figures = {**figures, **summary_figures(report)}
    with atomic.staged(out_dir) as stage:
        fig_dir = stage / "figures"
        fig_dir.mkdir()
        (stage / "claims").mkdir()
        names = []
        for stem, spec in sorted(figures.items()):
            name = f"{stem}.png"
            png = drawn.get(stem)
            (fig_dir / name).write_bytes(png if png is not None else draw(spec))
            names.append(name)
        (stage / "latest.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (stage / "latest.md").write_text(markdown(report, names))
        for claim in report["aggregates"]:
            page = pages.claim_page(report, claim, names, to_figures="../figures/")
            (stage / "claims" / f"{claim}.md").write_text(page)
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


def _paragraphs(report: Mapping[str, Any], claim: str) -> tuple[str, str]:
    """A claim's statement and its ``*Source:*`` paragraph, from the text its module declares."""
    parts = report.get("claims", {}).get(claim, "").split("\n\n")
    source = next((p for p in parts if p.startswith("*Source:*")), "")
    return parts[0], source.removeprefix("*Source:*").strip()


def claim_list(report: Mapping[str, Any]) -> str:
    """One line per claim: its id, linked to its page of the report, and its statement."""
    return "".join(
        f"- [{claim}](reports/claims/{claim}.md): {_paragraphs(report, claim)[0]}\n"
        for claim in report["aggregates"]
    )


def claims_table(report: Mapping[str, Any]) -> str:
    """Per claim: what it says, the source's words (quoted in its module), what the source
    expects and the threshold."""
    rows = [
        [
            f"[{claim}](../reports/claims/{claim}.md)",
            *_paragraphs(report, claim),
            agg.get("source_expects"),
            agg.get("threshold"),
        ]
        for claim, agg in report["aggregates"].items()
    ]
    header = ["claim", "statement", "source's words", "source expects", "threshold"]
    return "\n".join(pages.table(header, rows)) + "\n"


SECTIONS = {
    "verdicts": summary_table,
    "claim-list": claim_list,
    "claims-table": claims_table,
    "published": published_table,
    "beside-random": beside_random_table,
}
"""Sections of README.md and docs/ regenerated from the report, each between
``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers."""
GENERATED_FILES = ("README.md", "docs/claims.md")
"""The files whose marked sections ``avec report --readme`` rewrites by default."""


def fill_readme(readme: str, report: Mapping[str, Any]) -> str:
    """``readme`` with every :data:`SECTIONS` section it has rewritten from ``report``; an
    error if it has none, or a begin marker without its end."""
    found = 0
    for name, table in SECTIONS.items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        if begin not in readme:
            continue
        if end not in readme.split(begin, 1)[1]:
            raise ValueError(f"{begin.strip()} has no {end} after it")
        found += 1
        head, rest = readme.split(begin, 1)
        body = table(report)
        body = "\n".join(body) + "\n" if isinstance(body, list) else body
        readme = head + begin + body + end + rest.split(end, 1)[1]
    if not found:
        markers = ", ".join(f"<!-- {name}:begin -->" for name in SECTIONS)
        raise ValueError(f"no generated section to fill; markers: {markers}")
    return readme


DIFF_LEGEND = (
    "legend: ! verdict changed, ~ estimate or interval changed, "
    "+ pair only in NEW, - pair only in OLD"
)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every verdict, estimate and interval that changed between two reports, one line each,
    under a header that counts them and a legend of the marks.

    Raises :class:`ValueError` if either is not a report (a ``results`` list of results with
    claim, model, verdict, estimate and interval).
    """
    before, after = _by_pair(old, "old"), _by_pair(new, "new")
    lines = []
    counts = dict.fromkeys("!~+-", 0)
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
                counts["!"] += 1
            if a.get("rate") != b.get("rate") or a["ci95"] != b["ci95"]:
                lines.append(
                    f"~ {name}: {_fmt(a.get('rate'), a['ci95'])} -> "
                    f"{_fmt(b.get('rate'), b['ci95'])}"
                )
                counts["~"] += 1
            continue
        counts[lines[-1][0]] += 1
    if not lines:
        return []
    header = (
        f"{len(before.keys() | after.keys())} claim x model pairs: {counts['!']} verdicts "
        f"changed, {counts['~']} estimates or intervals moved, {counts['+']} new, "
        f"{counts['-']} removed"
    )
    return [header, DIFF_LEGEND, *lines]


__all__ = [
    "DIFF_LEGEND",
    "PUBLISHED",
    "RESULT_FIELDS",
    "SCHEMA",
    "GENERATED_FILES",
    "SECTIONS",
    "beside_random_table",
    "build",
    "claim_list",
    "claims_table",
    "fill_readme",
    "draw",
    "grid_data",
    "interval_data",
    "summary_figures",
    "published_table",
    "summary_table",
    "diff",
    "markdown",
    "register_drawer",
    "write",
]
