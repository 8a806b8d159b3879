"""The report's Markdown pages and summary figures, from plain report dicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import declared as claim_declared
import numpy as np
import pytest
from matplotlib.image import imread

from avec import pages, report, verdict_plots, verdicts

ROOT = Path(__file__).resolve().parents[1]


def result(claim: str, model: str, rate: float, **extra) -> dict:
    declared = claim_declared.claim(name=claim, min_informative=10)
    passed = np.arange(100) < round(rate * 100)
    return {**verdicts.decide(declared, model, passed), **extra}


def built(*results) -> dict:
    return report.build(results, {"profile": "ci"})


def _tables(text: str) -> list[list[str]]:
    """Each Markdown table of ``text`` as its lines."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found + ([current] if current else [])


def _well_formed(text: str) -> None:
    for lines in _tables(text):
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in lines}
        assert len(widths) == 1, f"ragged table: {lines[:3]}"
        assert re.fullmatch(r"\|(---\|)+", lines[1]), lines[1]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        assert all(header), f"empty header cell in {lines[0]}"
    assert "None" not in text and "NOTSET" not in text


def test_an_estimate_field_shows_as_value_and_interval_with_its_comparison():
    beats = {"value": 0.25, "ci95": [0.1, 0.4], "n": 9, "comparison": "steered - null"}
    page = pages.claim_page(built(result("c1", "m-s0", 0.9, beats_null=beats)), "c1")
    assert "| 0.250 [0.100, 0.400] (steered - null) |" in page
    assert pages.cell({"a": 1.0, "b": None}) == "a: 1.000; b: -"
    _well_formed(page)


def test_a_new_result_field_shows_as_a_column_and_a_missing_one_as_a_dash():
    a = result("c1", "m-s0", 0.9, probes_skipped=True)
    b = result("c1", "m-s1", 0.2)
    page = pages.claim_page(built(a, b), "c1")
    header = next(t for t in _tables(page) if t[0].startswith("| model"))
    columns = [c.strip() for c in header[0].strip("|").split("|")]
    row_b = [c.strip() for c in header[3].strip("|").split("|")]
    assert "probes skipped" in columns
    assert row_b[columns.index("probes skipped")] == "-"
    _well_formed(page)


def test_summary_and_pages_are_well_formed_tables_without_none():
    data = built(result("c1", "m-s0", 0.9, notes=None), result("c2", "m-s0", 0.1))
    _well_formed(pages.summary(data))
    for claim in data["aggregates"]:
        _well_formed(pages.claim_page(data, claim))


def test_a_table_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="a row of 1 cells under a header of 2"):
        pages.table(["a", "b"], [["x"]])


def test_the_summary_lists_what_moved_since_the_record():
    moved = result("c1", "m-s0", 0.9, expected="fails")
    text = pages.summary(built(moved, result("c2", "m-s0", 0.1, expected="fails")))
    assert "1 of 2 claim x model verdicts as recorded" in text
    assert "- c1 x m-s0: recorded fails, now holds" in text


def test_figures_go_to_the_pages_of_the_claims_they_belong_to():
    names = [
        "counterexample-1a_x-m-s0.png",
        "dose_response-m-s0.png",
        "dose_response-top_right-m-s0.png",
        "intervals-1a_x.png",
        "unrelated.png",
    ]
    assert pages.figures_of("1a_x", names) == [names[0], names[3]]
    assert pages.figures_of("3b_y", names) == [names[1]]
    assert pages.figures_of("8a_z", names) == [names[2]]


def test_the_committed_summary_opens_on_the_grid_and_is_small():
    text = (ROOT / "reports" / "latest.md").read_text()
    assert text.splitlines()[2] == "![verdict per claim and recipe](figures/verdicts.png)"
    assert len(text.encode()) < 50_000
    assert (ROOT / "reports" / "figures" / "verdicts.png").is_file()


def test_grid_data_marks_disagreement_and_unmeasured_recipes():
    data = report.grid_data(built(result("c1", "a-s0", 0.9), result("c2", "b-s0", 0.1)))
    assert data["recipes"] == ["a", "b"]
    assert data["cells"][0][1] is None and data["cells"][1][0] is None
    assert data["cells"][1][1]["verdict"] == "fails"
    assert data["cells"][1][1]["agrees"] is False


@pytest.mark.parametrize("verdict", list(verdict_plots.VERDICT_COLOURS))
def test_the_grid_colours_a_cell_by_its_verdict(tmp_path, verdict):
    cell = {"verdict": verdict, "iqm": 0.5, "agrees": None}
    data = {"claims": ["c1"], "recipes": ["r"], "cells": [[cell]]}
    verdict_plots.draw_verdict_grid(data, tmp_path / "g.png")
    png = imread(tmp_path / "g.png")
    # The legend shows every colour; the cell is the largest patch of one: count pixels.
    rgb = np.array([int(verdict_plots.VERDICT_COLOURS[verdict][i : i + 2], 16) for i in (1, 3, 5)])
    share = (np.abs(png[..., :3] - rgb / 255).max(axis=-1) < 0.01).mean()
    assert share > 0.05


def test_interval_data_carries_the_references_iqm_per_recipe():
    refs = {"removal": {"value": 0.8, "ci95": [0.7, 0.9], "n": 10}}
    rows = [result("c1", f"a-s{i}", 0.6, references=refs) for i in range(3)]
    data = report.interval_data(built(*rows), "c1")
    (row,) = data["recipes"]
    assert row["removal"] == pytest.approx(0.8) and row["null"] is None
    assert row["name"] == "a (3/3)"


def test_the_committed_pages_are_well_formed():
    built_report = json.loads((ROOT / "reports" / "latest.json").read_text())
    for claim in built_report["aggregates"]:
        page = ROOT / "reports" / "claims" / f"{claim}.md"
        _well_formed(page.read_text())
    _well_formed((ROOT / "reports" / "latest.md").read_text())
