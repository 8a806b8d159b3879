"""The README's verdict tables are the committed report's, regenerated, never hand-edited."""

from __future__ import annotations

import json
from pathlib import Path

from avec import report

ROOT = Path(__file__).resolve().parents[1]


def _between(text: str, name: str) -> str:
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    assert begin in text and end in text, f"README.md lacks the {name} markers"
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_readme_tables_match_the_committed_report():
    built = json.loads((ROOT / "reports" / "latest.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert _between(readme, "verdicts") == "\n".join(report.summary_table(built)) + "\n"
    assert _between(readme, "published") == report.published_table(built)
    assert report.fill_readme(readme, built) == readme


def test_fill_readme_rewrites_only_the_marked_sections():
    built = json.loads((ROOT / "reports" / "latest.json").read_text())
    stale = "intro\n<!-- verdicts:begin -->\nSTALE-TABLE\n<!-- verdicts:end -->\nmiddle\n"
    stale += "<!-- published:begin -->\nSTALE-TABLE\n<!-- published:end -->\nend\n"
    filled = report.fill_readme(stale, built)
    assert filled.startswith("intro\n") and "\nmiddle\n" in filled and filled.endswith("end\n")
    assert "STALE-TABLE" not in filled
    assert _between(filled, "published") == report.published_table(built)
