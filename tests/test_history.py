"""``avec report --history``: the record at every commit that changed it, read from a
temporary git repository the test builds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from avec import cli, history


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def commit(repo: Path, message: str, files: dict[str, object]) -> str:
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def report(**pairs: tuple[str, float]) -> dict:
    """A report whose recipe verdicts (``aggregates``) are those of its one model each."""
    results = [
        {"claim": key.split("__")[0], "model": key.split("__")[1], "verdict": v, "pass_rate": r}
        for key, (v, r) in pairs.items()
    ]
    aggregates = {r["claim"]: {"recipes": {r["model"]: {"verdict": r["verdict"]}}} for r in results}
    return {"results": results, "aggregates": aggregates}


def manifest(sha: str) -> dict:
    return {"schema": 1, "models": {"m1": {"sha256": sha}}}


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three report revisions and one unrelated commit: c1 x m1 goes fails -> fails (new
    model) -> holds; c2 x m1 keeps its verdict and pass rate, on the new model; c3 x m1 is
    judged in the second report only."""
    git(tmp_path, "init", "-q")
    commits = [
        commit(
            tmp_path,
            "first record",
            {
                history.REPORT: report(c1__m1=("fails", 0.2), c2__m1=("holds", 0.9)),
                history.MANIFEST: manifest("a" * 64),
            },
        ),
        commit(
            tmp_path,
            "retrain m1",
            {
                history.REPORT: report(
                    c1__m1=("fails", 0.3), c2__m1=("holds", 0.9), c3__m1=("fails", 0.1)
                ),
                history.MANIFEST: manifest("b" * 64),
            },
        ),
    ]
    commit(tmp_path, "unrelated", {"README.md": "hello\n"})
    commits.append(
        commit(
            tmp_path,
            "new code",
            {history.REPORT: report(c1__m1=("holds", 0.8), c2__m1=("holds", 0.9))},
        )
    )
    return tmp_path, commits


def test_history_follows_each_pair_across_the_commits_that_changed_the_report(repo):
    path, commits = repo
    revs, table = history.history(path)
    assert [r.commit for r in revs] == commits
    assert [r.subject for r in revs] == ["first record", "retrain m1", "new code"]
    assert table[("c1", "m1")] == [
        history.State("fails", 0.2, "a" * 64, "fails"),
        history.State("fails", 0.3, "b" * 64, "fails"),
        history.State("holds", 0.8, "b" * 64, "holds"),
    ]
    assert table[("c3", "m1")][0] is None and table[("c3", "m1")][2] is None


def test_history_lists_verdict_changes_only_and_absence_is_no_change(repo):
    path, commits = repo
    revs, table = history.history(path)
    text = history.lines(revs, table)
    assert text[3:] == [
        f"c1 \u00d7 m1: fails @{commits[0][:8]} -> holds @{commits[2][:8]} (1 change)",
        "1 of 3 claim \u00d7 recipe verdicts changed over 3 revisions (appearing or "
        "disappearing is not a change)",
    ]
    data = history.figure_data(revs, table)
    assert [row["name"] for row in data["rows"]] == ["c1 \u00d7 m1 (1)"]
    assert data["rows"][0]["verdicts"] == ["fails", "fails", "holds"]


def test_history_with_every_lists_the_models_whose_estimate_or_checkpoint_moved(repo):
    path, commits = repo
    revs, table = history.history(path)
    text = history.lines(revs, table, every=True)
    # The verdict stayed, the model judged did not: that is a move of the model's row.
    moved = (
        f"  c2 \u00d7 m1: holds 0.90 (model aaaaaaaa) @{commits[0][:8]} -> holds 0.90 (model "
        f"bbbbbbbb) @{commits[1][:8]}"
    )
    assert moved in text
    assert not any(line.lstrip().startswith("c3") for line in text)


def test_history_takes_a_revision_range(repo):
    path, commits = repo
    revs, _ = history.history(path, f"{commits[0]}..HEAD")
    assert [r.commit for r in revs] == commits[1:]


def test_the_command_prints_the_moves_and_draws_the_figure(repo, tmp_path, capsys):
    path, _ = repo
    figure = tmp_path / "out" / "history.png"
    assert cli.main(["report", "--history", "--repo", str(path), "-o", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "c1 \u00d7 m1: fails @" in out and "(1 change)" in out
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("spec", "message"), [("nope..HEAD", "git log"), ("HEAD~3..HEAD~3", "no commit in")]
)
def test_a_bad_range_is_one_line_and_exit_code_2(repo, capsys, tmp_path, spec, message):
    path, _ = repo
    code = cli.main(["report", "--history", spec, "--repo", str(path), "-o", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err


def test_a_folder_that_is_not_a_repository_is_one_line(tmp_path, capsys):
    code = cli.main(["report", "--history", "--repo", str(tmp_path), "-o", str(tmp_path / "x")])
    assert code == 2
    assert "not a git repository" in capsys.readouterr().err
