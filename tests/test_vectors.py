"""Steering vectors: the identity A - (A - B) = B behind claim 4, arithmetic that keeps
provenance, norm-matched random controls, and saving with provenance."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import avec
from avec import edits, envs, families, generators, hooks, training, vectors, zoo
from avec.policies import ResidualBlock

FEATURES_OF = {  # every vector each family declares
    name: [family.feature.vector, *family.extra_features]
    for name, family in families.FAMILIES.items()
}

FRESH = {  # untrained models of each kind the hooks support: the identity is mechanical
    "fresh-mlp-doorkey5": ("doorkey", 5, "mlp"),
    "fresh-cnn-cheesemaze7": ("cheesemaze", 7, "cnn"),
    "fresh-dqn-doorkey5": ("doorkey", 5, "dqn"),
}


@functools.cache
def fresh(name: str) -> tuple[object, str, int, tuple[str, ...]]:
    """(model, family, size, wrappers) of an untrained model."""
    family, size, kind = FRESH[name]
    return training.untrained(kind, family, size), family, size, envs.OBSERVATION_WRAPPERS[family]


@functools.cache
def trained(model_id: str, models_dir: Path) -> tuple[object, str, int, tuple[str, ...]]:
    agent = zoo.load(model_id, models_dir)
    return agent.model, agent.family, agent.size, agent.wrappers


def inside_a_residual_branch(model, name: str) -> bool:
    """Whether layer ``name`` sits inside a residual block (a path around it exists)."""
    module = model.policy
    for part in name.split(".")[:-1]:
        module = getattr(module, part)
        if isinstance(module, ResidualBlock):
            return True
    return False


def test_only_layers_inside_a_residual_block_are_bypassed():
    model = trained("procmaze9-bc-ppo-impala-s0", zoo.MODELS_DIR)[0]
    assert inside_a_residual_branch(model, "features_extractor.block2.res1.conv0")
    assert not inside_a_residual_branch(model, "features_extractor.block2.res1")
    assert not inside_a_residual_branch(model, "features_extractor.block2.conv")


def check_identity(model, family: str, size: int, wrappers, data: st.DataObject) -> None:
    """Claim 4's exact case: act(with) - (act(with) - act(without)) = act(without) at the
    layer, and so at every output that layer feeds (logits, value, Q-values)."""
    seed = data.draw(st.integers(0, 2**20), label="layout seed")
    layout = generators.generate(family, size, seed)
    feature = data.draw(st.sampled_from(FEATURES_OF[family]), label="feature")
    info = data.draw(st.sampled_from(hooks.layers(model)), label="layer")
    vector = vectors.feature_vector(model, feature, layout, info.name, wrappers=wrappers)
    with_layout, without_layout = vectors.FEATURES[feature](layout)
    obs = envs.observe([with_layout, without_layout], wrappers)

    heads = [n for n in ("action_net", "value_net") if n in {i.name for i in hooks.layers(model)}]
    names = list(dict.fromkeys([info.name, *heads]))
    with hooks.capture(model, names) as target:
        expected = hooks.run(model.policy, obs[1:])
    subtract = {info.name: -vector}
    with hooks.patch(model, subtract), hooks.capture(model, names) as patched:
        found = hooks.run(model.policy, obs[:1])

    with hooks.capture(model, [info.name]) as source:
        hooks.run(model.policy, obs[:1])
    # with - (with - without) rounds at the with-input's magnitude (float32), which grows
    # along a residual stream: the tolerance is absolute up to 1, relative beyond.
    scale = max(1.0, float(source[info.name].abs().max()))
    close = functools.partial(torch.testing.assert_close, rtol=1e-5, atol=1e-5 * scale)
    close(patched[info.name], target[info.name])
    if inside_a_residual_branch(model, info.name):
        # The block's skip connection carries the with-input's activations past this layer,
        # so what it feeds is not the without-input's: the identity holds at the layer only.
        return
    if "q_values" in found:
        close(found["q_values"], expected["q_values"])
    if info.branch in ("shared", "policy") and "action_net" in heads:
        close(patched["action_net"], target["action_net"])
        close(found["probs"], expected["probs"])
    if info.branch in ("shared", "value"):
        close(found["values"], expected["values"])


@given(data=st.data())
def test_subtracting_the_vector_from_the_with_input_gives_the_without_activations(
    model_id, models_dir, data
):
    check_identity(*trained(model_id, models_dir), data)


@pytest.mark.parametrize("name", FRESH)
@given(data=st.data())
def test_the_subtraction_identity_holds_for_every_kind_of_policy(name, data):
    check_identity(*fresh(name), data)


def _key_vector(seed: int = 1, layer: str = "mlp_extractor.policy_net.1"):
    model, _, _, wrappers = fresh("fresh-mlp-doorkey5")
    layout = avec.generate("doorkey", 5, seed)
    return vectors.feature_vector(model, "key", layout, layer, wrappers=wrappers, model_id="fresh")


def test_compute_records_provenance_of_a_single_pair():
    vector = _key_vector(seed=1)
    layout = avec.generate("doorkey", 5, 1)
    (term,) = vector.terms
    assert (term.coefficient, term.feature, term.model, term.aggregation) == (
        1.0,
        "key",
        "fresh",
        "single",
    )
    assert term.with_layouts == (layout.to_ascii(),)
    assert term.without_layouts == (edits.remove(layout, "key").to_ascii(),)
    assert vector.shape == (64,) and vector.layer == "mlp_extractor.policy_net.1"


def test_vector_over_many_layouts_is_the_mean_of_the_single_layout_vectors():
    model, _, _, wrappers = fresh("fresh-mlp-doorkey5")
    layouts = [avec.generate("doorkey", 5, s) for s in range(5)]
    mean = vectors.feature_vector(model, "key", layouts, "features_extractor", wrappers=wrappers)
    singles = [
        vectors.feature_vector(model, "key", lay, "features_extractor", wrappers=wrappers)
        for lay in layouts
    ]
    np.testing.assert_allclose(
        mean.values, np.mean([v.values for v in singles], axis=0), rtol=1e-6, atol=1e-6
    )
    assert mean.terms[0].aggregation == "mean" and len(mean.terms[0].with_layouts) == 5


def test_arithmetic_combines_values_and_provenance():
    key, other = _key_vector(seed=1), _key_vector(seed=2)
    total = key - 0.5 * other
    np.testing.assert_allclose(total.values, key.values - 0.5 * other.values, rtol=1e-6)
    assert [t.coefficient for t in total.terms] == [1.0, -0.5]
    assert total.feature == "1*key + -0.5*key"
    assert (-key).terms[0].coefficient == -1.0
    np.testing.assert_array_equal((-key).values, -key.values)
    assert (2 * key - key - key).terms == ()
    assert not np.any((key - key).values)


def test_arithmetic_refuses_vectors_at_different_layers():
    with pytest.raises(ValueError, match="different layers"):
        _key_vector(layer="mlp_extractor.policy_net.1") + _key_vector(layer="features_extractor")


def test_random_control_has_the_same_norm_and_layer_and_depends_only_on_its_seed():
    key = _key_vector()
    control = vectors.random_like(key, 7)
    assert control.layer == key.layer and control.shape == key.shape
    assert control.norm == pytest.approx(key.norm, rel=1e-5)
    assert control == vectors.random_like(key, 7)
    assert control != vectors.random_like(key, 8)
    assert control.terms[0].seed == 7 and control.terms[0].aggregation == "random"
    from_generator = vectors.random_like(key, np.random.default_rng(7))
    np.testing.assert_array_equal(from_generator.values, control.values)


def test_save_and_load_keep_values_and_provenance(tmp_path):
    vector = _key_vector() - 2.0 * vectors.random_like(_key_vector(), 3)
    path = vector.save(tmp_path / "key")
    assert path.suffix == ".npz"
    assert vectors.SteeringVector.load(path) == vector


def test_feature_pairs_differ_only_in_their_feature():
    door = avec.generate("doorkey", 5, 0)
    maze = avec.generate("cheesemaze", 9, 0)
    assert vectors.key_pair(door)[1].key is None
    assert vectors.cheese_pair(maze)[1].cheese is None
    assert vectors.goal_pair(avec.generate("fourrooms", 19, 0))[1].goal is None
    opened, original = vectors.top_right_pair(maze)
    assert original == maze and opened == edits.open_top_right(maze)
    assert vectors.door_color_pair(door, "blue")[1].door_color == "blue"
    with pytest.raises(avec.LayoutError, match="already"):
        vectors.door_color_pair(door, door.door_color)


def test_bad_requests_raise_clear_errors():
    model, _, _, wrappers = fresh("fresh-mlp-doorkey5")
    layout = avec.generate("doorkey", 5, 0)
    with pytest.raises(ValueError, match="valid: .*'key'"):
        vectors.feature_vector(model, "smell", layout, "action_net", wrappers=wrappers)
    with pytest.raises(ValueError, match="paired"):
        vectors.compute(model, "action_net", [layout, layout], [layout], wrappers=wrappers)
    with pytest.raises(ValueError, match="wrappers"):
        vectors.compute(model, "action_net", layout, layout)
