"""The central claims can tell a working intervention from a broken one.

A claim whose verdict does not move when its intervention is replaced by a zero vector or by
the sign-flipped vector measures the test design, not the agent. Each test here runs a claim's
own measurement on a real zoo agent over a few held-out levels -- once as declared, once with
the vector zeroed, once with it sign-flipped -- and checks that the estimate (and, where the
real verdict is decided, the verdict) changes the way a broken intervention must change it.
The agents are the ones on which the claim acts in the committed record, so the comparison
has something to lose.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avec import trials, verdicts, zoo
from claims import (
    test_composition,
    test_generalization,
    test_headline,
    test_identity,
    test_same_location,
    test_scale,
    test_specificity,
    test_subtraction,
)

LEVELS = 20

MAZES = 1000
"""Mazes drawn for 5d: few have a decision square off the start where the agent heads for
the cheese and its own vector acts."""


@pytest.fixture(scope="module")
def load(models_dir):
    cache = {}

    def get(model_id):
        if model_id not in cache:
            agent = zoo.load(model_id, models_dir)
            layouts, seeds = trials.held_out_layouts(agent, LEVELS)
            cache[model_id] = (agent, list(zip(layouts, seeds, strict=True)))
        return cache[model_id]

    return get


def _decide(claim, outcome):
    small = dataclasses.replace(claim, min_informative=5)
    return verdicts.decide(
        small, "m", outcome.passed, outcome.informative, outcome.clusters, outcome.references
    )


def _mean_drop(measured, informative):
    return float((measured["unsteered"] - measured["steered"])[informative].mean())


def test_claim_1a_loses_its_effect_with_a_zero_or_flipped_vector(load):
    agent, drawn = load("fourrooms-ppo-mlp-s0")
    real = test_subtraction.measure_states(agent, drawn)
    informative = test_subtraction.outcome_states(real).informative
    assert informative.sum() >= 5
    rates, drops = {}, {}
    for name, coefficient in (("real", -1.0), ("zero", 0.0), ("flipped", 1.0)):
        measured = test_subtraction.measure_states(agent, drawn, coefficient)
        found = test_subtraction.outcome_states(measured)
        # The unsteered arm and so the informative probes do not depend on the steering.
        assert np.array_equal(found.informative, informative)
        rates[name] = _decide(test_subtraction.CLAIM_STATES, found)["rate"]
        drops[name] = _mean_drop(measured, informative)
    assert rates["zero"] == 0.0 and rates["flipped"] < rates["real"]
    assert drops["zero"] == pytest.approx(0.0, abs=1e-6)
    assert drops["flipped"] < drops["real"] - 0.05


def test_claim_1b_net_prevention_vanishes_with_a_zero_vector_and_drops_when_flipped(load):
    agent, drawn = load("cheesemaze9-ppo-cnn-s0")
    results = {}
    for name, coefficient in (("real", -1.0), ("zero", 0.0), ("flipped", 1.0)):
        measured = test_subtraction.measure_episodes(agent, drawn, coefficient)
        results[name] = _decide(
            test_subtraction.CLAIM_EPISODES, test_subtraction.outcome_episodes(measured)
        )
    # Unsteered and steered episodes are the same: nothing is prevented, and the vector can
    # only lose against the null.
    assert results["zero"]["rate"] == 0.0 and results["zero"]["verdict"] != "holds"
    assert results["zero"]["beats_null"]["value"] <= 0
    assert results["flipped"]["rate"] < results["real"]["rate"]


def _composition(changes, noise):
    """A measurement of four mazes at P(top-right) 0.3: ``changes`` and ``noise`` give, per
    patch name of the forward pair, the change of P(top-right) under the vectors and under
    their random counterparts; the pairs add exactly."""
    base = np.full(4, 0.3)
    measured = {"layouts": [None] * 4, "trial": np.arange(4), "p_top_right": base}
    for prefix, found in (("", changes), ("random_", noise)):
        for patch, delta in found.items():
            measured[f"p_top_right_{prefix}{patch}"] = base + delta
        both = found["minus_cheese"] + found["plus_top_right"]
        measured[f"p_top_right_{prefix}both"] = base + both
    return measured


def test_claim_7a_counts_no_pair_additive_unless_each_component_acts():
    acts, idle = np.full(4, 0.3), np.zeros(4)
    quiet = {"minus_cheese": np.full(4, 0.05), "plus_top_right": np.full(4, 0.05)}
    # Both vectors act, more than random ones do: informative and additive; the random pair
    # adds up too, but only vacuously, so it does not pass.
    measured = _composition({"minus_cheese": acts, "plus_top_right": acts}, quiet)
    assert test_composition.components_act(measured).all()
    assert (test_composition.additivity_gap(measured) <= test_composition.TOLERANCE).all()
    assert (test_composition.additivity_gap(measured, "random_") < 1e-9).all()
    assert not test_composition.random_pair_additive(measured).any()
    # One vector does nothing: the pair would be additive vacuously, so no maze is judged.
    measured = _composition({"minus_cheese": acts, "plus_top_right": idle}, quiet)
    assert not test_composition.components_act(measured).any()
    # Random vectors that act as much as the vectors: the vectors' effects are not theirs.
    measured = _composition(
        {"minus_cheese": acts, "plus_top_right": acts},
        {"minus_cheese": acts, "plus_top_right": acts},
    )
    assert not test_composition.components_act(measured).any()
    assert test_composition.random_pair_additive(measured).all()


def test_claim_14_loses_its_effect_with_a_zero_or_flipped_vector(models_dir):
    agent = zoo.load("cheesemaze9-ppo-cnn-s0", models_dir)
    drawn, _ = test_headline.trials_of(agent)
    rates, drops = {}, {}
    informative = None
    for name, coefficient in (("real", -1.0), ("zero", 0.0), ("flipped", 1.0)):
        measured = test_headline.measure(agent, drawn, coefficient)
        found = test_headline.outcome(measured)
        informative = found.informative if informative is None else informative
        assert np.array_equal(found.informative, informative)
        rates[name] = _decide(test_headline.HEADLINE, found)["rate"]
        drops[name] = float((measured["unsteered"] - measured["subtracted"])[informative].mean())
    assert informative.sum() >= 5
    assert rates["zero"] == 0.0 < rates["real"]
    assert rates["flipped"] < rates["real"]
    assert drops["zero"] == pytest.approx(0.0, abs=1e-6)
    assert drops["flipped"] < drops["real"] - 0.05


def test_claim_4c_verdict_flips_with_a_zero_or_flipped_vector(load):
    agent, drawn = load("cheesemaze9-ppo-cnn-s0")
    results = {}
    for name, coefficient in (("real", -1.0), ("zero", 0.0), ("flipped", 1.0)):
        measured = test_identity.measure_states(agent, drawn, coefficient)
        results[name] = _decide(test_identity.CLAIM_STATES, test_identity.outcome_of(measured))
    assert results["real"]["verdict"] == "holds"
    assert results["zero"]["rate"] == 0.0 and results["zero"]["verdict"] == "fails"
    assert results["flipped"]["verdict"] == "fails"


def test_claim_6_cannot_pass_with_a_zero_or_flipped_vector(load):
    agent, drawn = load("fourrooms-ppo-mlp-s0")
    real = _decide(
        test_specificity.CLAIM, test_specificity.outcome(test_specificity.measure(agent, drawn))
    )
    assert real["informative"] >= 5 and real["rate"] > 0.5
    zero = test_specificity.outcome(test_specificity.measure(agent, drawn, 0.0))
    # A zero vector has no effect: no probe is informative, so the claim cannot be decided.
    assert zero.informative.sum() == 0
    assert _decide(test_specificity.CLAIM, zero)["verdict"] == "inconclusive"
    flipped = test_specificity.outcome(test_specificity.measure(agent, drawn, 1.0))
    # The flipped vector is its own sign-flip control: it can never beat it.
    assert not flipped.passed[flipped.informative].any()


def test_claim_5d_loses_its_effect_with_a_zero_or_flipped_transferred_vector(models_dir):
    agent = zoo.load("cheesemaze7-ppo-cnn-s0", models_dir)
    layouts, seeds = trials.held_out_layouts(agent, MAZES)
    drawn = list(zip(layouts, seeds, strict=True))
    results, drops = {}, {}
    informative = None
    for name, coefficient in (("real", -1.0), ("zero", 0.0), ("flipped", 1.0)):
        measured = test_same_location.measure(agent, drawn, coefficient)
        found = test_same_location.outcome(measured)
        # Only the transferred vectors are scaled: the informative probes stay the same.
        if informative is None:
            informative = found.informative
            assert informative.sum() >= 5
        assert np.array_equal(found.informative, informative)
        results[name] = _decide(test_same_location.CLAIM, found)
        same = measured["unsteered"] - measured["same"]
        drops[name] = float(same[informative].mean())
    assert results["real"]["rate"] > 0.2
    assert results["zero"]["rate"] == 0.0 and results["zero"]["verdict"] == "fails"
    assert results["flipped"]["rate"] < results["real"]["rate"]
    assert results["flipped"]["verdict"] == "fails"
    assert drops["zero"] == pytest.approx(0.0, abs=1e-6)
    assert drops["flipped"] < drops["real"] - 0.05


def _transfer_moves(measure, claim):
    """Run a 5a-c measurement as declared, with the transferred vector zeroed and flipped;
    return the decided results and mean kept shares, checking the informative probes (set by
    the own vector) do not depend on the transferred one."""
    results, kept, informative = {}, {}, None
    for name, coefficient in (("real", -1.0), ("zero", 0.0), ("flipped", 1.0)):
        measured = measure(coefficient)
        found = test_generalization.outcome(measured)
        if informative is None:
            informative = found.informative
            assert informative.sum() >= 5
        assert np.array_equal(found.informative, informative)
        results[name] = _decide(claim, found)
        kept[name] = test_generalization.effects(measured)["kept_share"].value
    assert results["zero"]["rate"] == 0.0 and kept["zero"] == pytest.approx(0.0, abs=1e-6)
    assert results["flipped"]["rate"] <= results["real"]["rate"]
    assert kept["flipped"] < kept["real"] - 0.2
    return results


def test_claim_5a_loses_its_effect_with_a_zero_or_flipped_transferred_vector(load):
    agent, drawn = load("fourrooms-ppo-mlp-s0")
    results = _transfer_moves(
        lambda c: test_generalization.measure_layouts(agent, drawn, coefficient=c),
        test_generalization.CLAIM_LAYOUTS,
    )
    assert results["real"]["rate"] > 0.5
    assert results["flipped"]["verdict"] == "fails"


def test_claim_5b_loses_its_effect_with_a_zero_or_flipped_transferred_vector(load):
    agent, drawn = load("doorkey8-ppo-mlp-s0")
    _transfer_moves(
        lambda c: test_generalization.measure_layouts(agent, drawn, 5, coefficient=c),
        test_generalization.CLAIM_SIZES,
    )


def test_claim_5c_measurement_sees_a_working_transfer_and_loses_it_when_zeroed_or_flipped(load):
    """No recipe's vectors transfer across training seeds, so the positive control is the
    model as its own source, through 5c's code path (the transfer matrix's diagonal)."""
    agent, drawn = load("fourrooms-ppo-mlp-s0")
    with_source = [(layout, seed, agent.id) for layout, seed in drawn]
    results = _transfer_moves(
        lambda c: test_generalization.measure_seeds(
            agent, with_source, lambda m: load(m)[0], coefficient=c
        ),
        test_generalization.CLAIM_SEEDS,
    )
    assert results["real"]["rate"] > 0.5


def test_claim_3a_cannot_break_the_policy_with_a_zero_vector(load):
    agent, drawn = load("doorkey5-ppo-mlp-s0")

    def zeroed(agent_, layouts):
        return [0.0 * v for v in test_subtraction.start_vectors(agent_, layouts)]

    exclude = "key"
    real = test_scale.measure_doses(agent, drawn, -1.0, exclude=exclude)
    zero = test_scale.measure_doses(agent, drawn, -1.0, zeroed, exclude=exclude)
    decided = {
        name: _decide(test_scale.CLAIM_LARGE_NEGATIVE, test_scale.outcome_large(m))
        for name, m in (("real", real), ("zero", zero))
    }
    assert decided["real"]["rate"] > 0.5
    assert decided["zero"]["rate"] == 0.0 and decided["zero"]["verdict"] == "fails"
    # Nothing along the sweep breaks either: no smallest breaking coefficient.
    assert "smallest_breaking_coefficient" in test_scale.effects_large(real)
    assert "smallest_breaking_coefficient" not in test_scale.effects_large(zero)


def test_smallest_breaking_coefficient_is_the_first_dose_breaking_half_the_states():
    doses = len(test_scale.SWEEP)
    clusters = [f"level{i // 2}" for i in range(40)]
    # Every state breaks from the fourth magnitude (5) on; below it none does.
    breaks = np.tile(np.arange(doses) >= 3, (40, 1))
    found = test_scale.smallest_breaking(breaks, clusters)
    assert found.value == 5.0 and found.ci95 == (5.0, 5.0)
    # A third of the levels also break at 2: still under half, so still 5.
    breaks[:14, 2] = True
    assert test_scale.smallest_breaking(breaks, clusters).value == 5.0
    assert test_scale.smallest_breaking(np.zeros((40, doses), dtype=bool), clusters) is None
