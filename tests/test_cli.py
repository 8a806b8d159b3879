"""The ``avec`` command: every bad input answered in one line on stderr with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from avec import cli


@pytest.fixture
def avec(capsys):
    """``avec(*args) -> (exit code, stdout, stderr)``."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(args))
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def report(verdict: str = "fails", rate: float = 0.2) -> dict:
    return {
        "results": [
            {"claim": "c1", "model": "m1", "verdict": verdict, "rate": rate, "ci95": [0, 1]}
        ]
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layout", "doorkey", "5", "--seed", "-1"], "seed must be an integer in [0, 2**63)"),
        (["layout", "doorkey", "5", "--seed", "x"], "invalid _seed value"),
        (["layout", "doorkey", "4"], "doorkey has no size 4; valid sizes"),
        (["layout", "maze", "5"], "invalid choice: 'maze'"),
        (["train", "nope-s0"], "unknown or missing model ids ['nope-s0']"),
        (
            ["zoo", "--models-dir", "/no/such/folder"],
            "models folder /no/such/folder does not exist",
        ),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_bad_input_is_one_line_and_exit_code_2(avec, args, message):
    code, out, err = avec(*args)
    assert code == 2
    assert message in one_line(err)
    assert "Traceback" not in err


def test_report_diff_of_a_json_that_is_not_a_report_is_one_line(avec, tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(report()))
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "text.json").write_text("not json")
    for bad, message in (
        ("list.json", "the new JSON is not an avec report"),
        ("text.json", "is not JSON"),
        ("missing.json", "No such file"),
    ):
        code, _, err = avec("report", "--diff", str(tmp_path / "old.json"), str(tmp_path / bad))
        assert code == 2
        assert message in one_line(err)


def test_report_diff_lists_what_changed(avec, tmp_path):
    (tmp_path / "old.json").write_text(json.dumps(report()))
    (tmp_path / "new.json").write_text(json.dumps(report("holds", 0.9)))
    code, out, _ = avec("report", "--diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"))
    assert code == 0
    assert "! c1 / m1: verdict fails -> holds" in out


def test_zoo_lists_the_committed_models(avec):
    code, out, _ = avec("zoo")
    assert code == 0
    assert "doorkey5-ppo-mlp-s0" in out


def test_layout_prints_a_layout_that_parses_back(avec):
    from avec import layouts

    code, out, _ = avec("layout", "doorkey", "5", "--seed", "3")
    assert code == 0
    assert layouts.from_ascii(out).family == "doorkey"


def test_field_draws_the_three_fields_and_prints_the_layout(avec, tmp_path):
    out = tmp_path / "field.png"
    code, stdout, _ = avec(
        "field",
        "doorkey5-ppo-mlp-s0",
        "--seed",
        "3",
        "--vector",
        "key",
        "--coef",
        "-1",
        "-o",
        str(out),
    )
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stdout.startswith("doorkey 5x5\n#####\n")
    assert "-1 x key vector at mlp_extractor.policy_net.1" in stdout


def test_field_reads_a_layout_file(avec, tmp_path):
    from avec import generators

    layout = tmp_path / "level.txt"
    layout.write_text(generators.generate("doorkey", 5, 7).to_ascii())
    out = tmp_path / "field.png"
    code, stdout, _ = avec(
        "field",
        "doorkey5-ppo-mlp-s0",
        "--layout",
        str(layout),
        "--vector",
        "key",
        "--coef",
        "2",
        "--layer",
        "mlp_extractor.policy_net.0",
        "-o",
        str(out),
    )
    assert code == 0 and out.exists()
    assert stdout.startswith(layout.read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "1", "--vector", "cheese"], "doorkey layouts have no 'cheese'"),
        (["--seed", "1", "--vector", "key", "--layer", "nope"], "unknown layer 'nope'; valid"),
        (["--vector", "key"], "one of the arguments --seed --layout is required"),
        (["--seed", "1", "--layout", "x.txt", "--vector", "key"], "not allowed with argument"),
        (["--layout", "/no/such.txt", "--vector", "key"], "No such file"),
    ],
    ids=["feature of another family", "unknown layer", "no level", "two levels", "no file"],
)
def test_field_bad_input_is_one_line_and_exit_code_2(avec, tmp_path, args, message):
    code, _, err = avec("field", "doorkey5-ppo-mlp-s0", *args, "--coef", "1", "-o", str(tmp_path))
    assert code == 2
    assert message in one_line(err)


def test_field_of_an_unknown_model_is_one_line(avec):
    code, _, err = avec("field", "nope-s0", "--seed", "1", "--vector", "key", "--coef", "1")
    assert code == 2
    assert "no model 'nope-s0'" in one_line(err)


def test_the_command_agrees_with_the_zoo_on_its_default_paths():
    from avec import training, zoo

    assert cli.MODELS_DIR == zoo.MODELS_DIR
    assert cli.ZOO_CONFIG == training.ZOO_CONFIG


HEAVY = ("torch", "stable_baselines3", "matplotlib")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["layout", "doorkey", "5", "--seed", "3"], ["report", "--diff", "A", "B"]],
    ids=" ".join,
)
def test_help_layout_and_diff_never_import_torch(tmp_path, args):
    """A fresh interpreter runs the command, then lists the heavy packages it loaded."""
    for name in ("A", "B"):
        (tmp_path / name).write_text(json.dumps(report()))
    code = (
        "import sys\n"
        "from avec import cli\n"
        "try:\n"
        f"    cli.main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "LOADED []", done.stdout[-500:]
