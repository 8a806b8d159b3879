"""Everything that plays levels gives the same result on the engine as on MiniGrid: steered
batched rollouts of trained zoo agents (greedy and sampled), and start-state observations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avec import engine, envs, evaluation, families, generators, rollouts, training, vectors, zoo

CASES = {
    "doorkey5-ppo-mlp-s0": ("key", "mlp_extractor.policy_net.0"),
    "fourrooms-ppo-mlp-s0": ("goal", "mlp_extractor.policy_net.0"),
    "cheesemaze9-ppo-cnn-s0": ("cheese", "features_extractor.cnn.2"),
}
"""Zoo agents of every family and both architectures, with a feature and a layer to steer."""


def _same(a: rollouts.Trajectory, b: rollouts.Trajectory) -> None:
    for name in ("cells", "directions", "actions", "probabilities"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("key_picked_up", "door_opened", "goal_reached", "top_right_reached", "steps"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.episode_return == b.episode_return


@pytest.mark.zoo
@pytest.mark.parametrize("agent_id", list(CASES))
def test_steered_rollouts_are_identical_on_engine_and_minigrid(agent_id: str, models_dir: Path):
    if agent_id not in zoo.manifest(models_dir):
        pytest.skip(f"{agent_id} is not in {models_dir}")
    agent = zoo.load(agent_id, models_dir)
    feature, layer = CASES[agent_id]
    layouts = evaluation.held_out_layouts(agent, 8)
    vector = vectors.feature_vector(agent, feature, layouts[:4], layer)
    steering = [None, -2.0 * vector, vector, None] * 2
    for kwargs in ({"greedy": True, "seed": 0}, {"seed": list(range(8))}, {"seed": 3}):
        on = {
            backend: rollouts.run(agent, layouts, steering=steering, backend=backend, **kwargs)
            for backend in engine.BACKENDS
        }
        for a, b in zip(on["engine"], on["minigrid"], strict=True):
            _same(a, b)
    assert any(t.steps > 1 for t in on["engine"])


@pytest.mark.parametrize("family", sorted(families.FAMILIES))
def test_start_observations_are_identical_on_engine_and_minigrid(family: str):
    size = families.get(family).sizes[len(families.get(family).sizes) // 2]
    layouts = [generators.generate(family, size, seed) for seed in range(6)]
    wrapper_stacks = [envs.OBSERVATION_WRAPPERS[family], *engine.VIEWS]
    for wrappers in dict.fromkeys(map(tuple, wrapper_stacks)):
        np.testing.assert_array_equal(
            envs.observe(layouts, wrappers, backend="engine"),
            envs.observe(layouts, wrappers, backend="minigrid"),
        )


def test_rollouts_refuse_wrappers_the_engine_does_not_reproduce():
    model = training.untrained("mlp")
    layout = generators.generate("doorkey", 5, 0)
    wrappers = ["minigrid.wrappers.RGBImgPartialObsWrapper", "minigrid.wrappers.ImgObsWrapper"]
    with pytest.raises(ValueError, match="the engine has no observation for wrappers"):
        rollouts.run(model, [layout], seed=0, wrappers=wrappers, backend="engine")
