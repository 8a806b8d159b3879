"""Named hooks: layers are listed in forward order, captures and patches are exact and leave
no hook behind -- after nesting, after an exception -- and bad names or shapes fail clearly."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import avec
from avec import envs, hooks, training


@functools.cache
def fresh(kind: str):
    """Untrained SB3 models: the hooks' mechanics do not depend on training."""
    family, size = {"mlp": ("doorkey", 5), "dqn": ("doorkey", 5), "cnn": ("cheesemaze", 7)}[kind]
    return training.untrained(kind, family, size)


def observations(kind: str, n: int) -> np.ndarray:
    family, size = {"mlp": ("doorkey", 5), "dqn": ("doorkey", 5), "cnn": ("cheesemaze", 7)}[kind]
    layouts = [avec.generate(family, size, seed) for seed in range(n)]
    return envs.observe(layouts, envs.OBSERVATION_WRAPPERS[family])


def hook_count(model) -> int:
    return sum(len(m._forward_hooks) for m in model.policy.modules())


def output(model, obs) -> torch.Tensor:
    result = hooks.run(model.policy, obs)
    return result["q_values"] if "q_values" in result else result["probs"]


KINDS = ["mlp", "cnn", "dqn"]


def test_layers_lists_only_modules_that_run_in_forward_order_with_row_shapes():
    names = [info.name for info in hooks.layers(fresh("mlp"))]
    assert names[:3] == [
        "features_extractor.flatten",
        "features_extractor",
        "mlp_extractor.policy_net.0",
    ]
    assert names.index("action_net") < names.index("mlp_extractor.value_net.0")
    assert "mlp_extractor" not in names  # SB3 calls policy_net directly, never its forward
    by_name = {info.name: info for info in hooks.layers(fresh("mlp"))}
    assert by_name["features_extractor.flatten"].shape == (147,)
    assert by_name["features_extractor.flatten"].branch == "shared"
    assert (by_name["action_net"].shape, by_name["action_net"].branch) == ((7,), "policy")
    assert (by_name["value_net"].shape, by_name["value_net"].branch) == ((1,), "value")


def test_layers_of_cnn_and_dqn_policies():
    cnn = {info.name: info for info in hooks.layers(fresh("cnn"))}
    assert cnn["features_extractor.cnn.0"].shape == (16, 7, 7)
    assert cnn["features_extractor.linear.0"].shape == (32,)
    dqn = [info.name for info in hooks.layers(fresh("dqn"))]
    assert "q_net.q_net.0" in dqn and not any(name.startswith("q_net_target") for name in dqn)
    assert [i.name for i in hooks.layers(fresh("dqn").policy.q_net)][-1] == "q_net"


@pytest.mark.parametrize("kind", KINDS)
def test_capture_records_every_layer_with_a_batch_dimension(kind):
    model, obs = fresh(kind), observations(kind, 3)
    infos = hooks.layers(model)
    with hooks.capture(model, [i.name for i in infos]) as acts:
        hooks.run(model.policy, obs)
    assert {name: tuple(a.shape) for name, a in acts.items()} == {
        i.name: (3, *i.shape) for i in infos
    }


@pytest.mark.parametrize("kind", KINDS)
def test_hook_count_returns_to_zero_after_nesting(kind):
    model, obs = fresh(kind), observations(kind, 2)
    layer = hooks.layers(model)[2]
    assert hook_count(model) == 0
    add_one, double = {layer.name: torch.ones(layer.shape)}, {layer.name: lambda out: out * 2}
    with hooks.capture(model, [layer.name]), hooks.patch(model, add_one):
        with hooks.patch(model, double), hooks.capture(model, [layer.name]):
            assert hook_count(model) == 4
            hooks.run(model.policy, obs)
        assert hook_count(model) == 2
    assert hook_count(model) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_hook_count_returns_to_zero_after_an_exception(kind):
    model, obs = fresh(kind), observations(kind, 2)
    layer = hooks.layers(model)[0]
    zero = {layer.name: torch.zeros(layer.shape)}
    with (
        pytest.raises(RuntimeError, match="boom"),
        hooks.capture(model, [layer.name]),
        hooks.patch(model, zero),
    ):
        raise RuntimeError("boom")
    assert hook_count(model) == 0
    # An error raised by a hook itself, mid-forward: a per-row patch for the wrong batch size.
    rows = torch.zeros((5, *layer.shape))
    with pytest.raises(ValueError, match="5 rows"), hooks.patch(model, {layer.name: rows}):
        hooks.run(model.policy, obs)
    assert hook_count(model) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_per_row_patch_equals_patching_rows_one_by_one(kind):
    model, obs = fresh(kind), observations(kind, 6)
    rng = np.random.default_rng(0)
    for info in hooks.layers(model):
        rows = rng.normal(size=(6, *info.shape)).astype(np.float32)
        with hooks.patch(model, {info.name: rows}):
            batched = output(model, obs)
        for i in range(6):
            with hooks.patch(model, {info.name: rows[i]}):
                alone = output(model, obs[i : i + 1])
            torch.testing.assert_close(batched[i : i + 1], alone, rtol=1e-5, atol=1e-6)


def test_broadcast_vector_is_added_to_every_row_and_seen_by_a_capture_inside():
    model, obs = fresh("mlp"), observations("mlp", 4)
    name = "mlp_extractor.policy_net.1"
    vector = torch.linspace(-1, 1, 64)
    with hooks.capture(model, [name]) as before:
        hooks.run(model.policy, obs)
    with (
        hooks.capture(model, [name]) as outside,
        hooks.patch(model, {name: vector}),
        hooks.capture(model, [name]) as inside,
    ):
        hooks.run(model.policy, obs)
    torch.testing.assert_close(inside[name], before[name] + vector)
    torch.testing.assert_close(outside[name], before[name])


def test_patch_function_replaces_the_output():
    model, obs = fresh("mlp"), observations("mlp", 3)
    with hooks.patch(model, {"action_net": torch.zeros_like}):
        probs = hooks.run(model.policy, obs)["probs"]
    torch.testing.assert_close(probs, torch.full((3, 7), 1 / 7))


def test_patch_function_must_return_a_tensor():
    model, obs = fresh("mlp"), observations("mlp", 1)
    with pytest.raises(TypeError, match="action_net"), hooks.patch(model, {"action_net": print}):
        hooks.run(model.policy, obs)
    assert hook_count(model) == 0


def test_unknown_layer_raises_and_lists_the_valid_layers():
    model = fresh("mlp")
    with (
        pytest.raises(ValueError, match="not a module") as error,
        hooks.capture(model, ["policy_net.9"]),
    ):
        pass
    for info in hooks.layers(model):
        assert repr(info.name) in str(error.value)
    with (
        pytest.raises(ValueError, match="never runs in a forward pass"),
        hooks.patch(model, {"mlp_extractor": torch.zeros(64)}),
    ):
        pass
    assert hook_count(model) == 0


def test_vector_of_the_wrong_shape_raises_naming_both_shapes():
    model = fresh("cnn")
    wrong = {"features_extractor.cnn.0": torch.zeros(16, 7)}
    with (
        pytest.raises(ValueError, match=r"\(16, 7\).*\(batch, 16, 7, 7\)"),
        hooks.patch(model, wrong),
    ):
        pass
    assert hook_count(model) == 0


def test_hooks_reject_unsupported_objects():
    with pytest.raises(TypeError, match="zoo Agent"):
        hooks.layers("not a policy")
