"""The report's summary figures: every verdict at a glance, one interval plot per claim, and
the record's history -- drawn from plain data (see :func:`avec.report.grid_data` and
:func:`avec.report.interval_data`) with matplotlib's object API.

The interval plots follow rliable (Agarwal et al. 2021, "Deep RL at the edge of the
statistical precipice"): a horizontal bar per recipe spanning the 95% interval of the
interquartile mean over its training seeds, the IQM as a tick, the claim's threshold as a
vertical line; here also the removal and null references (the feature physically removed; a
norm-matched random vector) as markers, so a bar can be read against what a perfect
intervention and a meaningless one score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

VERDICT_COLOURS = {
    "holds": "#5cb85c",
    "fails": "#d9534f",
    "inconclusive": "#f0ad4e",
    "not applicable": "#c8c8c8",
}
"""One colour per verdict, shared by every summary figure."""
_ABSENT = "#ffffff"


def _canvas(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No software/date metadata, so identical data gives byte-identical PNGs.
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def _legend(ax: Axes, verdicts: Sequence[str], extra: Sequence[Any] = (), **kwargs: Any) -> None:
    handles = [Patch(color=VERDICT_COLOURS[v], label=v) for v in verdicts]
    ax.legend(handles=[*handles, *extra], fontsize=7, **kwargs)


def draw_verdict_grid(data: Mapping[str, Any], path: Path) -> None:
    """Claims x recipes, each cell coloured by the recipe's verdict with its IQM printed; a
    thick black frame marks a verdict that disagrees with what the source expects.

    ``data``: ``{"title", "claims": [...], "recipes": [...], "cells": [[None | {"verdict",
    "iqm" (float or None), "agrees" (bool or None)}]]}`` (rows = claims).
    """
    claims, recipes, cells = data["claims"], data["recipes"], data["cells"]
    fig = _canvas((6.0 + 0.95 * len(recipes), 2.6 + 0.34 * len(claims)))
    ax = fig.subplots()
    names = list(VERDICT_COLOURS)
    codes = np.full((len(claims), len(recipes)), len(names), dtype=float)
    for i, row in enumerate(cells):
        for j, cell in enumerate(row):
            if cell is None:
                continue
            codes[i, j] = names.index(cell["verdict"])
            iqm = cell.get("iqm")
            ax.text(j, i, "-" if iqm is None else f"{iqm:.2f}", ha="center", va="center", size=7)
            if cell.get("agrees") is False:
                ax.add_patch(
                    Rectangle((j - 0.46, i - 0.44), 0.92, 0.88, fill=False, ec="black", lw=2)
                )
    colours = ListedColormap([VERDICT_COLOURS[v] for v in names] + [_ABSENT])
    ax.imshow(codes, cmap=colours, vmin=-0.5, vmax=len(names) + 0.5, aspect="auto")
    ax.set_xticks(range(len(recipes)), recipes, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(claims)), claims, fontsize=7)
    ax.set_xticks(np.arange(len(recipes) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(claims) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title(data.get("title", ""), fontsize=9)
    frame = Patch(facecolor="none", edgecolor="black", lw=2, label="disagrees with the source")
    blank = Patch(facecolor=_ABSENT, edgecolor="grey", label="not measured")
    _legend(ax, names, [frame, blank], loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)


def draw_intervals(data: Mapping[str, Any], path: Path) -> None:
    """One claim: per recipe, the 95% interval of the estimand's IQM as a horizontal bar
    coloured by the verdict, the IQM as a black tick, the removal and null references (IQM
    over the recipe's models) as markers; the threshold as a dashed line.

    ``data``: ``{"title", "xlabel", "threshold", "recipes": [{"name", "verdict", "iqm",
    "ci95", "removal", "null"}]}`` (any value may be ``None``: nothing is drawn for it).
    """
    rows = data["recipes"]
    fig = _canvas((7.5, 2.4 + 0.42 * len(rows)))
    ax = fig.subplots()
    for y, row in enumerate(rows):
        colour = VERDICT_COLOURS.get(row["verdict"], _ABSENT)
        ci, iqm = row.get("ci95"), row.get("iqm")
        if ci is not None:
            width = max(ci[1] - ci[0], 0.004)
            ax.barh(y, width, left=ci[0], height=0.55, color=colour, edgecolor="black", lw=0.5)
        if iqm is not None:
            ax.plot([iqm, iqm], [y - 0.3, y + 0.3], color="black", lw=2)
        else:
            ax.text(0.5, y, f"{row['verdict']}: no estimate", va="center", ha="center", size=7)
        for name, marker in (("removal", "D"), ("null", "x")):
            if row.get(name) is not None:
                ax.plot(row[name], y, marker=marker, color="#1f4e8c", ms=6, ls="none")
    threshold = data.get("threshold")
    extra = [
        ax.plot([], [], "D", color="#1f4e8c", label="removal reference")[0],
        ax.plot([], [], "x", color="#1f4e8c", label="null reference")[0],
        ax.plot([], [], color="black", lw=2, label="IQM over seeds")[0],
    ]
    if isinstance(threshold, int | float):
        extra.append(ax.axvline(threshold, color="black", ls="--", lw=1, label="threshold"))
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(*data.get("xlim", (-0.05, 1.05)))
    ax.set_xlabel(data.get("xlabel", "estimand (IQM over training seeds, 95% interval)"))
    ax.set_title(data.get("title", ""), fontsize=9)
    present = [v for v in VERDICT_COLOURS if any(r["verdict"] == v for r in rows)]
    _legend(ax, present, extra, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)


def draw_history(data: Mapping[str, Any], path: Path) -> Path:
    """The claim x recipe rows whose verdict changed (:func:`avec.history.figure_data`), one
    column per revision, coloured by verdict; a row's label counts its changes.

    ``data``: ``{"title", "columns": [label per revision], "rows": [{"name", "verdicts":
    [verdict or None per revision]}]}``.
    """
    columns, rows = data["columns"], data["rows"]
    fig = _canvas((6.0 + 0.75 * max(len(columns), 1), 2.6 + 0.28 * max(len(rows), 1)))
    ax = fig.subplots()
    names = list(VERDICT_COLOURS)
    codes = np.full((max(len(rows), 1), max(len(columns), 1)), len(names), dtype=float)
    for i, row in enumerate(rows):
        for j, verdict in enumerate(row["verdicts"]):
            if verdict is not None:
                codes[i, j] = names.index(verdict)
                ax.text(j, i, verdict[:4], ha="center", va="center", size=6)
    colours = ListedColormap([VERDICT_COLOURS[v] for v in names] + [_ABSENT])
    ax.imshow(codes, cmap=colours, vmin=-0.5, vmax=len(names) + 0.5, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=6)
    ax.set_yticks(range(len(rows)), [r["name"] for r in rows], fontsize=6)
    ax.set_title(data.get("title", ""), fontsize=9)
    blank = Patch(facecolor=_ABSENT, edgecolor="grey", label="not in that report")
    _legend(ax, names, [blank], loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


__all__ = ["VERDICT_COLOURS", "draw_history", "draw_intervals", "draw_verdict_grid"]
