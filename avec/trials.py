"""Estimation trials and the states a claim is judged at.

Two things every claim needs before it measures anything:

* **Levels users meet.** :func:`held_out_layouts` takes levels from the family's own generator
  on held-out seeds (``envs.HELD_OUT_SEED_START + offset``, in order), keeping those whose
  start view shows the feature. Hypothesis does not *generate* them: the record must not
  depend on its version or its taste for simple examples. :func:`sequential` draws them in
  chunks of the active profile's ``max_examples`` (``dev`` 20, ``ci`` 200) until the claim has
  that many *informative* trials (issue #7 asks for 200), its declared cap of chunks
  (:attr:`avec.verdicts.Claim.max_chunks`), or a chunk would bring no new level:
  DoorKey-5x5 and LavaGapS7 have a few dozen distinct levels, so one chunk covers all of
  them, repeats included as the generator makes them; intervals cluster trials by level
  (:mod:`avec.stats`). The report's notes say where each claim x model stopped and why.
* **States away from the vector's source.** At the start state "subtract the vector" *is*
  "remove the feature" (A - (A - B) = B by arithmetic). :func:`probe_states` gives the states
  where the question is open: on mazes the decision square when it is not the start cell (the
  maze paper's measure); on egocentric families the states 1-3 steps along the agent's own
  unsteered path, before it reaches the feature.

:func:`measure_states` then reads, at each probe state, the intent toward the feature under
four arms: unsteered, steered, the feature removed from the layout (the best any vector can
do) and a norm-matched random vector (the null).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import settings

from avec import edits, envs, families, generators, metrics, rollouts, vectors
from avec import experiments as ex
from avec.layouts import DIRECTIONS, CheeseMazeLayout, Layout
from avec.vectors import SteeringVector

SCAN = 100
"""Seeds scanned per trial wanted before giving up on finding levels that show the feature."""

PATH_STEPS = (1, 2, 3)
"""Steps along the unsteered path at which egocentric agents are probed."""


def trial_count() -> int:
    """The active Hypothesis profile's ``max_examples``: the informative trials a claim x model
    draws for, and the levels per chunk of :func:`sequential` (times the claim's levels per
    trial)."""
    return int(settings().max_examples)


class _Stream:
    """Held-out levels of one agent's family (at one size, from one seed offset) that show the
    feature, in seed order, extended on demand: every claim on a model reads prefixes of the
    same stream, so levels are generated and checked once per worker."""

    def __init__(self, agent: Any, offset: int, size: int) -> None:
        self.agent, self.size = agent, size
        self.first = self.next_seed = envs.HELD_OUT_SEED_START + offset
        self.layouts: list[Layout] = []
        self.seeds: list[int] = []

    def extend(self, n: int) -> None:
        """Scan seeds in order until ``n`` levels show the feature (at most ``SCAN * n``)."""
        options = families.get(self.agent.family).trial_options
        feature = ex.feature_of(self.agent).vector
        while len(self.layouts) < n and self.next_seed < self.first + SCAN * n:
            batch_seeds = list(
                range(self.next_seed, self.next_seed + max(n - len(self.layouts), 64))
            )
            batch = [
                generators.generate(self.agent.family, self.size, s, **options) for s in batch_seeds
            ]
            shown = ex.shows_feature_many(self.agent, feature, batch)
            for layout, seed, keep in zip(batch, batch_seeds, shown, strict=True):
                if keep and len(self.layouts) < n:
                    self.layouts.append(layout)
                    self.seeds.append(seed)
                    self.next_seed = seed + 1
            if len(self.layouts) < n:
                self.next_seed = batch_seeds[-1] + 1
        if not self.layouts:
            raise ValueError(
                f"no {self.agent.family} level of size {self.size} shows the {feature}"
            )


_STREAMS: dict[tuple[str, int, int], _Stream] = {}


def _stream(agent: Any, offset: int, size: int) -> _Stream:
    key = (agent.id, offset, size)
    if key not in _STREAMS:
        _STREAMS[key] = _Stream(agent, offset, size)
    return _STREAMS[key]


def held_out_layouts(
    agent: Any, n: int | None = None, offset: int = 0, size: int | None = None, start: int = 0
) -> tuple[list[Layout], list[int]]:
    """Held-out levels ``start`` to ``n`` of the agent's family (at ``size``, default its own)
    whose start view shows the feature, in seed order, and their generator seeds (also used
    as sampling seeds). A prefix of a longer draw is the shorter draw.

    CheeseMaze levels put the cheese anywhere, not only in the top-right region the agent
    trained on: only there do its two drives pull apart (the maze paper's evaluation).
    """
    n = trial_count() if n is None else n
    stream = _stream(agent, offset, agent.size if size is None else size)
    stream.extend(n)
    return list(stream.layouts[start:n]), list(stream.seeds[start:n])


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One measurement of all trials from measurements of consecutive chunks of them.

    The conventions every claim's measurement follows: ``layouts`` lists the chunk's trial
    levels; ``trial`` indexes them per judged unit (offset here by the trials before the
    chunk); every other array or list has one row per unit or per trial and is concatenated;
    nested dicts merge the same way; anything else must be equal in every chunk. A chunk
    without units (``trial`` empty) may lack the per-unit keys.
    """
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(p["layouts"]) for p in parts[:-1]])
    out: dict[str, Any] = {}
    keys = list(dict.fromkeys(k for p in parts for k in p))
    for key in keys:
        present = [(p, off) for p, off in zip(parts, offsets, strict=True) if key in p]
        for p in parts:
            if key not in p and len(p.get("trial", [0])):
                raise ValueError(f"chunk measurements disagree: one with units lacks {key!r}")
        values = [p[key] for p, _ in present]
        if key == "trial":
            out[key] = np.concatenate([np.asarray(p[key]) + off for p, off in present])
        elif isinstance(values[0], np.ndarray):
            out[key] = np.concatenate(values)
        elif isinstance(values[0], list | tuple):
            out[key] = [x for v in values for x in v]
        elif isinstance(values[0], dict):
            out[key] = merge([{**v, "layouts": [], "trial": np.zeros(0)} for v in values])
            out[key].pop("layouts"), out[key].pop("trial")
        elif all(v == values[0] for v in values):
            out[key] = values[0]
        else:
            raise ValueError(f"cannot merge measurement {key!r}: it differs between chunks")
    return out


@dataclass(frozen=True)
class Drawn:
    """The trials a claim drew sequentially, their measurement, and why drawing stopped."""

    trials: list[Any]
    """Every trial drawn, in seed order."""
    measured: dict[str, Any]
    """The measurement of all of them (chunks merged by :func:`merge`)."""
    informative: int
    """Informative units among them."""
    stopped: str
    """Why drawing stopped: ``target reached``, ``cap reached`` or ``level space
    exhausted``, with the numbers."""

    def measure(self, fresh: Callable[[list[Any]], dict[str, Any]]) -> Callable:
        """``measure`` for the judge: these trials' measurement, anything else measured
        afresh (a single trial while shrinking)."""

        def measure(drawn: list[Any]) -> dict[str, Any]:
            return self.measured if drawn is self.trials else fresh(drawn)

        return measure

    def note(self) -> str:
        return f"Trials drawn sequentially: {len(self.trials)} drawn, {self.stopped}."


def indexed(layouts: Sequence[Layout], seeds: Sequence[int], start: int) -> list[Any]:
    """``(layout, seed, index in the whole draw)`` trials: a ``make`` for :func:`sequential`
    when a measurement treats the first trials of the draw apart."""
    pairs = zip(layouts, seeds, strict=True)
    return [(lay, seed, start + i) for i, (lay, seed) in enumerate(pairs)]


def sequential(
    agent: Any,
    claim: Any,
    measure: Callable[[list[Any]], dict[str, Any]],
    outcome: Callable[[dict[str, Any]], Any],
    per_trial: int = 1,
    make: Callable[[list[Layout], list[int], int], list[Any]] | None = None,
    first: int = 0,
) -> Drawn:
    """Draw held-out levels in seed order, one chunk at a time, until the claim has its
    target of informative units, its cap of chunks, or the level space is used up.

    * a chunk is ``per_trial * trial_count()`` levels (ci: 200 trials' worth; mazes draw
      five levels per trial, as only about one maze in five has a decision square off the
      start), measured in one batch;
    * the target is ``trial_count()`` informative units (ci: 200, issue #7);
    * the cap is ``claim.max_chunks`` chunks (declared with its reason in the claim);
    * the level space is used up when the next chunk would bring no level not drawn
      already (DoorKey-5x5 and LavaGapS7 have a few dozen levels; a first chunk covers them).

    ``make(layouts, seeds, start)`` turns a chunk's levels into trials (default: ``(layout,
    seed)`` pairs; ``start`` is the index of the chunk's first level in the draw). ``first``
    skips the first levels of the draw (claim 9 chooses its layer on them). The same seeds come in
    the same order whatever the worker, so the trials and verdict do not depend on ``-n``.
    """
    size = per_trial * trial_count()
    target = trial_count()
    drawn: list[Any] = []
    parts: list[dict[str, Any]] = []
    seen: set[str] = set()
    informative = 0
    stopped = ""
    for k in range(claim.max_chunks):
        layouts, seeds = held_out_layouts(agent, first + (k + 1) * size, start=first + k * size)
        levels = {layout.to_ascii() for layout in layouts}
        if k > 0 and levels <= seen:
            stopped = (
                f"level space exhausted ({len(seen)} distinct levels, all drawn; "
                f"{informative} informative)"
            )
            break
        seen |= levels
        start = first + k * size
        chunk = (
            list(zip(layouts, seeds, strict=True)) if make is None else make(layouts, seeds, start)
        )
        measured = measure(chunk)
        informative += int(np.asarray(outcome(measured).informative).sum())
        drawn.extend(chunk)
        parts.append(measured)
        if informative >= target:
            stopped = f"target reached ({informative} informative >= {target})"
            break
    else:
        stopped = (
            f"cap reached ({claim.max_chunks} chunks of {size} levels; {informative} "
            f"informative < {target}): {claim.max_chunks_reason}"
        )
    return Drawn(drawn, merge(parts), informative, stopped)


@dataclass(frozen=True)
class Probe:
    """One state a claim is judged at: the trial's layout with the agent moved there."""

    trial: int
    """Index of the trial (source layout) it belongs to."""
    placed: Layout
    """The with-feature layout, agent at the probe state."""
    step: int
    """Steps from the start along the unsteered path (mazes: the decision square's distance)."""


def _placeable(layout: Layout, cell: tuple[int, int]) -> bool:
    return cell == layout.agent or cell in layout.free_cells()


def probe_states(
    agent: Any, layouts: Sequence[Layout], seeds: Sequence[int], include_start: bool = False
) -> list[Probe]:
    """The probe states of each trial (see the module docstring), in trial order; with
    ``include_start`` each trial's start state first (step 0)."""
    starts = [Probe(i, layout, 0) for i, layout in enumerate(layouts)] if include_start else []
    # Egocentric probes come from a rollout: played once per model and levels, for all claims.
    key = (agent.id, tuple(lay.to_ascii() for lay in layouts), tuple(seeds))
    if key not in _PROBES:
        _PROBES[key] = _away(agent, layouts, seeds)
    return sorted([*starts, *_PROBES[key]], key=lambda p: (p.trial, p.step))


_PROBES: dict[tuple[str, tuple[str, ...], tuple[int, ...]], list[Probe]] = {}


def _away(agent: Any, layouts: Sequence[Layout], seeds: Sequence[int]) -> list[Probe]:
    if agent.family == "cheesemaze":
        probes = []
        for i, maze in enumerate(layouts):
            assert isinstance(maze, CheeseMazeLayout)
            state = metrics.decision_state(maze)
            if state is not None and state[0] != maze.agent:
                steps = metrics.distance(maze, maze.agent, maze.agent_dir, [state[0]])
                probes.append(Probe(i, edits.move_agent(maze, *state), int(steps or 0)))
        return probes
    event = ex.feature_of(agent).event
    played = ex.play(agent, layouts, seeds)
    probes = []
    for i, (layout, path) in enumerate(zip(layouts, played, strict=True)):
        reached_at = getattr(path, event)
        for k in PATH_STEPS:
            if k > path.steps or (reached_at is not None and k >= reached_at):
                break
            cell = (int(path.cells[k][0]), int(path.cells[k][1]))
            if _placeable(layout, cell):
                probes.append(Probe(i, edits.move_agent(layout, cell, int(path.directions[k])), k))
    return probes


def without(agent: Any, layouts: Sequence[Layout]) -> list[Layout]:
    """Each layout with the feature physically removed (the removal reference)."""
    feature = ex.feature_of(agent).vector
    return [vectors.FEATURES[feature](layout)[1] for layout in layouts]


def intents(agent: Any, placed: Sequence[Layout], probs: np.ndarray) -> np.ndarray:
    """``(n,)`` P(next action heads for the feature target) at each placed layout's state."""
    target = ex.feature_of(agent).target
    return np.array(
        [metrics.intent_at_start(p, row, target) for p, row in zip(placed, probs, strict=True)]
    )


def visible(agent: Any, placed: Sequence[Layout]) -> np.ndarray:
    """``(n,)`` whether the agent's view at each state changes when the feature is removed."""
    if not placed:
        return np.zeros(0, dtype=bool)
    a = envs.observe(list(placed), agent.wrappers).reshape(len(placed), -1)
    b = envs.observe(without(agent, placed), agent.wrappers).reshape(len(placed), -1)
    return ~(a == b).all(axis=1)


def ignoring_actions(agent: Any, placed: Sequence[Layout]) -> list[frozenset[int]]:
    """Per state, the actions that start a shortest path to the feature's target only once the
    feature is gone: for an avoided feature (lava), the steps that walk where it was. Empty
    where the feature does not change the way."""
    target = ex.feature_of(agent).target
    return [
        metrics.target_actions(gone, target) - metrics.target_actions(here, target)
        for here, gone in zip(placed, without(agent, placed), strict=True)
    ]


def measure_states(
    agent: Any,
    probes: Sequence[Probe],
    steering: Sequence[SteeringVector],
    seeds: Sequence[int],
    controls: dict[str, Sequence[SteeringVector]] | None = None,
    sign_aware: bool = False,
) -> dict[str, np.ndarray]:
    """The agent's response to the feature at each probe, ``(n_probes,)`` per arm.

    The response is P(next action heads for the feature's target) -- for a feature the agent
    avoids (:attr:`avec.families.Feature.avoided`) with ``sign_aware``, P(next action keeps
    off it): one minus the probability of :func:`ignoring_actions`, the steps that only make
    sense without it. Either way removing the feature lowers the response, and so should
    subtracting its vector. ``matters`` says where it can: always for a feature the agent
    heads for, where some step only makes sense without it for an avoided one.

    ``steering[t]`` is the vector *added* on trial ``t`` (e.g. ``-v``); the null arm adds a
    random vector of its norm seeded by the trial's seed; ``controls`` adds further arms
    (one vector per trial each). Also returns ``visible``, the trial index ``trial``, the
    probe's ``agent_state`` ``(n, 3)`` and the action probabilities ``probs_unsteered`` and
    ``probs_steered`` ``(n, n_actions)`` (a counterexample figure shows them).
    """
    placed = [p.placed for p in probes]
    rows = [p.trial for p in probes]
    null = [vectors.random_like(steering[t], seeds[t]) for t in rows]
    arms = {"steered": [steering[t] for t in rows], "null": null}
    for name, vs in (controls or {}).items():
        arms[name] = [vs[t] for t in rows]
    if sign_aware and ex.feature_of(agent).avoided:
        ignoring = ignoring_actions(agent, placed)

        def response(probs: np.ndarray) -> np.ndarray:
            return np.array(
                [1.0 - metrics.intent(row, acts) for row, acts in zip(probs, ignoring, strict=True)]
            )

        matters = np.array([bool(acts) for acts in ignoring])
    else:

        def response(probs: np.ndarray) -> np.ndarray:
            return intents(agent, placed, probs)

        matters = np.ones(len(placed), dtype=bool)
    probs = {
        "unsteered": ex.probabilities(agent, placed),
        "removal": ex.probabilities(agent, without(agent, placed)),
    }
    for name, vs in arms.items():
        probs[name] = ex.probabilities(agent, placed, vs)
    out = {
        "trial": np.array(rows, dtype=np.int64),
        "visible": visible(agent, placed),
        "matters": matters,
        "agent_state": agent_states(placed),
    }
    for name, p in probs.items():
        out[name] = response(p)
    for name in ("unsteered", "steered"):
        out[f"probs_{name}"] = probs[name]
    return out


def agent_states(placed: Sequence[Layout]) -> np.ndarray:
    """``(n, 3)`` int: the agent's cell and facing ``(x, y, direction)`` at each state, the
    ``agent_state`` of a measurement (counterexample figures mark it on the level)."""
    rows = [(*layout.agent, layout.agent_dir) for layout in placed]
    return np.array(rows, dtype=np.int64).reshape(len(rows), 3)


def arm_probabilities(
    agent: Any, probes: Sequence[Probe], arms: dict[str, Sequence[SteeringVector | None]]
) -> dict[str, np.ndarray]:
    """``name -> (n_probes, n_actions)`` action probabilities at each probe, under each arm
    (one steering entry per *trial*, indexed by the probe's trial), plus ``unsteered``."""
    placed = [p.placed for p in probes]
    out = {"unsteered": ex.probabilities(agent, placed)}
    for name, per_trial in arms.items():
        out[name] = ex.probabilities(agent, placed, [per_trial[p.trial] for p in probes])
    return out


def task_actions(placed: Layout, exclude: str | None = None) -> frozenset[int]:
    """The actions that start a shortest path to *some* target of the task at the state:
    every target the level has (key, door, goal, cheese, top-right) except ``exclude``."""
    actions: set[int] = set()
    objects = placed.objects()
    for target in metrics.TARGETS:
        present = target == "top_right" and isinstance(placed, CheeseMazeLayout)
        if target == exclude or not (present or objects.get(target) is not None):
            continue
        actions |= metrics.target_actions(placed, target)
    return frozenset(actions)


def task_intent(placed: Layout, probs: np.ndarray, exclude: str | None = None) -> float:
    """P(next action starts a shortest path to *some* target of the task) at the state
    (:func:`task_actions`)."""
    return metrics.intent(probs, task_actions(placed, exclude))


def faces_or_stands_on(path: rollouts.Trajectory, layout: Layout, agent: Any) -> bool:
    """Whether the agent reached the feature's cell in an episode: stood on it (goal, cheese)
    or faced it from next door (key). Defined on the cell, so it is measured the same way
    when the feature has been removed from the layout (the removal reference)."""
    target = ex.feature_of(agent).target
    (cell,) = metrics.target_cells(layout, target)
    if target != "key":
        return bool((path.cells == np.array(cell)).all(axis=1).any())
    ahead = path.cells + np.array(DIRECTIONS)[path.directions]
    return bool((ahead == np.array(cell)).all(axis=1).any())


def steps_on_feature(path: rollouts.Trajectory, layout: Layout, agent: Any) -> bool:
    """Whether an episode walked onto a cell the feature takes in ``layout`` (the lava of a
    LavaGap level): measured on ``layout``'s cells, so the same way for an episode played
    with the feature removed (the removal reference: does the agent cross where it was?)."""
    feature = ex.feature_of(agent).vector
    cells = np.array(sorted(layout.terrain().get(feature, ())) or [(-1, -1)])
    return bool((path.cells[:, None, :] == cells[None, :, :]).all(axis=2).any())


__all__ = [
    "PATH_STEPS",
    "steps_on_feature",
    "arm_probabilities",
    "task_actions",
    "task_intent",
    "Probe",
    "faces_or_stands_on",
    "held_out_layouts",
    "intents",
    "ignoring_actions",
    "measure_states",
    "probe_states",
    "merge",
    "indexed",
    "sequential",
    "Drawn",
    "trial_count",
    "visible",
    "without",
]
