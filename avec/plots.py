"""Figures of the replication report, drawn from plain data with matplotlib's object API.

Every figure the claims suite asks for is a kind and a dict of plain data (lists and
numbers), so the report can be redrawn from ``latest.json`` alone; nothing here hooks,
rolls out or computes a statistic. :data:`DRAWERS` maps each kind to its drawer.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from avec import families, fields, verdict_plots
from avec.fields import ARROW_SCALE, VectorField
from avec.layouts import Cell, Layout, from_ascii


def draw_dose_response(data: Mapping[str, Any], path: Path) -> None:
    """Lines of a measure against the steering coefficient, one per series, with CI bands, on
    a symmetric-log x axis (linear within +-1, so -2..2 is not squashed by -20..20).

    ``data``: ``{"title", "xlabel", "ylabel", "coefficients": [...],
    "series": {name: {"value": [...], "ci95": [[lo, hi], ...]}}}``, optionally
    ``"marks": {label: [coefficient, ...]}`` (the coefficients a claim judges, drawn as
    vertical lines), ``"thresholds": {label: value}`` (horizontal dashed lines) and
    ``"references": {label: {"value", "ci95"}}`` (horizontal bands, e.g. removal and null,
    each in its own colour: green for a label starting "removal", grey for "null").
    """
    fig = Figure(figsize=(8, 6.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.asarray(data["coefficients"], dtype=float)
    # Series never take the references' colours (green removal, grey null).
    colours = iter(["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink"])
    for name, series in data["series"].items():
        y = np.asarray(series["value"], dtype=float)
        colour = next(colours, "tab:cyan")
        ax.plot(x, y, marker="o", ms=4, color=colour, label=name)
        if series.get("ci95"):
            ci = np.asarray(series["ci95"], dtype=float)
            ax.fill_between(x, ci[:, 0], ci[:, 1], color=colour, alpha=0.2)
    styles = iter(["-.", ":", (0, (5, 1)), (0, (1, 3))])
    for label, coefficients in (data.get("marks") or {}).items():
        style = next(styles, ":")
        for k, c in enumerate(coefficients):
            ax.axvline(c, color="grey", ls=style, lw=1, label=label if k == 0 else None)
    for label, value in (data.get("thresholds") or {}).items():
        ax.axhline(value, color="black", ls="--", lw=1, label=label)
    others = iter(["tab:purple", "tab:brown", "tab:olive"])
    for label, ref in (data.get("references") or {}).items():
        colour = _REFERENCE_COLOURS.get(label.split(":")[0]) or next(others, "grey")
        lo, hi = ref.get("ci95") or (ref["value"], ref["value"])
        ax.axhspan(lo, hi, color=colour, alpha=0.15, lw=0, label=f"{label}, 95% CI")
        ax.axhline(ref["value"], color=colour, lw=1.2)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xticks(x, [f"{c:g}" for c in x], fontsize=7)
    # A margin of a quarter within +-1 and of 15% beyond (symlog's autoscaling leaves half the
    # axis empty when every coefficient has one sign).
    lo, hi = float(x.min()), float(x.max())
    ax.set_xlim(lo * 1.15 if lo < -1 else lo - 0.25, hi * 1.15 if hi > 1 else hi + 0.25)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(
        title=data["title"],
        xlabel=data.get("xlabel", "coefficient") + " (symmetric log scale)",
        ylabel=data.get("ylabel", ""),
    )
    ax.title.set_fontsize(9)
    # Under the plot, so long reference labels never squeeze the axes.
    fig.legend(fontsize=7, loc="outside lower center", ncols=2 if len(ax.lines) > 8 else 1)
    _save(fig, path)


_REFERENCE_COLOURS = {
    "removal": "tab:green",
    "removed": "tab:green",
    "null": "grey",
    "random": "grey",
}
"""Colours of the usual references, the same in every figure kind that draws them."""


def draw_matrix(data: Mapping[str, Any], path: Path) -> None:
    """A labelled heat map, e.g. a transfer matrix (rows: vector source, columns: target), on
    a fixed diverging colour scale (``-1`` to ``1``, white at 0; values beyond it take the end
    colours and keep their printed number), the threshold marked on the colour bar.

    ``data``: ``{"title", "rows": [...], "columns": [...], "values": [[...]], "label"}``,
    optionally ``"xlabel"``, ``"ylabel"``, ``"threshold"`` and ``"limits": [lo, hi]``.
    """
    values = np.asarray(data["values"], dtype=float)
    lo, hi = data.get("limits", (-1.0, 1.0))
    height = 2.8 + 0.55 * values.shape[0]
    fig = Figure(figsize=(5.5 + 1.0 * values.shape[1], height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu", vmin=lo, vmax=hi, aspect="auto")
    ax.set_xticks(range(values.shape[1]), data["columns"], rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(values.shape[0]), data["rows"], fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        text = "n/a" if np.isnan(v) else f"{v:.2f}"
        dark = not np.isnan(v) and abs(v) > 0.6 * max(abs(lo), abs(hi))
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "k")
    bar = fig.colorbar(image, ax=ax, shrink=0.9)
    label = data.get("label", "")
    threshold = data.get("threshold")
    if threshold is not None:
        bar.ax.axhline(threshold, color="black", lw=2)
        label += f"\nblack line: the claim's threshold {threshold:g}"
    bar.set_label(label, fontsize=7)
    ax.set_xlabel(data.get("xlabel", ""), fontsize=8)
    ax.set_ylabel(data.get("ylabel", ""), fontsize=8)
    ax.set_title(data["title"], fontsize=9, wrap=True)
    _save(fig, path)


def draw_bars(data: Mapping[str, Any], path: Path) -> None:
    """Bars with CI whiskers, e.g. the effect per layer of a layer sweep.

    ``data``: ``{"title", "labels": [...], "value": [...], "ci95": [[lo, hi], ...], "ylabel"}``,
    optionally ``"lines": {label: value}`` (horizontal lines: thresholds, references),
    ``"references": {label: value or [value or None per bar]}`` (a reference as a line:
    horizontal where it is one number, else joining its value at each bar; green for a label
    starting "removal", grey for "null"), ``"markers": {label: [value or None per bar]}`` and
    ``"note"`` (a line under the plot).
    """
    value = np.asarray(data["value"], dtype=float)
    ci = np.asarray(data["ci95"], dtype=float)
    fig = Figure(figsize=(max(9.5, 0.6 * len(value) + 5), 5.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(value))
    ax.bar(x, value, yerr=[value - ci[:, 0], ci[:, 1] - value], capsize=3, label="estimate")
    styles = ["--", "-", ":", "-."]
    for (label, level), style in zip((data.get("lines") or {}).items(), styles, strict=False):
        ax.axhline(level, color="black" if style == "--" else "tab:green", ls=style, label=label)
    for label, level in (data.get("references") or {}).items():
        colour = _REFERENCE_COLOURS.get(label.split(" ")[0].rstrip(":"), "tab:purple")
        if isinstance(level, list):
            shown = [(i, v) for i, v in enumerate(level) if v is not None]
            if shown:
                ax.plot(*zip(*shown, strict=True), "-o", color=colour, ms=5, lw=1.5, label=label)
        else:
            ax.axhline(level, color=colour, lw=1.5, label=label)
    for label, points in (data.get("markers") or {}).items():
        shown = [(i, v) for i, v in enumerate(points) if v is not None]
        if shown:
            ax.plot(*zip(*shown, strict=True), "x", color="tab:red", ms=8, label=label)
    ax.set_xticks(x, data["labels"], rotation=40, ha="right", fontsize=7)
    ax.set(title=data["title"], ylabel=data.get("ylabel", ""))
    ax.title.set_fontsize(9)
    # Beside the plot, in the layout (a legend anchored outside the axes squeezes them).
    fig.legend(fontsize=7, loc="outside right upper")
    if data.get("note"):
        fig.text(0.01, 0.0, data["note"], fontsize=7, wrap=True, va="bottom")
        fig.get_layout_engine().set(rect=(0, 0.08, 1, 0.92))
    _save(fig, path)


def draw_image(data: Mapping[str, Any], path: Path) -> None:
    """An RGB image (e.g. a rendered layout). ``data``: ``{"title", "rgb": [[[r, g, b]]]}``."""
    fig, ax = _figure((4, 4))
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


def draw_counterexample(data: Mapping[str, Any], path: Path) -> None:
    """A claim's minimal failing trial: its level (drawn as the vector fields draw levels),
    with the agent's state at the failing unit marked; what the claim measured there in each
    arm (unsteered, steered, removal, null, ...) against the bar the judged arm was held to;
    the action probabilities per arm where the claim is judged at a state; the pass rule.

    ``data``: ``{"title", "ascii", "with", "arms": {name: value}, "rule"}``, optionally
    ``"state": [x, y, direction]`` with ``"state_is"`` (``failing`` or ``start``),
    ``"bar": {"arm", "value", "side"}``,
    ``"probabilities": {arm: [p per action]}`` with ``"actions": [name per action]``.
    """
    arms = data.get("arms") or {}
    probabilities = data.get("probabilities") or {}
    bar = data.get("bar")
    judged = bar["arm"] if bar else "steered"
    width = 13 if probabilities else 9
    fig = Figure(figsize=(width, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ratios = (1, 1.3, 1.3) if probabilities else (1, 1.3)
    panels = fig.subplots(1, len(ratios), width_ratios=ratios)
    level, values = panels[0], panels[1]
    layout = from_ascii(data["ascii"])
    draw_level(level, layout)
    where = "the level" + (f"; the trial's other parts: {data['with']}" if data.get("with") else "")
    if data.get("state"):
        x, y, facing = data["state"]
        level.plot(x, y, marker=">v<^"[facing], ms=13, color="tab:red", ls="none")
        what = "the episode's start" if data.get("state_is") == "start" else "the failing state"
        where += f"\nred triangle: {what}\n(pointing where the agent faces)"
    level.set_title(where + "\ncircle: the start cell", size=8)

    names = list(arms)
    values.barh(
        range(len(names)), [arms[n] for n in names], color=[_arm_colour(n, judged) for n in names]
    )
    for y, name in enumerate(names):
        values.text(arms[name], y, f" {arms[name]:.3f}", va="center", fontsize=7)
    values.set_yticks(range(len(names)), [_arm_label(n) for n in names], fontsize=8)
    values.invert_yaxis()
    ends = [0.0, 1.05, *arms.values(), *([bar["value"]] if bar else [])]
    values.set_xlim(min(ends), 1.1 * max(ends))
    title = "measured at the failing unit (state or episode), per arm"
    if bar:
        values.axvline(bar["value"], color="black", ls="--", lw=1.2)
        title += (
            f"\ndashed: the bar {bar['value']:.3f}; {_arm_label(judged)} passes when "
            f"{bar['side']} it"
        )
    values.set_title(title, fontsize=8)
    if not names:
        values.text(0.5, 0.5, "no per-unit numbers", ha="center", transform=values.transAxes)
    if probabilities:
        _draw_action_probabilities(panels[2], probabilities, data.get("actions"), judged)
    fig.suptitle(textwrap.fill(data.get("title", ""), 140), fontsize=9)
    if data.get("rule"):
        rule = textwrap.fill("Pass rule: " + data["rule"], 14 * width)
        fig.text(0.01, 0.01, rule, fontsize=7, va="bottom")
        bottom = 0.04 + 0.025 * rule.count("\n")
        fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
    _save(fig, path)


def _arm_label(name: str) -> str:
    """A measurement key as a label: words, not identifiers (``p_top_right_null`` ->
    ``P top right null``, ``tv_added`` -> ``TV added``)."""
    head, _, rest = name.partition("_")
    head = {"p": "P", "tv": "TV"}.get(head, head)
    return " ".join([head, *rest.split("_")]).strip()


def _arm_colour(name: str, judged: str) -> str:
    if name.startswith("unsteered"):
        return "tab:blue"
    if name == judged:
        return "tab:red"
    return _REFERENCE_COLOURS.get(name, "silver")


def _draw_action_probabilities(
    ax: Axes, probabilities: Mapping[str, list[float]], actions: list[str] | None, judged: str
) -> None:
    """Grouped horizontal bars: P(action) per arm at the failing state."""
    names = list(probabilities)
    others = iter(["tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"])
    colours = {
        # An arm's probabilities are the judged arm's where it measures them (tv_half: half).
        name: _arm_colour(name, name if judged.endswith(name) else judged)
        for name in names
    }
    colours = {n: next(others, "silver") if c == "silver" else c for n, c in colours.items()}
    n_actions = len(next(iter(probabilities.values())))
    labels = (
        actions if actions and len(actions) == n_actions else [str(a) for a in range(n_actions)]
    )
    height = 0.8 / len(names)
    for k, name in enumerate(names):
        y = np.arange(n_actions) + (k - (len(names) - 1) / 2) * height
        label = _arm_label(name)
        ax.barh(y, probabilities[name], height=height, color=colours[name], label=label)
    ax.set_yticks(range(n_actions), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("P(action)", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("action probabilities at the failing state, per arm", fontsize=8)


def _figure(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure with one axes, on its own Agg canvas (no pyplot state)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig: Figure, path: Path) -> None:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    # No software/date metadata, so identical data gives byte-identical PNGs.
    fig.savefig(path, dpi=100, metadata={"Software": None})


# -- vector fields (avec.fields computes them) -----------------------------------------------

_FLOOR = (1.0, 1.0, 1.0)
_WALL = (0.25, 0.25, 0.25)


def _objects(layout: Layout) -> list[tuple[str, Cell, tuple[float, float, float]]]:
    return families.of(layout).drawing(layout)


def draw_level(ax: Axes, layout: Layout) -> None:
    """Draw walls, objects (lettered) and the agent's start cell (circled) on ``ax``."""
    image = np.empty((layout.height, layout.width, 3))
    image[:] = _FLOOR
    for x, y in layout.walls:
        image[y, x] = _WALL
    objects = _objects(layout)
    for _, (x, y), color in objects:
        image[y, x] = color
    ax.imshow(image, origin="upper", interpolation="nearest")
    for letter, (x, y), _ in objects:
        ax.text(x, y, letter, ha="center", va="center", fontsize=9, fontweight="bold")
    ax.plot(
        *layout.agent, marker="o", markersize=14, markerfacecolor="none", markeredgecolor="tab:blue"
    )
    ax.set_xticks([])
    ax.set_yticks([])


def draw_field(
    ax: Axes, field: VectorField, color: str = "black", scale: float = ARROW_SCALE
) -> None:
    """Draw ``field``'s arrows on ``ax`` (over a :func:`draw_level` of its layout), ``scale``
    cells long per unit of net movement; quiver draws an arrow shorter than its head as a dot."""
    xs, ys = np.array(field.cells, dtype=np.float64).T
    u, v = field.vectors.T
    # angles="xy" follows the data axes, which imshow has flipped so y grows downwards.
    ax.quiver(
        xs,
        ys,
        u,
        v,
        color=color,
        angles="xy",
        scale_units="xy",
        scale=1 / scale,
        pivot="middle",
        width=0.012,
    )


def legend(layout: Layout) -> str:
    """The vector-field figure's caption: what an arrow, a dot, the circle and the letters
    mean, and the arrow scale of the original and patched panels on ``layout``'s family."""
    longest = fields.longest_arrow(layout)
    moves = "its four absolute moves" if longest == 1.0 else "facings averaged"
    shown = "1" if longest == 1.0 else "(1/4, 1/4)"
    return (
        f"Arrow: the policy's expected next displacement from that cell, {moves} "
        f"(avec.fields); in the first two panels 1 cell = {1 / ARROW_SCALE:.2g} net movement, "
        f"so the longest possible, {shown}, spans {ARROW_SCALE * longest:.2g} cell. "
        "A dot: an arrow too short to draw. Circle: the agent's start cell. "
        "Letters: objects (K key, D door, G goal, C cheese, L lava).\nremoval: the unpatched "
        "policy on the level without the feature, what a perfect intervention would do; both "
        "differences share one scale."
    )


def plot_fields(
    path: str | Path,
    original: VectorField,
    patched: VectorField | None = None,
    title: str | None = None,
    removal: VectorField | None = None,
) -> Path:
    """Write a PNG: the original field, and with ``patched`` also the patched field beside it
    and their difference (patched - original); with ``removal`` (the original policy's field
    on the level without the feature, same cells) also the removal difference (removal -
    original) -- what a perfect intervention would do -- drawn on the same scale as the
    patched difference, the scale printed. Returns the path written."""
    panels = [("original", original, "black", ARROW_SCALE)]
    if patched is not None:
        diffs = [("patched - original", fields.difference(original, patched))]
        if removal is not None:
            diffs.append(("removal - original", _difference_on(original, removal)))
        longest = max(float(np.linalg.norm(d.vectors, axis=1).max(initial=0)) for _, d in diffs)
        # Both differences at one scale: the longest arrow of either spans 0.9 cell.
        scale = 0.9 / longest if longest > 0 else ARROW_SCALE
        panels.append(("patched", patched, "tab:red", ARROW_SCALE))
        panels += [
            (f"{name}\n1 cell = {1 / scale:.3g} net movement", d, "tab:purple", scale)
            for name, d in diffs
        ]
    figure = Figure(figsize=(3.6 * len(panels), 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    for ax, (name, field, color, scale) in zip(axes, panels, strict=True):
        draw_level(ax, field.layout)
        draw_field(ax, field, color, scale)
        ax.set_title(name, fontsize=9)
    cells = len(original.cells)
    head = f"{title}\n" if title else ""
    few = " -- a small level: only these cells are free" if cells < 8 else ""
    figure.suptitle(f"{head}{cells} free cells{few}", fontsize=9)
    figure.text(
        0.5, 0.005, legend(original.layout), ha="center", va="bottom", fontsize=7, wrap=True
    )
    figure.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Software": None})
    return path


def _difference_on(original: VectorField, removal: VectorField) -> VectorField:
    """``removal - original`` drawn on the original's level (the removal field's level lacks
    the feature; its cells are the original's)."""
    if removal.cells != original.cells:
        raise ValueError("the removal field must be on the original's cells")
    return VectorField(original.layout, original.cells, removal.vectors - original.vectors, None)


def draw_field_data(data: Mapping[str, Any], path: Path) -> None:
    """Draw a :func:`avec.fields.field_data` figure to ``path`` with :func:`plot_fields` (the
    report's drawer of kind ``vector_field``)."""
    layout = from_ascii(data["ascii"])
    cells = tuple((int(x), int(y)) for x, y in data["cells"])

    def field(name: str) -> VectorField | None:
        if name not in data:
            return None
        vectors = np.asarray(data[name], dtype=np.float64).reshape(len(cells), 2)
        return VectorField(layout, cells, vectors, None)

    plot_fields(
        path,
        VectorField(layout, cells, np.asarray(data["original"], dtype=np.float64), None),
        field("patched"),
        data.get("title") or None,
        removal=field("removal"),
    )


DRAWERS: dict[str, Callable[[Mapping[str, Any], Path], None]] = {
    "dose_response": draw_dose_response,
    "matrix": draw_matrix,
    "bars": draw_bars,
    "image": draw_image,
    "layout": draw_layout,
    "counterexample": draw_counterexample,
    "vector_field": draw_field_data,
    "verdict_grid": verdict_plots.draw_verdict_grid,
    "intervals": verdict_plots.draw_intervals,
}
"""Figure kinds the claims suite may hand the report, and how each is drawn."""


__all__ = [
    "DRAWERS",
    "draw_field",
    "draw_field_data",
    "draw_level",
    "plot_fields",
]
