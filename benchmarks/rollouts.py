"""Steered rollouts, timed in one process: batched (avec.rollouts) on each backend, and naive.

The naive loop is what a user would write: one MiniGrid env, one episode at a time, one
``model.predict`` per step with a forward hook adding the layout's steering vector. The batched
way plays every layout in lockstep with one forward pass per step (:func:`avec.rollouts.run`),
on the engine (the default) and on MiniGrid envs. All play the same layouts with the same
per-layout key vectors and greedy actions, so they must give identical trajectories; the script
checks that, then prints env-steps per second for each, for random-action MiniGrid stepping
(MiniGrid's own ``step``) and for the policy's batched forward passes alone -- the same batches
of observations, steered, with nothing else: the limit batched rollouts can approach once the
environment costs nothing.

    python benchmarks/rollouts.py --quick      # about a minute

The last line is ``speedup batched/naive: X.XX``. Target (the engine issue): >= 20.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from avec import envs, evaluation, hooks, rollouts, vectors, zoo


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


def batched(
    agent: zoo.Agent, layouts, steering: list[vectors.SteeringVector], backend: str = "engine"
) -> list[tuple]:
    result = rollouts.run(agent, layouts, seed=0, greedy=True, steering=steering, backend=backend)
    return [(tuple(map(tuple, t.cells.tolist())), tuple(t.actions.tolist())) for t in result]


def forward_only(agent: zoo.Agent, layouts, steering, lengths: list[int]) -> int:
    """The policy's steered forward passes of a batched rollout, without the environment: at
    step ``t`` one pass over the episodes still live (those longer than ``t``), on start-state
    observations of the same shape."""
    obs = envs.observe(layouts, agent.wrappers)
    rows = rollouts.steering_rows(steering, len(layouts))
    lengths_arr = np.asarray(lengths)
    for t in range(max(lengths)):
        live = torch.from_numpy(np.flatnonzero(lengths_arr > t))
        patches = {layer: values[live] for layer, values in rows.items()}
        with hooks.patch(agent.model.policy, patches):
            rollouts.action_probabilities(agent.model.policy, obs[live.numpy()])
    return sum(lengths)


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
    layouts = evaluation.held_out_layouts(agent, n_layouts)
    steering = [
        ns.coefficient * vectors.feature_vector(agent, "key", layout, ns.layer)
        for layout in layouts
    ]
    hooks.layers(agent)  # trace the layers once, outside the timings

    fast, t_batched = timed(lambda: batched(agent, layouts, steering), repeats)
    reference, t_minigrid = timed(lambda: batched(agent, layouts, steering, "minigrid"), repeats)
    slow, t_naive = timed(lambda: naive(agent, layouts, steering), repeats)
    lengths = [len(actions) for _, actions in fast]
    steps = sum(lengths)
    _, t_random = timed(lambda: random_steps(agent, layouts, steps), repeats)
    _, t_forward = timed(lambda: forward_only(agent, layouts, steering, lengths), repeats)
    same = sum(a == b == c for a, b, c in zip(fast, reference, slow, strict=True))

    rates = {
        "policy forward only (limit)": steps / t_forward,
        "random actions (MiniGrid)": steps / t_random,
        "naive (predict + hook)": steps / t_naive,
        "batched, MiniGrid backend": steps / t_minigrid,
        "batched, engine": steps / t_batched,
    }
    limit = rates["policy forward only (limit)"]
    config = agent.entry["config"]
    arch = config["policy"].upper() + " " + "-".join(map(str, config["net_arch"]))
    print(
        f"{agent.entry['env_id']}, {agent.id} ({arch}), {n_layouts} layouts, "
        f"key vector x {ns.coefficient:g} at {ns.layer}, greedy, median of {repeats}"
    )
    print(f"{'method':<28} {'env-steps':>9} {'seconds':>8} {'steps/s':>9} {'of limit':>9}")
    for name, rate in rates.items():
        print(f"{name:<28} {steps:>9} {steps / rate:>8.3f} {rate:>9.0f} {rate / limit:>9.0%}")
    print(f"identical trajectories (engine, MiniGrid backend, naive): {same}/{n_layouts}")
    speedup = rates["batched, engine"] / rates["naive (predict + hook)"]
    share = rates["batched, engine"] / limit
    print(f"batched engine reaches {share:.0%} of the forward-only limit")
    print(f"speedup batched/naive: {speedup:.2f}")
    return 0 if same == n_layouts else 1


if __name__ == "__main__":
    sys.exit(main())
