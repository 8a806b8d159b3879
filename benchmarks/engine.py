"""The engine against MiniGrid's own ``step``, on the same random-action work, in one process.

For each level family and batch size ``B``: ``B`` levels, ``T`` random actions each (the same
``(T, B)`` actions for both), each episode that ends replaced by the next level of a fixed pool.
MiniGrid steps its envs one after another through the observation wrappers the zoo trains with
(``env.step``, then ``env.reset`` onto the next level); the engine steps the whole batch per call
(``engine.step`` and ``engine.observe``, then the ended levels replaced). Both must count the
same episodes and the same total reward; the script checks that, then prints env-steps per second.
One core (numba runs single-threaded; the machine may be shared, so ratios matter, not rates).

    python benchmarks/engine.py --quick      # about a minute

The last line is ``engine/minigrid at batch 256: X.XX``; target (the engine issue): >= 100.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from avec import engine, envs, generators

FAMILIES = {"DoorKey-5x5": ("doorkey", 5), "CheeseMaze-9x9": ("cheesemaze", 9)}


def on_minigrid(family: str, size: int, pool: list, actions: np.ndarray) -> tuple[float, ...]:
    wrappers = envs.OBSERVATION_WRAPPERS[family]
    env_list = [envs.make(envs.env_id(family, size), wrappers) for _ in range(actions.shape[1])]
    for b, env in enumerate(env_list):
        env.reset(options={"layout": pool[b % len(pool)]})
    nxt, episodes, total = actions.shape[1], 0, 0.0
    start = time.perf_counter()
    for row in actions.tolist():
        for env, action in zip(env_list, row, strict=True):
            _, reward, terminated, truncated, _ = env.step(action)
            total += reward
            if terminated or truncated:
                episodes += 1
                env.reset(options={"layout": pool[nxt % len(pool)]})
                nxt += 1
    return time.perf_counter() - start, episodes, total


def on_engine(family: str, size: int, pool: list, actions: np.ndarray) -> tuple[float, ...]:
    view = engine.view_of(envs.OBSERVATION_WRAPPERS[family])
    n = actions.shape[1]
    levels = engine.from_layouts(pool)
    state = engine.from_layouts([pool[b % len(pool)] for b in range(n)])
    nxt, episodes, total = n, 0, 0.0
    start = time.perf_counter()
    for row in actions:
        reward, terminated, truncated = engine.step(state, row)
        engine.observe(state, view)
        total += reward.sum()
        ended = np.flatnonzero(terminated | truncated)
        if ended.size:
            episodes += ended.size
            source = np.arange(nxt, nxt + ended.size) % len(pool)
            state.assign(ended, engine.State(*(getattr(levels, f)[source] for f in _FIELDS)))
            nxt += ended.size
    return time.perf_counter() - start, episodes, float(total)


_FIELDS = ("grid", "pos", "dir", "carrying", "step_count", "max_steps")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps per level")
    parser.add_argument("--steps", type=int, default=None, help="actions per level (20 or 100)")
    ns = parser.parse_args(argv)
    steps = ns.steps or (20 if ns.quick else 100)
    warm = engine.from_layouts([generators.generate("doorkey", 5, 0)])
    engine.step(warm, [0])  # compile (or load from numba's cache) outside the timings
    for view in ("egocentric", "full"):
        engine.observe(warm, view)
    print(f"random actions, {steps} per level, one core; env-steps per second")
    print(f"{'family':<16} {'batch':>6} {'minigrid':>10} {'engine':>12} {'ratio':>8}")
    ratios: dict[tuple[str, int], float] = {}
    same = True
    for name, (family, size) in FAMILIES.items():
        pool = [generators.generate(family, size, seed) for seed in range(512)]
        for batch in (64, 256, 1024):
            rng = np.random.default_rng(batch)
            n_actions = 7 if family == "doorkey" else envs.NAVIGATION_ACTIONS
            actions = rng.integers(n_actions, size=(steps, batch))
            engine_run = on_engine(family, size, pool, actions)
            minigrid_run = on_minigrid(family, size, pool, actions)
            same &= engine_run[1:] == minigrid_run[1:]
            rates = [steps * batch / run[0] for run in (minigrid_run, engine_run)]
            ratios[name, batch] = rates[1] / rates[0]
            print(
                f"{name:<16} {batch:>6} {rates[0]:>10,.0f} {rates[1]:>12,.0f} "
                f"{ratios[name, batch]:>8.1f}"
            )
    print(f"same episodes and rewards on both: {'yes' if same else 'NO'}")
    at_256 = min(r for (_, batch), r in ratios.items() if batch == 256)
    print(f"engine/minigrid at batch 256: {at_256:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
