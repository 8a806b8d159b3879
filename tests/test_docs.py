"""Every code block of README.md and docs/ runs, so the docs cannot drift from the code.

* ``python`` blocks run for real, in order, one namespace per file;
* ``console`` blocks are ``$ command`` lines followed by the output they must print;
* ``bash`` blocks run line by line (comments stripped), each command exiting 0;
* a block preceded by ``<!-- covered-by: tests/x.py::test_name ... -->`` (a long flow: an
  install, training, the whole claims suite) is not run here; the tests it names must exist.

Other blocks (``text``, ``toml``, unlabelled) are shown, not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- covered-by: (?P<covered>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S
)
RUN = ("python", "console", "bash", "sh", "shell")


def blocks(path: Path) -> list[tuple[str, str, str | None]]:
    """``(language, body, covered-by)`` of each fenced block of ``path``."""
    return [(m["lang"], m["body"], m["covered"]) for m in BLOCK.finditer(path.read_text())]


def _shell(command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("COLUMNS", None)
    return subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _test_exists(node: str) -> bool:
    file, _, name = node.partition("::")
    path = ROOT / file
    return path.is_file() and (not name or f"def {name}(" in path.read_text())


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_block_runs(path):
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    found = blocks(path)
    for lang, body, covered in found:
        if covered is not None:
            nodes = covered.split()
            missing = [n for n in nodes if not _test_exists(n)]
            assert nodes and not missing, f"{path.name}: covered-by names no such test {missing}"
            continue
        if lang == "python":
            exec(compile(body, f"{path.name} python block", "exec"), namespace)  # noqa: S102
        elif lang == "console":
            for command, expected in re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", body, re.M):
                done = _shell(command)
                assert done.returncode == 0, f"{path.name}: {command}: {done.stderr[-500:]}"
                assert done.stdout == expected, f"{path.name}: {command} printed\n{done.stdout}"
        elif lang in RUN:
            for line in body.splitlines():
                command = line.split(" #", 1)[0].strip()
                if command and not command.startswith("#"):
                    done = _shell(command)
                    assert done.returncode == 0, f"{path.name}: {command}: {done.stderr[-500:]}"


def test_the_harness_refuses_a_covered_by_marker_naming_no_test(tmp_path):
    assert _test_exists("tests/test_docs.py::test_every_code_block_runs")
    assert not _test_exists("tests/test_docs.py::test_that_does_not_exist")
    assert not _test_exists("tests/no_such_file.py")
    text = "<!-- covered-by: tests/a.py::b -->\n```bash\navec train --all\n```\n"
    (tmp_path / "x.md").write_text(text)
    assert blocks(tmp_path / "x.md") == [("bash", "avec train --all\n", "tests/a.py::b")]


def test_readme_and_docs_have_runnable_blocks():
    """The harness reads what it should: README's and the API page's blocks are found."""
    langs = {path.name: [lang for lang, _, _ in blocks(path)] for path in DOCS}
    assert "bash" in langs["README.md"]
    assert langs["api.md"].count("python") >= 3 and "console" in langs["layouts.md"]
