"""Claim 8: the top-right vector pulls the maze agent to the top-right corner (CheeseMaze).

The maze paper's *top-right vector* (Turner, Mini et al. 2023) is the activations on the maze
with a corridor opened to the top-right corner minus those on the maze itself, at the start
state. Added, it pulled the agent top-right; subtracted, it did ~nothing; and it worked on
other mazes than its own. Its scale: coefficient 0.5 minor, 1 strong, 5 similar, 10 starts to
crumble into garbage, 20 goes down/left -- the ``dose_response`` figure redraws that curve for
each model on the first :data:`DOSE_TRIALS` trials, with 8a's pass rate per coefficient between
8a's two references on the same mazes (the corridor physically opened; a random vector of the
steered norm) and 8a's threshold.

Vectors are computed at the claim layer (:func:`avec.experiments.claim_layer`) on the trial's
own maze (8a, 8b) or on another maze (8c) and added at every step. Intent is measured where the
paper measured it, at the decision square (:func:`avec.experiments.decision_intents`); mazes
are drawn with the cheese anywhere and only where a decision square exists, so the corner and
the cheese pull apart and the intent is defined.

Declared before any data (not tuned afterwards):

* :data:`MARGIN` 0.1 -- a tenth of the probability mass at the decision square: an intent that
  moves by more is *raised*, by at most that it changed *little* (claim 7 uses the same number).
* Thresholds 0.5: the claims are about the typical maze; they hold when a credible majority of
  trials pass (95% lower bound at least one half), as claim 1.
* Against the null (issue 14): 8a asserts an effect, so it holds only where the vector raises
  the pull at more mazes than a random vector of its norm does
  (:data:`avec.verdicts.NULL_RULE`). 8b asserts the *absence* of one, so its verdict is not
  held to beat a null; but the effect its judged mazes presuppose -- +1 x the vector moves
  P(top-right) there -- must be the vector's: a maze counts only where +v moves it by more than
  :data:`MARGIN` *and* more than +1 x a random vector of its norm does (else "the vector is
  live" could be any perturbation's doing).
"""

from __future__ import annotations

import numpy as np
import pytest

from avec import edits, metrics, stats, trials, vectors, verdicts
from avec import experiments as ex
from claims.conftest import judge_sequentially, maze_model_params

MARGIN = 0.1
"""Smallest rise of P(top-right | decision square) that counts as raised; largest change that
counts as little."""

DOSE_COEFFICIENTS = (-1.0, 0.0, 0.5, 1.0, 5.0, 10.0, 20.0)
"""Coefficients of the dose-response figure: the paper's 0.5, 1, 5, 10, 20, with -1 and 0."""

DOSE_TRIALS = 50
"""Trials (the first ones drawn) behind the dose-response figure."""

_QUOTE = (
    'SCIENCE.md, summarising the maze paper (Turner, Mini et al. 2023): "Top-right vector: '
    "activations on the maze with a corridor opened to the top-right corner minus the "
    "original maze. Adding it pulls the agent top-right; subtracting it does ~nothing. "
    "Coefficient 0.5 minor, 1 strong, 5 similar, 10 starts to crumble into garbage, 20 goes "
    'down/left." Poster: "Adding a \'Top-right vector\' - Subtracting has no effect" and '
    "\"'Top-right vector' transfers across mazes!\""
)

HEADS_TOP_RIGHT = 0.5
"""Cut-off: a maze where the unsteered agent already heads top-right at the decision square
with P(top-right) above this has little room to rise and is not informative for 8a/8c."""

COEFFICIENTS = (1.0, 2.0, 5.0)
"""8a's coefficients, the paper's 'strong' range; a maze's trial takes them in turn by index."""

SHARE = 0.5
"""8c: a transferred vector must give at least half of the maze's own vector's rise."""

_MAZES = (
    "a held-out maze (cheese anywhere) whose decision square is not the start cell (at the "
    "start cell adding a maze's own top-right vector *is* opening the corridor, by arithmetic)"
)

RAISES = verdicts.Claim(
    name="8a_top_right_raises_pull",
    statement=(
        "Adding the top-right vector (coefficients 1, 2, 5) raises P(top-right | decision "
        "square) on mazes where the agent does not already head there."
    ),
    quote=_QUOTE,
    source_expects="holds",
    trial=(
        f"{_MAZES}, and a coefficient from {COEFFICIENTS} in turn. The maze's top-right vector "
        f"times the coefficient is added at the decision square; passes when P(top-right | "
        f"decision square) rises by more than {MARGIN}. The corner-reach rate over whole "
        "episodes (+1 x the vector at every step) is reported as an effect."
    ),
    informative=f"unsteered P(top-right | decision square) <= {HEADS_TOP_RIGHT}.",
    estimand="rate",
    threshold=0.5,
    threshold_reason="'pulls the agent top-right' should describe most mazes with room to rise.",
    reference=(
        "removal-style reference: the corridor physically opened (edits.open_top_right), same "
        "rule; null: a random vector of the steered vector's norm, same rule: the vector must "
        "raise the pull at more mazes than it does."
    ),
    lifetime="one state (the decision square); every step for the corner-reach effect.",
    asserts_effect=True,
)

SUBTRACTION = verdicts.Claim(
    name="8b_top_right_subtraction_little_effect",
    statement=(
        "Subtracting the top-right vector barely changes where the agent heads at the decision "
        "square."
    ),
    quote=_QUOTE,
    source_expects="holds",
    trial=(
        f"{_MAZES}. Passes when -1 x its top-right vector changes P(cheese | decision square) "
        f"and P(top-right | decision square) by at most {MARGIN} each."
    ),
    informative=(
        f"the vector is live there: +1 x it moves P(top-right | decision square) by more than "
        f"{MARGIN} and by more than +1 x a random vector of its norm does."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason="'does ~nothing' should describe most mazes where the vector is live.",
    reference="null: -1 x a random vector of its norm, same rule.",
    lifetime="one state: the decision square.",
)

TRANSFER = verdicts.Claim(
    name="8c_top_right_transfers",
    statement=(
        "The top-right vector of another maze, added on a maze, raises P(top-right | decision "
        "square) there by at least half as much as the maze's own top-right vector does."
    ),
    quote=_QUOTE,
    source_expects="holds",
    trial=(
        f"{_MAZES}, and a source maze (held-out, other walls). Passes when +1 x the source's "
        f"vector raises P(top-right | decision square) by at least {SHARE} x the rise of +1 x "
        "the maze's own vector."
    ),
    informative=(
        f"unsteered P(top-right | decision square) <= {HEADS_TOP_RIGHT} and the own vector "
        f"raises it by more than {MARGIN}."
    ),
    estimand="rate",
    threshold=0.5,
    threshold_reason="'transfers' read as: keeps most of the own-vector effect on most mazes.",
    reference=(
        "own-vector reference: passes by construction on informative mazes; null: a random "
        "vector of the source vector's norm, same rule."
    ),
    lifetime="one state: the decision square.",
)

LEVELS = 5
"""Mazes drawn per wanted trial: about one in five has a decision square off the start."""


def _off_start(maze):
    state = metrics.decision_state(maze)
    return state is not None and state[0] != maze.agent


def off_start(layouts, seeds, start=0):
    """``(maze, seed, index in the draw)`` trials: the mazes whose decision square is off the
    start."""
    pairs = zip(layouts, seeds, strict=True)
    return [(m, s, start + i) for i, (m, s) in enumerate(pairs) if _off_start(m)]


def corner_vectors(agent, mazes):
    return vectors.per_layout(agent, "top_right", mazes, ex.claim_layer(agent))


def _base(agent, mazes):
    measured = {"layouts": list(mazes), "trial": np.arange(len(mazes))}
    measured["p_cheese"], measured["p_top_right"] = ex.decision_intents(agent, mazes)
    if mazes:
        # The decision square, marked on counterexample figures.
        measured["agent_state"] = trials.agent_states(
            [edits.move_agent(m, *metrics.decision_state(m)) for m in mazes]
        )
    return measured


def measure_raise(agent, drawn):
    """8a's arms; the coefficient cycles through :data:`COEFFICIENTS` by the maze's index in
    the draw."""
    mazes, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = corner_vectors(agent, mazes)
    coef = [COEFFICIENTS[t[2] % len(COEFFICIENTS)] for t in drawn]
    steer = [c * v for c, v in zip(coef, vs, strict=True)]
    measured = _base(agent, mazes)
    measured["coefficient"] = np.array(coef)
    measured["p_top_right_steered"] = ex.decision_intents(agent, mazes, steer)[1]
    # P(action) on the decision square, for counterexample figures.
    square = [edits.move_agent(m, *metrics.decision_state(m)) for m in mazes]
    if square:
        measured["probs_unsteered"] = ex.probabilities(agent, square)
        measured["probs_steered"] = ex.probabilities(agent, square, steer)
    null = [vectors.random_like(v, s) for v, s in zip(steer, seeds, strict=True)]
    measured["p_top_right_null"] = ex.decision_intents(agent, mazes, null)[1]
    # The corridor physically opened, agent on the original decision square: P(next action
    # starts a shortest path to the corner) in the opened maze.
    opened = [edits.move_agent(edits.open_top_right(m), *metrics.decision_state(m)) for m in mazes]
    probs = ex.probabilities(agent, opened)
    measured["p_top_right_opened"] = np.array(
        [metrics.intent_at_start(o, p, "top_right") for o, p in zip(opened, probs, strict=True)]
    )
    unsteered = ex.play(agent, mazes, seeds)
    measured["corner"] = ex.reached(unsteered, "top_right_reached")
    measured["corner_steered"] = ex.reached(ex.play(agent, mazes, seeds, vs), "top_right_reached")
    return measured


def raise_outcome(measured):
    base = measured["p_top_right"]
    return verdicts.outcome(
        measured["p_top_right_steered"] - base > MARGIN,
        base <= HEADS_TOP_RIGHT,
        measured["trial"],
        measured["layouts"],
        {
            "removal": measured["p_top_right_opened"] - base > MARGIN,
            "null": measured["p_top_right_null"] - base > MARGIN,
        },
        verdicts.Bar("p_top_right_steered", base + MARGIN, "above"),
    )


def raise_effects(measured):
    useful = measured["p_top_right"] <= HEADS_TOP_RIGHT
    found = {}
    if useful.sum() >= 2:
        for c in COEFFICIENTS:
            keep = useful & (measured["coefficient"] == c)
            if keep.sum() >= 2:
                found[f"mean_rise_at_{c:g}"] = stats.bootstrap_mean(
                    measured["p_top_right_steered"][keep] - measured["p_top_right"][keep], seed=0
                )
        found["corner_rate"] = stats.proportion(measured["corner"][useful])
        found["corner_rate_steered"] = stats.proportion(measured["corner_steered"][useful])
    return found


def measure_subtraction(agent, drawn):
    mazes, seeds = [t[0] for t in drawn], [t[1] for t in drawn]
    vs = corner_vectors(agent, mazes)
    measured = _base(agent, mazes)
    measured["p_top_right_plus"] = ex.decision_intents(agent, mazes, vs)[1]
    found = ex.decision_intents(agent, mazes, ex.scaled(vs, -1.0))
    measured["p_cheese_steered"], measured["p_top_right_steered"] = found
    noise = [vectors.random_like(v, s) for v, s in zip(vs, seeds, strict=True)]
    measured["p_top_right_plus_null"] = ex.decision_intents(agent, mazes, noise)[1]
    null = ex.scaled(noise, -1.0)
    measured["p_cheese_null"], measured["p_top_right_null"] = ex.decision_intents(
        agent, mazes, null
    )
    return measured


def live(measured):
    """``(n,)`` +1 x the vector moves P(top-right) by more than :data:`MARGIN` and more than
    +1 x the random vector of its norm does."""
    own = np.abs(measured["p_top_right_plus"] - measured["p_top_right"])
    noise = np.abs(measured["p_top_right_plus_null"] - measured["p_top_right"])
    return (own > MARGIN) & (own > noise)


def _little(measured, arm):
    return (np.abs(measured[f"p_top_right_{arm}"] - measured["p_top_right"]) <= MARGIN) & (
        np.abs(measured[f"p_cheese_{arm}"] - measured["p_cheese"]) <= MARGIN
    )


def subtraction_outcome(measured):
    return verdicts.outcome(
        _little(measured, "steered"),
        live(measured),
        measured["trial"],
        measured["layouts"],
        {"null": _little(measured, "null")},
    )


def subtraction_effects(measured):
    return {
        "p_top_right_change_mean": stats.bootstrap_mean(
            measured["p_top_right_steered"] - measured["p_top_right"], seed=0
        ),
        "p_cheese_change_mean": stats.bootstrap_mean(
            measured["p_cheese_steered"] - measured["p_cheese"], seed=0
        ),
    }


def transfer_trials_of(agent, layouts, seeds, start=0):
    """``(maze played, source maze, seed)``: the mazes whose decision square is off the
    start, each with the source of its index in a disjoint held-out seed range; pairs with
    the same walls are dropped."""
    sources, _ = trials.held_out_layouts(agent, start + len(layouts), offset=2**20, start=start)
    return [
        (m, sources[k - start], s)
        for m, s, k in off_start(layouts, seeds, start)
        if m.walls != sources[k - start].walls
    ]


def measure_transfer(agent, drawn):
    mazes = [m for m, _, _ in drawn]
    source = corner_vectors(agent, [src for _, src, _ in drawn])
    measured = _base(agent, mazes)
    measured["p_top_right_steered"] = ex.decision_intents(agent, mazes, source)[1]
    measured["p_top_right_own"] = ex.decision_intents(agent, mazes, corner_vectors(agent, mazes))[1]
    null = [vectors.random_like(v, s) for v, (_, _, s) in zip(source, drawn, strict=True)]
    measured["p_top_right_null"] = ex.decision_intents(agent, mazes, null)[1]
    return measured


def transfer_outcome(measured):
    base = measured["p_top_right"]
    own = measured["p_top_right_own"] - base
    return verdicts.outcome(
        measured["p_top_right_steered"] - base >= SHARE * own,
        (base <= HEADS_TOP_RIGHT) & (own > MARGIN),
        measured["trial"],
        measured["layouts"],
        {"null": measured["p_top_right_null"] - base >= SHARE * own},
        verdicts.Bar("p_top_right_steered", base + SHARE * own, "at least"),
    )


def transfer_effects(measured):
    base = measured["p_top_right"]
    useful = (base <= HEADS_TOP_RIGHT) & (measured["p_top_right_own"] - base > MARGIN)
    if useful.sum() < 2:
        return {}
    clusters = [m.to_ascii() for m in np.asarray(measured["layouts"], dtype=object)[useful]]
    return {
        "share_of_own_rise": stats.clustered_ratio(
            (measured["p_top_right_steered"] - base)[useful],
            (measured["p_top_right_own"] - base)[useful],
            clusters,
            seed=0,
        )
    }


def dose_response(agent, drawn, base):
    """``{"p_top_right": [...], "corner": [...], "raised": [...]}`` estimates per
    :data:`DOSE_COEFFICIENTS` on ``drawn`` (all coefficients' rollouts in one lockstep batch);
    ``raised`` is 8a's pass rate -- P(top-right | decision square) up by more than
    :data:`MARGIN` from ``base`` (the unsteered one, ``(n,)``) -- on the mazes 8a finds
    informative."""
    mazes = [t[0] for t in drawn]
    seeds = [t[1] for t in drawn]
    vectors = corner_vectors(agent, mazes)
    steering = [ex.scaled(vectors, c) for c in DOSE_COEFFICIENTS]
    intents = [ex.decision_intents(agent, mazes, s)[1] for s in steering]
    played = ex.play(
        agent, mazes * len(steering), seeds * len(steering), [v for s in steering for v in s]
    )
    corner = ex.reached(played, "top_right_reached").reshape(len(steering), len(mazes))
    useful = base <= HEADS_TOP_RIGHT
    clusters = [m.to_ascii() for m, keep in zip(mazes, useful, strict=True) if keep]
    found = {
        "p_top_right": [stats.bootstrap_mean(p, seed=0) for p in intents],
        "corner": [stats.proportion(row) for row in corner],
    }
    if useful.any():
        found["raised"] = [
            stats.clustered_rate((p - base > MARGIN)[useful], clusters) for p in intents
        ]
    return found


def dose_figure(agent, drawn, measured):
    """The ``dose_response`` figure on the first :data:`DOSE_TRIALS` mazes: mean P(top-right |
    decision square), the corner-reach rate and 8a's pass rate against the coefficient, with
    8a's coefficients marked, its threshold, and its two references on the same mazes as
    bands (the corridor physically opened; a random vector of the steered norm)."""
    n = min(len(drawn), DOSE_TRIALS)
    base = measured["p_top_right"][:n]
    found = dose_response(agent, drawn[:n], base)
    useful = base <= HEADS_TOP_RIGHT
    clusters = [t[0].to_ascii() for t, keep in zip(drawn[:n], useful, strict=True) if keep]
    series = {
        "mean P(top-right | decision square)": _series(found["p_top_right"]),
        "top-right corner reached": _series(found["corner"]),
    }
    if "raised" in found:
        series[f"8a pass rate: P(top-right) up > {MARGIN:g} (informative mazes)"] = _series(
            found["raised"]
        )
    references = {}
    for label, arm in (
        ("removal: corridor to the top-right opened, unsteered", "p_top_right_opened"),
        ("null: random vector of the steered norm (c 1, 2, 5)", "p_top_right_null"),
    ):
        if useful.sum():
            rate = stats.clustered_rate((measured[arm][:n] - base > MARGIN)[useful], clusters)
            references[f"{label} (8a pass rate)"] = {"value": rate.value, "ci95": list(rate.ci95)}
    return {
        f"dose_response-top_right-{agent.id}": {
            "kind": "dose_response",
            "data": {
                "title": (
                    f"{RAISES.name}: {agent.id}\ntop-right vector, {n} mazes "
                    f"({int(useful.sum())} informative for 8a)"
                ),
                "xlabel": "coefficient of the top-right vector",
                "ylabel": "rate / probability",
                "coefficients": list(DOSE_COEFFICIENTS),
                "series": series,
                "marks": {
                    "8a judges (c " + ", ".join(f"{c:g}" for c in COEFFICIENTS) + ")": (
                        list(COEFFICIENTS)
                    )
                },
                "thresholds": {
                    f"8a threshold {RAISES.threshold:g} (pass rate; holds when its CI is above)": (
                        RAISES.threshold
                    )
                },
                "references": references,
            },
        }
    }


def _series(estimates):
    return {"value": [e.value for e in estimates], "ci95": [list(e.ci95) for e in estimates]}


@pytest.mark.claim(RAISES.name)
@pytest.mark.parametrize("model_id", maze_model_params())
def test_adding_the_top_right_vector_pulls_the_agent_top_right(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        RAISES,
        model_id,
        agent,
        lambda drawn: measure_raise(agent, drawn),
        raise_outcome,
        raise_effects,
        per_trial=LEVELS,
        make=off_start,
        figures=lambda drawn, measured: dose_figure(agent, drawn, measured),
    )


@pytest.mark.claim(SUBTRACTION.name)
@pytest.mark.parametrize("model_id", maze_model_params())
def test_subtracting_the_top_right_vector_does_little(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        SUBTRACTION,
        model_id,
        agent,
        lambda drawn: measure_subtraction(agent, drawn),
        subtraction_outcome,
        subtraction_effects,
        per_trial=LEVELS,
        make=off_start,
    )


@pytest.mark.claim(TRANSFER.name)
@pytest.mark.parametrize("model_id", maze_model_params())
def test_the_top_right_vector_transfers_across_mazes(model_id, load_agent, judge):
    agent = load_agent(model_id)
    judge_sequentially(
        judge,
        TRANSFER,
        model_id,
        agent,
        lambda drawn: measure_transfer(agent, drawn),
        transfer_outcome,
        transfer_effects,
        per_trial=LEVELS,
        make=lambda layouts, seeds, start: transfer_trials_of(agent, layouts, seeds, start),
    )
