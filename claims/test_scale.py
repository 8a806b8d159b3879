"""Claim 3: the steering coefficient's scale -- large ones break behaviour, small ones barely
matter.

The poster's third conclusion, and the maze paper's dose sweep of its top-right vector. Three
claims, declared before any data (issue 14, part 5):

* **3a, coefficients above 10 break behaviour** (the level's own start-state feature vector,
  both signs as two claims): judged only at magnitudes *strictly* above 10 -- :data:`LARGE`,
  15 and 20 in turn by level -- so "above 10 breaks" is not read off trials at exactly 10.
  Where behaviour first breaks comes from a dose sweep over :data:`SWEEP` (0.5 ... 50) on the
  same states, in one batched forward pass: the break rate at each coefficient and the
  smallest breaking coefficient with a level-bootstrap interval are reported beside the
  verdict (effects ``break_rate_c<c>``, ``smallest_breaking_coefficient``; figure
  ``dose_response``).
* **3b, 0.5 is minor where 1 is strong**: half the coefficient must do at most a quarter of
  what the full one does (:data:`MINOR`). The earlier bar, "less than half", is exactly what a
  linear response gives, so it measured curvature around zero, not "minor".
* **3c, the top-right vector above 10 breaks behaviour** (maze agents): the paper's scaling
  words are about the top-right vector, so 3a's rule is applied to it too, with the same sweep
  and, beside it, the mean P(toward the top-right corner) per coefficient -- the paper's
  "0.5 minor, 1 strong, 5 similar" as a reported measurement.

**Break, family-neutrally.** *Coherence* at a state is P(next action starts a shortest path
to some target of the task) (:func:`avec.trials.task_actions`). A uniform-random policy has
coherence ``|task actions| / n_actions`` there -- 0.14-0.29 on DoorKey's seven actions, 0.33-0.67
on the three-action mazes -- so a fixed cut-off of 0.5 asked maze agents to become worse than
chance. The agent's *edge* is its coherence minus the uniform policy's at the same state; a
steered state is **broken** when it keeps less than half the unsteered edge
(:data:`BROKEN`): its coherence falls below the midpoint between its own unsteered coherence
and chance. A state is informative when the unsteered edge is at least :data:`MIN_EDGE`.
Subtracting a feature is meant to suppress its own target, so negative coefficients count only
the targets the feature does not touch.

**References in the dose figure** (reported, not judged: the verdicts above do not use them).
The sweep's break rate is drawn between two bands on the same informative states, each with its
level-clustered interval: *removal* -- the unsteered agent with the vector's physical edit (the
feature removed for 3a; the corridor to the top-right opened for 3c), scored by the same break
rule on the same task actions: what the edit the vector stands for does to coherence; and
*null* -- the judged null arm, a random vector of the judged norm (|c| 15 or 20 x |v|).
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, metrics, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims.conftest import judge_sequentially, maze_model_params, model_params
from claims.test_subtraction import start_vectors
from claims.test_top_right import corner_vectors

LARGE = (15.0, 20.0)
"""Magnitudes 3a and 3c are judged at, strictly above 10; a level's trials take them in turn
by index."""

SWEEP = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 50.0)
"""Magnitudes of the dose sweep reported beside 3a and 3c (it contains :data:`LARGE`)."""

BROKEN = 0.5
"""A steered state is broken when it keeps less than this share of the unsteered edge over the
uniform policy: below the midpoint between the agent's own coherence and chance."""

MIN_EDGE = 0.1
"""Smallest unsteered edge over the uniform policy (coherence minus chance) for a state to have
coherence to lose: a tenth of the probability mass."""

RESAMPLES = 1000
"""Level-bootstrap resamples behind the smallest breaking coefficient's interval."""

MIN_EFFECT = 0.1
"""3b: smallest total variation |c| = 1 must cause at a state for a dose ratio to mean
anything there."""

MINOR = 0.25
"""3b: "minor" is at most a quarter of the |c| = 1 change. A linear response gives exactly
half and a quadratic one a quarter: the bar asks for a response at least quadratic below 1,
which a linear response fails by construction."""

_QUOTE = (
    'Poster, conclusion: "Scaling: Big factors (>10) of the vector mess up the results; Small '
    "factors don't have great impacts\". Maze paper (Turner, Mini et al. 2023), top-right "
    "vector, in SCIENCE.md's summary (not verbatim): coefficient 0.5 minor, 1 strong, 5 "
    'similar, "10 starts to crumble into garbage", 20 goes down/left.'
)

_BREAK = (
    f"Passes when the steered state is broken: it keeps less than {BROKEN} of the unsteered "
    "edge (coherence -- P(next action starts a shortest path to some task target) -- minus "
    "the uniform policy's coherence at the state)."
)


def _large(sign: str) -> verdicts.Claim:
    negative = sign == "negative"
    return verdicts.Claim(
        name=f"3a_large_coefficients_break_behaviour_{sign}",
        statement=(
            f"Adding the feature vector with a {sign} coefficient of magnitude above 10 (15 or "
            "20) breaks the policy: it loses most of its edge over a uniform-random policy in "
            "heading for the targets of its task."
        ),
        quote=_QUOTE,
        source_expects="holds",
        trial=(
            "a state (the start state or a claim 1a probe) of a held-out level, steered with "
            f"{'-' if negative else '+'}|c| x v (the level's own start vector), |c| taking 15, "
            f"20 in turn by level. {_BREAK}"
            + (" The feature's own target is not counted as a task target." if negative else "")
            + f" A dose sweep over |c| in {SWEEP} on the same states is reported beside it."
        ),
        informative=(
            f"the unsteered edge over the uniform policy is at least {MIN_EDGE}"
            + (
                "; FourRooms has no target besides the feature, so its negative trials are all "
                "uninformative."
                if negative
                else "."
            )
        ),
        estimand="rate",
        threshold=0.5,
        threshold_reason="'mess up the results' read as: broken at most coherent states.",
        reference=(
            "null: a random vector of the same norm (|c| x |v|) in place of the steered one, "
            "same rule; the maze paper reports such vectors destroy the policy, so it is "
            "reported, not required to be beaten."
        ),
        lifetime="one state: the scaled start-state vector applied at the state.",
    )


CLAIM_LARGE_POSITIVE = _large("positive")
CLAIM_LARGE_NEGATIVE = _large("negative")

CLAIM_SMALL = verdicts.Claim(
    name="3b_small_coefficients_barely_matter",
    statement=(
        "Coefficient +-0.5 moves the action distribution by at most a quarter of what +-1 "
        "does: the response is at least quadratic below 1, not linear."
    ),
    quote=_QUOTE,
    source_expects="holds",
    trial=(
        "a state (start or claim 1a probe) of a held-out level and a sign (alternating by "
        "level): TV from the unsteered distribution at c = 0.5 x sign and at c = sign. Passes "
        f"when TV(0.5) <= {MINOR} x TV(1)."
    ),
    informative=f"TV at |c| = 1 is at least {MIN_EFFECT}.",
    estimand="rate",
    threshold=0.5,
    threshold_reason=(
        "'0.5 minor, 1 strong' should describe most states where 1 acts; the bar of a quarter "
        "is one a linear response (exactly half) does not pass."
    ),
    reference="null: a random vector of |0.5 v| against one of |v| (same rule).",
    lifetime="one state: the scaled start-state vector applied at the state.",
)

CLAIM_TOP_RIGHT = verdicts.Claim(
    name="3c_top_right_large_coefficients_break_behaviour",
    statement=(
        "Adding the maze's top-right vector with a coefficient above 10 (15 or 20) breaks the "
        "maze policy: it loses most of its edge over a uniform-random policy in heading for "
        "the cheese or the top-right corner."
    ),
    quote=_QUOTE,
    source_expects="holds",
    trial=(
        "a state (the start state or the decision square off the start) of a held-out maze "
        "(cheese anywhere), steered with +|c| x the maze's own top-right vector (claim 8's), "
        f"|c| taking 15, 20 in turn by maze. {_BREAK} A dose sweep over c in {SWEEP} on the "
        "same states reports the break rate and the mean P(toward the top-right corner) -- "
        "the paper's '0.5 minor, 1 strong, 5 similar' -- beside it."
    ),
    informative=f"the unsteered edge over the uniform policy is at least {MIN_EDGE}.",
    estimand="rate",
    threshold=0.5,
    threshold_reason="'10 starts to crumble into garbage' read as: broken at most coherent states.",
    reference="null: a random vector of the same norm in place of the steered one, same rule.",
    lifetime="one state: the scaled start-state vector applied at the state.",
)


def removed(agent, placed):
    """The probe states with the level's feature physically removed (:func:`trials.without`):
    the physical edit a start-state feature vector stands for."""
    return trials.without(agent, placed)


def opened(_agent, placed):
    """The probe states with the corridor to the top-right corner opened
    (:func:`avec.edits.open_top_right`): the physical edit the top-right vector stands for."""
    return [edits.open_top_right(p) for p in placed]


def measure_doses(
    agent, drawn, sign, make_vectors=start_vectors, exclude=None, pull=None, physical=removed
):
    """Coherence at each probe state unsteered, along the sweep, under the null and with the
    vector's physical edit.

    ``sign x SWEEP`` times ``make_vectors(agent, layouts)`` (one per level) and the null of the
    level's judged magnitude, all in one forward pass. Returns, per probe: ``uniform``,
    ``unsteered`` and ``null`` coherence ``(n,)``, ``sweep`` ``(n, len(SWEEP))``, the judged
    magnitude's column ``steered`` ``(n,)``, and ``removal`` ``(n,)``: the unsteered agent on
    ``physical(agent, states)`` (the edit the vector stands for), scored on the same task
    actions -- a figure reference, not part of the verdict; with ``pull`` also ``pull_sweep``,
    P(toward the ``pull`` target) along the sweep, and ``pull_unsteered``."""
    layouts, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = make_vectors(agent, layouts)
    probes = trials.probe_states(agent, layouts, seeds, include_start=True)
    placed = [p.placed for p in probes]
    rows = [p.trial for p in probes]
    judged = [SWEEP.index(LARGE[t % len(LARGE)]) for t in rows]
    null = {
        t: vectors.random_like(sign * LARGE[t % len(LARGE)] * vs[t], seeds[t]) for t in set(rows)
    }
    steering = [sign * m * vs[t] for m in SWEEP for t in rows] + [null[t] for t in rows]
    probs = ex.probabilities(agent, placed * (len(SWEEP) + 1), steering)
    probs = probs.reshape(len(SWEEP) + 1, len(placed), -1)
    plain = ex.probabilities(agent, placed)
    # A pass of its own, so the judged arms' batches (and their numbers) stay as they were.
    edited = ex.probabilities(agent, physical(agent, placed))
    n_actions = plain.shape[1]
    task = [sorted(trials.task_actions(p, exclude)) for p in placed]

    def along(actions, p):
        """P(an action of ``actions[i]``) at probe i: ``(..., n, A)`` -> ``(n, ...)``."""
        return np.stack(
            [p[..., i, np.asarray(a, dtype=np.int64)].sum(axis=-1) for i, a in enumerate(actions)]
        )

    sweep = along(task, probs[:-1])
    unit = np.arange(len(placed))
    out = {
        "agent_state": trials.agent_states(placed),
        "probs_unsteered": plain,
        "probs_steered": probs[judged, unit],
        "uniform": np.array([len(a) / n_actions for a in task]),
        "unsteered": along(task, plain),
        "sweep": sweep,
        "steered": sweep[unit, judged],
        "null": along(task, probs[-1]),
        "removal": along(task, edited),
        "trial": np.array(rows, dtype=np.int64),
        "layouts": layouts,
    }
    if pull is not None:
        toward = [sorted(metrics.target_actions(p, pull)) for p in placed]
        out["pull_sweep"] = along(toward, probs[:-1])
        out["pull_unsteered"] = along(toward, plain)
    return out


def _edge(measured, arm):
    return measured[arm] - measured["uniform"]


def _informative(measured):
    return _edge(measured, "unsteered") >= MIN_EDGE


def broken(measured, arm):
    """``(n,)`` (or ``(n, doses)`` for ``sweep``) whether the arm keeps less than
    :data:`BROKEN` of the unsteered edge over the uniform policy."""
    edge = _edge(measured, "unsteered")
    kept = measured[arm] - (measured["uniform"] if arm != "sweep" else measured["uniform"][:, None])
    return kept < BROKEN * (edge if arm != "sweep" else edge[:, None])


def outcome_large(measured):
    if len(measured["trial"]) == 0:
        return verdicts.no_outcome(measured["layouts"])
    bar = measured["uniform"] + BROKEN * _edge(measured, "unsteered")
    return verdicts.outcome(
        broken(measured, "steered"),
        _informative(measured),
        measured["trial"],
        measured["layouts"],
        {"null": broken(measured, "null")},
        verdicts.Bar("steered", bar, "below"),
    )


def smallest_breaking(breaks, clusters, seed=0):
    """The smallest sweep magnitude at which at least half the informative states break,
    with a 95% level-bootstrap interval (levels resampled, the smallest such magnitude found
    in each resample; percentiles over them). ``breaks``: ``(n, len(SWEEP))`` flags.

    ``None`` when no magnitude of the sweep breaks half the states; an interval end beyond
    the sweep is given as its largest magnitude, and the method says so."""
    index = {c: k for k, c in enumerate(dict.fromkeys(clusters))}
    cluster = np.array([index[c] for c in clusters])
    per_level = np.zeros((len(index), len(SWEEP)))
    np.add.at(per_level, cluster, breaks.astype(float))
    units = np.bincount(cluster, minlength=len(index)).astype(float)
    doses = np.array([*SWEEP, np.inf])

    def first(rates):
        hit = rates >= 0.5
        return doses[np.where(hit.any(axis=-1), hit.argmax(axis=-1), len(SWEEP))]

    point = float(first(per_level.sum(axis=0) / units.sum()))
    if not np.isfinite(point):
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(index), size=(RESAMPLES, len(index)))
    found = first(per_level[picks].sum(axis=1) / units[picks].sum(axis=1)[:, None])
    low, high = np.quantile(found, [0.025, 0.975], method="inverted_cdf")
    method = f"level bootstrap, {RESAMPLES} resamples"
    if not np.isfinite(high):
        high, method = SWEEP[-1], f"{method}; upper end beyond the sweep"
    return stats.Estimate(point, (float(low), float(high)), len(breaks), method)


def effects_large(measured):
    useful = _informative(measured) if len(measured["trial"]) else np.zeros(0, dtype=bool)
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    ones = np.ones(int(useful.sum()))
    found = {
        f"mean_task_intent_{arm}": stats.clustered_ratio(measured[arm][useful], ones, clusters, 0)
        for arm in ("uniform", "unsteered", "steered", "null")
    }
    breaks = broken(measured, "sweep")[useful]
    for k, c in enumerate(SWEEP):
        found[f"break_rate_c{c:g}"] = stats.clustered_rate(breaks[:, k], clusters)
    smallest = smallest_breaking(breaks, clusters)
    if smallest is not None:
        found["smallest_breaking_coefficient"] = smallest
    return found


def sweep_figure(claim, agent, measured, sign, vector, pull=None, edit="feature removed"):
    """The ``dose_response`` figure: break rate (and mean P(toward ``pull``)) against the
    coefficient on the informative states, from the judged measurement, with the claim's
    threshold, the judged magnitudes marked, and two references on the same states as bands:
    the unsteered agent with the vector's physical edit (``edit``) and the judged null."""
    useful = _informative(measured) if len(measured["trial"]) else np.zeros(0, dtype=bool)
    if useful.sum() < 2:
        return {}
    clusters = [measured["layouts"][t].to_ascii() for t in measured["trial"][useful]]
    breaks = broken(measured, "sweep")[useful]
    rates = [stats.clustered_rate(breaks[:, k], clusters) for k in range(len(SWEEP))]
    series = {"broken (share of states)": _series(rates, zero=0.0)}
    if pull is not None:
        ones = np.ones(int(useful.sum()))
        pulls = [
            stats.clustered_ratio(measured["pull_sweep"][useful, k], ones, clusters, seed=0)
            for k in range(len(SWEEP))
        ]
        base = float(measured["pull_unsteered"][useful].mean())
        series[f"mean P(toward {pull})"] = _series(pulls, zero=base)
    judged = ", ".join(f"{c:g}" for c in LARGE)
    references = {
        f"removal: unsteered, {edit} (broken share)": broken(measured, "removal"),
        f"null: random vector of the judged norm, |c| {judged} (broken share)": broken(
            measured, "null"
        ),
    }
    smallest = smallest_breaking(breaks, clusters)
    where = (
        "none of the sweep breaks half the states"
        if smallest is None
        else f"smallest breaking |c| {smallest.value:g} [{smallest.ci95[0]:g}, "
        f"{smallest.ci95[1]:g}]"
    )
    stem = f"dose_response-{vector}-{'minus' if sign < 0 else 'plus'}-{agent.id}"
    return {
        stem: {
            "kind": "dose_response",
            "data": {
                "title": (
                    f"{claim.name}: {agent.id}\n{vector} vector, {int(useful.sum())} informative "
                    f"states; {where}"
                ),
                "xlabel": "coefficient",
                "ylabel": "rate / probability",
                "coefficients": [0.0, *(sign * c for c in SWEEP)],
                "series": series,
                "marks": {f"judged (|c| {judged})": [sign * c for c in LARGE]},
                "thresholds": {
                    f"threshold {claim.threshold:g} (broken share; holds when its CI is above)": (
                        claim.threshold
                    )
                },
                "references": {
                    label: _reference(flags[useful], clusters)
                    for label, flags in references.items()
                },
            },
        }
    }


def _reference(flags, clusters):
    """A figure reference band: the rate of ``flags`` with its level-clustered interval."""
    found = stats.clustered_rate(flags, clusters)
    return {"value": found.value, "ci95": list(found.ci95)}


def _series(estimates, zero):
    """A figure series with the unsteered value at coefficient 0 first."""
    return {
        "value": [zero, *(e.value for e in estimates)],
        "ci95": [[zero, zero], *(list(e.ci95) for e in estimates)],
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
    out |= {f"probs_{a}": probs[a] for a in ("unsteered", "half", "full")}
    out["agent_state"] = trials.agent_states([p.placed for p in probes])
    return {**out, "trial": np.array([p.trial for p in probes], dtype=np.int64), "layouts": layouts}


def outcome_small(measured):
    return verdicts.outcome(
        measured["tv_half"] <= MINOR * measured["tv_full"],
        measured["tv_full"] >= MIN_EFFECT,
        measured["trial"],
        measured["layouts"],
        {"null": measured["tv_random_half"] <= MINOR * measured["tv_random_full"]},
        verdicts.Bar("tv_half", MINOR * measured["tv_full"], "at most"),
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


def _judge_large(judge, claim, model_id, agent, sign, **options):
    exclude = ex.feature_of(agent).target if sign < 0 else None
    judge_sequentially(
        judge,
        claim,
        model_id,
        agent,
        lambda drawn: measure_doses(agent, drawn, sign, exclude=exclude),
        outcome_large,
        effects_large,
        figures=lambda _d, measured: sweep_figure(
            claim, agent, measured, sign, ex.feature_of(agent).vector
        ),
        **options,
    )


@pytest.mark.claim(CLAIM_LARGE_POSITIVE.name)
@pytest.mark.parametrize("model_id", model_params())
def test_positive_coefficients_above_ten_break_the_policy(model_id, load_agent, judge):
    _judge_large(judge, CLAIM_LARGE_POSITIVE, model_id, load_agent(model_id), 1.0)


@pytest.mark.claim(CLAIM_LARGE_NEGATIVE.name)
@pytest.mark.parametrize("model_id", model_params())
def test_negative_coefficients_above_ten_break_the_policy(model_id, load_agent, judge):
    _judge_large(judge, CLAIM_LARGE_NEGATIVE, model_id, load_agent(model_id), -1.0)


@pytest.mark.claim(CLAIM_SMALL.name)
@pytest.mark.parametrize("model_id", model_params())
def test_half_coefficients_do_at_most_a_quarter_of_full_ones(model_id, load_agent, judge):
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


@pytest.mark.claim(CLAIM_TOP_RIGHT.name)
@pytest.mark.parametrize("model_id", maze_model_params())
def test_top_right_coefficients_above_ten_break_the_maze_policy(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        CLAIM_TOP_RIGHT,
        model_id,
        agent,
        lambda drawn: measure_doses(
            agent, drawn, 1.0, corner_vectors, pull="top_right", physical=opened
        ),
        outcome_large,
        effects_large,
        figures=lambda _d, measured: sweep_figure(
            CLAIM_TOP_RIGHT,
            agent,
            measured,
            1.0,
            "top_right",
            pull="top_right",
            edit="corridor to the top-right opened",
        ),
    )
