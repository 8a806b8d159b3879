"""Steering vectors: a difference of activations that, added at one layer, edits behaviour.

A steering vector is computed from a *pair* of inputs that differ in one feature -- the same
DoorKey level with and without its key, the same maze with and without cheese -- as the
difference of one layer's activations, ``act(with) - act(without)``. Added back at that layer
(:func:`avec.hooks.patch`) with a coefficient, it is meant to change the agent's behaviour
towards (``+``) or away from (``-``) the feature, without retraining. That is the Algebraic
Value-Editing Conjecture:

* ActAdd, Turner et al. 2023 (arXiv 2308.10248): "Love" minus "Hate" activations added to
  GPT-2-XL at one layer steer the sentiment of its text.
* Turner, Mini et al. 2023, "Understanding and controlling a maze-solving policy network"
  (arXiv 2310.08043): the *cheese vector*, one maze with minus without cheese with the mouse on
  its start square, subtracted at every step, makes the agent ignore the cheese; the
  *top-right vector* (maze with a corridor to the top-right corner minus the maze) added pulls
  it there. A random vector of the same norm is the control.

Both papers compute a vector on one input at the agent's start state; :func:`compute` does the
same by default (one pair of layouts, the start observation of each) and averages the
differences when given several pairs, recording how. :func:`feature_vector` builds the pairs
for the features this project studies (:data:`FEATURES`).

Vectors carry their provenance as a linear combination of :class:`Term`\\ s: which model, which
feature, the layouts (as ASCII, which also draws the agent's state) and how they were
aggregated, each with its coefficient. Arithmetic at one layer -- ``a + b``, ``a - b``,
``2.0 * a``, the sign flip ``-a`` -- combines values and provenance alike; :func:`random_like`
is the norm-matched seeded random control. ``save``/``load`` keep both in one ``.npz``.
A vector converts to an array, so it patches a policy as it is:
``hooks.patch(policy, {v.layer: -v})``.

Shapes: a vector holds one row of its layer's output, ``(*shape)`` -- ``(64,)`` after an MLP
layer, ``(channels, height, width)`` after a convolution; see :func:`avec.hooks.layers`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avec import edits, envs, hooks
from avec.layouts import (
    CheeseMazeLayout,
    DoorKeyLayout,
    FourRoomsLayout,
    LavaGapLayout,
    Layout,
    LayoutError,
)


@dataclass(frozen=True)
class Term:
    """One ingredient of a steering vector: what was computed, and with which coefficient."""

    coefficient: float
    """Multiplier of this ingredient in the vector (``-1.0`` for a subtracted feature)."""
    feature: str
    """Name of the feature, e.g. ``key``, ``cheese``, ``top_right`` or ``random``."""
    model: str = ""
    """Id of the model whose activations were used (empty if unknown)."""
    with_layouts: tuple[str, ...] = ()
    """ASCII of each with-feature layout; the agent drawn in it is the state observed."""
    without_layouts: tuple[str, ...] = ()
    """ASCII of each paired without-feature layout."""
    aggregation: str = "single"
    """How pairs became one vector: ``single`` (one pair), ``mean`` (mean of the per-pair
    differences) or ``random`` (a norm-matched random control)."""
    seed: int | None = None
    """Seed of a random control, when it was drawn from an integer seed."""

    def source(self) -> Term:
        """This term with coefficient 1: the identity of the ingredient."""
        return dataclasses.replace(self, coefficient=1.0)


@dataclass(frozen=True, eq=False)
class SteeringVector:
    """Values to add at one layer, and where they came from."""

    layer: str
    """``named_modules()`` path of the layer the vector is added to."""
    values: np.ndarray
    """``(*shape)`` float32 values, one row of the layer's output (read-only)."""
    terms: tuple[Term, ...]
    """Provenance: the vector is the sum of ``coefficient * ingredient`` over these terms."""

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ValueError(
                f"steering vector at {self.layer!r} has {int((~np.isfinite(values)).sum())} "
                "non-finite values (NaN or inf); a vector must be finite"
            )
        values.flags.writeable = False
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "terms", tuple(self.terms))

    # -- reading ----------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def norm(self) -> float:
        """Euclidean norm of the values."""
        return float(np.linalg.norm(self.values.astype(np.float64)))

    @property
    def feature(self) -> str:
        """The provenance as an expression, e.g. ``-1*key`` or ``-1*cheese + 1*top_right``."""
        return " + ".join(f"{t.coefficient:g}*{t.feature}" for t in self.terms) or "0"

    @property
    def models(self) -> tuple[str, ...]:
        """Ids of the models the ingredients were computed on, in order of first use."""
        return tuple(dict.fromkeys(t.model for t in self.terms if t.model))

    def tensor(self) -> torch.Tensor:
        """The values as a float32 tensor (a copy)."""
        return torch.tensor(self.values)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # Lets a vector go straight into hooks.patch: {v.layer: -v}.
        return np.array(self.values, dtype=dtype)

    def __repr__(self) -> str:
        return (
            f"SteeringVector({self.feature!r} at {self.layer!r}, shape={self.shape}, "
            f"norm={self.norm:.4g})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SteeringVector):
            return NotImplemented
        return (self.layer, self.terms) == (other.layer, other.terms) and np.array_equal(
            self.values, other.values
        )

    __hash__ = None  # type: ignore[assignment]

    # -- arithmetic -------------------------------------------------------------------------

    def _check_compatible(self, other: SteeringVector) -> None:
        if not isinstance(other, SteeringVector):
            raise TypeError(f"can only combine a SteeringVector with another, not {type(other)}")
        if other.layer != self.layer:
            raise ValueError(
                f"cannot combine vectors at different layers: {self.layer!r} and {other.layer!r}"
            )
        if other.shape != self.shape:
            raise ValueError(
                f"cannot combine vectors of shapes {self.shape} and {other.shape} at {self.layer!r}"
            )

    def __add__(self, other: SteeringVector) -> SteeringVector:
        self._check_compatible(other)
        coefficients: dict[Term, float] = {}
        for term in (*self.terms, *other.terms):
            key = term.source()
            coefficients[key] = coefficients.get(key, 0.0) + term.coefficient
        terms = tuple(
            dataclasses.replace(key, coefficient=c) for key, c in coefficients.items() if c != 0
        )
        return SteeringVector(self.layer, self.values + other.values, terms)

    def __mul__(self, scale: float) -> SteeringVector:
        if not isinstance(scale, (int, float, np.number)):
            return NotImplemented
        scale = float(scale)
        terms = tuple(dataclasses.replace(t, coefficient=t.coefficient * scale) for t in self.terms)
        return SteeringVector(self.layer, self.values * np.float32(scale), terms)

    __rmul__ = __mul__

    def __neg__(self) -> SteeringVector:
        return self * -1.0

    def __sub__(self, other: SteeringVector) -> SteeringVector:
        self._check_compatible(other)
        return self + (-other)

    # -- storage ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready provenance (layer, shape, norm, terms); the values are not included."""
        return {
            "layer": self.layer,
            "shape": list(self.shape),
            "norm": self.norm,
            "feature": self.feature,
            "terms": [dataclasses.asdict(t) for t in self.terms],
        }

    def save(self, path: str | Path) -> Path:
        """Write values and provenance to one ``.npz`` file; returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        np.savez(path, values=self.values, provenance=np.array(json.dumps(self.to_dict())))
        return path

    @classmethod
    def load(cls, path: str | Path) -> SteeringVector:
        """Read a vector written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            values = data["values"]
            provenance = json.loads(str(data["provenance"]))
        terms = tuple(
            Term(
                **{
                    **t,
                    "with_layouts": tuple(t["with_layouts"]),
                    "without_layouts": tuple(t["without_layouts"]),
                }
            )
            for t in provenance["terms"]
        )
        return cls(provenance["layer"], values, terms)


def random_like(vector: SteeringVector, rng: np.random.Generator | int) -> SteeringVector:
    """A seeded Gaussian random vector at the same layer with the same norm (the control).

    ``rng`` is a generator or an integer seed (recorded in the provenance).
    """
    seed = rng if isinstance(rng, (int, np.integer)) else None
    generator = np.random.default_rng(rng) if seed is not None else rng
    direction = generator.standard_normal(vector.shape)
    values = direction * (vector.norm / np.linalg.norm(direction))
    term = Term(
        1.0,
        "random",
        model=",".join(vector.models),
        aggregation="random",
        seed=None if seed is None else int(seed),
    )
    return SteeringVector(vector.layer, values, (term,))


def _as_list(layouts: Layout | Sequence[Layout]) -> list[Layout]:
    return [layouts] if isinstance(layouts, Layout) else list(layouts)


def _differences(
    agent: Any,
    layer: str,
    with_list: Sequence[Layout],
    without_list: Sequence[Layout],
    wrappers: Sequence[str],
) -> np.ndarray:
    """``(n, *layer_shape)`` ``act(with_i) - act(without_i)`` at ``layer``, from one batched
    forward pass over the start observations of the paired layouts."""
    policy = hooks.policy_of(agent)
    observations = envs.observe([*with_list, *without_list], wrappers)
    hooks.check_fits(agent, with_list[0].family, observations.shape[1:])
    with hooks.capture(policy, [layer]) as acts:
        hooks.run(policy, observations)
    activations = acts[layer].cpu().numpy()
    n = len(with_list)
    return activations[:n] - activations[n:]


def compute(
    agent: Any,
    layer: str,
    with_layouts: Layout | Sequence[Layout],
    without_layouts: Layout | Sequence[Layout],
    wrappers: Sequence[str] | None = None,
    feature: str = "feature",
    model_id: str | None = None,
) -> SteeringVector:
    """``act(with) - act(without)`` at ``layer``, on the start observations of paired layouts.

    Args:
        agent: a zoo :class:`~avec.zoo.Agent` (its wrappers and id are used), an SB3 algorithm
            or a policy.
        layer: a name from :func:`avec.hooks.layers`.
        with_layouts: one layout, or several, showing the feature.
        without_layouts: the same layouts without it, paired by position.
        wrappers: observation wrappers (default: the agent's).
        feature: name recorded in the provenance.
        model_id: model id recorded in the provenance (default: the agent's id).

    One pair gives that pair's difference (aggregation ``single``); several give the mean of
    the per-pair differences (``mean``).
    """
    with_list, without_list = _as_list(with_layouts), _as_list(without_layouts)
    if not with_list or len(with_list) != len(without_list):
        raise ValueError(
            f"need paired layouts: got {len(with_list)} with and {len(without_list)} without"
        )
    wrappers = wrappers if wrappers is not None else getattr(agent, "wrappers", None)
    if wrappers is None:
        raise ValueError("pass the observation wrappers the agent was trained with (wrappers=)")
    n = len(with_list)
    differences = _differences(agent, layer, with_list, without_list, wrappers)
    values = differences[0] if n == 1 else differences.mean(axis=0)
    term = Term(
        1.0,
        feature,
        model=model_id if model_id is not None else getattr(agent, "id", ""),
        with_layouts=tuple(lay.to_ascii() for lay in with_list),
        without_layouts=tuple(lay.to_ascii() for lay in without_list),
        aggregation="single" if n == 1 else "mean",
    )
    return SteeringVector(layer, values, (term,))


# -- the features studied: each maps a layout to its (with, without) pair ----------------------


def key_pair(layout: DoorKeyLayout) -> tuple[Layout, Layout]:
    """DoorKey level with its key, and without it (the poster's key vector)."""
    return layout, edits.remove(layout, "key")


def cheese_pair(layout: CheeseMazeLayout) -> tuple[Layout, Layout]:
    """Maze with its cheese, and without it (the maze paper's cheese vector)."""
    return layout, edits.remove(layout, "cheese")


def goal_pair(layout: FourRoomsLayout) -> tuple[Layout, Layout]:
    """FourRooms level with its goal, and without it. The agent sees a 7x7 view: if the goal is
    out of view both observations are equal and the vector is zero."""
    return layout, edits.remove(layout, "goal")


def top_right_pair(layout: CheeseMazeLayout) -> tuple[Layout, Layout]:
    """Maze with a corridor opened to its top-right corner, and the maze as it was (the maze
    paper's top-right vector)."""
    return edits.open_top_right(layout), layout


def door_color_pair(layout: DoorKeyLayout, to: str = "red") -> tuple[Layout, Layout]:
    """DoorKey level with its door's colour, and with the door recoloured ``to``."""
    if layout.door_color == to:
        raise LayoutError(f"the door is already {to}; pick another colour to contrast with")
    return layout, edits.recolor(layout, door=to)


def color_pair(layout: DoorKeyLayout, to: str = "red") -> tuple[Layout, Layout]:
    """DoorKey level with key and door both in its door's colour, and both in ``to`` (the
    colour vector, a control: colour carries no task information in training, where MiniGrid's
    DoorKey makes key and door yellow every time)."""
    if layout.door_color == to:
        raise LayoutError(f"the door is already {to}; pick another colour to contrast with")
    return edits.recolor_both(layout, layout.door_color), edits.recolor_both(layout, to)


def lava_pair(layout: LavaGapLayout) -> tuple[Layout, Layout]:
    """LavaGap level with its lava, and with floor in the lava's column (the lava vector)."""
    return layout, edits.remove(layout, "lava")


FEATURES: dict[str, Callable[[Any], tuple[Layout, Layout]]] = {
    "key": key_pair,
    "cheese": cheese_pair,
    "goal": goal_pair,
    "top_right": top_right_pair,
    # Against red, or blue where the door is red (MiniGrid's own DoorKey doors are yellow).
    "door_color": lambda lay: door_color_pair(lay, "blue" if lay.door_color == "red" else "red"),
    "color": color_pair,
    "lava": lava_pair,
}
"""Pair builder of each feature, by name."""


def feature_vector(
    agent: Any,
    feature: str,
    layouts: Layout | Sequence[Layout],
    layer: str,
    wrappers: Sequence[str] | None = None,
    model_id: str | None = None,
) -> SteeringVector:
    """The ``feature`` vector of ``agent`` at ``layer`` from one layout or the mean over many."""
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; valid: {sorted(FEATURES)}")
    pairs = [FEATURES[feature](layout) for layout in _as_list(layouts)]
    return compute(
        agent,
        layer,
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        wrappers,
        feature=feature,
        model_id=model_id,
    )


def per_layout(
    agent: Any, feature: str, layouts: Sequence[Layout], layer: str
) -> list[SteeringVector]:
    """One ``feature`` vector per layout at ``layer`` (start state), from one forward pass of a
    zoo :class:`~avec.zoo.Agent` (its wrappers and id are used)."""
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; valid: {sorted(FEATURES)}")
    pairs = [FEATURES[feature](layout) for layout in layouts]
    with_list, without_list = [p[0] for p in pairs], [p[1] for p in pairs]
    differences = _differences(agent, layer, with_list, without_list, agent.wrappers)
    return [
        SteeringVector(
            layer,
            differences[i],
            (
                Term(
                    1.0,
                    feature,
                    model=agent.id,
                    with_layouts=(with_list[i].to_ascii(),),
                    without_layouts=(without_list[i].to_ascii(),),
                    aggregation="single",
                ),
            ),
        )
        for i in range(len(layouts))
    ]


def held_out_means(
    agent: Any,
    feature: str,
    layouts: Sequence[Layout],
    sources: Sequence[Layout],
    layer: str,
) -> list[SteeringVector]:
    """For each of ``layouts``, the mean ``feature`` vector of ``agent`` at ``layer`` over the
    ``sources`` the agent sees differently at the start.

    A source whose start observation equals the layout's is left out of that layout's mean, so
    no vector is judged on an input it was computed from (a small level family such as
    DoorKey-5x5, 48 levels in all, would otherwise share many). ``sources`` may be of another
    size than ``layouts`` when the agent's observations have one shape at both (DoorKey's 7x7
    view). Returns one vector per layout, aggregation ``mean``, listing the sources used.
    """
    per_source = per_layout(agent, feature, sources, layer)
    values = np.stack([v.values for v in per_source]).astype(np.float64)
    seen = envs.observe(list(sources), agent.wrappers).reshape(len(sources), -1)
    shown = envs.observe(list(layouts), agent.wrappers).reshape(len(layouts), -1)
    if seen.shape[1] != shown.shape[1]:
        raise ValueError(
            f"sources give observations of {seen.shape[1]} values and layouts of "
            f"{shown.shape[1]}: the agent cannot read both, pick sources of the layouts' size"
        )
    kept = ~(shown[:, None, :] == seen[None, :, :]).all(axis=-1)
    means = []
    for i, keep in enumerate(kept):
        if not keep.any():
            raise ValueError(f"every source looks like layout {i} to the agent; add sources")
        used = [per_source[j].terms[0] for j in np.flatnonzero(keep)]
        term = Term(
            1.0,
            feature,
            model=agent.id,
            with_layouts=tuple(t.with_layouts[0] for t in used),
            without_layouts=tuple(t.without_layouts[0] for t in used),
            aggregation="mean",
        )
        means.append(SteeringVector(layer, values[keep].mean(axis=0), (term,)))
    return means


__all__ = [
    "FEATURES",
    "SteeringVector",
    "Term",
    "cheese_pair",
    "color_pair",
    "compute",
    "door_color_pair",
    "feature_vector",
    "goal_pair",
    "held_out_means",
    "key_pair",
    "lava_pair",
    "per_layout",
    "random_like",
    "top_right_pair",
]
