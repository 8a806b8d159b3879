"""The replication report: JSON, Markdown and figures from claim results, and diffs between runs.

Dict in, files out: a report never trains, hooks or rolls out. The claims suite hands it
*results* (one dict per claim x model, see :data:`RESULT_FIELDS`) and *figures* (a kind and the
data to draw); :func:`write` renders ``latest.json``, ``latest.md`` and ``figures/*.png``.

JSON schema 1::

    {"schema": 1,
     "generated_by": {"versions": {...}, "profile": "ci", ...},
     "results": [{"claim", "model", "trials", "passes", "pass_rate", "ci95": [lo, hi],
                  "threshold", "verdict", "expected", "effects": {name: {"value", "ci95"}},
                  "counterexample"}]}

Results are sorted by (claim, model) and floats rounded, so two runs on the same fixtures give
byte-identical files whatever the number of workers, and ``avec report --diff`` shows exactly
what changed when models or code change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avec import atomic, fields  # noqa: E402

SCHEMA = 1
RESULT_FIELDS = (
    "claim",
    "model",
    "trials",
    "passes",
    "pass_rate",
    "ci95",
    "threshold",
    "verdict",
    "expected",
    "effects",
    "counterexample",
)
VERDICT_MARK = {"holds": "holds", "fails": "fails", "inconclusive": "inconclusive"}
DIGITS = 6
"""Floats are rounded to this many digits in the JSON: far below any interval's width, and it
keeps the file stable against last-bit differences in summation order."""

PUBLISHED = [
    ("maze paper", "cheese vector, coef -1", "median P(cheese | decision square) 0.81 -> 0.03"),
    ("maze paper", "cheese vector, coef +1", "not much happened"),
    ("maze paper", "top-right vector, coef +1", "pulls the agent top-right; subtracting ~nothing"),
    (
        "maze paper",
        "top-right vector scale",
        "0.5 minor, 1 strong, 5 similar, 10 crumbles, 20 down/left",
    ),
    ("maze paper", "composition", "subtract cheese + add top-right: roughly additive"),
    ("maze paper", "transfer", "only where the cheese sits in nearly the same place"),
    ("maze paper", "random vector, same norm", "destroys the policy"),
    ("poster", "key vector, coef -1", "agent should ignore the key"),
    ("poster", "key vector, coef +1", "(almost) no effect"),
    ("poster", "scale", ">10 breaks behaviour, small barely matters"),
    ("poster", "A - (A - B) = B", "still often seems to work"),
    ("poster", "generalization", "not perfect across seeds and map sizes"),
]
"""What the maze paper (Turner, Mini et al. 2023) and the poster reported, for side-by-side."""


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


def build(results: Sequence[Mapping[str, Any]], generated_by: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON report: results checked for their fields, rounded and sorted by (claim, model)."""
    for result in results:
        missing = [f for f in RESULT_FIELDS if f not in result]
        if missing:
            raise ValueError(f"result {result.get('claim')}/{result.get('model')} lacks {missing}")
    rows = sorted((_rounded(dict(r)) for r in results), key=lambda r: (r["claim"], r["model"]))
    return {"schema": SCHEMA, "generated_by": _rounded(dict(generated_by)), "results": rows}


def _fmt_ci(ci: Sequence[float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def markdown(
    report: Mapping[str, Any],
    figures: Sequence[str] = (),
    claim_texts: Mapping[str, str] | None = None,
) -> str:
    """The Markdown report: verdict table, per-claim detail, published numbers, figures."""
    claim_texts = claim_texts or {}
    results = report["results"]
    claims = sorted({r["claim"] for r in results})
    models = sorted({r["model"] for r in results})
    cell = {(r["claim"], r["model"]): r for r in results}
    gen = report["generated_by"]
    lines = [
        "# AVEC replication report",
        "",
        f"Profile `{gen.get('profile')}`; "
        + ", ".join(f"{k} {v}" for k, v in sorted(gen.get("versions", {}).items())),
        "",
        "Each cell: verdict and pass rate over trials (95% Wilson interval). A verdict is "
        "*holds* when the interval's lower bound reaches the claim's threshold, *fails* when "
        "its upper bound is below it, *inconclusive* otherwise. `!` marks a verdict that "
        "differs from the committed record in `claims/expected.toml`.",
        "",
        "## Verdicts",
        "",
        "| claim | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for claim in claims:
        row = []
        for model in models:
            r = cell.get((claim, model))
            if r is None:
                row.append("")
                continue
            flag = "" if r["expected"] in (None, r["verdict"]) else " !"
            row.append(f"{r['verdict']}{flag} {r['pass_rate']:.2f}")
        lines.append(f"| {claim} | " + " | ".join(row) + " |")
    for claim in claims:
        lines += ["", f"## {claim}", ""]
        if claim in claim_texts:
            lines += [claim_texts[claim], ""]
        rows = [r for r in results if r["claim"] == claim]
        effect_names = sorted({name for r in rows for name in r["effects"]})
        lines += [
            "| model | trials | pass rate | 95% CI | threshold | verdict | expected | "
            + " | ".join(effect_names)
            + " |",
            "|---|" + "---|" * (6 + len(effect_names)),
        ]
        for r in rows:
            effects = [
                f"{r['effects'][n]['value']:.3f} {_fmt_ci(r['effects'][n].get('ci95'))}"
                if n in r["effects"]
                else ""
                for n in effect_names
            ]
            lines.append(
                f"| {r['model']} | {r['trials']} | {r['pass_rate']:.3f} | {_fmt_ci(r['ci95'])} | "
                f"{r['threshold']} | {r['verdict']} | {r['expected']} | "
                + " | ".join(effects)
                + " |"
            )
        for r in rows:
            example = r.get("counterexample")
            if example:
                extra = f" (trial parameters {example['with']})" if example.get("with") else ""
                lines += ["", f"Minimal failing trial for {r['model']}{extra}:"]
                for ascii_ in [example["ascii"], *example.get("more_layouts", [])]:
                    lines += ["", "```", ascii_, "```"]
                if example.get("figure"):
                    lines.append(f"![counterexample {r['model']}](figures/{example['figure']})")
    lines += ["", "## Published numbers", "", "| source | setting | reported |", "|---|---|---|"]
    lines += [f"| {s} | {k} | {v.replace('|', '&#124;')} |" for s, k, v in PUBLISHED]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{name}](figures/{name})" for name in sorted(figures)]
    return "\n".join(lines) + "\n"


def draw_dose_response(data: Mapping[str, Any], path: Path) -> None:
    """Lines of a measure against the steering coefficient, one per series, with CI bands.

    ``data``: ``{"title", "xlabel", "ylabel", "coefficients": [...],
    "series": {name: {"value": [...], "ci95": [[lo, hi], ...]}}}``.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.asarray(data["coefficients"], dtype=float)
    for name, series in data["series"].items():
        y = np.asarray(series["value"], dtype=float)
        ax.plot(x, y, marker="o", label=name)
        if series.get("ci95"):
            ci = np.asarray(series["ci95"], dtype=float)
            ax.fill_between(x, ci[:, 0], ci[:, 1], alpha=0.2)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(
        title=data["title"], xlabel=data.get("xlabel", "coefficient"), ylabel=data.get("ylabel", "")
    )
    ax.legend(fontsize=7)
    _save(fig, path)


def draw_matrix(data: Mapping[str, Any], path: Path) -> None:
    """A labelled heat map, e.g. a transfer matrix (rows: vector source, columns: target).

    ``data``: ``{"title", "rows": [...], "columns": [...], "values": [[...]], "label"}``.
    """
    values = np.asarray(data["values"], dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * values.shape[1], 1.0 + 0.7 * values.shape[0]))
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    ax.set_xticks(range(values.shape[1]), data["columns"], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(values.shape[0]), data["rows"], fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        ax.text(
            j,
            i,
            "" if np.isnan(v) else f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v < np.nanmean(values) else "black",
        )
    fig.colorbar(image, ax=ax, label=data.get("label", ""))
    ax.set_title(data["title"], fontsize=9)
    _save(fig, path)


def draw_bars(data: Mapping[str, Any], path: Path) -> None:
    """Bars with CI whiskers, e.g. the effect per layer of a layer sweep.

    ``data``: ``{"title", "labels": [...], "value": [...], "ci95": [[lo, hi], ...], "ylabel"}``.
    """
    value = np.asarray(data["value"], dtype=float)
    ci = np.asarray(data["ci95"], dtype=float)
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(value)), 4))
    ax.bar(range(len(value)), value, yerr=[value - ci[:, 0], ci[:, 1] - value], capsize=3)
    ax.set_xticks(range(len(value)), data["labels"], rotation=45, ha="right", fontsize=7)
    ax.set(title=data["title"], ylabel=data.get("ylabel", ""))
    _save(fig, path)


def draw_image(data: Mapping[str, Any], path: Path) -> None:
    """An RGB image (e.g. a rendered layout). ``data``: ``{"title", "rgb": [[[r, g, b]]]}``."""
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(np.asarray(data["rgb"], dtype=np.uint8))
    ax.set_axis_off()
    ax.set_title(data.get("title", ""), fontsize=8)
    _save(fig, path)


def draw_layout(data: Mapping[str, Any], path: Path) -> None:
    """A layout as MiniGrid draws it. ``data``: ``{"title", "ascii"}`` (see :mod:`avec.layouts`)."""
    from avec import envs, layouts

    draw_image(
        {"title": data.get("title", ""), "rgb": envs.render(layouts.from_ascii(data["ascii"]))},
        path,
    )


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    # No software/date metadata, so identical data gives byte-identical PNGs.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


DRAWERS: dict[str, Callable[[Mapping[str, Any], Path], None]] = {
    "dose_response": draw_dose_response,
    "matrix": draw_matrix,
    "bars": draw_bars,
    "image": draw_image,
    "layout": draw_layout,
    "vector_field": fields.draw_field_data,
}
"""Figure kinds the claims suite may hand the report, and how each is drawn."""


def register_drawer(kind: str, drawer: Callable[[Mapping[str, Any], Path], None]) -> None:
    """Add a figure kind (e.g. vector fields, drawn by :mod:`avec.fields`)."""
    DRAWERS[kind] = drawer


def write(
    out_dir: Path,
    results: Sequence[Mapping[str, Any]],
    figures: Mapping[str, Mapping[str, Any]],
    generated_by: Mapping[str, Any],
    claim_texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``latest.json``, ``latest.md`` and ``figures/<name>.png``; return the report.

    ``figures`` maps a file stem to ``{"kind": one of DRAWERS, "data": {...}}``. Everything is
    drawn and written into a staging folder first, then renamed into ``out_dir``
    (:func:`avec.atomic.staged`): an error or an interruption leaves the previous report whole,
    and the figures folder holds exactly this report's figures.
    """
    report = build(results, generated_by)
    with atomic.staged(out_dir) as stage:
        fig_dir = stage / "figures"
        fig_dir.mkdir()
        names = []
        for stem, spec in sorted(figures.items()):
            if spec["kind"] not in DRAWERS:
                raise ValueError(f"unknown figure kind {spec['kind']!r}; known: {sorted(DRAWERS)}")
            name = f"{stem}.png"
            DRAWERS[spec["kind"]](spec["data"], fig_dir / name)
            names.append(name)
        (stage / "latest.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (stage / "latest.md").write_text(markdown(report, names, claim_texts))
    return report


def _by_pair(report: Any, which: str) -> dict[tuple[str, str], Mapping[str, Any]]:
    needed = ("claim", "model", "verdict", "pass_rate", "ci95")
    results = report.get("results") if isinstance(report, Mapping) else None
    if not isinstance(results, list) or not all(
        isinstance(r, Mapping) and all(k in r for k in needed) for r in results
    ):
        raise ValueError(
            f"the {which} JSON is not an avec report: it needs a 'results' list whose "
            f"entries have {', '.join(needed)}"
        )
    return {(r["claim"], r["model"]): r for r in results}


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
            lines.append(f"+ {name}: new, {after[k]['verdict']} {after[k]['pass_rate']:.3f}")
        else:
            a, b = before[k], after[k]
            if a["verdict"] != b["verdict"]:
                lines.append(f"! {name}: verdict {a['verdict']} -> {b['verdict']}")
            if a["pass_rate"] != b["pass_rate"] or a["ci95"] != b["ci95"]:
                lines.append(
                    f"~ {name}: pass rate {a['pass_rate']:.3f} {_fmt_ci(a['ci95'])} -> "
                    f"{b['pass_rate']:.3f} {_fmt_ci(b['ci95'])}"
                )
    return lines


__all__ = [
    "DRAWERS",
    "PUBLISHED",
    "RESULT_FIELDS",
    "SCHEMA",
    "build",
    "diff",
    "markdown",
    "register_drawer",
    "write",
]
