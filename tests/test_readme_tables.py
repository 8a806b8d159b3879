"""The generated tables of README.md and docs/ are the committed report's, regenerated, never
hand-edited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avec import report

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {
    "README.md": ("verdicts", "claim-list", "beside-random"),
    "docs/claims.md": ("claims-table", "published"),
}


def _between(text: str, name: str) -> str:
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    assert begin in text and end in text, f"lacks the {name} markers"
    return text.split(begin, 1)[1].split(end, 1)[0]


def _generated(name: str, built: dict) -> str:
    body = report.SECTIONS[name](built)
    return "\n".join(body) + "\n" if isinstance(body, list) else body


@pytest.mark.parametrize("file", sorted(SECTIONS))
def test_generated_tables_match_the_committed_report(file):
    built = json.loads((ROOT / "reports" / "latest.json").read_text())
    text = (ROOT / file).read_text()
    for name in SECTIONS[file]:
        assert _between(text, name) == _generated(name, built), f"{file}: {name} is stale"
    assert report.fill_readme(text, built) == text
    assert tuple(sorted(SECTIONS)) == tuple(sorted(report.GENERATED_FILES))


def test_fill_readme_rewrites_only_the_marked_sections():
    built = json.loads((ROOT / "reports" / "latest.json").read_text())
    stale = "intro\n<!-- verdicts:begin -->\nSTALE-TABLE\n<!-- verdicts:end -->\nmiddle\n"
    stale += "<!-- published:begin -->\nSTALE-TABLE\n<!-- published:end -->\nend\n"
    filled = report.fill_readme(stale, built)
    assert filled.startswith("intro\n") and "\nmiddle\n" in filled and filled.endswith("end\n")
    assert "STALE-TABLE" not in filled
    assert _between(filled, "published") == report.published_table(built)


def test_a_file_without_markers_or_with_a_broken_one_is_refused():
    built = json.loads((ROOT / "reports" / "latest.json").read_text())
    with pytest.raises(ValueError, match="no generated section to fill"):
        report.fill_readme("no markers here\n", built)
    with pytest.raises(ValueError, match="has no <!-- verdicts:end --> after it"):
        report.fill_readme("<!-- verdicts:begin -->\nx\n", built)


def test_the_readme_opens_on_the_grid_within_its_first_screen():
    lines = (ROOT / "README.md").read_text().splitlines()
    grid = "![verdict per claim and recipe](reports/figures/verdicts.png)"
    assert grid in lines[:30]
    first_screen = "\n".join(lines[:65])
    for word in ("**holds**", "**fails**", "**inconclusive**", "claim-list:end", "docs/"):
        assert word in first_screen, word


def test_the_maze_agents_success_is_shown_beside_chance_with_whether_each_is_judged():
    """Every maze agent of the run's manifest has a row: its held-out success, the
    uniform-random policy's on the same mazes, both by maze size, and judged or not."""
    built = json.loads((ROOT / "reports" / "latest.json").read_text())
    agents = built["generated_by"]["beside_random"]
    table = report.beside_random_table(built)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()}
    for model_id, agent in agents.items():
        row = rows[model_id]
        assert row.startswith(f"| {model_id} | {agent['episodes']} | ")
        assert f"| {agent['random']:.3f} |" in row
        for size, (mine, chance) in agent["by_maze_size"].items():
            assert f"{size}: {mine:.2f} / {chance:.2f}" in row
        judged = model_id not in built["generated_by"]["not_judged"]
        assert agent["judged"] is judged
        assert row.endswith("| yes |" if judged else "| no (below its bar) |")
    assert any(not agent["judged"] for agent in agents.values())
    assert report.beside_random_table({**built, "generated_by": {}}) == ""
