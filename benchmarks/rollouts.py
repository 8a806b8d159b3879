"""Steered rollouts two ways, timed in one process: batched (avec.rollouts) and naive.

The naive loop is what a user would write: one env, one episode at a time, one
``model.predict`` per step with a forward hook adding the layout's steering vector. The batched
way plays every layout in lockstep with one forward pass per step (:func:`avec.rollouts.run`).
Both play the same layouts with the same per-layout key vectors and greedy actions, so they must
give identical trajectories; the script checks that, then prints env-steps per second for both
and for random-action MiniGrid stepping, the ceiling (MiniGrid's own ``step``).

    python benchmarks/rollouts.py --quick      # under a minute

The last line is ``speedup batched/naive: X.XX``. Target (issue 3): batched >= 3x naive and
>= 70% of the random-action ceiling on DoorKey-5x5 with a 64-64 MLP.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from avec import envs, hooks, rollouts, training, vectors, zoo


def naive(agent: zoo.Agent, layouts, steering: list[vectors.SteeringVector]) -> list[tuple]:
    """One env, one episode after another, ``model.predict`` per step under a forward hook."""
    env = envs.make(envs.env_id(layouts[0].family, layouts[0].width), agent.wrappers)
    module = dict(agent.model.policy.named_modules())[steering[0].layer]
    trajectories = []
    for layout, vector in zip(layouts, steering, strict=True):
        added = vector.tensor()
        handle = module.register_forward_hook(lambda _m, _i, output, v=added: output + v)
        try:
            obs, _ = env.reset(options={"layout": layout})
            cells, actions, done = [tuple(layout.agent)], [], False
            while not done:
                action, _ = agent.model.predict(obs, deterministic=True)
                obs, _, terminated, truncated, _ = env.step(int(action))
                cells.append(tuple(int(v) for v in env.unwrapped.agent_pos))
                actions.append(int(action))
                done = terminated or truncated
        finally:
            handle.remove()
        trajectories.append((tuple(cells), tuple(actions)))
    env.close()
    return trajectories


def batched(agent: zoo.Agent, layouts, steering: list[vectors.SteeringVector]) -> list[tuple]:
    result = rollouts.run(agent, layouts, seed=0, greedy=True, steering=steering)
    return [(tuple(map(tuple, t.cells.tolist())), tuple(t.actions.tolist())) for t in result]


def random_steps(agent: zoo.Agent, layouts, n_steps: int, seed: int = 0) -> int:
    """MiniGrid stepping with random actions through the same wrappers: the ceiling."""
    env = envs.make(envs.env_id(layouts[0].family, layouts[0].width), agent.wrappers)
    actions = np.random.default_rng(seed).integers(env.action_space.n, size=n_steps).tolist()
    env.reset(options={"layout": layouts[0]})
    episode = 0
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episode += 1
            env.reset(options={"layout": layouts[episode % len(layouts)]})
    env.close()
    return n_steps


def timed(fn: Callable[[], object], repeats: int) -> tuple[object, float]:
    """Result of ``fn`` and the median wall time of ``repeats`` calls (after one warm-up)."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer layouts and repeats")
    parser.add_argument("--model", default="doorkey5-ppo-mlp-s0")
    parser.add_argument("--layouts", type=int, default=None, help="default 64 (quick) or 256")
    parser.add_argument("--layer", default="mlp_extractor.policy_net.0")
    parser.add_argument("--coefficient", type=float, default=-1.0)
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick) or 5")
    ns = parser.parse_args(argv)
    torch.set_num_threads(1)
    n_layouts = ns.layouts or (64 if ns.quick else 256)
    repeats = ns.repeats or (3 if ns.quick else 5)

    agent = zoo.load(ns.model)
    layouts = training.held_out_layouts(agent, n_layouts)
    steering = [
        ns.coefficient * vectors.feature_vector(agent, "key", layout, ns.layer)
        for layout in layouts
    ]
    hooks.layers(agent)  # trace the layers once, outside the timings

    fast, t_batched = timed(lambda: batched(agent, layouts, steering), repeats)
    slow, t_naive = timed(lambda: naive(agent, layouts, steering), repeats)
    steps = sum(len(actions) for _, actions in fast)
    _, t_random = timed(lambda: random_steps(agent, layouts, steps), repeats)
    same = sum(a == b for a, b in zip(fast, slow, strict=True))

    rates = {
        "random actions (ceiling)": steps / t_random,
        "naive (predict + hook)": steps / t_naive,
        "batched (avec.rollouts)": steps / t_batched,
    }
    ceiling = rates["random actions (ceiling)"]
    config = agent.entry["config"]
    arch = config["policy"].upper() + " " + "-".join(map(str, config["net_arch"]))
    print(
        f"{agent.entry['env_id']}, {agent.id} ({arch}), {n_layouts} layouts, "
        f"key vector x {ns.coefficient:g} at {ns.layer}, greedy, median of {repeats}"
    )
    print(f"{'method':<26} {'env-steps':>9} {'seconds':>8} {'steps/s':>8} {'of ceiling':>10}")
    for name, rate in rates.items():
        print(f"{name:<26} {steps:>9} {steps / rate:>8.3f} {rate:>8.0f} {rate / ceiling:>10.0%}")
    print(f"identical trajectories (batched vs naive): {same}/{n_layouts}")
    speedup = rates["batched (avec.rollouts)"] / rates["naive (predict + hook)"]
    meets = speedup >= 3 and rates["batched (avec.rollouts)"] >= 0.7 * ceiling
    print(f"targets (>= 3x naive, >= 70% of ceiling): {'met' if meets else 'NOT met'}")
    print(f"speedup batched/naive: {speedup:.2f}")
    return 0 if same == n_layouts else 1


if __name__ == "__main__":
    sys.exit(main())
