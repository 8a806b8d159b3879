"""Learning-curve tooling: checkpoints hold tensors only and load back exactly; the held-out
mazes are split by where the cheese lies."""

import json
import pickle

import pytest
import torch
from stable_baselines3 import PPO

from avec import curves, envs, training
from avec.generators import PADDED_REGION

CONFIG = training.load_zoo_config(training.ROOT / "fixtures" / "zoo-training.toml")[
    "paddedmaze13-ppo-cnn-s0"
]


def test_checkpoints_are_saved_as_it_trains_and_load_back_exactly(tmp_path):
    config = training.TrainConfig(
        id="tiny",
        env_id="avec/LavaGapS7-v0",
        family="lavagap",
        size=7,
        seed=0,
        total_timesteps=256,
        n_envs=2,
        hyperparameters={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
        eval_episodes=2,
    )
    training.train(config, tmp_path, progress=False, checkpoints=tmp_path, checkpoint_every=128)
    found = curves.checkpoints(tmp_path)
    assert [steps for steps, _ in found] == [128, 256]
    model = curves.load_parameters(config, found[-1][1])
    saved = torch.load(found[-1][1], weights_only=True)
    for name, tensor in model.policy.state_dict().items():
        assert torch.equal(tensor, saved[name])


def test_a_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (ran.touch, ())

    path = tmp_path / "params-000000001.pt"
    torch.save({"features_extractor.cnn.0.weight": Payload()}, path)
    with pytest.raises(pickle.UnpicklingError):
        curves.load_parameters(CONFIG, path)
    assert not ran.exists()


def test_held_out_mazes_split_by_where_the_cheese_lies():
    trained, elsewhere = curves.held_out_mazes(CONFIG, 30)
    assert len(trained) == len(elsewhere) == 30
    assert all(m.in_top_right(m.cheese, PADDED_REGION) for m in trained)
    assert not any(m.in_top_right(m.cheese, PADDED_REGION) for m in elsewhere)
    assert len({m.maze_size for m in trained}) >= 4


def test_measure_writes_one_curve_point_per_checkpoint_and_bad_ids_exit_2(tmp_path, capsys):
    config_file = training.ROOT / "fixtures" / "zoo-training.toml"
    run = tmp_path / CONFIG.id
    run.mkdir()
    model = PPO(
        "CnnPolicy",
        envs.make(CONFIG.env_id, CONFIG.wrappers),
        policy_kwargs=CONFIG.policy_kwargs(),
        device="cpu",
        n_steps=64,
        batch_size=64,
    )
    torch.save(model.policy.state_dict(), run / "params-000000064.pt")
    args = ["--run", str(tmp_path), "--config", str(config_file), "--mazes", "4"]
    assert curves.main(["measure", "nope-s0", *args]) == 2
    assert "unknown model id 'nope-s0'" in capsys.readouterr().err
    assert curves.main(["measure", CONFIG.id, *args]) == 0
    point = json.loads((run / "curve.json").read_text())["64"]
    assert point["mazes"] == 4 and point["success"]["n"] == 4
    assert point["top_right_without_cheese"]["n"] == 4
    assert point["heads_for_cheese"]["n"] == point["p_cheese"]["n"] <= 4
    assert "| 64 |" in capsys.readouterr().out
