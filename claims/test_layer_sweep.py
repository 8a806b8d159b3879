"""Claim 9: which layer -- subtracting the feature vector works at *some* layer.

Every other claim patches the layer a written rule picks (:func:`avec.experiments.claim_layer`,
the middle activation on the action path), never one picked by hand after looking. This module
sweeps all of them: at every layer of :func:`avec.experiments.action_path_layers` (the distinct
layers between the observation and the logits; containers, reshapes and the logits themselves
are left out, as that function explains) it runs claim 1's trial -- the trial's own feature
vector, computed at that layer, added with coefficient -1 at every step -- on the first
:data:`SWEEP_TRIALS` trials, all layers in one lockstep batch. The report gets a ``bars``
figure of the pass rate per layer and, in the notes, the strongest layer and the rule's.

Picking the best of a dozen layers and judging it on the same trials would flatter it (the
maximum of noisy rates is biased upward). So the layer is *chosen* on the first half of the
swept trials (highest pass rate, ties to the earliest layer) and *judged* on trials drawn
apart from those: the claim's strategy with the choosing trials filtered out.

Declared before any data: threshold 0.5, as claim 1 (a credible majority of trials pass).
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import experiments as ex
from avec import stats, verdicts
from claims import test_subtraction as subtraction
from claims.conftest import model_params

SWEEP_TRIALS = 50
"""Trials (the first ones drawn) each layer is swept on; the first half chooses the layer."""

CLAIM = verdicts.Claim(
    name="9_layer_sweep_some_layer_removes_pull",
    statement=(
        "At some layer on the agent's action path, adding the feature vector with coefficient "
        "-1 at every step stops the agent from reaching the feature in episodes where, "
        "unsteered, it does."
    ),
    trial=(
        "a layout and a sampling seed, as in claim 1, drawn apart from the trials that chose "
        "the layer. The layer is the one of experiments.action_path_layers with the highest "
        f"claim-1 pass rate on the first half of the first {SWEEP_TRIALS} trials drawn (ties: "
        "the earliest layer). The agent plays the trial unsteered and with -1 x the trial's "
        "own feature vector at that layer, with the same seed; passes when the unsteered "
        "episode reaches the feature and the steered one does not."
    ),
    threshold=0.5,
)


def sweep(agent, trials, layers):
    """``reached`` ``(n,)`` unsteered and ``reached_steered`` ``(n_layers, n)``: claim 1's
    rollouts at each of ``layers``, all in one lockstep batch."""
    feature = ex.feature_of(agent)
    layouts = [layout for layout, _ in trials]
    seeds = [seed for _, seed in trials]
    steering = [None] * len(trials)
    for layer in layers:
        steering += ex.scaled(ex.per_layout_vectors(agent, feature.vector, layouts, layer), -1.0)
    played = ex.play(agent, layouts * (len(layers) + 1), seeds * (len(layers) + 1), steering)
    reached = ex.reached(played, feature.event).reshape(len(layers) + 1, len(trials))
    return {"reached": reached[0], "reached_steered": reached[1:]}


def layer_passes(swept):
    """``(n_layers, n)`` claim 1's predicate per layer and trial."""
    return swept["reached"][None, :] & ~swept["reached_steered"]


def choose(passed):
    """Index of the layer with the highest pass rate in ``(n_layers, n)`` outcomes; ties go to
    the earliest layer."""
    return int(np.argmax(passed.mean(axis=1)))


def measure(agent, trials, layer):
    swept = sweep(agent, trials, [layer])
    return {"reached": swept["reached"], "reached_steered": swept["reached_steered"][0]}


def bars(model_id, layers, rates, rule, chosen, n):
    """The ``bars`` figure: pass rate per layer over the swept trials, with Wilson CIs."""
    labels = [
        name + (" (rule)" if name == rule else "") + (" (chosen)" if name == chosen else "")
        for name in layers
    ]
    return {
        f"layer_sweep-{model_id}": {
            "kind": "bars",
            "data": {
                "title": f"claim 1 pass rate per layer: {model_id} ({n} trials)",
                "labels": labels,
                "value": [r.value for r in rates],
                "ci95": [list(r.ci95) for r in rates],
                "ylabel": "pass rate (unsteered reaches, -1 x vector does not)",
            },
        }
    }


@pytest.mark.claim(CLAIM.name)
@pytest.mark.parametrize("model_id", model_params())
def test_subtracting_the_feature_vector_removes_its_pull_at_some_layer(model_id, load_agent, judge):
    agent = load_agent(model_id)
    strategy = subtraction.trials_of(agent)
    swept_trials = verdicts.draw_trials(strategy)[:SWEEP_TRIALS]
    layers = ex.action_path_layers(agent)
    passed = layer_passes(sweep(agent, swept_trials, layers))
    half = len(swept_trials) // 2
    chosen = layers[choose(passed[:, :half])]
    choosing = {repr(trial) for trial in swept_trials[:half]}
    rates = [stats.proportion(row) for row in passed]
    strongest = choose(passed)
    rule = ex.claim_layer(agent)
    notes = (
        f"Swept {len(layers)} layers on the first {len(swept_trials)} trials. Strongest: "
        f"{layers[strongest]} (pass rate {rates[strongest].value:.2f}); the rule's layer "
        f"(experiments.claim_layer): {rule} ({rates[layers.index(rule)].value:.2f}); chosen on "
        f"the first {half} trials and judged here: {chosen}."
    )
    judge(
        CLAIM,
        model_id,
        strategy.filter(lambda trial: repr(trial) not in choosing),
        lambda trials: measure(agent, trials, chosen),
        subtraction.passes,
        subtraction.reach_effects,
        figures=lambda _trials, _measured: bars(
            model_id, layers, rates, rule, chosen, len(swept_trials)
        ),
        notes=notes,
    )
