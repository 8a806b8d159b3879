"""The rules every claim shares (avec.experiments), on committed zoo agents."""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, envs, generators, hooks, trials, vectors, zoo
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
@pytest.mark.parametrize(
    ("agent_id", "affine"),
    [
        ("doorkey5-ppo-mlp-s0", {"features_extractor", ".flatten", "mlp_extractor.policy_net.0"}),
        ("cheesemaze9-ppo-cnn-s0", {"features_extractor.cnn.0"}),
        ("doorkey5-dqn-mlp-s0", {"q_net.features_extractor", ".flatten", "q_net.q_net.0"}),
    ],
)
def test_layers_before_the_first_non_linearity_are_found_affine_and_not_swept(
    load, agent_id, affine
):
    agent = load(agent_id)
    candidates = [info.name for info in hooks.layers(agent) if info.branch != "value"]
    found = ex.input_affine(agent, candidates)
    # ".flatten": the extractor's flatten, whatever the extractor is called.
    assert {"." + n.rsplit(".", 1)[1] if n.endswith(".flatten") else n for n in found} == affine
    assert not found & set(ex.action_path_layers(agent))


@pytest.mark.zoo
@pytest.mark.parametrize("agent_id", ["cheesemaze7-ppo-cnn-s0", "cheesemaze9-ppo-cnn-s0"])
def test_steering_differs_from_removing_the_feature_at_every_swept_layer(load, agent_id):
    """On a full-view maze, at a layer affine in the observation, observation - (with -
    without) *is* the observation without the cheese: steered and removal probabilities agree
    at every probe. At each layer the sweep keeps they must differ somewhere."""
    agent = load(agent_id)
    layouts, seeds = trials.held_out_layouts(agent, 60)
    probes = trials.probe_states(agent, layouts, seeds)
    placed = [p.placed for p in probes]
    assert len(placed) >= 5
    removal = ex.probabilities(agent, trials.without(agent, placed))

    def gap(layer: str) -> float:
        steer = vectors.per_layout(agent, "cheese", layouts, layer)
        steered = ex.probabilities(agent, placed, [-1.0 * steer[p.trial] for p in probes])
        return float(np.abs(steered - removal).max())

    assert all(gap(layer) > 1e-3 for layer in ex.action_path_layers(agent))
    # The check can fail: at the excluded affine layer steering is removal, to float rounding.
    (first,) = ex.input_affine(agent, [info.name for info in hooks.layers(agent)][:1])
    assert gap(first) < 1e-5


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
