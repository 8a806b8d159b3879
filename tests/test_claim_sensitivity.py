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
    test_headline,
    test_identity,
    test_same_location,
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
