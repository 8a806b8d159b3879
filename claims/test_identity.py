"""Claim 4: A - (A - B) = B -- the patched with-feature input behaves like the without input.

A feature vector is ``v = act(A) - act(B)`` at one layer, for a layout ``A`` with the feature
and its copy ``B`` without it, at the agent's start state. Adding ``-v`` to the activations of
``A`` gives ``act(A) - (act(A) - act(B)) = act(B)``: everything downstream of the layer -- the
action logits, the action distribution -- must then be exactly the agent's response to ``B``.

* **4a, exact**: on the layout the vector came from, the identity holds up to float32
  rounding. This checks the machinery (hooks, vectors, batched patches) on trained agents: a
  trial that misses it is a bug, not a finding about the conjecture.
* **4b, across layouts**: the vector of one layout ``a`` patches another layout ``b``. The
  identity no longer holds exactly; the poster's claim is that it "still often seems to work".
  We ask whether the patch moves ``b``'s start distribution toward ``b``-without-the-feature:
  whether the steered total variation to it is below the unsteered one (the *gap*).

Both use only layouts whose start observation shows the feature
(:func:`avec.experiments.shows_feature`): elsewhere the vector is zero and the identity trivial.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from avec import envs, hooks, metrics, rollouts, stats, vectors, verdicts
from avec import experiments as ex
from claims.conftest import model_params

TOLERANCE = 1e-5
"""Float tolerance of the exact identity, relative to the scale of the compared values: a
value may differ by ``TOLERANCE * max(1, largest |value| of the pair compared)``. float32
rounds ``a - (a - b)`` to within a few ulps of the larger of ``a`` and ``b`` (1.2e-7 relative
each), and a forward pass with another batch may sum in another order; 1e-5 leaves room for
both, and is still far below any behavioural difference (probabilities are compared to 1e-5
absolute)."""

MIN_GAP = 0.05
"""Smallest total variation between ``b``'s with- and without-feature start distributions for
a 4b trial to carry information: below it there is no gap to close."""

CLAIM_EXACT = verdicts.Claim(
    name="4a_identity_on_own_layout",
    statement=(
        "Subtracting a layout's own feature vector from its with-feature start observation "
        "reproduces the without-feature activations at the claim layer, action logits and "
        "action probabilities exactly (up to float rounding)."
    ),
    trial=(
        "a layout whose start observation shows the feature. The with-feature observation is "
        "patched with coefficient -1 of its own vector at the claim layer. Passes when the "
        "activations at that layer and the action logits each differ from the without-feature "
        f"ones by at most {TOLERANCE:g} x max(1, largest absolute value compared), and the "
        f"action probabilities by at most {TOLERANCE:g}."
    ),
    threshold=0.9,
)

CLAIM_ACROSS = verdicts.Claim(
    name="4b_identity_across_layouts",
    statement=(
        "A feature vector from one layout, subtracted on another layout, moves that layout's "
        "with-feature start distribution toward its without-feature distribution."
    ),
    trial=(
        "two independently drawn layouts (b, a) whose start observations show the feature and "
        "differ from each other. b's with-feature observation is patched with coefficient -1 "
        "of a's vector at the claim layer. Gap = total variation between b's with- and "
        "without-feature start distributions; passes when the gap is at least "
        f"{MIN_GAP} and the steered distribution is closer to the without-feature one than the "
        f"unsteered one is. Trials with gap < {MIN_GAP} carry no information and are counted "
        "as not passing (their share is reported as informative_rate)."
    ),
    threshold=0.5,
)


def pairs_of(agent):
    """``(b, a)``: two layouts showing the feature, which the agent sees differently; ``b`` is
    patched with ``a``'s vector (first, so a counterexample draws the layout patched)."""
    layouts = ex.trial_layouts(agent)
    return st.tuples(layouts, layouts).filter(
        lambda pair: not np.array_equal(*envs.observe(list(pair), agent.wrappers))
    )


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
    steer = ex.scaled(ex.per_layout_vectors(agent, feature, layouts, layer), -1.0)
    patched = _forward(agent, layouts, [layer, logits], steer)
    reference = _forward(agent, without, [layer, logits])
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
    }


def passes_exact(measured):
    return (
        (measured["layer_excess"] <= 1)
        & (measured["logit_excess"] <= 1)
        & (measured["prob_excess"] <= 1)
    )


def effects_exact(measured):
    return {
        "layer_max_abs_error_median": stats.bootstrap_median(measured["layer_error"], seed=0),
        "probability_max_abs_error_median": stats.bootstrap_median(measured["prob_error"], seed=0),
        "unpatched_gap_tv_median": stats.bootstrap_median(measured["gap"], seed=0),
    }


def measure_across(agent, trials):
    feature = ex.feature_of(agent).vector
    targets = [b for b, _ in trials]
    sources = [a for _, a in trials]
    without = [vectors.FEATURES[feature](b)[1] for b in targets]
    steer = ex.scaled(ex.per_layout_vectors(agent, feature, sources, ex.claim_layer(agent)), -1.0)
    p_without = ex.probabilities(agent, without)
    gap = metrics.total_variation(ex.probabilities(agent, targets), p_without)
    steered = metrics.total_variation(ex.probabilities(agent, targets, steer), p_without)
    return {"gap": gap, "steered_gap": steered}


def informative(measured):
    return measured["gap"] >= MIN_GAP


def passes_across(measured):
    return informative(measured) & (measured["steered_gap"] < measured["gap"])


def effects_across(measured):
    useful = informative(measured)
    found = {
        "informative_rate": stats.proportion(useful),
        "unsteered_gap_tv_median": stats.bootstrap_median(measured["gap"], seed=0),
        "steered_gap_tv_median": stats.bootstrap_median(measured["steered_gap"], seed=0),
    }
    if useful.sum() >= 2:
        gap, steered = measured["gap"][useful], measured["steered_gap"][useful]
        found["pass_rate_informative"] = stats.proportion(steered < gap)
        found["gap_closed_fraction_median"] = stats.bootstrap_median((gap - steered) / gap, seed=0)
    return found


@pytest.mark.claim(CLAIM_EXACT.name)
@pytest.mark.parametrize("model_id", model_params())
def test_own_vector_turns_the_with_input_into_the_without_input(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge(
        CLAIM_EXACT,
        model_id,
        ex.trial_layouts(agent),
        lambda layouts: measure_exact(agent, layouts),
        passes_exact,
        effects_exact,
    )


@pytest.mark.claim(CLAIM_ACROSS.name)
@pytest.mark.parametrize("model_id", model_params())
def test_another_layouts_vector_moves_the_with_input_toward_the_without_input(
    model_id, load_agent, judge
):
    agent = load_agent(model_id)
    judge(
        CLAIM_ACROSS,
        model_id,
        pairs_of(agent),
        lambda trials: measure_across(agent, trials),
        passes_across,
        effects_across,
    )
