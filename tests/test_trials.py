"""Estimation trials: sequential drawing, merged chunk measurements, the sign-aware reading."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import declared
import numpy as np
import pytest

from avec import envs, families, generators, trials, zoo
from avec import experiments as ex
from avec.layouts import from_ascii
from claims import test_subtraction

CLAIM = declared.claim(max_chunks=3, max_chunks_reason="test cap")


@pytest.fixture(scope="module")
def agents(models_dir):
    cache = {}

    def get(model_id):
        if model_id not in cache:
            cache[model_id] = zoo.load(model_id, models_dir)
        return cache[model_id]

    return get


def _counting(every):
    """A fake measurement: one unit per trial, informative on every ``every``-th level seed
    (never with ``every=0``); it records the chunks it was called with."""
    calls = []

    def measure(drawn):
        calls.append(list(drawn))
        seeds = np.array([seed for _, seed in drawn])
        return {
            "layouts": [layout for layout, _ in drawn],
            "trial": np.arange(len(drawn)),
            "seed": seeds,
            "informative": (seeds % every == 0) if every else np.zeros(len(drawn), dtype=bool),
        }

    def outcome(measured):
        return SimpleNamespace(informative=measured["informative"])

    return measure, outcome, calls


def test_drawing_stops_once_the_target_of_informative_trials_is_reached(agents, monkeypatch):
    monkeypatch.setattr(trials, "trial_count", lambda: 10)
    measure, outcome, calls = _counting(every=2)
    drawn = trials.sequential(agents("doorkey8-ppo-mlp-s0"), CLAIM, measure, outcome)
    # About half the seeds are informative: two chunks of 10 reach 10 informative.
    assert drawn.informative >= 10 and len(calls) == len(drawn.trials) // 10
    assert 1 < len(calls) < CLAIM.max_chunks + 1
    assert drawn.stopped.startswith("target reached")
    # The merged measurement is the chunks' in order, trial indices offset per chunk.
    assert np.array_equal(drawn.measured["trial"], np.arange(len(drawn.trials)))
    assert list(drawn.measured["seed"]) == [seed for _, seed in drawn.trials]


def test_drawing_stops_at_the_declared_cap_and_says_why(agents, monkeypatch):
    monkeypatch.setattr(trials, "trial_count", lambda: 10)
    measure, outcome, calls = _counting(every=0)
    drawn = trials.sequential(agents("doorkey8-ppo-mlp-s0"), CLAIM, measure, outcome)
    assert len(calls) == CLAIM.max_chunks and len(drawn.trials) == 30
    assert drawn.stopped.startswith("cap reached") and "test cap" in drawn.stopped
    assert "30 drawn" in drawn.note()


def test_drawing_stops_when_the_level_space_is_used_up(agents, monkeypatch):
    # DoorKey-5x5 has a few dozen levels: the first chunk of 200 draws holds them all.
    monkeypatch.setattr(trials, "trial_count", lambda: 200)
    measure, outcome, calls = _counting(every=0)
    drawn = trials.sequential(agents("doorkey5-ppo-mlp-s0"), CLAIM, measure, outcome)
    assert len(calls) == 1 and drawn.stopped.startswith("level space exhausted")


def test_the_judge_gets_the_drawn_measurement_and_measures_anything_else_afresh(
    agents, monkeypatch
):
    monkeypatch.setattr(trials, "trial_count", lambda: 10)
    measure, outcome, calls = _counting(every=2)
    drawn = trials.sequential(agents("doorkey8-ppo-mlp-s0"), CLAIM, measure, outcome)
    judged = drawn.measure(measure)
    n = len(calls)
    assert judged(drawn.trials) is drawn.measured and len(calls) == n
    judged(drawn.trials[:1])
    assert len(calls) == n + 1


def test_held_out_levels_come_in_seed_order_and_none_that_shows_the_feature_is_skipped(
    agents,
):
    agent = agents("fourrooms-ppo-mlp-s0")
    trials._STREAMS.clear()
    short, short_seeds = trials.held_out_layouts(agent, 7)
    _, seeds = trials.held_out_layouts(agent, 30)
    trials._STREAMS.clear()
    fresh, fresh_seeds = trials.held_out_layouts(agent, 30)
    assert fresh_seeds == seeds and fresh_seeds[:7] == short_seeds
    assert [lay.to_ascii() for lay in fresh[:7]] == [lay.to_ascii() for lay in short]
    skipped = sorted(set(range(seeds[0], seeds[-1])) - set(seeds))
    if skipped:
        options = families.get("fourrooms").trial_options
        layouts = [generators.generate("fourrooms", agent.size, s, **options) for s in skipped]
        assert not ex.shows_feature_many(agent, "goal", layouts).any()
    assert seeds[0] >= envs.HELD_OUT_SEED_START


def test_merge_offsets_trial_indices_and_keeps_chunks_without_units():
    a = {"layouts": ["x", "y"], "trial": np.array([0, 1, 1]), "v": np.array([1.0, 2.0, 3.0])}
    empty = {"layouts": ["z"], "trial": np.zeros(0, dtype=np.int64)}
    b = {"layouts": ["w"], "trial": np.array([0]), "v": np.array([4.0])}
    merged = trials.merge([a, empty, b])
    assert merged["layouts"] == ["x", "y", "z", "w"]
    assert list(merged["trial"]) == [0, 1, 1, 3] and list(merged["v"]) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="differs between chunks"):
        trials.merge([{**a, "k": 1}, {**b, "k": 2}])


def test_a_cap_below_one_chunk_is_refused():
    with pytest.raises(ValueError, match="max_chunks 0; valid: 1 or more"):
        dataclasses.replace(CLAIM, max_chunks=0)


LAVA = """lavagap 7x7
#######
#.....#
#...L.#
#..>L.#
#...L.#
#...LG#
#######"""


def test_the_steps_that_only_make_sense_without_lava_walk_into_it():
    here = from_ascii(LAVA)
    lava_agent = SimpleNamespace(family="lavagap")
    # Facing the lava column: forward is the short way once the lava is gone.
    assert trials.ignoring_actions(lava_agent, [here]) == [frozenset({2})]
    # On the top row every shortest way to the goal passes the gap, lava or not.
    top = here.replace(agent=(1, 1), agent_dir=0)
    assert trials.ignoring_actions(lava_agent, [top]) == [frozenset()]


def test_walking_onto_lava_is_read_on_the_levels_lava_cells():
    here = from_ascii(LAVA)
    lava_agent = SimpleNamespace(family="lavagap")
    into = SimpleNamespace(cells=np.array([(3, 3), (4, 3)]))
    around = SimpleNamespace(cells=np.array([(3, 3), (3, 2), (3, 1), (4, 1)]))
    assert trials.steps_on_feature(into, here, lava_agent)
    assert not trials.steps_on_feature(around, here, lava_agent)


def test_episodes_score_net_prevention_and_an_avoided_feature_turns_the_signs():
    measured = {
        "layouts": [from_ascii(LAVA)] * 5,
        "reached": np.array([False, False, True, False, False]),
        "reached_steered": np.array([True, False, False, True, False]),
        "reached_removal": np.array([True, True, True, False, False]),
        "reached_null": np.array([False, False, True, False, False]),
    }
    # Heading for the feature: +1 where the arm stops a reach, -1 where it makes one.
    approached = test_subtraction.outcome_episodes({**measured, "avoided": False})
    assert list(approached.passed) == [-1, 0, 1, -1, 0]
    assert list(approached.references["removal"]) == [-1, -1, 0, 0, 0]
    assert list(approached.references["null"]) == [0, 0, 0, 0, 0]
    # Only the last episode reaches in no arm: it scores 0 everywhere and is not judged.
    assert list(approached.informative) == [True, True, True, True, False]
    # Lava: +1 where the arm walks onto it and the unsteered agent does not.
    avoided = test_subtraction.outcome_episodes({**measured, "avoided": True})
    assert list(avoided.passed) == [1, 0, -1, 1, 0]
    assert list(avoided.references["removal"]) == [1, 1, 0, 0, 0]
    assert list(avoided.informative) == list(approached.informative)
