"""Claim 3: the steering coefficient's scale -- large ones break behaviour, small ones barely
matter.

The poster's third conclusion, and the maze paper's dose sweep of its top-right vector:
coefficient 0.5 minor, 1 strong, 5 similar, 10 "starts to crumble into garbage", 20 goes
down/left. The vector is the level's own start-state feature vector (claim 1's), judged at the
start state and claim 1a's probe states.

* **3a, incoherence** -- at |c| in {10, 20} the policy stops pursuing the task: P(next action
  starts a shortest path to *some* target of the task) falls below one half. Subtracting a
  feature is meant to suppress its own target, so negative coefficients count only the
  targets the feature does not touch; positive and negative coefficients are two claims.
* **3b, dose-response** -- |c| = 0.5 does less than half of what |c| = 1 does (total
  variation from the unsteered distribution), where |c| = 1 does something.

The 3a(+) test also hands the report a dose-response curve per model: success rate,
feature-reach rate and mean start-state total variation over :data:`DOSES`, on the first
:data:`DOSE_TRIALS` trials, one batched rollout per coefficient.
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import experiments as ex
from avec import metrics, stats, trials, vectors, verdicts
from claims.conftest import judge_sequentially, model_params
from claims.test_subtraction import start_vectors

LARGE = (10.0, 20.0)
"""Magnitudes of claim 3a; a level's trials alternate between them by index."""

COHERENT = 0.5
"""A policy pursues its task at a state when P(next action heads for some task target) is at
least this; it is incoherent below."""

MIN_EFFECT = 0.1
"""3b: smallest total variation |c| = 1 must cause at a state for a dose ratio to mean
anything there."""

HALF = 0.5
"""3b: "minor" is less than half the |c| = 1 change (a linear response gives exactly half)."""

DOSES = (-20.0, -10.0, -5.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
"""Coefficients of the dose-response curve."""

DOSE_TRIALS = 30
"""Trials (the first ones drawn) the dose-response curve is measured on."""

_QUOTE = (
    'Maze paper (Turner, Mini et al. 2023), top-right vector: "0.5 minor, 1 strong, 5 '
    'similar, 10 starts to crumble into garbage, 20 goes down/left". Poster: coefficients '
    "above ~10 break behaviour; small ones barely matter."
)


def _large(sign: str) -> verdicts.Claim:
    negative = sign == "negative"
    return verdicts.Claim(
        name=f"3a_large_coefficients_break_behaviour_{sign}",
        statement=(
            f"Adding the feature vector with a {sign} coefficient of magnitude 10 or 20 makes "
            "the policy incoherent: it no longer heads for any target of its task."
        ),
        quote=_QUOTE,
        source_expects="holds",
        trial=(
            "a state (the start state or a claim 1a probe) of a held-out level, steered with "
            f"{'-' if negative else '+'}|c| x v, |c| alternating 10, 20 by level. Passes when "
            f"P(toward some task target{', the feature excepted' if negative else ''}) < "
            f"{COHERENT}."
        ),
        informative=(
            f"unsteered, the policy heads for such a target there (P >= {COHERENT})"
            + (
                "; FourRooms has no target besides the feature, so its negative trials are all "
                "uninformative."
                if negative
                else "."
            )
        ),
        estimand="rate",
        threshold=0.5,
        threshold_reason="'crumbles into garbage' read as: incoherent at most coherent states.",
        reference=(
            "null: a random vector of the same norm (|c| x |v|) in place of the steered one; "
            "the maze paper reports such vectors destroy the policy."
        ),
        lifetime="one state: the scaled start-state vector applied at the state.",
    )


CLAIM_LARGE_POSITIVE = _large("positive")
CLAIM_LARGE_NEGATIVE = _large("negative")

CLAIM_SMALL = verdicts.Claim(
    name="3b_small_coefficients_barely_matter",
    statement=(
        "Coefficient +-0.5 moves the action distribution by less than half of what +-1 does."
    ),
    quote=_QUOTE,
    source_expects="holds",
    trial=(
        "a state (start or claim 1a probe) of a held-out level and a sign (alternating by "
        "level): TV from the unsteered distribution at c = 0.5 x sign and at c = sign. Passes "
        f"when TV(0.5) < {HALF} x TV(1)."
    ),
    informative=f"TV at |c| = 1 is at least {MIN_EFFECT}.",
    estimand="rate",
    threshold=0.5,
    threshold_reason="'0.5 minor, 1 strong' should describe most states where 1 acts.",
    reference="null: a random vector of |0.5 v| against one of |v| (same rule).",
    lifetime="one state: the scaled start-state vector applied at the state.",
)


def measure_large(agent, drawn, sign=1.0):
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = start_vectors(agent, layouts)
    scale = [sign * LARGE[i % len(LARGE)] for i in range(len(layouts))]
    steer = [c * v for c, v in zip(scale, vs, strict=True)]
    null = [vectors.random_like(v, s) for v, s in zip(steer, seeds, strict=True)]
    probes = trials.probe_states(agent, layouts, seeds, include_start=True)
    probs = trials.arm_probabilities(agent, probes, {"steered": steer, "null": null})
    exclude = ex.feature_of(agent).target if sign < 0 else None
    coherence = {
        name: np.array(
            [
                trials.task_intent(p.placed, row, exclude)
                for p, row in zip(probes, rows, strict=True)
            ]
        )
        for name, rows in probs.items()
    }
    return {
        **coherence,
        "trial": np.array([p.trial for p in probes], dtype=np.int64),
        "layouts": layouts,
    }


def outcome_large(measured):
    return verdicts.outcome(
        measured["steered"] < COHERENT,
        measured["unsteered"] >= COHERENT,
        measured["trial"],
        measured["layouts"],
        {"null": measured["null"] < COHERENT},
    )


def effects_large(measured):
    useful = measured["unsteered"] >= COHERENT
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    ones = np.ones(int(useful.sum()))
    return {
        f"mean_task_intent_{arm}": stats.clustered_ratio(measured[arm][useful], ones, clusters, 0)
        for arm in ("unsteered", "steered", "null")
    }


def measure_small(agent, drawn, half=0.5):
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = start_vectors(agent, layouts)
    signs = [1.0 if i % 2 == 0 else -1.0 for i in range(len(layouts))]
    full = [s * v for s, v in zip(signs, vs, strict=True)]
    rand = [vectors.random_like(v, s) for v, s in zip(vs, seeds, strict=True)]
    arms = {
        "full": full,
        "half": [half * v for v in full],
        "random_full": rand,
        "random_half": [0.5 * r for r in rand],
    }
    probes = trials.probe_states(agent, layouts, seeds, include_start=True)
    probs = trials.arm_probabilities(agent, probes, arms)
    out = {f"tv_{a}": metrics.total_variation(probs["unsteered"], probs[a]) for a in arms}
    return {**out, "trial": np.array([p.trial for p in probes], dtype=np.int64), "layouts": layouts}


def outcome_small(measured):
    return verdicts.outcome(
        measured["tv_half"] < HALF * measured["tv_full"],
        measured["tv_full"] >= MIN_EFFECT,
        measured["trial"],
        measured["layouts"],
        {"null": measured["tv_random_half"] < HALF * measured["tv_random_full"]},
    )


def effects_small(measured):
    useful = measured["tv_full"] >= MIN_EFFECT
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    return {
        "dose_ratio_half_over_full": stats.clustered_ratio(
            measured["tv_half"][useful], measured["tv_full"][useful], clusters, seed=0
        )
    }


def dose_response(agent, drawn):
    """The ``dose_response`` figure of ``agent``: success, feature reach and mean start TV
    against the coefficient, on the first :data:`DOSE_TRIALS` trials (their layouts and seeds;
    Coefficient 0 is the unsteered rollouts."""
    feature = ex.feature_of(agent)
    subset = drawn[:DOSE_TRIALS]
    n = len(subset)
    layouts = [layout for layout, _ in subset]
    seeds = [seed for _, seed in subset]
    plain = ex.play(agent, layouts, seeds)
    per_layout = vectors.per_layout(agent, feature.vector, layouts, ex.claim_layer(agent))
    success, reach, tv = [], [], []
    for c in DOSES:
        if c == 0.0:
            success.append(stats.proportion(np.array([t.success for t in plain])))
            reach.append(stats.proportion(ex.reached(plain, feature.event)))
            tv.append(stats.Estimate(0.0, (0.0, 0.0), n, "exact"))
            continue
        steer = ex.scaled(per_layout, c)
        played = ex.play(agent, layouts, seeds, steer)
        success.append(stats.proportion(np.array([t.success for t in played])))
        reach.append(stats.proportion(ex.reached(played, feature.event)))
        tv.append(stats.bootstrap_mean(ex.total_variation_at_start(agent, layouts, steer), seed=0))

    def series(estimates):
        return {"value": [e.value for e in estimates], "ci95": [list(e.ci95) for e in estimates]}

    curves = {"success": series(success)}
    # FourRooms and CheeseMaze end the episode at their feature: reach would repeat success.
    if feature.event != "goal_reached":
        curves[f"reached {feature.vector}"] = series(reach)
    curves["start TV (mean)"] = series(tv)
    return {
        f"dose_response-{agent.id}": {
            "kind": "dose_response",
            "data": {
                "title": f"{agent.id}: {feature.vector} vector, {n} trials",
                "xlabel": "coefficient",
                "ylabel": "rate / total variation",
                "coefficients": list(DOSES),
                "series": curves,
                "marks": {
                    "3a judges |c| = " + ", ".join(f"{c:g}" for c in LARGE): [
                        c for c in DOSES if abs(c) in LARGE
                    ],
                    "3b judges +-0.5 and +-1": [-1.0, -0.5, 0.5, 1.0],
                },
            },
        }
    }


@pytest.mark.claim(CLAIM_LARGE_POSITIVE.name)
@pytest.mark.parametrize("model_id", model_params())
def test_large_positive_coefficients_make_the_policy_incoherent(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_LARGE_POSITIVE,
        model_id,
        agent,
        lambda drawn: measure_large(agent, drawn, 1.0),
        outcome_large,
        effects_large,
        # The curves stand on the first chunk's trials: every further chunk only adds rollouts.
        figures=lambda drawn, _measured: dose_response(agent, drawn[: trials.trial_count()]),
    )


@pytest.mark.claim(CLAIM_LARGE_NEGATIVE.name)
@pytest.mark.parametrize("model_id", model_params())
def test_large_negative_coefficients_make_the_policy_incoherent(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_LARGE_NEGATIVE,
        model_id,
        agent,
        lambda drawn: measure_large(agent, drawn, -1.0),
        outcome_large,
        effects_large,
    )


@pytest.mark.claim(CLAIM_SMALL.name)
@pytest.mark.parametrize("model_id", model_params())
def test_half_coefficients_do_less_than_half_of_full_ones(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_SMALL,
        model_id,
        agent,
        lambda drawn: measure_small(agent, drawn),
        outcome_small,
        effects_small,
    )
