"""The figures claims hand the report carry what makes them readable alone: the references a
claim is judged between (the feature removed; a norm-matched random vector), the coefficients
it judges and its threshold."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from avec import from_ascii, judging, stats, trials, zoo
from claims import (
    test_addition,
    test_composition,
    test_identity,
    test_layer_sweep,
    test_scale,
    test_subtraction,
    test_top_right,
)

LEVELS = [
    from_ascii("doorkey 5x5\n#####\n#.D.#\n#>#.#\n#K#G#\n#####"),
    from_ascii("doorkey 5x5\n#####\n#>D.#\n#.#.#\n#K#G#\n#####"),
]
AGENT = SimpleNamespace(id="m-s0")


def _doses():
    """Four coherent states on two levels: the sweep breaks them from |c| 5 on; the removal
    arm breaks the first level's two, the null only the last state."""
    unsteered = np.full(4, 0.9)
    sweep = np.tile(np.where(np.array(test_scale.SWEEP) >= 5, 0.1, 0.9), (4, 1))
    return {
        "uniform": np.full(4, 0.2),
        "unsteered": unsteered,
        "sweep": sweep,
        "steered": sweep[:, test_scale.SWEEP.index(15.0)],
        "null": np.array([0.9, 0.9, 0.9, 0.1]),
        "removal": np.array([0.1, 0.1, 0.9, 0.9]),
        "trial": np.array([0, 0, 1, 1]),
        "layouts": LEVELS,
    }


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_dose_sweep_figure_carries_removal_and_null_bands_marks_and_threshold(sign):
    claim = test_scale.CLAIM_LARGE_POSITIVE
    (spec,) = test_scale.sweep_figure(claim, AGENT, _doses(), sign, "key").values()
    data = spec["data"]
    refs = {label.split(":")[0]: ref for label, ref in data["references"].items()}
    assert set(refs) == {"removal", "null"}
    assert refs["removal"]["value"] == pytest.approx(0.5)
    assert refs["null"]["value"] == pytest.approx(0.25)
    assert all(len(ref["ci95"]) == 2 for ref in refs.values())
    (marks,) = data["marks"].values()
    assert marks == [sign * c for c in test_scale.LARGE]
    assert list(data["thresholds"].values()) == [claim.threshold]
    assert claim.name in data["title"]


def test_the_top_right_dose_figure_carries_8a_references_marks_and_threshold(monkeypatch):
    """8a's own references, on the figure's mazes: the corridor opened and the null, scored by
    8a's rule (a rise above the margin) on the mazes 8a finds informative."""
    n = len(test_top_right.DOSE_COEFFICIENTS)
    estimate = stats.Estimate(0.5, (0.4, 0.6), 3, "x")
    monkeypatch.setattr(
        test_top_right,
        "dose_response",
        lambda agent, drawn, base: {k: [estimate] * n for k in ("p_top_right", "corner", "raised")},
    )
    drawn = [(LEVELS[i % 2], i, i) for i in range(4)]
    measured = {
        # The last maze already heads top-right: not informative.
        "p_top_right": np.array([0.1, 0.2, 0.3, 0.9]),
        "p_top_right_opened": np.array([0.9, 0.9, 0.3, 1.0]),
        "p_top_right_null": np.array([0.1, 0.5, 0.3, 0.9]),
    }
    (spec,) = test_top_right.dose_figure(AGENT, drawn, measured).values()
    data = spec["data"]
    refs = {label.split(":")[0]: ref for label, ref in data["references"].items()}
    assert refs["removal"]["value"] == pytest.approx(2 / 3)
    assert refs["null"]["value"] == pytest.approx(1 / 3)
    (marks,) = data["marks"].values()
    assert marks == list(test_top_right.COEFFICIENTS)
    assert list(data["thresholds"].values()) == [test_top_right.RAISES.threshold]
    assert any(label.startswith("8a pass rate") for label in data["series"])


def test_the_layer_sweep_figure_draws_both_references_as_lines():
    rate = stats.Estimate(0.3, (0.2, 0.4), 10, "x")
    removal = stats.Estimate(0.8, (0.7, 0.9), 10, "x")
    refs = [
        {"removal": removal, "null": rate},
        {"removal": removal, "null": stats.Estimate(0.1, (0.0, 0.2), 10, "x")},
    ]
    (spec,) = test_layer_sweep.bars("m", ["a", "b"], [rate, rate], "a", "b", 10, refs).values()
    data = spec["data"]
    found = {label.split(":")[0]: level for label, level in data["references"].items()}
    assert found == {"removal": 0.8, "null": [0.3, 0.1]}
    assert data["labels"] == ["a (rule)", "b (chosen)"]
    assert "(rule)" in data["note"] and "(chosen)" in data["note"]


def _pairs(agent, drawn):
    return test_identity.pairs_of(agent, [layout for layout, _ in drawn])


def _off_start(_agent, drawn):
    layouts, seeds = zip(*drawn, strict=True)
    return test_top_right.off_start(list(layouts), list(seeds))


def _mazes(_agent, drawn):
    return test_composition.mazes_of([layout for layout, _ in drawn])


def _episodes(_agent, drawn):
    """Trials past the lifetime variants' range: the plain episodes alone."""
    return [(layout, seed, test_subtraction.LIFETIME_TRIALS) for layout, seed in drawn]


# claim, model, trials from (agent, held-out (layout, seed)), measure, outcome, has a bar,
# has action probabilities.
COUNTEREXAMPLES = {
    "2": (
        test_addition.CLAIM,
        "doorkey5-ppo-mlp-s0",
        lambda _agent, drawn: drawn,
        test_addition.measure,
        test_addition.outcome,
        True,
        True,
    ),
    "4b": (
        test_identity.CLAIM_ACROSS,
        "cheesemaze9-ppo-cnn-s0",
        _pairs,
        test_identity.measure_across,
        test_identity.outcome_of,
        True,
        True,
    ),
    "4c": (
        test_identity.CLAIM_STATES,
        "doorkey5-ppo-mlp-s0",
        lambda _agent, drawn: drawn,
        test_identity.measure_states,
        test_identity.outcome_of,
        True,
        True,
    ),
    "7a": (
        test_composition.ADDITIVE,
        "cheesemaze9-ppo-cnn-s0",
        _mazes,
        test_composition.measure,
        test_composition.additive_outcome,
        True,
        True,
    ),
    "7b": (
        test_composition.REVERSE,
        "cheesemaze9-ppo-cnn-s0",
        _mazes,
        test_composition.measure,
        test_composition.reverse_outcome,
        True,
        True,
    ),
    "8b": (
        test_top_right.SUBTRACTION,
        "cheesemaze9-ppo-cnn-s0",
        _off_start,
        test_top_right.measure_subtraction,
        test_top_right.subtraction_outcome,
        False,
        False,
    ),
    "1b": (
        test_subtraction.CLAIM_EPISODES,
        "doorkey5-ppo-mlp-s0",
        _episodes,
        test_subtraction.measure_episodes,
        test_subtraction.outcome_episodes,
        False,
        False,
    ),
}


@pytest.mark.parametrize("case", list(COUNTEREXAMPLES))
def test_a_claims_counterexample_marks_the_state_its_bar_and_action_probabilities(case, models_dir):
    """Each claim's measurement hands its counterexample figure the agent's state at a failing
    unit; the bar its judged arm is held to, where its rule compares one per-unit value; P(action)
    per arm, where it is judged at a state. Every unit is made to fail, so the first is shown."""
    claim, model_id, make, measure, outcome, has_bar, has_probs = COUNTEREXAMPLES[case]
    agent = zoo.load(model_id, models_dir)
    layouts, seeds = trials.held_out_layouts(agent, 12)
    drawn = make(agent, list(zip(layouts, seeds, strict=True)))[:2]
    assert drawn, "no trial to measure"
    measured = measure(agent, drawn)
    found = outcome(measured)
    failing = dataclasses.replace(
        found,
        passed=np.zeros_like(found.passed),
        informative=np.ones(len(found.passed), dtype=bool),
    )
    example = judging.counterexample(drawn[0])
    data = judging._counterexample_data(
        claim, model_id, example, lambda _t: measured, lambda _m: failing, drawn[0]
    )
    level = from_ascii(data["ascii"])
    x, y, facing = data["state"]
    assert 0 <= x < level.width and 0 <= y < level.height and facing in range(4)
    # An episode-judged claim (1b) marks the episode's start, and says so; the others the state
    # that failed.
    assert data["state_is"] == ("start" if case == "1b" else "failing")
    if case == "1b":
        assert (x, y) == level.agent
    if has_bar:
        assert data["bar"]["arm"] in data["arms"]
        assert np.isfinite(data["bar"]["value"])
    else:
        assert "bar" not in data
    if has_probs:
        assert "unsteered" in data["probabilities"] and len(data["probabilities"]) >= 2
        for probs in data["probabilities"].values():
            assert len(probs) == len(data["actions"])
            assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    else:
        assert "probabilities" not in data
