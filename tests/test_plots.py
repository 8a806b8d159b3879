"""Every figure kind the claims suite hands the report is drawn from plain data alone."""

from __future__ import annotations

import declared
import numpy as np
import pytest
from matplotlib.image import imread

from avec import from_ascii, judging, plots, verdicts

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


def test_a_counterexample_figure_shows_what_was_measured_at_the_failing_unit():
    """The judge re-measures the minimal trial and hands over, at its first failing unit,
    every per-unit number and the claim's pass rule."""
    level = from_ascii(LEVEL)

    def measure(trials):
        return {
            "unsteered": np.array([0.9, 0.8]),
            "steered": np.array([0.2, 0.7]),
            "reached": np.array([True, False]),
            "trial": np.array([0, 0]),
        }

    def outcome(measured):
        return verdicts.outcome(measured["steered"] < 0.5, [True, True], [0, 0], [level])

    claim = declared.claim(trial="A level. Passes when P falls below 0.5. More")
    example = judging.counterexample(level)
    data = judging._counterexample_data(claim, "m", example, measure, outcome, level)
    assert data["arms"] == {"unsteered": 0.8, "steered": 0.7, "reached (1 = yes)": 0.0}
    assert data["rule"] == "Passes when P falls below 0.5"
    assert data["ascii"] == level.to_ascii()
