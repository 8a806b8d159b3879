"""Vector fields for the report: where each agent would move, before and after subtracting the
feature vector.

The maze paper (Turner, Mini et al. 2023) drew, for every free square, the policy's net
movement as an arrow, and the field of the patched policy beside it. This module does the same
for the first model of every recipe (the lowest training seed of e.g. ``doorkey5-ppo-mlp``) on
the first :data:`LAYOUTS_PER_FAMILY` layouts of a fixed list of held-out generator seeds
(:data:`avec.envs.HELD_OUT_SEED_START` on): the original field, and the field with -1 x the
layout's own feature vector at the claim layer added at every cell (:mod:`avec.fields`). Mazes
are drawn with the cheese anywhere: where it sits in the top-right corner, the cheese's pull
and the corner's point the same way and the field cannot tell them apart.

Not a claim -- there is no verdict. The figures go to the report as ``vector_field`` data
(drawn by :func:`avec.plots.draw_field_data`), and the test checks that what it hands over
is a field: one finite arrow per free cell, no longer than a policy can move, and a patched
field that differs from the original exactly when the vector is not zero.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from avec import experiments as ex
from avec import fields, generators, hooks, plots, vectors
from avec.envs import HELD_OUT_SEED_START
from claims.conftest import model_params

LAYOUTS_PER_FAMILY = 2
"""Layouts drawn per model: generator seeds ``HELD_OUT_SEED_START + 0, 1, ...``."""

OPTIONS = {"cheesemaze": {"cheese_region": "anywhere"}}
"""Generator options per family (the cheese anywhere, so its pull and the corner's differ)."""


def first_of_each_recipe():
    """``model_params()`` restricted to the lowest seed of each recipe (id minus ``-s<seed>``)."""
    firsts = {}
    for param in model_params():
        recipe, _, seed = param.values[0].rpartition("-s")
        if recipe not in firsts or int(seed) < firsts[recipe][0]:
            firsts[recipe] = (int(seed), param)
    return [param for _, param in sorted(firsts.values(), key=lambda p: p[1].values[0])]


def field_layouts(agent):
    return [
        generators.generate(
            agent.family, agent.size, HELD_OUT_SEED_START + i, **OPTIONS.get(agent.family, {})
        )
        for i in range(LAYOUTS_PER_FAMILY)
    ]


@pytest.mark.parametrize("model_id", first_of_each_recipe())
def test_subtracting_the_feature_vector_redraws_the_vector_field(
    model_id, load_agent, report, tmp_path
):
    agent = load_agent(model_id)
    feature = ex.feature_of(agent)
    layer = ex.claim_layer(agent)
    for i, layout in enumerate(field_layouts(agent)):
        vector = vectors.feature_vector(agent, feature.vector, layout, layer)
        original, patched = fields.vector_fields(
            agent, layout, agent.wrappers, lambda v=vector: hooks.patch(agent, {layer: -v})
        )

        assert original.cells == tuple(layout.free_cells()) == patched.cells
        for field in (original, patched):
            assert field.vectors.shape == (len(field.cells), 2)
            assert np.isfinite(field.vectors).all()
            longest = fields.longest_arrow(layout)
            assert (np.linalg.norm(field.vectors, axis=1) <= longest + 1e-9).all()
        moved = np.abs(patched.vectors - original.vectors).max()
        if vector.norm > 0:
            assert moved > 1e-6, (
                f"-1 x a {feature.vector} vector of norm {vector.norm:.3g} "
                f"left the field of {model_id} unchanged on\n{layout}"
            )
        else:
            assert moved == 0, f"a zero vector changed the field of {model_id} by {moved}"

        # What a perfect intervention does: the same policy on the level without the feature.
        without = vectors.FEATURES[feature.vector](layout)[1]
        removal = fields.vector_field(agent, without, agent.wrappers, cells=original.cells)
        stem = f"vector_field-{model_id}-{i}"
        data = json.loads(
            json.dumps(
                fields.field_data(
                    original,
                    patched,
                    title=(
                        f"{model_id}: -1 x {feature.vector} vector at {layer} "
                        f"(norm {vector.norm:.3g})"
                    ),
                    removal=removal,
                )
            )
        )
        plots.draw_field_data(data, tmp_path / f"{stem}.png")
        assert (tmp_path / f"{stem}.png").stat().st_size > 0
        report.figure(stem, "vector_field", data)
