"""Behaviour cloning of the shortest-path move: a warm start for maze agents.

Pure PPO on the padded mazes stays at the uniform-random policy's success for at least 1e6
steps with every network tried (GridCNN, an agent-centred readout, the maze paper's IMPALA CNN;
issue 17 and the committed learning curve of ``procmaze13-ppo-impala``). The issue's fallback is
a warm start: before RL, the policy is trained to copy the move that starts the shortest path
to the cheese, on levels of its *training* distribution -- where the cheese always lies in the
maze's top-right region, so "go to the cheese" and "go top-right" are as confounded as in the
paper's training -- then PPO fine-tunes it on the same distribution. Nothing of the evaluation
distribution (cheese anywhere, held-out seeds) is seen.

The states: ``states`` start states drawn from the training levels -- a level from the
family's training distribution (:func:`avec.envs.draw_layout`, the generator the envs use, seeds
below :data:`~avec.generators.HELD_OUT_SEED_START`), then :attr:`CloneConfig.cells_per_level`
distinct free cells of it, the agent placed on each with a random facing. Every free cell, on
the way to the cheese or not, so the clone knows how to get back from anywhere. The label is the
set of actions that start a shortest way to the cheese (:func:`avec.metrics.target_actions`;
one of the four absolute moves in a perfect maze) and the loss is ``-log P(label set)``, the
cross-entropy of the policy's own action distribution (its value head is left to PPO).

Everything is seeded by the training seed: levels, cells and facings from
``np.random.default_rng(seed)``, minibatch order from ``torch.Generator`` seeded the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from avec import edits, envs, families, metrics


@dataclass(frozen=True)
class CloneConfig:
    """How a warm start clones the shortest-path move (see the module doc)."""

    states: int
    """Labelled start states drawn from the training distribution."""
    epochs: int
    """Passes over the states."""
    cells_per_level: int = 8
    """Distinct free cells taken from each drawn level (fewer where a level has fewer)."""
    batch_size: int = 256
    """States per gradient step."""
    learning_rate: float = 1e-3
    """Adam's learning rate for cloning (its own optimizer; PPO's starts afresh after)."""

    def __post_init__(self) -> None:
        for name in ("states", "epochs", "cells_per_level", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"warm_start {name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"warm_start learning_rate must be positive, got {self.learning_rate}")


def labelled_states(
    family: str, size: int, n: int, cells_per_level: int, seed: int
) -> tuple[list[Any], np.ndarray]:
    """``n`` training start states (layouts with the agent moved) and their ``(n, n_actions)``
    boolean labels: the actions that start a shortest way to the cheese."""
    rng = np.random.default_rng(seed)
    placed: list[Any] = []
    labels: list[frozenset[int]] = []
    while len(placed) < n:
        level = envs.draw_layout(rng, family, size, {})
        free = [c for c in level.free_cells() if c != level.cheese]
        picks = rng.permutation(len(free))[: min(cells_per_level, n - len(placed))]
        for i in picks:
            cell, facing = free[int(i)], int(rng.integers(4))
            labels.append(metrics.target_actions(level, "cheese", cell, facing))
            placed.append(edits.move_agent(level, cell, facing))
    n_actions = families.get(family).n_actions
    mask = np.zeros((n, n_actions), dtype=bool)
    for row, actions in enumerate(labels):
        mask[row, sorted(actions)] = True
    return placed, mask


def clone(model: Any, family: str, size: int, config: CloneConfig, seed: int) -> dict[str, Any]:
    """Train ``model``'s policy (an SB3 actor-critic) in place to copy the shortest-path move;
    returns what happened: ``states``, ``epochs``, the mean loss of each epoch and the share of
    the states whose most probable action starts a shortest way after the last epoch."""
    placed, mask = labelled_states(family, size, config.states, config.cells_per_level, seed)
    policy = model.policy
    obs = envs.observe(placed, envs.OBSERVATION_WRAPPERS[family])

    def logits(rows: torch.Tensor) -> torch.Tensor:
        # Normalised log-probabilities of SB3's categorical distribution, ``(len(rows), n)``.
        observations = policy.obs_to_tensor(obs[rows.numpy()])[0]
        return policy.get_distribution(observations).distribution.logits

    target = torch.from_numpy(mask)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    order = torch.Generator().manual_seed(seed)
    losses = []
    policy.set_training_mode(True)
    for _ in range(config.epochs):
        total = 0.0
        for rows in torch.randperm(len(placed), generator=order).split(config.batch_size):
            log_probs = logits(rows)
            labelled = log_probs.masked_fill(~target[rows], -torch.inf)
            loss = -torch.logsumexp(labelled, dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        losses.append(round(total / len(placed), 6))
    policy.set_training_mode(False)
    with torch.no_grad():
        chosen = torch.cat(
            [logits(rows).argmax(dim=1) for rows in torch.arange(len(placed)).split(4096)]
        )
    agreement = float(target[torch.arange(len(placed)), chosen].float().mean())
    return {
        "states": len(placed),
        "epochs": config.epochs,
        "epoch_losses": losses,
        "train_agreement": round(agreement, 6),
    }


__all__ = ["CloneConfig", "clone", "labelled_states"]
