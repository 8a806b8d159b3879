"""Vector fields: known arrows on a corridor from a hand-made policy, and a real agent's field."""

import contextlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gymnasium import spaces
from matplotlib.image import imread
from minigrid.core.constants import OBJECT_TO_IDX
from stable_baselines3.common.policies import ActorCriticPolicy

from avec import fields, from_ascii, generate, hooks, plots, zoo
from avec.envs import OBSERVATION_WRAPPERS

CORRIDOR = from_ascii("""
cheesemaze 7x7
#######
#######
#######
#>....#
#######
#######
#######
""")
"""A 1-wide corridor, cells (1, 3) to (5, 3)."""

MAZE_WRAPPERS = OBSERVATION_WRAPPERS["cheesemaze"]


class WalkToColumn(ActorCriticPolicy):
    """A hand-made policy whose field is known: a stable-baselines3 policy with its action
    distribution replaced.

    It reads the agent's cell and facing off the full-grid observation and moves forward with
    probability 1 exactly when that brings it closer to column ``column``, else it turns (left
    and right equally likely). Inside :meth:`reversed` it heads away from the column instead.
    So on the corridor its arrow is ``(+1/4, 0)`` left of the column, ``(-1/4, 0)`` right of it
    and zero on it; reversed, the arrows flip (on the column it walks off either way: zero).
    """

    def __init__(self, column: int) -> None:
        super().__init__(
            spaces.Box(0, 255, (7, 7, 3), np.uint8), spaces.Discrete(3), lambda _: 0.0, net_arch=[]
        )
        self.column = column
        self.away = False
        self.calls: list[bool] = []

    def get_distribution(self, obs: torch.Tensor) -> SimpleNamespace:
        self.calls.append(self.away)
        is_agent = obs[..., 0] == OBJECT_TO_IDX["agent"]  # (batch, x, y)
        _, x, _ = torch.nonzero(is_agent, as_tuple=True)
        facing = obs[..., 2][is_agent].long()
        step = torch.tensor([1, 0, -1, 0])[facing]  # x change of a forward step per facing
        toward = (self.column - x) * step > 0
        if self.away:
            toward = ((x - self.column) * step > 0) | ((x == self.column) & (step != 0))
        forward = toward.double()
        probs = torch.stack([(1 - forward) / 2, (1 - forward) / 2, forward], dim=1)
        return SimpleNamespace(distribution=torch.distributions.Categorical(probs=probs))

    @contextlib.contextmanager
    def reversed(self):
        self.away = True
        try:
            yield
        finally:
            self.away = False


def test_field_has_one_arrow_per_free_cell_in_row_major_order():
    field = fields.vector_field(WalkToColumn(3), CORRIDOR, MAZE_WRAPPERS)
    assert field.cells == tuple((x, 3) for x in range(1, 6))
    assert field.vectors.shape == (5, 2)
    assert field.probs.shape == (5, 4, 3)


def test_arrows_on_a_corridor_point_to_the_column_the_policy_walks_to():
    field = fields.vector_field(WalkToColumn(3), CORRIDOR, MAZE_WRAPPERS)
    expected = [(0.25, 0), (0.25, 0), (0, 0), (-0.25, 0), (-0.25, 0)]
    np.testing.assert_allclose(field.vectors, expected)
    np.testing.assert_allclose(field.at((5, 3)), (-0.25, 0))


def test_patched_field_is_computed_inside_the_patch_and_its_difference_is_known():
    stub = WalkToColumn(3)
    original, patched = fields.vector_fields(stub, CORRIDOR, MAZE_WRAPPERS, stub.reversed)
    assert stub.calls == [False, True]
    assert not stub.away
    np.testing.assert_allclose(patched.vectors, -original.vectors)
    np.testing.assert_allclose(fields.difference(original, patched).vectors, -2 * original.vectors)
    alone = fields.vector_field(stub, CORRIDOR, MAZE_WRAPPERS, patch=stub.reversed)
    np.testing.assert_allclose(alone.vectors, patched.vectors)


def test_net_movement_weights_each_facing_by_its_forward_probability():
    probs = np.zeros((1, 4, 3))
    probs[0, :, 2] = [1.0, 0.5, 0.0, 0.25]  # right, down, left, up
    np.testing.assert_allclose(fields.net_movement(probs), [[0.25, (0.5 - 0.25) / 4]])
    with pytest.raises(ValueError, match="4 facings"):
        fields.net_movement(np.zeros((1, 3, 3)))


def test_absolute_moves_read_as_arrows_directly_averaged_over_facings():
    probs = np.zeros((2, 4, 4))
    probs[0, :, 0] = 1.0  # always right
    probs[1, :2] = [0.5, 0.0, 0.0, 0.5]  # facing right or down: right or up
    probs[1, 2:] = [0.0, 1.0, 0.0, 0.0]  # facing left or up: down
    np.testing.assert_allclose(fields.net_movement(probs, absolute=True), [[1, 0], [0.25, 0.25]])
    with pytest.raises(ValueError, match="absolute moves need 4"):
        fields.net_movement(np.zeros((1, 4, 3)), absolute=True)


def test_the_longest_arrow_follows_the_familys_moves():
    assert fields.longest_arrow(generate("procmaze", 13, 0)) == 1.0
    assert fields.longest_arrow(CORRIDOR) == pytest.approx(np.hypot(0.25, 0.25))


def test_a_procgen_move_maze_field_uses_the_absolute_reading():
    maze = generate("procmaze", 13, 0)
    cells = maze.free_cells()[:2]
    probs = np.zeros((2, 4, 4))
    probs[..., 3] = 1.0  # always up
    field = fields.field_from_probs(maze, cells, probs)
    np.testing.assert_allclose(field.vectors, [[0, -1], [0, -1]])


def test_plot_writes_original_patched_and_difference_png(tmp_path):
    stub = WalkToColumn(3)
    original, patched = fields.vector_fields(stub, CORRIDOR, MAZE_WRAPPERS, stub.reversed)
    path = plots.plot_fields(tmp_path / "sub" / "field.png", original, patched, title="stub")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def doorkey_agent(models_dir: Path) -> zoo.Agent:
    """The first DoorKey-5x5 agent of ``--models-dir`` (the committed zoo by default)."""
    ids = [i for i in zoo.model_ids(models_dir, family="doorkey") if "doorkey5" in i]
    if not ids:
        pytest.skip(f"no DoorKey-5x5 agent in {models_dir}")
    return zoo.load(ids[0], models_dir=models_dir)


def test_trained_doorkey_agent_field_has_an_arrow_per_free_cell(tmp_path, doorkey_agent):
    agent = doorkey_agent
    layout = generate("doorkey", 5, 2**30)
    field = fields.vector_field(agent.model, layout, agent.wrappers)
    assert field.cells == tuple(layout.free_cells())
    assert field.probs.shape == (len(layout.free_cells()), 4, 7)
    np.testing.assert_allclose(field.probs.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.linalg.norm(field.vectors, axis=1) <= np.sqrt(2) / 4 + 1e-6)
    path = plots.plot_fields(tmp_path / "doorkey.png", field, title=agent.id)
    assert path.stat().st_size > 0


def test_trained_agent_field_is_unchanged_by_a_zero_patch_and_changed_by_a_large_one(
    doorkey_agent,
):
    agent = doorkey_agent
    layout = generate("doorkey", 5, 2**30)
    layer = "mlp_extractor.policy_net.0"
    zero, ones = np.zeros(64, dtype=np.float32), np.full(64, 10.0, dtype=np.float32)
    original, unchanged = fields.vector_fields(
        agent, layout, agent.wrappers, lambda: hooks.patch(agent, {layer: zero})
    )
    np.testing.assert_array_equal(unchanged.probs, original.probs)
    _, changed = fields.vector_fields(
        agent, layout, agent.wrappers, lambda: hooks.patch(agent, {layer: ones})
    )
    assert np.abs(changed.probs - original.probs).max() > 0.01


def test_the_removal_difference_is_drawn_as_a_fourth_panel_on_the_patched_scale(tmp_path):
    stub = WalkToColumn(3)
    original, patched = fields.vector_fields(stub, CORRIDOR, MAZE_WRAPPERS, stub.reversed)
    data = fields.field_data(original, patched, "stub", removal=patched)
    assert data["removal"] == data["patched"]
    plots.draw_field_data(json.loads(json.dumps(data)), tmp_path / "four.png")
    plots.draw_field_data({k: v for k, v in data.items() if k != "removal"}, tmp_path / "three.png")
    four, three = imread(tmp_path / "four.png"), imread(tmp_path / "three.png")
    assert four.shape[1] > three.shape[1]
    elsewhere = fields.VectorField(CORRIDOR, original.cells[:-1], original.vectors[:-1], None)
    with pytest.raises(ValueError, match="the removal field must be on the original's cells"):
        fields.field_data(original, patched, removal=elsewhere)
