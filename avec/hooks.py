"""Named forward hooks on stable-baselines3 policies: list, read and rewrite layer outputs.

A *layer* is any submodule of a policy that runs in a forward pass, addressed by its
``named_modules()`` path -- ``features_extractor.flatten``, ``mlp_extractor.policy_net.2``,
``features_extractor.cnn.3``, ``action_net``. Three tools, all on PyTorch's
``register_forward_hook``:

* :func:`layers` lists what can be hooked, in the order outputs are produced, with the shape
  of one row of output and the branch it feeds (``shared``, ``policy``, ``value``).
* :func:`capture` records layer outputs during whatever forward passes run inside it.
* :func:`patch` adds to or rewrites layer outputs: a ``(*shape)`` vector added to every row, a
  ``(batch, *shape)`` tensor added row by row (each layout of a batch gets its own steering
  vector), or any ``fn(output) -> output``.

Hooks exist only inside a ``with`` block and exactly the handles registered there are removed
in ``finally`` -- also when the body raises and when blocks nest -- so a policy never keeps a
stale patch (the pattern of TransformerLens' ``hooks()`` and steering-vectors' ``apply()``).
Hooks on one layer run in the order they were registered: a :func:`capture` entered inside a
:func:`patch` sees the patched output; one entered outside it sees the original.

Which modules run is what matters, not which exist: SB3's ``get_distribution`` calls
``mlp_extractor.policy_net`` directly and never ``mlp_extractor.forward``, so a hook on
``mlp_extractor`` would never fire. :func:`layers` therefore runs one dummy forward pass through
every head (:func:`run`) and lists only modules that produced an output; asking for any other
name raises a ``ValueError`` listing the valid ones.

Supported: ``ActorCriticPolicy`` (PPO, A2C; MLP or CNN extractors), ``DQNPolicy`` and its
``QNetwork``. For DQN every layer feeds the Q-values, whose argmax is the policy, so its branch
is ``policy``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

Patch = torch.Tensor | np.ndarray | Callable[[torch.Tensor], torch.Tensor]
"""What :func:`patch` accepts per layer: a vector to add, or a function of the output."""


@dataclass(frozen=True)
class LayerInfo:
    """One hookable layer of a policy."""

    name: str
    """``named_modules()`` path, e.g. ``mlp_extractor.policy_net.0``."""
    module: str
    """Class name of the module, e.g. ``Linear`` or ``Conv2d``."""
    shape: tuple[int, ...]
    """Output shape of one observation (batch dimension dropped), e.g. ``(64,)``."""
    branch: str
    """Outputs this layer feeds: ``shared`` (action distribution and value), ``policy`` or
    ``value``."""


def policy_of(agent: Any) -> nn.Module:
    """The torch policy of a zoo :class:`~avec.zoo.Agent`, an SB3 algorithm or a policy."""
    if isinstance(agent, nn.Module):
        return agent
    model = getattr(agent, "model", agent)
    policy = getattr(model, "policy", None)
    if isinstance(policy, nn.Module):
        return policy
    raise TypeError(
        f"expected a zoo Agent, a stable-baselines3 algorithm or a policy, got {type(agent)}"
    )


def check_fits(
    agent: Any, family: str, observation_shape: Sequence[int], n_actions: int | None = None
) -> None:
    """Refuse to feed ``agent`` what it was not trained on: layouts of another family than its
    own (a zoo :class:`~avec.zoo.Agent` knows it), observations of another shape than its
    policy takes, or an env with another number of actions. Raises ``ValueError``."""
    own = getattr(agent, "family", None)
    if own is not None and own != family:
        raise ValueError(
            f"{getattr(agent, 'id', 'the agent')} is a {own} agent; it cannot play {family} layouts"
        )
    policy = policy_of(agent)
    space = getattr(policy, "observation_space", None)
    expected = tuple(space.shape) if space is not None else None
    # SB3 transposes (height, width, channels) images to the (channels, height, width) its
    # image policies take, so both layouts of an image fit.
    shape = tuple(observation_shape)
    fitting = (
        {expected, expected[1:] + expected[:1]} if expected and len(expected) == 3 else {expected}
    )
    if expected is not None and shape not in fitting:
        raise ValueError(
            f"{family} observations of shape {shape} do not fit the agent's "
            f"policy, which takes {expected}: layouts of another family or size, or other wrappers"
        )
    actions = getattr(getattr(policy, "action_space", None), "n", None)
    if n_actions is not None and actions is not None and int(actions) != n_actions:
        raise ValueError(
            f"the {family} env has {n_actions} actions, the agent's policy {int(actions)}"
        )


def _as_tensor(policy: nn.Module, observations: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(observations, torch.Tensor):
        return observations
    return policy.obs_to_tensor(observations)[0]


def _passes(policy: nn.Module) -> list[tuple[str, Callable[[torch.Tensor], Any]]]:
    if isinstance(policy, ActorCriticPolicy):
        return [("policy", policy.get_distribution), ("value", policy.predict_values)]
    if isinstance(policy, DQNPolicy):
        return [("policy", policy.q_net)]
    if isinstance(policy, QNetwork):
        return [("policy", policy)]
    raise TypeError(
        f"hooks support ActorCriticPolicy, DQNPolicy and QNetwork, not {type(policy).__name__}"
    )


def run(policy: Any, observations: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
    """One forward pass through every head of a policy (or agent), without gradients.

    ``observations`` are ``(batch, *obs_shape)``: a numpy array as the env returns them (SB3's
    ``obs_to_tensor`` converts and transposes) or a tensor already in the policy's layout.
    Returns ``probs`` ``(batch, n_actions)`` and ``values`` ``(batch, 1)`` for actor-critic
    policies, ``q_values`` ``(batch, n_actions)`` for DQN. Hooks active on ``policy`` fire.
    """
    policy = policy_of(policy)
    obs = _as_tensor(policy, observations)
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for branch, fn in _passes(policy):
            result = fn(obs)
            if isinstance(policy, ActorCriticPolicy):
                if branch == "policy":
                    out["probs"] = result.distribution.probs
                else:
                    out["values"] = result
            else:
                out["q_values"] = result
    return out


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[list[LayerInfo], dict[str, nn.Module]]] = (
    weakref.WeakKeyDictionary()
)


def _trace(policy: nn.Module) -> list[LayerInfo]:
    names = {module: name for name, module in policy.named_modules() if name}
    order: dict[str, tuple[str, tuple[int, ...]]] = {}
    fired: dict[str, set[str]] = {}
    current = [""]

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            name = names[module]
            order.setdefault(name, (type(module).__name__, tuple(output.shape[1:])))
            fired.setdefault(name, set()).add(current[0])

    handles = [module.register_forward_hook(record) for module in names]
    try:
        dummy = torch.zeros((1, *policy.observation_space.shape), dtype=torch.float32)
        with torch.no_grad():
            for branch, fn in _passes(policy):
                current[0] = branch
                fn(dummy)
    finally:
        for handle in handles:
            handle.remove()
    return [
        LayerInfo(name, kind, shape, "shared" if len(fired[name]) > 1 else next(iter(fired[name])))
        for name, (kind, shape) in order.items()
    ]


def _traced(policy: nn.Module) -> tuple[list[LayerInfo], dict[str, nn.Module]]:
    # Patches are entered once per rollout step, so the trace is cached per policy object.
    cached = _CACHE.get(policy)
    if cached is None:
        cached = (_trace(policy), dict(policy.named_modules()))
        _CACHE[policy] = cached
    return cached


def layers(policy: Any) -> list[LayerInfo]:
    """Every layer of ``policy`` that runs in a forward pass, in the order outputs are made.

    Found by one dummy forward pass (zeros of the observation space) through every head, with
    temporary hooks, and cached per policy object (replace a policy's submodules and the
    cache is stale: load a fresh policy instead).
    """
    return list(_traced(policy_of(policy))[0])


def _resolve(policy: nn.Module, names: Sequence[str]) -> dict[str, tuple[nn.Module, LayerInfo]]:
    infos, modules = _traced(policy)
    resolved = {}
    for name in names:
        info = next((info for info in infos if info.name == name), None)
        if info is None:
            why = (
                "exists but never runs in a forward pass"
                if name in modules
                else "is not a module of this policy"
            )
            raise ValueError(f"layer {name!r} {why}; valid layers: {[i.name for i in infos]}")
        resolved[name] = (modules[name], info)
    return resolved


@contextmanager
def _registered(hooks: Sequence[tuple[nn.Module, Callable[..., Any]]]) -> Iterator[None]:
    handles = []
    try:
        for module, fn in hooks:
            handles.append(module.register_forward_hook(fn))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def capture(policy: Any, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of ``names`` during the forward passes run inside the block.

    Yields a dict filled as layers fire: ``name -> (batch, *shape)`` tensor (detached; the
    most recent call wins when a shared layer runs once per head)::

        with hooks.capture(policy, ["mlp_extractor.policy_net.1"]) as acts:
            hooks.run(policy, observations)
        acts["mlp_extractor.policy_net.1"]  # (batch, 64)
    """
    policy = policy_of(policy)
    if isinstance(names, str):
        names = [names]
    captured: dict[str, torch.Tensor] = {}

    def recorder(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            captured[name] = output.detach().clone()

        return hook

    resolved = _resolve(policy, names)
    with _registered([(module, recorder(name)) for name, (module, _) in resolved.items()]):
        yield captured


def _adder(name: str, info: LayerInfo, value: torch.Tensor) -> Callable[..., torch.Tensor]:
    if tuple(value.shape) == info.shape:
        return lambda _module, _inputs, output: output + value
    if tuple(value.shape[1:]) == info.shape:
        rows = value.shape[0]

        def per_row(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            if output.shape[0] != rows:
                raise ValueError(
                    f"per-row patch for {name!r} has {rows} rows {tuple(value.shape)}, but the "
                    f"batch has {output.shape[0]} rows {tuple(output.shape)}"
                )
            return output + value

        return per_row
    raise ValueError(
        f"patch for {name!r} has shape {tuple(value.shape)}, but the layer outputs "
        f"(batch, {', '.join(map(str, info.shape))}); pass shape {info.shape} (added to every "
        f"row) or (batch, {', '.join(map(str, info.shape))}) (one row each)"
    )


def _caller(name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[..., torch.Tensor]:
    def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        result = fn(output)
        if not isinstance(result, torch.Tensor):
            raise TypeError(f"patch function for {name!r} returned {type(result)}, not a tensor")
        return result

    return hook


@contextmanager
def patch(policy: Any, patches: Mapping[str, Patch]) -> Iterator[None]:
    """Add to or rewrite the outputs of layers during the forward passes inside the block.

    ``patches`` maps a layer name to

    * a ``(*shape)`` tensor or array, added to every row of the layer's ``(batch, *shape)``
      output;
    * a ``(batch, *shape)`` tensor or array, added row by row (the batch must match);
    * a function ``fn(output) -> output`` returning the replacement output.

    Raises ``ValueError`` for an unknown layer (listing the valid ones) or a vector whose shape
    fits neither form (naming both shapes).
    """
    policy = policy_of(policy)
    resolved = _resolve(policy, list(patches))
    hooks = []
    for name, value in patches.items():
        module, info = resolved[name]
        if callable(value) and not isinstance(value, torch.Tensor):
            hooks.append((module, _caller(name, value)))
        else:
            tensor = (
                value.to(torch.float32)
                if isinstance(value, torch.Tensor)
                else torch.tensor(np.asarray(value), dtype=torch.float32)
            ).to(policy.device)
            hooks.append((module, _adder(name, info, tensor)))
    with _registered(hooks):
        yield


__all__ = [
    "LayerInfo",
    "Patch",
    "capture",
    "check_fits",
    "layers",
    "patch",
    "policy_of",
    "run",
]
