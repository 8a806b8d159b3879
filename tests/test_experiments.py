"""The rules every claim shares (avec.experiments), on committed zoo agents."""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, envs, generators, vectors, zoo
from avec import experiments as ex


@pytest.fixture(scope="module")
def load():
    cache: dict[str, zoo.Agent] = {}

    def get(model_id: str) -> zoo.Agent:
        if model_id not in cache:
            cache[model_id] = zoo.load(model_id)
        return cache[model_id]

    return get


@pytest.mark.zoo
@pytest.mark.parametrize(
    ("agent_id", "layer"),
    [
        ("doorkey5-ppo-mlp-s0", "mlp_extractor.policy_net.1"),
        ("doorkey5-ppo-cnn-s0", "features_extractor.cnn.5"),
        ("cheesemaze9-ppo-cnn-s0", "features_extractor.cnn.5"),
        ("doorkey5-dqn-mlp-s0", "q_net.q_net.1"),
    ],
)
def test_claim_layer_is_the_middle_activation_on_the_action_path(load, agent_id, layer):
    agent = load(agent_id)
    assert ex.claim_layer(agent) == layer
    assert layer in ex.action_path_activations(agent)


@pytest.mark.zoo
def test_the_layer_sweep_stops_before_the_logits(load):
    agent = load("doorkey5-ppo-mlp-s0")
    swept = ex.action_path_layers(agent)
    assert "action_net" not in swept
    assert ex.claim_layer(agent) in swept
    assert "value_net" not in swept and not any(
        name.startswith("mlp_extractor.value") for name in swept
    )


@pytest.mark.zoo
@pytest.mark.parametrize("agent_id", ["doorkey5-ppo-mlp-s0", "fourrooms-ppo-mlp-s0"])
def test_step_cap_gives_room_but_never_passes_the_env_limit(load, agent_id):
    agent = load(agent_id)
    cap = ex.step_cap(agent)
    mean_steps = agent.entry["evaluation"]["held_out"]["mean_steps"]
    assert max(50, mean_steps) <= cap <= envs.default_max_steps(agent.family, agent.size)


@pytest.mark.zoo
def test_a_level_shows_the_key_only_if_removing_it_changes_the_view(load):
    agent = load("doorkey5-ppo-mlp-s0")
    layouts = [generators.generate("doorkey", 5, seed) for seed in range(24)]
    shown = ex.shows_feature_many(agent, "key", layouts)
    assert shown.any() and not shown.all(), "some keys start behind the agent, some in view"
    for layout, flag in zip(layouts, shown, strict=True):
        assert flag == ex.shows_feature(agent, "key", layout)
        without = edits.remove(layout, "key")
        changed = not np.array_equal(*envs.observe([layout, without], agent.wrappers))
        assert flag == changed
        # A vector of a level that does not show the key is exactly zero.
        vector = vectors.per_layout(agent, "key", [layout], ex.claim_layer(agent))[0]
        assert (np.abs(vector.values).max() > 0) == flag


@pytest.mark.zoo
def test_scaled_multiplies_every_vector_and_reached_reads_the_event(load):
    agent = load("doorkey5-ppo-mlp-s0")
    layouts = [generators.generate("doorkey", 5, seed) for seed in range(4)]
    per_layout = vectors.per_layout(agent, "key", layouts, ex.claim_layer(agent))
    for v, w in zip(per_layout, ex.scaled(per_layout, -2.0), strict=True):
        np.testing.assert_array_equal(w.values, -2.0 * v.values)
    played = ex.play(agent, layouts, [0, 1, 2, 3])
    picked = ex.reached(played, "key_picked_up")
    assert picked.dtype == bool and picked.shape == (4,)
    assert list(picked) == [t.key_picked_up is not None for t in played]
