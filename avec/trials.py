"""Estimation trials and the states a claim is judged at.

Two things every claim needs before it measures anything:

* **Levels users meet.** :func:`held_out_layouts` takes levels from the family's own generator
  on held-out seeds (``envs.HELD_OUT_SEED_START + offset``, in order), keeping those whose
  start view shows the feature. The count is the active Hypothesis profile's
  ``max_examples`` (``dev`` 20, ``ci`` 200), but Hypothesis does not *generate* them: the record
  must not depend on its version or its taste for simple examples. DoorKey-5x5 has only a few
  dozen distinct levels, so 200 draws cover all of them, repeats included as the generator
  makes them; intervals cluster trials by level (:mod:`avec.stats`).
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

from collections.abc import Sequence
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
    """Trials per claim x model: the active Hypothesis profile's ``max_examples``."""
    return int(settings().max_examples)


_DRAWN: dict[tuple[str, int, int, int], tuple[list[Layout], list[int]]] = {}
"""Levels already drawn in this process, by (agent id, n, offset, size): every claim on a
model draws the same levels, so they are generated and checked once per worker."""


def held_out_layouts(
    agent: Any, n: int | None = None, offset: int = 0, size: int | None = None
) -> tuple[list[Layout], list[int]]:
    """``n`` held-out levels of the agent's family (at ``size``, default its own) whose start
    view shows the feature, and their generator seeds (also used as sampling seeds).

    CheeseMaze levels put the cheese anywhere, not only in the top-right region the agent
    trained on: only there do its two drives pull apart (the maze paper's evaluation).
    """
    n = trial_count() if n is None else n
    size = agent.size if size is None else size
    key = (agent.id, n, offset, size)
    if key not in _DRAWN:
        _DRAWN[key] = _draw(agent, n, offset, size)
    layouts, seeds = _DRAWN[key]
    return list(layouts), list(seeds)


def _draw(agent: Any, n: int, offset: int, size: int) -> tuple[list[Layout], list[int]]:
    options = families.get(agent.family).trial_options
    feature = ex.feature_of(agent).vector
    first = envs.HELD_OUT_SEED_START + offset
    layouts: list[Layout] = []
    seeds: list[int] = []
    # Seeds in order, checked in batches (one env for all observations of a batch).
    for start in range(first, first + SCAN * n, n):
        batch_seeds = list(range(start, start + n))
        batch = [generators.generate(agent.family, size, s, **options) for s in batch_seeds]
        shown = ex.shows_feature_many(agent, feature, batch)
        for layout, seed, keep in zip(batch, batch_seeds, shown, strict=True):
            if keep and len(layouts) < n:
                layouts.append(layout)
                seeds.append(seed)
        if len(layouts) == n:
            break
    if not layouts:
        raise ValueError(f"no {agent.family} level of size {size} shows the {feature}")
    return layouts, seeds


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


def measure_states(
    agent: Any,
    probes: Sequence[Probe],
    steering: Sequence[SteeringVector],
    seeds: Sequence[int],
    controls: dict[str, Sequence[SteeringVector]] | None = None,
) -> dict[str, np.ndarray]:
    """Intent toward the feature at each probe, ``(n_probes,)`` per arm.

    ``steering[t]`` is the vector *added* on trial ``t`` (e.g. ``-v``); the null arm adds a
    random vector of its norm seeded by the trial's seed; ``controls`` adds further arms
    (one vector per trial each). Also returns ``visible`` and the trial index ``trial``.
    """
    placed = [p.placed for p in probes]
    rows = [p.trial for p in probes]
    null = [vectors.random_like(steering[t], seeds[t]) for t in rows]
    arms = {"steered": [steering[t] for t in rows], "null": null}
    for name, vs in (controls or {}).items():
        arms[name] = [vs[t] for t in rows]
    out = {
        "trial": np.array(rows, dtype=np.int64),
        "visible": visible(agent, placed),
        "unsteered": intents(agent, placed, ex.probabilities(agent, placed)),
        "removal": intents(agent, placed, ex.probabilities(agent, without(agent, placed))),
    }
    for name, vs in arms.items():
        out[name] = intents(agent, placed, ex.probabilities(agent, placed, vs))
    return out


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


def task_intent(placed: Layout, probs: np.ndarray, exclude: str | None = None) -> float:
    """P(next action starts a shortest path to *some* target of the task) at the state:
    every target the level has (key, door, goal, cheese, top-right) except ``exclude``."""
    actions: set[int] = set()
    objects = placed.objects()
    for target in metrics.TARGETS:
        present = target == "top_right" and isinstance(placed, CheeseMazeLayout)
        if target == exclude or not (present or objects.get(target) is not None):
            continue
        actions |= metrics.target_actions(placed, target)
    return metrics.intent(probs, actions)


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


__all__ = [
    "PATH_STEPS",
    "arm_probabilities",
    "task_intent",
    "Probe",
    "faces_or_stands_on",
    "held_out_layouts",
    "intents",
    "measure_states",
    "probe_states",
    "trial_count",
    "visible",
    "without",
]
