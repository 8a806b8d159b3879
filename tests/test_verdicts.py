"""Deciding a claim: informative trials, references, agreement with the source, aggregates."""

from __future__ import annotations

import importlib.util
import sys

import declared
import numpy as np
import pytest
from hypothesis import strategies as st

from avec import report, stats, verdicts

CLAIM = declared.claim(min_informative=10)


def test_uninformative_trials_neither_pass_nor_fail():
    passed = np.array([True] * 30 + [False] * 30)
    informative = np.array([True] * 30 + [False] * 30)
    result = verdicts.decide(CLAIM, "m-s0", passed, informative)
    assert result["informative"] == 30 and result["rate"] == 1.0
    assert result["verdict"] == "holds" and result["agrees_with_source"] is True


def test_below_the_minimum_of_informative_trials_is_inconclusive():
    informative = np.zeros(40, dtype=bool)
    informative[:9] = True
    result = verdicts.decide(CLAIM, "m-s0", np.ones(40, dtype=bool), informative)
    assert result["verdict"] == "inconclusive" and result["agrees_with_source"] is None


def test_a_bar_the_removal_reference_cannot_reach_is_inconclusive():
    n = 100
    refs = {"removal": np.zeros(n, dtype=bool)}
    result = verdicts.decide(CLAIM, "m-s0", np.zeros(n, dtype=bool), references=refs)
    assert result["verdict"] == "inconclusive"
    reached = verdicts.decide(
        CLAIM, "m-s0", np.zeros(n, dtype=bool), references={"removal": np.ones(n, dtype=bool)}
    )
    assert reached["verdict"] == "fails" and reached["agrees_with_source"] is False


def test_share_of_removal_is_steered_passes_over_removal_passes():
    claim = verdicts.Claim(**{**CLAIM.__dict__, "estimand": "share_of_removal"})
    passed = np.array([True] * 40 + [False] * 60)
    removal = np.array([True] * 80 + [False] * 20)
    result = verdicts.decide(claim, "m-s0", passed, references={"removal": removal})
    assert result["rate"] == pytest.approx(0.5)


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="source_expects"):
        verdicts.Claim(**{**CLAIM.__dict__, "source_expects": "maybe"})


def test_clustered_rate_widens_with_repeated_layouts_and_equals_wilson_without():
    flags = np.array([True, False] * 50)
    plain = stats.clustered_rate(flags, list(range(100)))
    assert plain.ci95 == stats.wilson(50, 100).ci95
    # Every layout repeated ten times with identical outcomes: ten effective trials.
    clustered = stats.clustered_rate(np.repeat(flags[:10], 10), np.repeat(np.arange(10), 10))
    assert clustered.ci95[1] - clustered.ci95[0] > plain.ci95[1] - plain.ci95[0]


def test_holm_adjusts_step_down():
    assert list(stats.holm([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])


def test_aggregate_gives_a_recipe_iqm_and_holm_verdicts():
    results = [
        verdicts.decide(CLAIM, f"r-s{i}", np.ones(50, dtype=bool) if i else np.zeros(50, bool))
        for i in range(3)
    ]
    agg = verdicts.aggregate(results)["x_claim"]
    assert agg["recipes"]["r"]["judged"] == 3
    assert agg["holm"]["r-s0"] == "fails" and agg["holm"]["r-s1"] == "holds"
    built = report.build(results, {"versions": {}})
    assert built["schema"] == 2 and "x_claim" in built["aggregates"]
    assert "| [x_claim](reports/claims/x_claim.md) | holds |" in report.summary_table(built)[2]


def test_share_of_removal_without_any_removal_effect_is_inconclusive():
    claim = verdicts.Claim(**{**CLAIM.__dict__, "estimand": "share_of_removal"})
    n = 50
    result = verdicts.decide(
        claim, "m-s0", np.ones(n, dtype=bool), references={"removal": np.zeros(n, dtype=bool)}
    )
    assert result["verdict"] == "inconclusive" and result["rate"] is None


def test_a_shrink_does_not_depend_on_literals_in_newly_imported_code(tmp_path, monkeypatch):
    """Hypothesis draws some examples from the literals of the local modules it has seen; a
    shrink must find the same example (here: none) whatever code has been imported."""
    examples = st.lists(st.integers(0, 10**9), min_size=60, max_size=60)

    def fails(example: list[int]) -> bool:  # true only on the literals imported below
        return any(x % 1_000_003 == 7 and x > 7 for x in example)

    assert verdicts.shrink(examples, fails) is None
    path = tmp_path / "many_literals.py"
    path.write_text("VALUES = [" + ", ".join(str(7 + 1_000_003 * i) for i in range(300)) + "]\n")
    spec = importlib.util.spec_from_file_location("many_literals", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "many_literals", module)
    assert verdicts.shrink(examples, fails) is None
