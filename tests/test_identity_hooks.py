"""The hooks reproduce A - (A - B) = B on trained agents (formerly claim 4a).

Patching a layer of the with-feature start observation with -1 x the level's own feature
vector gives ``act(A) - (act(A) - act(B)) = act(B)`` by arithmetic: everything downstream --
the logits, the action distribution -- must then be exactly the without-feature response.
This checks the machinery (capture, patch, batched rows) on real zoo agents; it says nothing
about the conjecture, which is why it is a test of the library and not a claim.
"""

from __future__ import annotations

import numpy as np

from avec import envs, hooks, metrics, rollouts, trials, vectors, zoo
from avec import experiments as ex

TOLERANCE = 1e-5
"""Float tolerance of the exact identity, relative to the scale of the compared values: a
value may differ by ``TOLERANCE * max(1, largest |value| of the pair compared)``. float32
rounds ``a - (a - b)`` to within a few ulps of the larger of ``a`` and ``b`` (1.2e-7 relative
each), and a forward pass with another batch may sum in another order; 1e-5 leaves room for
both, and is still far below any behavioural difference (probabilities are compared to 1e-5
absolute)."""


def logits_layer(agent) -> str:
    """The action logits: the last layer on the policy branch."""
    return [info.name for info in hooks.layers(agent) if info.branch == "policy"][-1]


def _excess(patched: np.ndarray, reference: np.ndarray, scaled: bool) -> np.ndarray:
    """``(n,)`` largest absolute difference per row, over its tolerance (pass when <= 1)."""
    patched = patched.reshape(len(patched), -1).astype(np.float64)
    reference = reference.reshape(len(reference), -1).astype(np.float64)
    error = np.abs(patched - reference).max(axis=1)
    scale = np.maximum(1.0, np.maximum(np.abs(patched), np.abs(reference)).max(axis=1))
    return error / (TOLERANCE * (scale if scaled else 1.0))


def _forward(agent, layouts, names, steering=None) -> dict[str, np.ndarray]:
    """Outputs of ``names`` on the start observations of ``layouts``, steered per row."""
    observations = envs.observe(list(layouts), agent.wrappers)
    rows = rollouts.steering_rows(steering, len(layouts))
    with hooks.patch(agent, rows), hooks.capture(agent, names) as acts:
        hooks.run(agent, observations)
    return {name: acts[name].cpu().numpy() for name in names}


def measure_exact(agent, layouts):
    feature = ex.feature_of(agent).vector
    layer, logits = ex.claim_layer(agent), logits_layer(agent)
    without = [vectors.FEATURES[feature](layout)[1] for layout in layouts]
    steer = ex.scaled(vectors.per_layout(agent, feature, layouts, layer), -1.0)
    patched = _forward(agent, layouts, [layer, logits], steer)
    reference = _forward(agent, without, [layer, logits])
    unpatched = _forward(agent, layouts, [layer])
    probs_patched = ex.probabilities(agent, layouts, steer)
    probs_without = ex.probabilities(agent, without)
    return {
        "layer_excess": _excess(patched[layer], reference[layer], scaled=True),
        "logit_excess": _excess(patched[logits], reference[logits], scaled=True),
        "prob_excess": _excess(probs_patched, probs_without, scaled=False),
        "layer_error": np.abs(patched[layer] - reference[layer])
        .reshape(len(layouts), -1)
        .max(axis=1)
        .astype(np.float64),
        "prob_error": np.abs(probs_patched - probs_without).max(axis=1).astype(np.float64),
        "gap": metrics.total_variation(ex.probabilities(agent, layouts), probs_without),
        "layer_gap": np.abs(unpatched[layer] - reference[layer])
        .reshape(len(layouts), -1)
        .max(axis=1)
        .astype(np.float64),
    }


def passes_exact(measured):
    return (
        (measured["layer_excess"] <= 1)
        & (measured["logit_excess"] <= 1)
        & (measured["prob_excess"] <= 1)
    )


def test_own_vector_turns_the_with_input_into_the_without_input(model_id, models_dir):
    agent = zoo.load(model_id, models_dir)
    layouts, _ = trials.held_out_layouts(agent, 8)
    measured = measure_exact(agent, layouts)
    assert passes_exact(measured).all(), measured
    # The identity is not vacuous: the with- and without-feature inputs differ at the layer
    # (their action distributions may not: an agent can ignore the feature there).
    assert (measured["layer_gap"] > 0).any()


def test_identity_check_catches_a_broken_patch(model_id, models_dir):
    agent = zoo.load(model_id, models_dir)
    layouts, _ = trials.held_out_layouts(agent, 8)
    layer = ex.claim_layer(agent)
    vs = vectors.per_layout(agent, ex.feature_of(agent).vector, layouts, layer)
    half = ex.scaled(vs, -0.5)
    patched = _forward(agent, layouts, [layer], half)[layer]
    without = trials.without(agent, layouts)
    reference = _forward(agent, without, [layer])[layer]
    assert (_excess(patched, reference, scaled=True) > 1).any()
