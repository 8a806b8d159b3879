"""Learning-curve tooling: checkpoints hold tensors only and load back exactly; the held-out
mazes are split by where the cheese lies."""

import json
import os
import pickle
import time

import pytest
import torch
from stable_baselines3 import PPO

from avec import curves, envs, evaluation, training, zoo
from avec.families import padded_region

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
    trained, elsewhere = evaluation.held_out_mazes(CONFIG, 30)
    assert len(trained) == len(elsewhere) == 30
    assert all(m.in_top_right(m.cheese, padded_region(13)) for m in trained)
    assert not any(m.in_top_right(m.cheese, padded_region(13)) for m in elsewhere)
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
    kept = tmp_path / "curves"
    args = ["--run", str(tmp_path), "--config", str(config_file), "--mazes", "4"]
    args += ["--curves", str(kept)]
    assert curves.main(["measure", "nope-s0", *args]) == 2
    assert "unknown model id 'nope-s0'" in capsys.readouterr().err
    assert curves.main(["measure", CONFIG.id, "--config", str(config_file)]) == 2
    assert "measure needs --run" in capsys.readouterr().err
    assert curves.main(["measure", CONFIG.id, *args]) == 0
    assert json.loads((kept / f"{CONFIG.id}.json").read_text()) == json.loads(
        (run / "curve.json").read_text()
    )
    point = json.loads((run / "curve.json").read_text())["64"]
    assert 0 <= point["random_success"] <= 1 and 0 <= point["random_top_right_without_cheese"] <= 1
    assert sum(v["episodes"] for v in point["by_maze_size"].values()) == 4
    assert point["mazes"] == 4 and point["success"]["n"] == 4
    assert point["top_right_without_cheese"]["n"] == 4
    assert point["heads_for_cheese"]["n"] == point["p_cheese"]["n"] <= 4
    assert "| 64 |" in capsys.readouterr().out


def _tiny(total: int) -> training.TrainConfig:
    return training.TrainConfig(
        id="tiny",
        env_id="avec/LavaGapS7-v0",
        family="lavagap",
        size=7,
        seed=0,
        total_timesteps=total,
        n_envs=2,
        hyperparameters={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
        eval_episodes=2,
    )


def test_a_run_continues_from_its_latest_checkpoint_with_the_optimizer_state(tmp_path):
    run = tmp_path / "run"
    training.train(_tiny(384), tmp_path, progress=False, checkpoints=run, checkpoint_every=128)
    assert curves.latest(run)[0] == 384
    (run / "optimizer-000000384.pt").unlink()  # a checkpoint without its optimizer is skipped
    steps, parameters, optimizer = curves.latest(run)
    assert steps == 256
    model = curves.restore(_tiny(512), run)
    saved = torch.load(optimizer, weights_only=True)
    restored = model.policy.optimizer.state_dict()
    assert restored["state"] and restored["state"].keys() == saved["state"].keys()
    for key, state in saved["state"].items():
        assert torch.equal(restored["state"][key]["exp_avg"], state["exp_avg"])
    for name, tensor in torch.load(parameters, weights_only=True).items():
        assert torch.equal(model.policy.state_dict()[name], tensor)
    entry = training.train(
        _tiny(512), tmp_path, progress=False, checkpoints=run, checkpoint_every=128, model=model
    )
    assert entry["timesteps"] == 512
    assert [steps for steps, _ in curves.checkpoints(run)] == [128, 256, 384, 512]
    assert curves.latest(run)[0] == 512


def _paddedmaze_config(tmp_path, total: int):
    text = (training.ROOT / "fixtures" / "zoo-training.toml").read_text()
    text = text.replace("total_timesteps = 10_000_000", f"total_timesteps = {total}")
    text = text.replace("seeds = [0, 1, 2]", "seeds = [0]")
    path = tmp_path / "recipes.toml"
    path.write_text(text)
    return path, training.load_zoo_config(path)["paddedmaze13-ppo-cnn-s0"]


def test_a_continued_run_counts_the_wall_time_it_had_already_cost_and_not_the_pause(tmp_path):
    """``train`` on a run folder with a checkpoint: the wall time recorded at the next
    checkpoint is what the run cost up to the first one plus this run's own, however long the
    folder lay untouched in between."""
    config_file, config = _paddedmaze_config(tmp_path, 2048)  # one rollout of 8 x 256
    run = tmp_path / "runs" / config.id
    args = ["--run", str(tmp_path / "runs"), "--config", str(config_file), "--every", "2048"]
    assert curves.main(["train", config.id, *args]) == 0
    _paddedmaze_config(tmp_path, 4096)
    now = time.time()
    os.utime(run / "started", (now - 10_000, now - 10_000))  # began long ago,
    first, _ = training.checkpoint_paths(run, 2048)
    os.utime(first, (now - 9_900, now - 9_900))  # cost 100 s, then lay untouched
    began = time.time()
    assert curves.main(["train", config.id, *args]) == 0
    took = time.time() - began
    second, _ = training.checkpoint_paths(run, 4096)
    seconds = curves._seconds(run, second)
    assert 100 <= seconds <= 100 + took + 1
    entry = json.loads((run / "entry.json").read_text())
    assert 100 <= entry["train_seconds"] <= 100 + took + 1


def test_package_writes_a_zoo_agent_that_unpack_turns_back_into_the_checkpoint(tmp_path, capsys):
    config_file, config = _paddedmaze_config(tmp_path, 64)
    run, models = tmp_path / "runs" / config.id, tmp_path / "models"
    run.mkdir(parents=True)
    (run / "started").touch()
    model = training.learner(config)
    torch.save(model.policy.optimizer.state_dict(), run / "optimizer-000000064.pt")
    torch.save(model.policy.state_dict(), run / "params-000000064.pt")
    point = {"success": {"value": 0.25}, "p_cheese": {"value": 0.5}}
    (run / "curve.json").write_text(json.dumps({"0": point, "64": point, "128": point}))
    args = ["--run", str(tmp_path / "runs"), "--config", str(config_file), "--mazes", "4"]
    args += ["--models-dir", str(models)]
    assert curves.main(["package", config.id, *args, "--steps", "128"]) == 2
    assert "--steps must name a checkpoint" in capsys.readouterr().err
    assert curves.main(["table", config.id, *args]) == 2
    assert curves.main(["package", config.id, *args, "--steps", "64"]) == 0
    entry = zoo.manifest(models)[config.id]
    assert entry["timesteps"] == 64 and entry["maze_statistics"]["mazes"] == 4
    assert list(entry["learning_curve"]) == ["0", "64"]
    capsys.readouterr()
    assert (
        curves.main(["table", config.id, "--config", str(config_file), "--models-dir", str(models)])
        == 0
    )
    printed = capsys.readouterr().out.splitlines()
    assert printed[2:] == [
        "| 0 | 0.25 | - | 0.50 | - | - | - |",
        "| 64 | 0.25 | - | 0.50 | - | - | - |",
    ]
    loaded = zoo.load(config.id, models).model.policy.state_dict()
    for name, tensor in model.policy.state_dict().items():
        assert torch.equal(loaded[name], tensor)
    again = tmp_path / "again"
    unpack = ["--run", str(again), "--config", str(config_file), "--models-dir", str(models)]
    assert curves.main(["unpack", config.id, *unpack]) == 0
    restored = curves.restore(config, again / config.id)
    assert restored.num_timesteps == 64
    for name, tensor in model.policy.state_dict().items():
        assert torch.equal(restored.policy.state_dict()[name], tensor)


def test_package_refuses_a_checkpoint_off_the_recipes_budget(tmp_path, capsys):
    config_file, config = _paddedmaze_config(tmp_path, 128)
    run = tmp_path / config.id
    run.mkdir()
    (run / "started").touch()
    model = training.learner(config)
    torch.save(model.policy.optimizer.state_dict(), run / "optimizer-000000064.pt")
    torch.save(model.policy.state_dict(), run / "params-000000064.pt")
    args = ["--run", str(tmp_path), "--config", str(config_file), "--steps", "64"]
    assert curves.main(["package", config.id, *args, "--models-dir", str(tmp_path / "m")]) == 2
    assert "differs from the recipe's total_timesteps 128" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def _point(median, corner, corner_lo, random_corner):
    return {
        "median_p_cheese": {"value": median},
        "top_right_without_cheese": {"value": corner, "ci95": [corner_lo, corner + 0.05]},
        "random_top_right_without_cheese": random_corner,
    }


@pytest.mark.parametrize(
    "point, cheese, top_right",
    [
        (_point(0.6, 0.5, 0.42, 0.3), True, True),
        (_point(0.49, 0.5, 0.42, 0.3), False, True),  # heads for the cheese below the median bar
        (_point(0.6, 0.35, 0.28, 0.3), True, False),  # corner interval reaches the random rate
        (_point(None, 0.5, 0.42, 0.3), False, True),  # no decision square off the start
    ],
)
def test_drive_checks_ask_for_both_of_the_paper_drives(point, cheese, top_right):
    found = evaluation.drive_checks(point)
    assert (found["cheese"], found["top_right"]) == (cheese, top_right)
    assert found["both"] == (cheese and top_right)


def test_a_succeeding_agent_without_both_drives_is_below_its_bar_and_says_which():
    entry = {
        "meets_bar": False,
        "evaluation": {"held_out": {"success_rate": 0.95, "success_ci95": [0.9, 0.98]}},
        "config": {"success_bar": 0.9},
    }
    assert "not measured" in zoo.below_bar({"m": entry})["m"]
    entry["drives"] = {"cheese": True, "top_right": False, "both": False}
    assert zoo.below_bar({"m": entry})["m"].endswith(
        "lacks the maze paper's top_right drive (avec.evaluation.drive_checks)"
    )
    entry["evaluation"]["held_out"]["success_rate"] = 0.8
    assert "is below its bar 0.9" in zoo.below_bar({"m": entry})["m"]
