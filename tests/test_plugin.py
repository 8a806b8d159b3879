"""avec's pytest plugin, on a tiny claims folder built in a temporary directory.

The fake claim judges trivial trials (DoorKey level ``x`` and the integer ``x``; a trial
passes when ``x % 100 < PERCENT``) on the two models of a fake models folder, through the
plugin's real ``judge``: what is checked is the plumbing -- when ``latest.*`` is written, what
is gated, what is refused -- not any agent.
"""

from __future__ import annotations

import json
import os
import stat

# Imported before any in-process pytester run: a run forgets the modules it imported, and
# matplotlib keeps classes of its own modules (matplotlib.cbook caches matplotlib.artist's
# Artist), so an Artist class imported inside one run would not be the next run's.
import matplotlib.figure  # noqa: F401
import pytest

MANIFEST = {
    "schema": 1,
    "models": {
        model_id: {
            "id": model_id,
            "file": f"{model_id}.zip",
            "sha256": "0" * 64,
            "algo": "PPO",
            "env_id": "avec/DoorKey-5x5-v0",
            "observation_wrappers": [],
            "architecture": {},
            "config": {"family": "doorkey", "size": 5},
        }
        for model_id in ("m1", "m2")
    },
}

CONFTEST = """
from hypothesis import settings
common = dict(deadline=None, derandomize=True, database=None)
settings.register_profile("dev", max_examples=10, **common)
settings.register_profile("ci", max_examples=40, **common)
settings.load_profile("ci")
"""

CLAIM = """
import os
import numpy as np
import pytest
from hypothesis import settings
from avec import generators, verdicts
from avec.pytest_plugin import model_params

PERCENT = {percent}
CLAIM = verdicts.Claim(
    name="c{n}",
    statement="a statement",
    quote="a quote",
    source_expects="holds",
    trial="a trial",
    informative="every trial",
    estimand="rate",
    threshold=0.5,
    threshold_reason="a reason",
    reference="none",
    lifetime="none",
    min_informative=5,
)


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_claim_{n}(model_id, judge):
    {extra}
    trials = [(generators.generate("doorkey", 5, x), x) for x in range(settings().max_examples)]
    judge(
        CLAIM,
        model_id,
        trials,
        measure=lambda ts: {{"x": np.array([t[1] for t in ts]), "layouts": [t[0] for t in ts]}},
        outcome=lambda m: verdicts.outcome(
            m["x"] % 100 < PERCENT, np.ones(len(m["x"]), dtype=bool), np.arange(len(m["x"])),
            m["layouts"],
        ),
        effects=lambda m: {{}},
    )
"""


def record(verdict1: str = "holds", verdict2: str = "fails") -> str:
    lines = []
    for n, verdict in ((1, verdict1), (2, verdict2)):
        lines.append(f"[c{n}]")
        lines += [f'"{m}" = {{ verdict = "{verdict}", reason = "r" }}' for m in ("m1", "m2")]
    return "\n".join(lines) + "\n"


@pytest.fixture
def suite(pytester: pytest.Pytester):
    """``suite(percent1=100, percent2=0, extra1="")``: a claims folder of two claims (c1 holds,
    c2 fails by default), a models folder ``models/`` with its record and a committed report."""

    def make(percent1: int = 100, percent2: int = 0, extra1: str = "", extra2: str = ""):
        pytester.makeconftest(CONFTEST)
        claims = pytester.mkdir("claims")
        for n, percent, extra in ((1, percent1, extra1), (2, percent2, extra2)):
            (claims / f"test_c{n}.py").write_text(
                CLAIM.format(n=n, percent=percent, extra=extra or "pass")
            )
        models = pytester.mkdir("models")
        (models / "manifest.json").write_text(json.dumps(MANIFEST))
        (models / "expected.toml").write_text(record())
        (models / "reports").mkdir()
        (models / "reports" / "latest.json").write_text("committed\n")
        (models / "reports" / "latest.md").write_text("committed\n")
        return models

    return make


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "avec.pytest_plugin", "claims", "--avec-models", "models", *args
    )


def committed(models) -> bool:
    reports = models / "reports"
    return all((reports / n).read_text() == "committed\n" for n in ("latest.json", "latest.md"))


def test_a_complete_ci_run_writes_the_report_beside_the_models(pytester, suite):
    models = suite()
    result = run(pytester)
    result.assert_outcomes(passed=2, xfailed=2)
    latest = json.loads((models / "reports" / "latest.json").read_text())
    verdicts = {(r["claim"], r["model"]): r["verdict"] for r in latest["results"]}
    assert verdicts == {
        ("c1", "m1"): "holds",
        ("c1", "m2"): "holds",
        ("c2", "m1"): "fails",
        ("c2", "m2"): "fails",
    }
    assert not (models / "reports" / "partial").exists()
    result.stdout.fnmatch_lines(["avec: complete run: report written to *models/reports/latest.*"])


def reports_folder(models) -> dict[str, bytes]:
    reports = models / "reports"
    return {str(p.relative_to(reports)): p.read_bytes() for p in reports.rglob("*") if p.is_file()}


def test_figures_drawn_by_xdist_workers_give_the_report_a_single_process_writes(pytester, suite):
    models = suite()
    assert run(pytester).ret == 0
    alone = reports_folder(models)
    assert any(name.startswith("figures/counterexample-") for name in alone)
    result = pytester.runpytest_subprocess(
        "-p", "avec.pytest_plugin", "claims", "--avec-models", "models", "-n", "2"
    )
    assert result.ret == 0
    assert reports_folder(models) == alone


XFAIL_REPRS = """
def pytest_runtest_logreport(report):
    if report.when == "call" and hasattr(report, "wasxfail"):
        with open("xfail-reprs.txt", "a") as out:
            out.write(report.longreprtext + "\\n")
"""


def test_a_verdict_recorded_as_not_holding_is_reported_by_its_message_alone(pytester, suite):
    suite()
    pytester.makeconftest(CONFTEST + XFAIL_REPRS)
    run(pytester).assert_outcomes(passed=2, xfailed=2)
    reprs = (pytester.path / "xfail-reprs.txt").read_text().splitlines()
    assert sorted(line.split(" (")[0] for line in reprs) == [
        "ClaimFails: c2 \u00d7 m1: fails as recorded",
        "ClaimFails: c2 \u00d7 m2: fails as recorded",
    ]


@pytest.mark.parametrize(
    "args",
    [["-k", "c1"], ["--deselect", "claims/test_c2.py"], ["--ignore-glob", "*c2*"]],
    ids=["-k", "--deselect", "--ignore-glob"],
)
def test_a_selection_writes_a_partial_report_and_leaves_latest_untouched(pytester, suite, args):
    models = suite()
    result = run(pytester, *args)
    assert result.ret == 0
    assert committed(models)
    assert (models / "reports" / "partial" / "latest.json").exists()
    result.stdout.fnmatch_lines(["avec: partial run (*): report written to *partial/*untouched"])


def test_x_stopping_at_a_changed_verdict_leaves_latest_untouched(pytester, suite):
    models = suite(percent1=0)
    result = run(pytester, "-x")
    assert result.ret == 1
    assert committed(models)


def test_a_changed_verdict_fails_saying_recorded_now_and_how_to_update(pytester, suite):
    suite(percent1=0, percent2=100)
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*VerdictChanged: c1 \u00d7 m1: recorded holds, now fails (rate 0.000 [[]0.000, *] on "
            "40 informative of 40 trials, threshold 0.5); if this change is intended, run "
            "pytest claims/ --avec-models models --update-expected",
            "*c2 \u00d7 m1: recorded fails, now holds*--update-expected",
        ]
    )


def test_the_dev_profile_reports_verdicts_without_gating_them(pytester, suite):
    models = suite(percent1=0)
    result = run(pytester, "--hypothesis-profile", "dev")
    result.assert_outcomes(passed=4)
    assert committed(models)
    partial = json.loads((models / "reports" / "partial" / "latest.json").read_text())
    assert {r["verdict"] for r in partial["results"] if r["claim"] == "c1"} == {"fails"}
    result.stdout.fnmatch_lines(["*profile 'dev', not 'ci'*"])


def test_update_expected_is_refused_under_another_profile(pytester, suite):
    models = suite(percent1=0)
    result = run(pytester, "--hypothesis-profile", "dev", "--update-expected")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --update-expected records ci-profile verdicts only*"])
    assert (models / "expected.toml").read_text() == record()


def test_update_expected_rewrites_the_record_on_a_complete_ci_run(pytester, suite):
    models = suite(percent1=0)
    result = run(pytester, "--update-expected")
    assert result.ret == 0
    text = (models / "expected.toml").read_text()
    assert '"m1" = { verdict = "fails"' in text.split("[c2]")[0]
    assert not list(models.glob(".expected.toml*"))


def test_a_recording_run_writes_the_report_the_next_gated_run_reproduces(pytester, suite):
    models = suite(percent1=0)
    assert run(pytester, "--update-expected").ret == 0
    recorded = (models / "reports" / "latest.json").read_text()
    results = json.loads(recorded)["results"]
    assert {r["claim"]: r["expected"] for r in results} == {
        r["claim"]: r["verdict"] for r in results
    }
    assert run(pytester).ret == 0
    assert (models / "reports" / "latest.json").read_text() == recorded


def test_update_expected_on_a_partial_run_leaves_the_record(pytester, suite):
    models = suite(percent1=0, extra2="raise RuntimeError('boom')")
    result = run(pytester, "--update-expected")
    assert result.ret == 1
    assert (models / "expected.toml").read_text() == record()
    result.stdout.fnmatch_lines(["*ERROR: --update-expected: 2 test(s) did not reach*untouched"])


def test_update_expected_on_a_selection_updates_only_the_entries_it_judged(pytester, suite):
    models = suite(percent1=0)
    result = run(pytester, "--update-expected", "-k", "c1")
    assert result.ret == 0
    text = (models / "expected.toml").read_text()
    assert text.count('verdict = "fails"') == 4  # c1 now fails on both; c2 kept
    assert committed(models)


def test_an_error_in_a_claim_test_makes_the_run_partial(pytester, suite):
    models = suite(extra2="raise RuntimeError('boom')")
    result = run(pytester)
    assert result.ret == 1
    assert committed(models)
    result.stdout.fnmatch_lines(["*2 test(s) did not reach a verdict*test_c2*"])


def test_an_interrupted_run_leaves_latest_untouched(pytester, suite):
    models = suite(extra2="raise KeyboardInterrupt")
    result = pytester.runpytest_subprocess(
        "-p", "avec.pytest_plugin", "claims", "--avec-models", "models"
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert committed(models)
    assert (models / "reports" / "partial" / "latest.json").exists()


def test_a_crashed_worker_fails_the_run_naming_the_test_and_writes_no_latest(pytester, suite):
    models = suite(extra2="os._exit(1) if model_id == 'm2' else None")
    result = pytester.runpytest_subprocess(
        "-p", "avec.pytest_plugin", "claims", "--avec-models", "models", "-n", "1"
    )
    assert result.ret == 1
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    assert "crashed" in out and "test_claim_2[m2]" in out
    assert committed(models)


def test_a_missing_models_folder_is_an_error_not_a_skip(pytester, suite):
    suite()
    result = pytester.runpytest("-p", "avec.pytest_plugin", "claims", "--avec-models", "nowhere")
    assert result.ret != 0
    assert "skipped" not in result.stdout.str()
    result.stderr.fnmatch_lines(["ERROR: models folder */nowhere does not exist"])


def test_a_malformed_record_names_the_file_and_line(pytester, suite):
    models = suite()
    (models / "expected.toml").write_text('[c1]\n"m1" = { verdict = "holds"\n')
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: */expected.toml is not valid TOML: * line 2*"])


def test_a_record_entry_for_an_unknown_model_is_an_error(pytester, suite):
    models = suite()
    (models / "expected.toml").write_text(record() + '"m9" = { verdict = "holds" }\n')
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *expected.toml has entries for models not in*[[]c2[]] m9"])


def test_a_record_entry_for_an_unknown_claim_is_an_error(pytester, suite):
    models = suite()
    (models / "expected.toml").write_text(record() + '[c7]\n"m1" = { verdict = "holds" }\n')
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ERROR: *expected.toml has entries no claim test judged*c7*"])
    assert committed(models)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_reports_folder_is_a_one_line_error(pytester, suite):
    models = suite()
    reports = models / "reports"
    reports.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = run(pytester)
    finally:
        reports.chmod(stat.S_IRWXU)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["avec: ERROR: cannot write the report to *reports: *"])
    assert committed(models)


def test_a_reports_path_that_is_not_a_folder_is_a_one_line_error(pytester, suite):
    models = suite()
    (models / "reports").rename(models / "old-reports")
    (models / "reports").write_text("a file where the reports folder should be\n")
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["avec: ERROR: cannot write the report to *reports: *"])
    assert "Traceback" not in result.stdout.str()


def test_the_plugin_is_inert_outside_the_claims_folder(pytester, suite):
    suite()
    pytester.makepyfile(test_other="def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "avec.pytest_plugin", "test_other.py")
    result.assert_outcomes(passed=1)
    assert "avec:" not in result.stdout.str()


MAZE_CLAIM = CLAIM.replace("model_params()", 'model_params("cheesemaze")')


def test_a_claim_without_models_in_the_folder_is_recorded_not_applicable_and_gated(pytester, suite):
    models = suite()
    (pytester.path / "claims" / "test_c3.py").write_text(
        MAZE_CLAIM.format(n=3, percent=100, extra="pass")
    )
    gated = run(pytester)
    assert gated.ret == 1
    gated.stdout.fnmatch_lines(
        [
            "*ERROR: c3: not applicable to *models, which *expected.toml does not record; run "
            "pytest claims/ --avec-models models --update-expected"
        ]
    )
    recorded = run(pytester, "--update-expected")
    assert recorded.ret == 0
    recorded.stdout.fnmatch_lines(
        ["avec: complete run: report written to *models/reports/latest.*"]
    )
    text = (models / "expected.toml").read_text()
    assert '[c3]\n"*" = { verdict = "not applicable"' in text
    latest = json.loads((models / "reports" / "latest.json").read_text())
    assert "c3" in latest["generated_by"]["not_applicable"]
    result = run(pytester)
    assert result.ret == 0
    result.assert_outcomes(passed=2, xfailed=2, skipped=1)


def test_an_empty_models_folder_is_refused_not_skipped(pytester, suite):
    models = suite()
    (models / "manifest.json").write_text(json.dumps({"schema": 1, "models": {}}))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *manifest.json lists no models; add one with*"])


def test_a_record_that_is_a_folder_is_refused_in_one_line(pytester, suite):
    models = suite()
    (models / "expected.toml").unlink()
    (models / "expected.toml").mkdir()
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: cannot read the record *expected.toml: *"])
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()


def test_a_record_rewritten_by_another_run_meanwhile_is_not_overwritten(pytester, suite):
    # The first claim test plays the other run: it rewrites the record while this one runs.
    models = suite(
        percent1=0,
        extra1="import pathlib; f = pathlib.Path('models/expected.toml'); "
        "f.write_text(f.read_text() + '# another run\\n') if model_id == 'm1' else None",
    )
    result = run(pytester, "--update-expected")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*ERROR: *expected.toml was rewritten by another run while this one ran; not overwritten*"]
    )
    assert (models / "expected.toml").read_text() == record() + "# another run\n"
