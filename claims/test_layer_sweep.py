"""Claim 9: which layer -- subtracting the feature vector works at *some* layer.

Every other claim patches the layer a written rule picks (:func:`avec.experiments.claim_layer`,
the middle activation on the action path), never one picked by hand after looking. This module
sweeps all of them: at every layer of :func:`avec.experiments.action_path_layers` it runs
claim 1a's measurement -- the level's start vector computed at that layer, -1 x it added at
the probe states away from the start -- and the report gets a ``bars`` figure of the 1a rate
per layer and, in the notes, the strongest layer and the rule's.

Picking the best of a dozen layers and judging it on the same trials would flatter it (the
maximum of noisy rates is biased upward). So the layer is *chosen* on the first half of a
chunk of held-out levels (highest 1a rate among informative probes, ties to the earliest
layer) and *judged* on levels drawn after them (sequentially, as every claim).

No layer where steering *is* removing the feature is swept: before the first non-linearity
the layer is an affine function ``f`` of the observation, and ``f(x) - (f(with) - f(without))``
is ``f`` of the observation with the feature edited out -- on a full-view maze, exactly the
observation without the cheese, so the earlier record scored such a layer at the removal
reference to six digits. :func:`avec.experiments.action_path_layers` drops every layer a
numerical check finds affine in the observation (:func:`avec.experiments.input_affine`).
Just past that, a convolution is still *local*: where the cheese is out of reach of the cells
the agent moved between, steering at an early conv layer again gives exactly what removal
gives (a development run found it at 45% of cheesemaze7's informative probes at the layer
chosen then). Such a probe cannot tell steering from editing the input, so for this claim a
probe is informative only where the steered activation at the layer differs from the
activation the probe's observation without the feature gives there (beyond float rounding,
:data:`SAME`) -- when choosing the layer and when judging it. Activations, not action
probabilities: a saturated or greedy policy (DQN) gives equal probabilities for different
activations, and those probes do test steering. The effect
``probes_where_steering_is_removal`` reports the share of claim 1a's informative probes at
the chosen layer that this leaves out.

Declared before data: the claim asserts an effect (:attr:`avec.verdicts.Claim.asserts_effect`):
"holds" also needs the chosen layer's 1a passes to beat those of a norm-matched random vector
on the same probes (:data:`avec.verdicts.NULL_RULE`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avec import envs, hooks, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims import test_subtraction as subtraction
from claims.conftest import judge_sequentially, model_params

CLAIM = verdicts.Claim(
    name="9_layer_sweep_some_layer_removes_pull",
    statement=(
        "At some layer on the agent's action path, subtracting the level's start-state feature "
        "vector stops the agent heading for the feature at states away from the start."
    ),
    quote=(
        f"{subtraction.QUOTE} (Paraphrase: neither source sweeps layers; the maze paper "
        "patched one middle residual layer, block2.res1.resadd_out.)"
    ),
    source_expects="holds",
    trial=(
        "claim 1a's trial on levels drawn after the first half chunk, at the layer of "
        "experiments.action_path_layers (layers affine in the observation excluded) with the "
        "highest 1a rate on the first half (ties: the "
        f"earliest). Passes when P(toward the feature) falls below {subtraction.HEADS_FOR}."
    ),
    informative=(
        f"{subtraction.CLAIM_STATES.informative} And at the layer, steering is not removal: the "
        "steered activation there differs from the activation of the probe's observation "
        "without the feature (beyond float rounding)."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason="as claim 1a: most informative probes should flip.",
    reference=subtraction.CLAIM_STATES.reference,
    lifetime=subtraction.CLAIM_STATES.lifetime,
    asserts_effect=True,
)

SAME = 1e-5
"""Largest gap between the steered and removal activations at the layer, relative to the
activation's scale, that counts as the same: float32 rounding of ``a - (a0 - b0)``."""


def steering_is_removal(agent, probes, steer, layer):
    """``(n_probes,)`` whether at each probe the steered activation at ``layer`` (the probe's
    activation plus ``steer[trial]``) equals the activation of the probe without the feature,
    to float rounding: there steering *is* editing the input."""
    placed = [p.placed for p in probes]
    acts = []
    for layouts in (placed, trials.without(agent, placed)):
        with hooks.capture(agent, [layer]) as captured:
            hooks.run(agent, envs.observe(layouts, agent.wrappers))
        acts.append(captured[layer].double().reshape(len(placed), -1).numpy())
    added = np.stack([steer[p.trial].values.reshape(-1) for p in probes]).astype(np.float64)
    gap = np.abs(acts[0] + added - acts[1]).max(axis=1)
    scale = np.maximum(np.abs(acts[0]).max(axis=1), np.abs(acts[1]).max(axis=1))
    return gap <= SAME * (scale + 1e-12)


def measure_at(agent, drawn, layer, probes=None):
    """Claim 1a's measurement with the vector computed and added at ``layer``."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = vectors.per_layout(agent, ex.feature_of(agent).vector, layouts, layer)
    probes = trials.probe_states(agent, layouts, seeds) if probes is None else probes
    if not probes:
        return {"trial": np.zeros(0, dtype=np.int64), "layouts": layouts}
    steer = ex.scaled(vs, -1.0)
    measured = trials.measure_states(agent, probes, steer, seeds, sign_aware=True)
    is_removal = steering_is_removal(agent, probes, steer, layer)
    return {**measured, "is_removal": is_removal, "layouts": layouts}


def outcome(measured):
    """Claim 1a's outcome, informative only where steering at the layer is not removal."""
    found = subtraction.outcome_states(measured)
    if len(measured["trial"]) == 0:
        return found
    return dataclasses.replace(found, informative=found.informative & ~measured["is_removal"])


def effects(measured):
    """Claim 1a's effects on this claim's informative probes at the chosen layer, and the
    share of claim 1a's informative probes left out because steering there gives exactly what
    removing the feature gives (arithmetic, not steering)."""
    if len(measured["trial"]) == 0:
        return {}
    found = subtraction.state_effects(measured, outcome(measured).informative)
    useful = subtraction.outcome_states(measured).informative
    if useful.sum() >= 2:
        same = measured["is_removal"][useful]
        clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
        found["probes_where_steering_is_removal"] = stats.clustered_rate(same, clusters)
    return found


def _rate(flags):
    return stats.proportion(flags) if len(flags) else stats.Estimate(0.0, (0.0, 1.0), 0, "none")


def rate_at(agent, drawn, layer, probes):
    """The 1a rate at ``layer`` among informative probes, and the removal and null
    references' rates on the same probes."""
    found = outcome(measure_at(agent, drawn, layer, probes))
    useful = found.informative
    references = {name: _rate(arm[useful]) for name, arm in found.references.items()}
    return _rate(found.passed[useful]), references


def bars(model_id, layers, rates, rule, chosen, n, references):
    """The ``bars`` figure: 1a rate per layer on the choosing levels, with Wilson CIs, the
    removal reference (the same at every layer) as a horizontal line, the null's rate per
    layer as a line joining the bars, and the threshold."""
    labels = [
        name + (" (rule)" if name == rule else "") + (" (chosen)" if name == chosen else "")
        for name in layers
    ]
    removal = [r["removal"].value for r in references if "removal" in r]
    return {
        f"layer_sweep-{model_id}": {
            "kind": "bars",
            "data": {
                "title": f"claim 1a rate per layer: {model_id} ({n} levels)",
                "labels": labels,
                "value": [r.value for r in rates],
                "ci95": [list(r.ci95) for r in rates],
                "ylabel": "1a rate among informative probes",
                "lines": {f"threshold {CLAIM.threshold:g}": CLAIM.threshold},
                "references": {
                    **(
                        {"removal: the feature physically removed (every layer)": removal[0]}
                        if removal
                        else {}
                    ),
                    "null: a norm-matched random vector at the layer": [
                        r["null"].value if "null" in r else None for r in references
                    ],
                },
                "note": (
                    "(rule): the layer every other claim patches (experiments.claim_layer, the "
                    "middle activation on the action path), fixed before any data. (chosen): "
                    "the layer with the highest rate on these levels, which claim 9 then "
                    "judges on levels drawn after them."
                ),
            },
        }
    }


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_subtracting_the_feature_vector_removes_its_pull_at_some_layer(model_id, load_agent, judge):
    agent = load_agent(model_id)
    per_trial = subtraction.LEVELS_PER_TRIAL.get(agent.family, 1)
    half = per_trial * trials.trial_count() // 2
    choosing = subtraction.trials_of(agent, per_trial)[:half]
    layers = ex.action_path_layers(agent)
    probes = trials.probe_states(agent, [t[0] for t in choosing], [t[1] for t in choosing])
    swept = [rate_at(agent, choosing, layer, probes) for layer in layers]
    rates, references = [r for r, _ in swept], [refs for _, refs in swept]
    chosen = layers[int(np.argmax([r.value for r in rates]))]
    rule = ex.claim_layer(agent)
    notes = (
        f"Swept {len(layers)} layers on the first {half} levels; chosen: {chosen} (1a rate "
        f"{max(r.value for r in rates):.2f}); the rule's layer (experiments.claim_layer): "
        f"{rule} ({rates[layers.index(rule)].value:.2f}). Judged on levels drawn after them."
    )
    judge_sequentially(
        judge,
        CLAIM,
        model_id,
        agent,
        lambda part: measure_at(agent, part, chosen),
        outcome,
        effects,
        per_trial=per_trial,
        first=half,
        figures=lambda _t, _m: bars(model_id, layers, rates, rule, chosen, half, references),
        notes=notes,
    )
