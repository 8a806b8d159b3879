"""Writing the report (whole or untouched, figures matching it) and comparing two reports."""

from __future__ import annotations

import json

import declared as claim_declared
import numpy as np
import pytest

from avec import report, verdicts

LAYOUT = "doorkey 5x5\n#####\n#A.K#\n#.#D#\n#.#G#\n#####\n"


def result(claim: str, model: str, verdict: str, rate: float) -> dict:
    """A schema-2 result decided by :func:`avec.verdicts.decide` from 100 informative trials
    passing at ``rate``; ``verdict`` is what the test expects it to come out as."""
    declared = claim_declared.claim(name=claim, min_informative=10)

    passed = np.arange(100) < round(rate * 100)
    decided = verdicts.decide(declared, model, passed, expected=verdict)
    assert decided["verdict"] == verdict
    return decided


GENERATED_BY = {"profile": "ci", "models": ["m1"]}


def figure(title: str) -> dict:
    return {"kind": "text", "data": {"title": title}}


@pytest.fixture(autouse=True)
def text_drawer(monkeypatch):
    """A figure kind that writes its title: these tests check writing, not drawing."""
    monkeypatch.setitem(report.DRAWERS, "text", lambda data, path: path.write_text(data["title"]))


def test_write_gives_json_markdown_and_exactly_this_reports_figures(tmp_path):
    results = [result("c1", "m1", "fails", 0.2)]
    report.write(tmp_path, results, {"one": figure("1"), "two": figure("2")}, GENERATED_BY)
    report.write(tmp_path, results, {"one": figure("1")}, GENERATED_BY)
    data = json.loads((tmp_path / "latest.json").read_text())
    assert [(r["claim"], r["verdict"]) for r in data["results"]] == [("c1", "fails")]
    assert "c1" in (tmp_path / "latest.md").read_text()
    assert (tmp_path / "claims" / "c1.md").is_file()
    drawn = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert drawn == ["intervals-c1.png", "one.png", "verdicts.png"]


def test_the_markdown_says_where_drawing_stopped_for_each_model(tmp_path):
    noted = {**result("c1", "m1", "fails", 0.2), "notes": "stopped: level space used up"}
    report.write(tmp_path, [noted, result("c1", "m2", "holds", 0.9)], {}, GENERATED_BY)
    text = (tmp_path / "claims" / "c1.md").read_text()
    assert "Where drawing stopped and why:\n\n- m1: stopped: level space used up\n" in text
    assert "- m2:" not in text


def test_a_failure_while_writing_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    out = tmp_path / "reports"
    report.write(out, [result("c1", "m1", "fails", 0.2)], {"a": figure("a")}, GENERATED_BY)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(data, path):
        raise RuntimeError("drawing failed")

    monkeypatch.setitem(report.DRAWERS, "broken", broken)
    figures = {"a": figure("a"), "z": {"kind": "broken", "data": {}}}
    with pytest.raises(RuntimeError, match="drawing failed"):
        report.write(out, [result("c1", "m1", "holds", 0.9)], figures, GENERATED_BY)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]  # no staging folder left


def test_write_keeps_other_entries_of_the_folder(tmp_path):
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "latest.json").write_text("{}")
    report.write(tmp_path, [result("c1", "m1", "fails", 0.2)], {}, GENERATED_BY)
    assert (tmp_path / "partial" / "latest.json").read_text() == "{}"


def test_diff_lists_changed_verdicts_rates_and_new_and_removed_pairs():
    old = {"results": [result("c1", "m1", "fails", 0.2), result("c2", "m1", "holds", 0.9)]}
    new = {"results": [result("c1", "m1", "holds", 0.8), result("c3", "m1", "fails", 0.1)]}
    (a_lo, a_hi), (b_lo, b_hi) = old["results"][0]["ci95"], new["results"][0]["ci95"]
    assert report.diff(old, new) == [
        "3 claim x model pairs: 1 verdicts changed, 1 estimates or intervals moved, 1 new, "
        "1 removed",
        report.DIFF_LEGEND,
        "! c1 / m1: verdict fails -> holds",
        f"~ c1 / m1: 0.200 [{a_lo:.3f}, {a_hi:.3f}] -> 0.800 [{b_lo:.3f}, {b_hi:.3f}]",
        "- c2 / m1: removed (was holds)",
        "+ c3 / m1: new, fails 0.100",
    ]
    assert report.diff(old, old) == []


@pytest.mark.parametrize("bad", [{}, [], {"results": [{"claim": "c1"}]}, {"results": "x"}], ids=str)
def test_diff_of_json_that_is_not_a_report_says_so(bad):
    with pytest.raises(ValueError, match="the new JSON is not an avec report"):
        report.diff({"results": []}, bad)


def test_the_headline_table_shows_each_arm_median_beside_the_paper_and_only_where_measured():
    arms = ("unsteered", "subtracted", "removed", "random")
    effects = {
        f"median_p_cheese_{arm}": {"value": v, "ci95": [v - 0.1, v + 0.1], "n": 23}
        for arm, v in zip(arms, (0.8, 0.2, 0.1, 0.7), strict=True)
    }
    results = [
        {"model": "m-s0", "verdict": "holds", "effects": effects},
        {
            "model": "other-s0",
            "verdict": "fails",
            "effects": {"kept": effects["median_p_cheese_random"]},
        },
    ]
    table = report.headline_table({"results": results})
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[1] == "| maze paper | 100 | 0.81 | 0.03 | - | - | - |"
    assert rows[2] == (
        "| m-s0 | 23 | 0.800 [0.700, 0.900] | 0.200 [0.100, 0.300] | 0.100 [0.000, 0.200] "
        "| 0.700 [0.600, 0.800] | holds |"
    )
    assert len(rows) == 3  # the model without the headline effects has no row
    assert report.headline_table({"results": results[1:]}) == ""
