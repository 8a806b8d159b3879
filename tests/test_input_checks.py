"""Public entry points refuse what does not fit: an agent on another family's layouts,
observations of another shape, a vector that is not finite or not of its layer's shape."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from avec import experiments, generators, rollouts, training, vectors, zoo

fresh = functools.cache(training.untrained)


@pytest.fixture(scope="module")
def doorkey_agent(models_dir: Path) -> zoo.Agent:
    ids = [i for i in zoo.model_ids(models_dir, family="doorkey") if "doorkey5" in i]
    if not ids:
        pytest.skip(f"no DoorKey-5x5 agent in {models_dir}")
    return zoo.load(ids[0], models_dir)


MAZES = [generators.generate("cheesemaze", 7, s) for s in range(2)]
DOORKEYS = [generators.generate("doorkey", 5, s) for s in range(2)]


def test_a_doorkey_agent_on_maze_layouts_is_refused_by_every_entry_point(doorkey_agent):
    message = f"{doorkey_agent.id} is a doorkey agent; it cannot play cheesemaze layouts"
    with pytest.raises(ValueError, match=message):
        rollouts.run(doorkey_agent, MAZES, seed=0)
    with pytest.raises(ValueError, match=message):
        vectors.feature_vector(doorkey_agent, "cheese", MAZES, "mlp_extractor.policy_net.0")
    with pytest.raises(ValueError, match=message):
        vectors.per_layout(doorkey_agent, "cheese", MAZES, "mlp_extractor.policy_net.0")
    with pytest.raises(ValueError, match=message):
        experiments.probabilities(doorkey_agent, MAZES)


def test_a_bare_model_is_refused_observations_of_another_shape():
    maze_model = fresh("cnn", "cheesemaze", 7)  # takes (3, 7, 7) whole-maze images
    wrappers = ("minigrid.wrappers.FullyObsWrapper", "minigrid.wrappers.ImgObsWrapper")
    message = "shape \\(8, 8, 3\\) do not fit the agent's policy, which takes \\(3, 7, 7\\)"
    with pytest.raises(ValueError, match=message):
        rollouts.run(maze_model, [generators.generate("doorkey", 8, 0)], seed=0, wrappers=wrappers)


def test_a_bare_model_is_refused_an_env_with_another_number_of_actions():
    doorkey_model = fresh("mlp", "doorkey", 5)  # 7 actions; FourRooms has 3
    rooms = [generators.generate("fourrooms", 19, 0)]
    wrappers = ("minigrid.wrappers.ImgObsWrapper",)
    with pytest.raises(ValueError, match="the fourrooms env has 3 actions, the agent's policy 7"):
        rollouts.run(doorkey_model, rooms, seed=0, wrappers=wrappers)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_vector_with_non_finite_values_is_refused(bad):
    values = np.zeros(64, dtype=np.float32)
    values[3] = bad
    with pytest.raises(ValueError, match="1 non-finite values"):
        vectors.SteeringVector("mlp_extractor.policy_net.0", values, ())


def test_a_vector_of_another_shape_than_its_layer_is_refused():
    model = fresh("mlp", "doorkey", 5)
    wrong = vectors.SteeringVector("mlp_extractor.policy_net.0", np.ones(7), ())
    wrappers = ("minigrid.wrappers.ImgObsWrapper",)
    with pytest.raises(ValueError, match="shape"):
        rollouts.run(model, DOORKEYS, seed=0, wrappers=wrappers, steering=wrong)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--config", "{tmp}/no_recipes.toml", "x"], "a train config has [recipes.NAME]"),
        (
            ["report", "--readme", "{tmp}/R.md", "--report", "{tmp}/other.json"],
            "not an avec report",
        ),
        (["report", "--history=--output={tmp}/written"], "takes a git revision range"),
        (["zoo", "--models-dir", "{tmp}/empty"], "no models in"),
    ],
    ids=["train config without recipes", "readme from another json", "history option", "empty"],
)
def test_bad_cli_input_is_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    from avec import cli

    (tmp_path / "no_recipes.toml").write_text("[other]\nx = 1\n")
    (tmp_path / "other.json").write_text('{"a": 1}')
    (tmp_path / "R.md").write_text("readme\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "manifest.json").write_text('{"schema": 1, "models": {}}')
    code = cli.main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "written").exists()
    assert (tmp_path / "R.md").read_text() == "readme\n"
