"""The record (:mod:`avec.record`): gating a result against the committed record, and
reading and writing ``expected.toml`` (whole or not at all; a malformed file named with its
line)."""

from __future__ import annotations

import os

import pytest

from avec import record
from avec.record import ClaimFails, ClaimInconclusive, ClaimUnrecorded, VerdictChanged


def result(verdict: str, expected: str | None, claim: str = "c1", model: str = "m1") -> dict:
    return {
        "claim": claim,
        "model": model,
        "trials": 200,
        "informative": 180,
        "estimand": "rate",
        "rate": 0.15,
        "ci95": [0.107, 0.207],
        "threshold": 0.5,
        "verdict": verdict,
        "expected": expected,
    }


def test_a_changed_verdict_says_recorded_now_the_interval_and_how_to_update():
    with pytest.raises(VerdictChanged) as error:
        record.check(result("fails", "holds"))
    assert str(error.value) == (
        "c1 \u00d7 m1: recorded holds, now fails (rate 0.150 [0.107, 0.207] on 180 informative "
        "of 200 trials, threshold 0.5); if this change is intended, run pytest claims/ "
        "--update-expected"
    )


@pytest.mark.parametrize(
    ("verdict", "raises"),
    [("fails", ClaimFails), ("inconclusive", ClaimInconclusive)],
)
def test_a_recorded_non_holding_verdict_raises_what_the_xfail_marker_expects(verdict, raises):
    with pytest.raises(raises, match=f"{verdict} as recorded"):
        record.check(result(verdict, verdict))


def test_a_recorded_holding_verdict_passes():
    assert record.check(result("holds", "holds")) is None


def test_an_unrecorded_pair_fails_saying_how_to_record_it():
    with pytest.raises(ClaimUnrecorded, match="recorded nothing, now fails.*--update-expected"):
        record.check(result("fails", None))


@pytest.mark.parametrize("kwargs", [{"gating": False}, {"recording": True}])
def test_no_gate_when_not_gating_or_when_recording(kwargs):
    assert record.check(result("fails", "holds"), **kwargs) is None
    assert record.check(result("inconclusive", None), **kwargs) is None


def test_every_gate_exception_counts_as_a_reached_verdict():
    for exc in (ClaimFails, ClaimInconclusive, ClaimUnrecorded, VerdictChanged):
        assert issubclass(exc, record.VERDICT_EXCEPTIONS)
    assert not issubclass(RuntimeError, record.VERDICT_EXCEPTIONS)


def test_the_record_round_trips_and_keeps_the_reason_of_an_unchanged_verdict(tmp_path):
    path = tmp_path / "expected.toml"
    old = {("c1", "m1"): {"verdict": "fails", "reason": "kept"}}
    record.write_expected(path, [result("fails", "fails"), result("holds", None, "c2")], old)
    written = record.load_expected(path)
    assert written[("c1", "m1")] == {"verdict": "fails", "reason": "kept"}
    assert written[("c2", "m1")]["verdict"] == "holds"
    assert "rate 0.150 [0.107, 0.207]" in written[("c2", "m1")]["reason"]


def test_a_measured_reason_is_measured_again_when_the_verdict_stays(tmp_path):
    path = tmp_path / "expected.toml"
    stale = "fails, rate 0.010 [0.000, 0.050] on 20 informative of 30 trials, threshold 0.5"
    old = {("c1", "m1"): {"verdict": "fails", "reason": stale}}
    record.write_expected(path, [result("fails", "fails")], old)
    reason = record.load_expected(path)[("c1", "m1")]["reason"]
    assert reason == record.measured(result("fails", "fails")) != stale


def test_the_record_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "expected.toml"
    record.write_expected(path, [result("fails", None)], {})
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        record.write_expected(path, [result("holds", None, "c9")], {})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["expected.toml"]


def test_a_missing_record_is_empty(tmp_path):
    assert record.load_expected(tmp_path / "expected.toml") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[c1]\n"m1" = { verdict = "holds"\n', "is not valid TOML: .*line 2"),
        ('[c1]\n"m1" = { verdict = "maybe" }\n', "has verdict 'maybe'; valid"),
        ('c1 = "holds"\n', "c1 must be a table"),
        ('[c1]\n"m1" = "holds"\n', "has verdict None"),
    ],
    ids=["not TOML", "unknown verdict", "not a table", "not an entry"],
)
def test_a_malformed_record_is_an_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "expected.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        record.load_expected(path)
    assert str(path) in str(error.value)


def test_unknown_entries_names_unknown_models_and_claims():
    entries = {("c1", "m1"): {}, ("c1", "m9"): {}, ("c7", "m1"): {}}
    assert record.unknown_entries(entries, {"c1"}, {"m1"}) == ["[c1] m9", "[c7] m1"]
    assert record.unknown_entries(entries, None, {"m1"}) == ["[c1] m9"]
