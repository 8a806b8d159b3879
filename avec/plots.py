"""Figures of the replication report, drawn from plain data with matplotlib's object API.

Every figure the claims suite asks for is a kind and a dict of plain data (lists and
numbers), so the report can be redrawn from ``latest.json`` alone; nothing here hooks,
rolls out or computes a statistic. :data:`DRAWERS` maps each kind to its drawer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from avec import fields  # noqa: E402


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


__all__ = ["DRAWERS"]
