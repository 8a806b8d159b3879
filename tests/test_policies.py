"""The feature extractors: the IMPALA CNN's shapes, residual streams, hook names and safe load."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from avec import experiments, hooks, policies, training, zoo

CANVAS = spaces.Box(0, 255, (3, 13, 13), np.uint8)


def test_impala_pools_a_13x13_canvas_to_2x2_maps_and_a_256_feature_vector():
    net = policies.ImpalaCNN(CANVAS)
    shapes = {}
    handles = [
        getattr(net, f"block{i}").register_forward_hook(
            lambda _m, _i, out, i=i: shapes.__setitem__(i, tuple(out.shape[1:]))
        )
        for i in (1, 2, 3)
    ]
    features = net(torch.zeros(5, 3, 13, 13))
    for handle in handles:
        handle.remove()
    assert features.shape == (5, 256)
    assert shapes == {1: (16, 7, 7), 2: (32, 4, 4), 3: (32, 2, 2)}


def test_a_residual_block_outputs_its_input_plus_its_branch():
    block = policies.ResidualBlock(4)
    x = torch.randn(2, 4, 5, 5)
    branch = block.conv1(torch.relu(block.conv0(torch.relu(x))))
    torch.testing.assert_close(block(x), x + branch)
    with torch.no_grad():
        for conv in (block.conv0, block.conv1):
            conv.weight.zero_()
            conv.bias.zero_()
    torch.testing.assert_close(block(x), x)


@pytest.fixture(scope="module")
def impala_agent():
    return training.untrained("impala", family="procmaze", size=13)


def test_the_claim_layer_of_an_impala_agent_is_the_papers_block2_res1(impala_agent):
    assert experiments.claim_layer(impala_agent.policy) == "features_extractor.block2.res1"


def test_the_layer_sweep_covers_every_residual_output(impala_agent):
    swept = experiments.action_path_layers(impala_agent.policy)
    residual = [
        f"features_extractor.{name}"
        for name in impala_agent.policy.features_extractor.residual_outputs()
    ]
    assert len(residual) == 6 and set(residual) <= set(swept)
    assert experiments.action_path_residuals(impala_agent.policy) == residual


def test_patching_the_residual_stream_changes_the_action_distribution(impala_agent):
    policy = impala_agent.policy
    obs = torch.zeros(1, 3, 13, 13)
    layer = "features_extractor.block2.res1"
    with hooks.capture(policy, [layer]) as acts:
        policy.get_distribution(obs)
    shift = torch.ones_like(acts[layer][0]) * 3.0
    with hooks.patch(policy, {layer: shift}):
        patched = policy.get_distribution(obs).distribution.probs
    plain = policy.get_distribution(obs).distribution.probs
    assert not torch.allclose(plain, patched)


def test_impala_policy_kwargs_name_the_class_from_the_allow_list():
    recorded = zoo.policy_kwargs("impala", [], 256)
    assert recorded["features_extractor_class"] == "avec.policies.ImpalaCNN"
    assert zoo.resolve_policy_kwargs(recorded)["features_extractor_class"] is policies.ImpalaCNN
