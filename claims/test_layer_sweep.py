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
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import experiments as ex
from avec import stats, trials, vectors, verdicts
from claims import test_subtraction as subtraction
from claims.conftest import judge_sequentially, model_params

CLAIM = verdicts.Claim(
    name="9_layer_sweep_some_layer_removes_pull",
    statement=(
        "At some layer on the agent's action path, subtracting the level's start-state feature "
        "vector stops the agent heading for the feature at states away from the start."
    ),
    quote=subtraction.QUOTE,
    source_expects="holds",
    trial=(
        "claim 1a's trial on levels drawn after the first half chunk, at the layer of "
        "experiments.action_path_layers with the highest 1a rate on the first half (ties: the "
        f"earliest). Passes when P(toward the feature) falls below {subtraction.HEADS_FOR}."
    ),
    informative=subtraction.CLAIM_STATES.informative,
    estimand="rate",
    threshold=0.5,
    threshold_reason="as claim 1a: most informative probes should flip.",
    reference=subtraction.CLAIM_STATES.reference,
    lifetime=subtraction.CLAIM_STATES.lifetime,
)


def measure_at(agent, drawn, layer, probes=None):
    """Claim 1a's measurement with the vector computed and added at ``layer``."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = vectors.per_layout(agent, ex.feature_of(agent).vector, layouts, layer)
    probes = trials.probe_states(agent, layouts, seeds) if probes is None else probes
    if not probes:
        return {"trial": np.zeros(0, dtype=np.int64), "layouts": layouts}
    measured = trials.measure_states(agent, probes, ex.scaled(vs, -1.0), seeds, sign_aware=True)
    return {**measured, "layouts": layouts}


def _rate(flags):
    return stats.proportion(flags) if len(flags) else stats.Estimate(0.0, (0.0, 1.0), 0, "none")


def rate_at(agent, drawn, layer, probes):
    """The 1a rate at ``layer`` among informative probes, and the removal and null
    references' rates on the same probes."""
    found = subtraction.outcome_states(measure_at(agent, drawn, layer, probes))
    useful = found.informative
    references = {name: _rate(arm[useful]) for name, arm in found.references.items()}
    return _rate(found.passed[useful]), references


def bars(model_id, layers, rates, rule, chosen, n, references):
    """The ``bars`` figure: 1a rate per layer on the choosing levels, with Wilson CIs, the
    removal reference (the same at every layer) as a line, the null's rate per layer as
    markers, and the threshold."""
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
                "lines": {
                    f"threshold {CLAIM.threshold:g}": CLAIM.threshold,
                    **({"removal reference": removal[0]} if removal else {}),
                },
                "markers": {
                    "null reference": [r["null"].value if "null" in r else None for r in references]
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
        subtraction.outcome_states,
        subtraction.effects_states,
        per_trial=per_trial,
        first=half,
        figures=lambda _t, _m: bars(model_id, layers, rates, rule, chosen, half, references),
        notes=notes,
    )
