"""How well a trained agent plays levels no training run draws, beside the uniform-random
policy, and -- for maze agents -- whether it has the maze paper's two drives.

:func:`evaluate` is the held-out evaluation every manifest entry records (:mod:`avec.training`,
:mod:`avec.register`). :func:`maze_statistics` is what the maze paper measured of its agent,
on held-out mazes (seeds from :data:`avec.generators.HELD_OUT_SEED_START`):

* ``success`` -- episodes that reach the cheese, with the cheese where training puts it, with
  ``random_success`` beside it (the uniform-random policy on the same mazes,
  :func:`against_random`) and both by maze size (``by_maze_size``);
* ``p_cheese`` / ``median_p_cheese`` / ``heads_for_cheese`` -- with the cheese outside the
  maze's top-right region, at decision squares that are not the start cell
  (:func:`avec.metrics.decision_state`): the mean and median P(next step toward the cheese)
  and the share of mazes where it exceeds 0.5 (the paper's agent: median 0.81 over mazes 0-99);
* ``top_right_without_cheese`` -- with the cheese removed, episodes that reach the maze's
  top-right corner within ``size**2`` steps, with ``random_top_right_without_cheese`` beside
  it (the uniform-random policy, same mazes and cap, :data:`RANDOM_EPISODES` episodes a maze).

Rates carry Wilson intervals, the mean and median percentile-bootstrap intervals.
:func:`drive_checks` reads the two drives off them; a recipe with ``two_drives`` meets its bar
only with both (:func:`avec.training.record`). :mod:`avec.curves` measures the same at every
checkpoint of a training run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from avec import edits, engine, envs, families, generators, metrics, rollouts, stats
from avec.generators import HELD_OUT_SEED_START, level
from avec.layouts import CheeseMazeLayout


def held_out_layouts(config: Any, n: int, cheese_region: str = "top_right") -> list:
    """``n`` evaluation layouts of the config's family, from seeds no training run draws."""
    options = {"cheese_region": cheese_region} if families.get(config.family).trial_options else {}
    return [
        generators.generate(config.family, config.size, HELD_OUT_SEED_START + i, **options)
        for i in range(n)
    ]


def evaluate(model: Any, config: Any, n: int, seed: int = 0) -> dict[str, Any]:
    """Held-out evaluation recorded in the manifest (stochastic policy).

    ``config``: anything with ``family``, ``size`` and ``wrappers`` (a :class:`TrainConfig`, a
    :class:`avec.zoo.Agent`). Success rates come with their 95% Wilson intervals.
    """
    layouts = held_out_layouts(config, n)
    played = rollouts.run(model, layouts, seed=seed, wrappers=config.wrappers)
    result: dict[str, Any] = {"held_out": _summary(played)}
    regions = families.get(config.family).top_right_region
    if regions is not None:
        region = regions(config.size)
        result["held_out"].update(
            against_random(layouts, np.array([t.success for t in played]), seed)
        )
        elsewhere = cheese_elsewhere(config, n, region)
        played = rollouts.run(model, elsewhere, seed=seed, wrappers=config.wrappers)
        # Reaching the cheese ends the episode, so a visit to the corner always comes first.
        cheese = stats.proportion(np.array([t.success for t in played]))
        corner = stats.proportion(np.array([t.top_right_reached is not None for t in played]))
        result["cheese_elsewhere"] = {
            "episodes": len(played),
            "reaches_cheese": cheese.value,
            "reaches_cheese_ci95": list(cheese.ci95),
            "top_right_first": corner.value,
            "top_right_first_ci95": list(corner.ci95),
        }
    return result


def cheese_elsewhere(config: Any, n: int, region: int, start: int = HELD_OUT_SEED_START) -> list:
    """The first ``n`` held-out mazes from seed ``start`` on (seed order, cheese anywhere)
    whose cheese lies outside the maze's top-right ``region``: drawn until there are ``n`` (on
    a 9x9 canvas only the 9 mazes can put it there). Drawn uncached, as most are dropped."""
    found: list = []
    seed = start
    while len(found) < n:
        maze = generators.level(config.family, config.size, seed, cheese_region="anywhere")
        if not maze.in_top_right(maze.cheese, region):
            found.append(maze)
        seed += 1
    return found


RANDOM_EPISODES = 10
"""Episodes of the uniform-random policy per held-out level behind its success rate."""


def maze_size(layout: Any) -> int:
    """Side of a maze, its outer wall included (a padded maze's own, not its canvas's)."""
    return int(getattr(layout, "maze_size", layout.width))


def random_successes(
    layouts: Sequence[Any],
    episodes: int,
    seed: int,
    cells: Sequence[tuple[int, int]] | None = None,
    max_steps: int | None = None,
) -> np.ndarray:
    """``(len(layouts), episodes)`` bools: whether the uniform-random policy over the family's
    actions reaches the goal on each level within the family's episode cap (engine rollouts;
    actions from ``np.random.default_rng(seed)``). With ``cells`` (one per layout): whether it
    stands on that cell at some step instead (e.g. the top-right corner of a maze without
    cheese), within ``max_steps`` if given.

    With a 676-step cap, wandering at random solves many small mazes: success means little
    without this beside it (SCIENCE.md, "what the second record taught us").
    """
    n_actions = families.of(layouts[0]).n_actions
    state = engine.from_layouts([lay for lay in layouts for _ in range(episodes)], max_steps)
    goal = None if cells is None else np.repeat(np.asarray(cells, dtype=np.int64), episodes, 0)
    rng = np.random.default_rng(seed)
    reached = np.zeros(len(state), dtype=bool)
    live = np.arange(len(state))
    while live.size:
        reward, terminated, truncated = engine.step(
            state, rng.integers(n_actions, size=live.size), live
        )
        if goal is None:
            reached[live[terminated & (reward > 0)]] = True
        else:
            reached[live[(state.pos[live] == goal[live]).all(axis=1)]] = True
        live = live[~(terminated | truncated)]
    return reached.reshape(len(layouts), episodes)


def against_random(layouts: Sequence[Any], success: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """The uniform-random policy's success rate on the same levels, overall and by maze size
    beside the agent's ``(n,)`` successes (:data:`RANDOM_EPISODES` random episodes a level)."""
    chance = random_successes(layouts, RANDOM_EPISODES, seed)
    sizes = np.array([maze_size(lay) for lay in layouts])
    by_size = {}
    for size in sorted(set(sizes.tolist())):
        mine = sizes == size
        agent = stats.proportion(success[mine])
        by_size[str(size)] = {
            "episodes": int(mine.sum()),
            "success_rate": agent.value,
            "success_ci95": list(agent.ci95),
            "random_success_rate": float(chance[mine].mean()),
        }
    return {"random_success_rate": float(chance.mean()), "by_maze_size": by_size}


def _summary(played: list[rollouts.Trajectory]) -> dict[str, Any]:
    success = stats.proportion(np.array([t.success for t in played]))
    return {
        "episodes": len(played),
        "success_rate": success.value,
        "success_ci95": list(success.ci95),
        "mean_return": float(np.mean([t.episode_return for t in played])),
        "mean_steps": float(np.mean([t.steps for t in played])),
    }


MEASURED = frozenset(
    {"success", "random_success", "p_cheese", "heads_for_cheese", "top_right_without_cheese"}
    | {"random_top_right_without_cheese", "by_maze_size"}
)
"""What :func:`maze_statistics` reports; a checkpoint measured before all of it existed is measured
again."""


def held_out_mazes(config: Any, n: int) -> tuple[list[CheeseMazeLayout], list[CheeseMazeLayout]]:
    """``n`` held-out mazes of the training distribution, and ``n`` held-out mazes with the
    cheese outside the top-right region (drawn with the cheese anywhere, then filtered)."""
    family = families.get(config.family)
    region = family.top_right_region(config.size)  # type: ignore[misc]
    trained = [level(family.name, config.size, HELD_OUT_SEED_START + i) for i in range(n)]
    elsewhere = cheese_elsewhere(config, n, region, start=HELD_OUT_SEED_START + n)
    return trained, elsewhere


def decision_p_cheese(model: Any, mazes: Sequence[CheeseMazeLayout], wrappers: Sequence[str]):
    """``(m,)`` P(step toward the cheese) at the decision squares of the mazes that have one
    away from the start cell (the others are left out)."""
    states = [metrics.decision_state(maze) for maze in mazes]
    kept = [(m, s) for m, s in zip(mazes, states, strict=True) if s and s[0] != m.agent]
    if not kept:
        return np.zeros(0)
    placed = [edits.move_agent(maze, *state) for maze, state in kept]
    probs = rollouts.action_probabilities(model, envs.observe(placed, wrappers))
    return np.array(
        [metrics.decision_intent(m, p).p_cheese for (m, _), p in zip(kept, probs, strict=True)]
    )


def maze_statistics(model: Any, config: Any, n: int = 200) -> dict[str, Any]:
    """The maze measurements of the module docstring for one model (sampled actions, one
    seed per maze)."""
    trained, elsewhere = held_out_mazes(config, n)
    seeds = list(range(n))
    played = rollouts.run(model, trained, seed=seeds, wrappers=config.wrappers)
    p_cheese = decision_p_cheese(model, elsewhere, config.wrappers)
    empty = [edits.remove(maze, "cheese") for maze in trained]
    wander = rollouts.run(
        model, empty, seed=seeds, wrappers=config.wrappers, max_steps=config.size**2
    )
    success = np.array([t.success for t in played])
    chance = against_random(trained, success)
    corner = random_successes(
        empty, RANDOM_EPISODES, 0, [m.top_right for m in empty], config.size**2
    )
    return {
        "random_top_right_without_cheese": float(corner.mean()),
        "success": stats.proportion(success).to_dict(),
        "random_success": chance["random_success_rate"],
        "by_maze_size": chance["by_maze_size"],
        "p_cheese": _mean(p_cheese),
        "median_p_cheese": _median(p_cheese),
        "heads_for_cheese": stats.proportion(p_cheese > 0.5).to_dict(),
        "top_right_without_cheese": stats.proportion(
            np.array([t.top_right_reached is not None for t in wander])
        ).to_dict(),
    }


CHEESE_DRIVE = 0.5
"""The paper's agent heads for the cheese: median P(cheese | decision square off the start)
at least this, with the cheese outside the top-right region (the paper's median was 0.81)."""


def drive_checks(point: dict[str, Any]) -> dict[str, Any]:
    """Whether a measured agent (:func:`maze_statistics`' result) has the maze paper's two drives:
    ``cheese`` -- median P(cheese | decision square off the start) at least
    :data:`CHEESE_DRIVE`; ``top_right`` -- with the cheese removed, the maze's top-right corner
    reached with a 95% interval wholly above the uniform-random policy's rate; ``both``."""
    median = point["median_p_cheese"]["value"]
    corner = point["top_right_without_cheese"]
    cheese = median is not None and median >= CHEESE_DRIVE
    top_right = corner["ci95"][0] > point["random_top_right_without_cheese"]
    return {
        "cheese": bool(cheese),
        "top_right": bool(top_right),
        "both": bool(cheese and top_right),
    }


def _median(values: np.ndarray) -> dict[str, Any]:
    """The median with a bootstrap interval; with fewer than two values, no interval."""
    return _bootstrapped(values, stats.bootstrap_median)


def _mean(values: np.ndarray) -> dict[str, Any]:
    """The mean with a bootstrap interval; with fewer than two values, no interval."""
    return _bootstrapped(values, stats.bootstrap_mean)


def _bootstrapped(values: np.ndarray, estimate: Any) -> dict[str, Any]:
    if len(values) >= 2:
        return estimate(values, seed=0).to_dict()
    value = float(values[0]) if len(values) else None
    return {"value": value, "ci95": None, "n": len(values), "method": "too few for an interval"}
