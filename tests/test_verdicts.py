"""Deciding a claim: informative trials, references, agreement with the source, aggregates."""

from __future__ import annotations

import importlib.util
import sys

import declared
import numpy as np
import pytest
from hypothesis import strategies as st

from avec import judging, recipes, record, report, stats, verdicts

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


EFFECT = declared.claim(min_informative=10, asserts_effect=True)


def test_an_effect_claim_needs_a_null_reference():
    with pytest.raises(ValueError, match="asserts an effect.*'null' reference"):
        verdicts.decide(EFFECT, "m-s0", np.ones(50, dtype=bool))


def _effect_result(null: np.ndarray) -> dict:
    passed = np.arange(100) < 80
    return verdicts.decide(EFFECT, "m-s0", passed, references={"null": null})


def test_an_effect_holds_only_when_it_beats_the_null_on_the_same_trials():
    beaten = _effect_result(np.zeros(100, dtype=bool))
    assert beaten["verdict"] == "holds" and beaten["beats_null"]["comparison"] == "beats"
    assert beaten["beats_null"]["value"] == pytest.approx(0.8)
    # The random vector passes on other trials as often: the rate clears the bar, but the
    # vector cannot be told from the random one.
    shifted = (np.arange(100) >= 5) & (np.arange(100) < 85)
    straddled = _effect_result(shifted)
    assert straddled["rate"] == 0.8 and straddled["ci95"][0] > 0.5
    assert straddled["verdict"] == "inconclusive"
    assert straddled["inconclusive_because"] == verdicts.INDISTINGUISHABLE
    assert straddled["beats_null"]["ci95"][0] < 0 < straddled["beats_null"]["ci95"][1]
    # The random vector passes on exactly the same trials: credibly no better, so it fails.
    same = _effect_result(np.arange(100) < 80)
    assert same["verdict"] == "fails" and same["fails_because"] == verdicts.NO_BETTER
    assert "no better than a random vector" in record.measured(same)


def test_the_null_comparison_is_reported_when_too_few_trials_decide_nothing():
    passed = np.arange(8) < 8
    result = verdicts.decide(EFFECT, "m-s0", passed, references={"null": np.zeros(8, bool)})
    assert result["verdict"] == "inconclusive" and "fewer than 10" in result["inconclusive_because"]
    assert result["beats_null"]["comparison"] == "beats"


def test_a_claim_that_asserts_no_effect_ignores_its_null():
    passed = np.arange(100) < 80
    result = verdicts.decide(CLAIM, "m-s0", passed, references={"null": passed})
    assert result["verdict"] == "holds" and "beats_null" not in result


def test_share_of_removal_beats_the_null_in_shares_of_removal():
    claim = declared.claim(min_informative=10, estimand="share_of_removal", asserts_effect=True)
    passed = np.arange(100) < 40
    refs = {"removal": np.arange(100) < 80, "null": np.arange(100) < 20}
    result = verdicts.decide(claim, "m-s0", passed, references=refs)
    assert result["beats_null"]["value"] == pytest.approx((40 - 20) / 80)
    assert result["beats_null"]["comparison"] == "beats"


def test_references_must_pair_up_with_the_units():
    with pytest.raises(ValueError, match="reference 'null' has shape"):
        verdicts.decide(EFFECT, "m-s0", np.ones(50, bool), references={"null": np.ones(49, bool)})


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
    agg = recipes.aggregate(results)["x_claim"]
    assert agg["recipes"]["r"]["judged"] == 3
    assert agg["holm"]["r-s0"] == "fails" and agg["holm"]["r-s1"] == "holds"
    built = report.build(results, {"versions": {}})
    assert built["schema"] == 2 and "x_claim" in built["aggregates"]
    assert "| [x_claim](reports/claims/x_claim.md) | holds |" in report.summary_table(built)[2]


def _recipe_row(results: list[dict]) -> dict:
    return recipes.aggregate(results)["x_claim"]["recipes"]["r"]


def test_a_recipe_of_models_that_cannot_be_judged_is_inconclusive_for_their_reason():
    # No model passes, but removing the feature cannot pass either: each model is
    # inconclusive, and the recipe may not read "fails" from the models' pooled interval.
    refs = {"removal": np.zeros(100, dtype=bool)}
    results = [
        verdicts.decide(CLAIM, f"r-s{i}", np.zeros(100, bool), references=refs) for i in range(3)
    ]
    assert {r["verdict"] for r in results} == {"inconclusive"}
    row = _recipe_row(results)
    assert row["verdict"] == "inconclusive" and row["agrees_with_source"] is None
    assert verdicts.REMOVAL_SHORT in row["inconclusive_because"]
    assert row["inconclusive_because"].startswith("3 of 3 models cannot be judged")


def test_a_recipe_of_individually_inconclusive_models_is_inconclusive():
    # Each model passes 14 of 20 (0.7, interval straddling 0.5); pooled, the recipe's interval
    # would clear the bar, but no model says "holds" on its own.
    passed = np.arange(20) < 14
    results = [verdicts.decide(CLAIM, f"r-s{i}", passed) for i in range(3)]
    assert {r["verdict"] for r in results} == {"inconclusive"}
    row = _recipe_row(results)
    assert row["ci95"][0] > 0.5
    assert (
        row["verdict"] == "inconclusive" and "no model is decisive" in row["inconclusive_because"]
    )


def test_a_recipe_whose_models_are_decisive_both_ways_is_inconclusive():
    # The interquartile mean trims the one model that fails: the pooled interval clears the
    # bar, but the row may not say "holds" over a model that credibly fails.
    results = [verdicts.decide(CLAIM, f"r-s{i}", np.ones(60, bool)) for i in range(4)]
    results.append(verdicts.decide(CLAIM, "r-s4", np.arange(200) < 60))
    assert [r["verdict"] for r in results] == ["holds"] * 4 + ["fails"]
    row = _recipe_row(results)
    assert row["ci95"][0] >= 0.5
    assert row["verdict"] == "inconclusive" and "disagree" in row["inconclusive_because"]
    agreeing = _recipe_row(results[:4])
    assert agreeing["verdict"] == "holds" and agreeing["ci95"][0] >= 0.5


def test_a_one_model_recipe_is_its_model():
    passed = np.arange(40) < 26
    result = verdicts.decide(CLAIM, "r-s0", passed)
    row = _recipe_row([result])
    assert row["iqm"] == result["rate"] and row["ci95"] == result["ci95"]
    assert row["ci95"][0] < row["ci95"][1]
    assert row["verdict"] == result["verdict"] == "inconclusive"


def test_holm_only_ever_weakens_a_model_verdict():
    # 33 of 50: holds on its own (lower end 0.52), but not once adjusted over ten models.
    many = [verdicts.decide(CLAIM, f"m{i}-s0", np.arange(50) < 33) for i in range(10)]
    holm = recipes.holm_verdicts(many)
    assert {r["verdict"] for r in many} == {"holds"}
    assert set(holm.values()) == {"inconclusive"}
    row = recipes.aggregate(many)["x_claim"]["recipes"]["m0"]
    assert (
        row["verdict"] == "inconclusive" and "does not survive Holm" in row["inconclusive_because"]
    )
    alone = recipes.holm_verdicts(many[:1])
    assert alone == {"m0-s0": "holds"}
    # A straddling model stays inconclusive whatever its p-value.
    straddling = verdicts.decide(CLAIM, "x-s0", np.arange(20) < 14)
    assert recipes.holm_verdicts([straddling]) == {"x-s0": "inconclusive"}


def test_a_recipe_of_effects_must_beat_its_null():
    passed = np.arange(100) < 80
    shifted = (np.arange(100) >= 5) & (np.arange(100) < 85)
    beaten = [
        verdicts.decide(EFFECT, f"r-s{i}", passed, references={"null": np.zeros(100, bool)})
        for i in range(3)
    ]
    row = _recipe_row(beaten)
    assert row["verdict"] == "holds" and row["beats_null"]["comparison"] == "beats"
    tied = [
        verdicts.decide(EFFECT, f"r-s{i}", passed, references={"null": shifted}) for i in range(3)
    ]
    row = _recipe_row(tied)
    assert row["verdict"] == "inconclusive"
    assert row["beats_null"]["ci95"][0] < 0 < row["beats_null"]["ci95"][1]


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

    assert judging.shrink(examples, fails) is None
    path = tmp_path / "many_literals.py"
    path.write_text("VALUES = [" + ", ".join(str(7 + 1_000_003 * i) for i in range(300)) + "]\n")
    spec = importlib.util.spec_from_file_location("many_literals", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "many_literals", module)
    assert judging.shrink(examples, fails) is None
