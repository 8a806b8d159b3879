"""Steering chosen anew before every step (``rollouts.run(step_steering=...)``)."""

from __future__ import annotations

import numpy as np
import pytest

from avec import envs, generators, rollouts, training, vectors

DOORKEY = envs.OBSERVATION_WRAPPERS["doorkey"]
LAYER = "mlp_extractor.policy_net.1"


@pytest.fixture(scope="module")
def agent():
    return training.untrained("mlp")


@pytest.fixture(scope="module")
def levels():
    return [generators.generate("doorkey", 5, envs.HELD_OUT_SEED_START + i) for i in range(6)]


def _vector(scale: float) -> vectors.SteeringVector:
    return vectors.SteeringVector(LAYER, np.full(64, scale, dtype=np.float32), ())


def _same(a, b) -> bool:
    return all(
        np.array_equal(x.actions, y.actions) and np.allclose(x.probabilities, y.probabilities)
        for x, y in zip(a, b, strict=True)
    )


def test_a_step_callback_giving_the_fixed_vector_reproduces_fixed_steering(agent, levels):
    seeds = list(range(len(levels)))
    v = _vector(3.0)
    fixed = rollouts.run(agent, levels, seed=seeds, wrappers=DOORKEY, steering=v, max_steps=20)
    seen = []

    def every_step(step, states):
        seen.append((step, [s.episode for s in states]))
        return [v] * len(states)

    chosen = rollouts.run(
        agent, levels, seed=seeds, wrappers=DOORKEY, step_steering=every_step, max_steps=20
    )
    assert _same(fixed, chosen)
    assert seen[0] == (0, list(range(len(levels)))) and seen[1][0] == 1


def test_a_callback_that_switches_off_gives_the_unsteered_episode(agent, levels):
    seeds = list(range(len(levels)))
    plain = rollouts.run(agent, levels, seed=seeds, wrappers=DOORKEY, max_steps=20)
    steered = rollouts.run(
        agent, levels, seed=seeds, wrappers=DOORKEY, steering=_vector(5.0), max_steps=20
    )
    off = rollouts.run(
        agent,
        levels,
        seed=seeds,
        wrappers=DOORKEY,
        step_steering=lambda step, states: None,
        max_steps=20,
    )
    assert _same(plain, off) and not _same(plain, steered)


def test_steering_and_step_steering_together_are_refused(agent, levels):
    with pytest.raises(ValueError, match="not both"):
        rollouts.run(
            agent,
            levels,
            seed=0,
            wrappers=DOORKEY,
            steering=_vector(1.0),
            step_steering=lambda step, states: None,
        )
