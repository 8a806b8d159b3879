"""The "Your own agents" flow of docs/own-agents.md, run as a new user runs it, on a real
rl-baselines3-zoo run folder trained here with plain SB3: add, record, gated run, report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import rl_zoo_run

from avec import cli, verdicts, zoo

ROOT = Path(__file__).resolve().parent.parent


def claims(models: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AVEC_BACKEND": "engine"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "claims/", "--avec-models", str(models), *args]
        + ["-q", "-n", "0", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_an_rl_zoo_folder_goes_from_add_to_a_recorded_and_gated_verdict(tmp_path, capsys):
    run = rl_zoo_run.write_run(tmp_path / "runs", 1024)
    mine = tmp_path / "mine"
    # A briefly trained agent misses DoorKey's bar; --bar 0 lets the claims judge it anyway.
    argv = ["zoo", "add", str(run), "--env", rl_zoo_run.ENV, "--models-dir", str(mine)]
    assert cli.main([*argv, "--bar", "0", "--episodes", "20"]) == 0
    assert "ppo-doorkey-5x5-v0-s0: PPO mlp" in capsys.readouterr().out

    recorded = claims(mine, "--update-expected")
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    assert f"record updated: {mine / 'expected.toml'}" in recorded.stdout
    record = tomllib.loads((mine / "expected.toml").read_text())
    judged = {claim for claim, models in record.items() if "ppo-doorkey-5x5-v0-s0" in models}
    not_applicable = {
        claim
        for claim, models in record.items()
        if models.get(verdicts.NO_MODEL, {}).get("verdict") == verdicts.NOT_APPLICABLE
    }
    assert judged and not_applicable and not judged & not_applicable
    report = json.loads((mine / "reports" / "latest.json").read_text())
    assert {r["model"] for r in report["results"]} == {"ppo-doorkey-5x5-v0-s0"}
    assert set(report["generated_by"]["not_applicable"]) == not_applicable
    assert (mine / "reports" / "latest.md").is_file()

    gated = claims(mine)
    assert gated.returncode == 0, gated.stdout[-3000:]
    assert "complete run: report written to" in gated.stdout
    assert (
        json.loads((mine / "reports" / "latest.json").read_text())["results"] == (report["results"])
    )
    assert zoo.model_ids(mine, trained_only=True) == ["ppo-doorkey-5x5-v0-s0"]
