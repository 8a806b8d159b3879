"""Every figure kind the claims suite hands the report is drawn from plain data alone."""

from __future__ import annotations

import declared
import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.image import imread

from avec import families, from_ascii, generators, judging, plots, verdicts

LEVEL = "doorkey 5x5\n#####\n#.D.#\n#>#.#\n#K#G#\n#####"

KINDS = {
    "dose_response": {
        "title": "dose",
        "coefficients": [-20, -1, 0, 1, 20],
        "series": {"success": {"value": [0, 0.5, 1, 0.5, 0], "ci95": [[0, 1]] * 5}},
        "marks": {"judged": [-20, 20]},
        "thresholds": {"bar": 0.5},
        "references": {"removal": {"value": 0.2, "ci95": [0.1, 0.3]}},
    },
    "matrix": {
        "title": "transfer",
        "rows": ["a", "b"],
        "columns": ["a", "b"],
        "values": [[1.0, None], [-2.0, 0.3]],
        "threshold": 0.5,
    },
    "bars": {
        "title": "layers",
        "labels": ["l0", "l1"],
        "value": [0.2, 0.6],
        "ci95": [[0.1, 0.3], [0.5, 0.7]],
        "lines": {"threshold": 0.5},
        "markers": {"null": [0.1, None]},
        "note": "(rule) and (chosen)",
    },
    "counterexample": {
        "title": "1a: m",
        "ascii": LEVEL,
        "arms": {"unsteered": 0.9, "steered": 0.8},
        "rule": "Passes when P falls below 0.5.",
    },
    "verdict_grid": {
        "claims": ["c1", "c2"],
        "recipes": ["r"],
        "cells": [[{"verdict": "not applicable", "iqm": None, "agrees": None}], [None]],
    },
    "intervals": {
        "threshold": 0.5,
        "recipes": [
            {"name": "r", "verdict": "holds", "iqm": 0.7, "ci95": [0.6, 0.8], "removal": 0.9},
            {"name": "s", "verdict": "inconclusive", "iqm": None, "ci95": None},
        ],
    },
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_draws_a_png_from_plain_data(tmp_path, kind):
    plots.DRAWERS[kind](KINDS[kind], tmp_path / "f.png")
    image = imread(tmp_path / "f.png")
    assert image.shape[0] > 100 and image[..., :3].std() > 0


def test_the_transfer_matrix_colours_do_not_depend_on_the_data_range(tmp_path):
    """A fixed scale: the same value gets the same colour whatever else the matrix holds."""
    base = {"title": "t", "rows": ["a"], "columns": ["a", "b"]}
    plots.draw_matrix({**base, "values": [[0.9, 0.0]]}, tmp_path / "one.png")
    plots.draw_matrix({**base, "values": [[0.9, -0.9]]}, tmp_path / "two.png")
    one, two = imread(tmp_path / "one.png"), imread(tmp_path / "two.png")
    # The left cell's centre (value 0.9) looks the same in both.
    y, x = one.shape[0] // 2, one.shape[1] // 4
    assert np.allclose(one[y, x - 5 : x + 5, :3], two[y, x - 5 : x + 5, :3], atol=0.02)


def _counterexample_of(measured, bar=None):
    """``judging._counterexample_data`` of a measurement on :data:`LEVEL` whose second unit
    fails (steered 0.7 not below 0.5)."""
    level = from_ascii(LEVEL)

    def outcome(found):
        return verdicts.outcome(found["steered"] < 0.5, [True, True], [0, 0], [level], bar=bar)

    claim = declared.claim(trial="A level. Passes when P falls below 0.5. More")
    example = judging.counterexample(level)
    return judging._counterexample_data(claim, "m", example, lambda _t: measured, outcome, level)


MEASURED = {
    "unsteered": np.array([0.9, 0.8]),
    "steered": np.array([0.2, 0.7]),
    "reached": np.array([True, False]),
    "trial": np.array([0, 0]),
}


def test_a_counterexample_figure_shows_what_was_measured_at_the_failing_unit():
    """The judge re-measures the minimal trial and hands over, at its first failing unit,
    every per-unit number and the claim's pass rule."""
    data = _counterexample_of(MEASURED)
    assert data["arms"] == {"unsteered": 0.8, "steered": 0.7, "reached (1 = yes)": 0.0}
    assert data["rule"] == "Passes when P falls below 0.5."
    assert data["ascii"] == from_ascii(LEVEL).to_ascii()
    assert "state" not in data and "bar" not in data and "probabilities" not in data


def test_a_counterexample_carries_the_failing_state_its_bar_and_action_probabilities():
    """At the failing unit: the agent's cell and facing, the bar the judged arm was held to,
    and P(action) per arm named by the family's actions."""
    measured = {
        **MEASURED,
        "agent_state": np.array([[1, 2, 0], [3, 1, 1]]),
        "probs_unsteered": np.array([[1.0, 0, 0, 0, 0, 0, 0], [0, 0, 0.9, 0.1, 0, 0, 0]]),
        "probs_steered": np.array([[0, 1.0, 0, 0, 0, 0, 0], [0, 0.3, 0.7, 0, 0, 0, 0]]),
    }
    bar = verdicts.Bar("steered", np.array([0.5, 0.45]), "below")
    data = _counterexample_of(measured, bar)
    assert data["state"] == [3, 1, 1]
    assert data["bar"] == {"arm": "steered", "value": 0.45, "side": "below"}
    assert data["probabilities"]["steered"] == [0, 0.3, 0.7, 0, 0, 0, 0]
    assert data["probabilities"]["unsteered"][2] == 0.9
    assert data["actions"][:3] == ["turn left", "turn right", "forward"]
    assert "agent_state" not in data["arms"]


def _drawn(monkeypatch, kind, data):
    """The figure a drawer makes of ``data``, taken before it is saved."""
    made = []
    monkeypatch.setattr(plots, "_save", lambda fig, _path: made.append(fig))
    plots.DRAWERS[kind](data, None)
    return made[0]


def test_the_counterexample_marks_the_state_the_bar_and_the_action_probabilities(monkeypatch):
    data = {
        **KINDS["counterexample"],
        "state": [3, 1, 1],
        "bar": {"arm": "steered", "value": 0.5, "side": "below"},
        "probabilities": {"unsteered": [0.2, 0.3, 0.5], "steered": [0.6, 0.2, 0.2]},
        "actions": ["turn left", "turn right", "forward"],
    }
    level, values, probs = _drawn(monkeypatch, "counterexample", data).axes
    marks = [line for line in level.get_lines() if line.get_marker() == "v"]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in marks] == [(3, 1)]
    assert any(list(line.get_xdata()) == [0.5, 0.5] for line in values.get_lines())
    assert "below" in values.get_title()
    assert len(probs.patches) == 6
    assert [t.get_text() for t in probs.get_yticklabels()] == data["actions"]


def test_the_counterexample_labels_its_arms_in_words(monkeypatch):
    data = {
        **KINDS["counterexample"],
        "arms": {"p_top_right": 0.4, "p_top_right_minus_cheese": 0.6, "tv_added": 0.1},
        "bar": {"arm": "tv_added", "value": 0.5, "side": "below"},
        "probabilities": {"unsteered": [0.2, 0.8], "reverse_both": [0.6, 0.4]},
    }
    _level, values, probs = _drawn(monkeypatch, "counterexample", data).axes
    labels = [t.get_text() for t in values.get_yticklabels()]
    assert labels == ["P top right", "P top right minus cheese", "TV added"]
    assert "TV added passes when below" in values.get_title()
    assert [t.get_text() for t in probs.get_legend().get_texts()] == ["unsteered", "reverse both"]


def test_the_counterexample_without_a_state_draws_no_marker_or_probabilities(monkeypatch):
    fig = _drawn(monkeypatch, "counterexample", KINDS["counterexample"])
    assert len(fig.axes) == 2
    assert not [line for line in fig.axes[0].get_lines() if line.get_marker() in ">v<^"]


def test_the_dose_response_draws_each_reference_as_a_band_with_marks_and_thresholds(
    monkeypatch,
):
    data = {
        **KINDS["dose_response"],
        "references": {
            "removal: gone": {"value": 0.2, "ci95": [0.1, 0.3]},
            "null: random": {"value": 0.6, "ci95": [0.55, 0.7]},
        },
    }
    ax = _drawn(monkeypatch, "dose_response", data).axes[0]
    bands = {p.get_label(): p for p in ax.patches}
    assert set(bands) == {"removal: gone, 95% CI", "null: random, 95% CI"}
    spans = {k: [p.get_y(), p.get_y() + p.get_height()] for k, p in bands.items()}
    assert spans == {"removal: gone, 95% CI": [0.1, 0.3], "null: random, 95% CI": [0.55, 0.7]}
    assert (
        bands["removal: gone, 95% CI"].get_facecolor()
        != bands["null: random, 95% CI"].get_facecolor()
    )
    vertical = [line for line in ax.get_lines() if line.get_label() == "judged"]
    assert [list(line.get_xdata()) for line in vertical] == [[-20, -20]]
    assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_label() == "bar"] == [0.5]


def test_no_dose_response_series_takes_a_reference_colour(monkeypatch):
    series = {"value": [0.1] * 5, "ci95": [[0, 0.2]] * 5}
    data = {**KINDS["dose_response"], "series": {name: series for name in "abcdef"}}
    ax = _drawn(monkeypatch, "dose_response", data).axes[0]
    used = {
        to_hex(line.get_color()) for line in ax.get_lines() if line.get_label() in set("abcdef")
    }
    assert len(used) == 6
    assert not used & {to_hex("tab:green"), to_hex("grey")}


def test_the_bars_draw_a_reference_per_bar_as_a_line_and_a_single_one_across(monkeypatch):
    data = {
        **KINDS["bars"],
        "references": {"removal: gone": 0.8, "null: random": [0.1, None]},
    }
    ax = _drawn(monkeypatch, "bars", data).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["removal: gone"].get_ydata()) == [0.8, 0.8]
    assert list(lines["null: random"].get_ydata()) == [0.1]
    assert lines["removal: gone"].get_color() != lines["null: random"].get_color()


@pytest.mark.parametrize(
    ("family", "spans"),
    [
        ("doorkey", "(1/4, 1/4), spans 0.88 cell"),
        ("procmaze", "longest possible, 1, spans 2.5 cell"),
    ],
)
def test_the_vector_field_caption_gives_the_arrow_scale_of_the_agents_moves(family, spans):
    """Turn-and-forward agents' longest arrow is (1/4, 1/4); absolute movers' is 1."""
    spec = families.get(family)
    assert spans in plots.legend(generators.generate(family, spec.sizes[0], 0))
