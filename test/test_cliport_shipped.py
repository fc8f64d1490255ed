"""The shipped CLIPort checkpoint, driven as a user would: `vla-grounding eval` in the simulator."""

from __future__ import annotations

import json

from vla_grounding.cliport.policy import DEFAULT_CHECKPOINT
from vla_grounding.evaluation import main as eval_main

TASK = "put-blocks-in-bowls-seen"


def test_shipped_checkpoint_solves_simulated_test_episodes(capsys) -> None:
    """Six test seeds (1, 3, ..., 11) through the evaluation command; a random or broken model scores ~0."""
    argv = ["--task", TASK, "--policy", "cliport", "--episodes", "6", "--device", "cpu", "--json"]
    assert eval_main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["policy"] == "cliport" and result["episodes"] == 6
    assert result["refused_steps"] == 0 and result["rejected_steps"] == 0
    assert result["mean_score"] >= 80.0, result["scores"]


def test_shipped_checkpoint_records_how_it_was_trained() -> None:
    config = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())
    training = config["training"]
    assert config["task"] == TASK and config["language"] == "sentence+phrases"
    assert training["demos"] == 100 and training["wall_minutes"] <= 60
    assert training["final_validation"]["rollout_episodes"] >= 40
    assert not (DEFAULT_CHECKPOINT / "clip").exists()  # the small CLIP is named by hash, not copied


def test_shipped_pyramid_checkpoint_is_chosen_for_its_task(capsys) -> None:
    """`vla-grounding eval` on stack-block-pyramid-seq without --checkpoint uses the pyramid model."""
    from vla_grounding.cliport.policy import shipped_checkpoint
    from vla_grounding.policy import make_policy

    pyramid = "stack-block-pyramid-seq"
    assert shipped_checkpoint(pyramid).name == "cliport_stack_block_pyramid_seq"
    assert shipped_checkpoint("put-blocks-in-bowls-unseen") == DEFAULT_CHECKPOINT
    config = json.loads((shipped_checkpoint(pyramid) / "config.json").read_text())
    assert config["task"] == pyramid and config["training"]["wall_minutes"] <= 60
    assert make_policy("cliport", checkpoint=pyramid, device="cpu").config.task == pyramid  # by task name
    argv = ["--task", pyramid, "--policy", "cliport", "--episodes", "3", "--device", "cpu", "--json"]
    assert eval_main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["refused_steps"] == 0  # the bowls model would refuse every step of this task
    assert result["mean_score"] >= 60.0, result["scores"]


def test_shipped_hanoi_checkpoint_solves_test_episodes(capsys) -> None:
    """towers-of-hanoi-seq has its own checkpoint, trained within the 60-minute budget; three test seeds."""
    from vla_grounding.cliport.policy import shipped_checkpoint

    hanoi = "towers-of-hanoi-seq"
    assert shipped_checkpoint(hanoi).name == "cliport_towers_of_hanoi_seq"
    config = json.loads((shipped_checkpoint(hanoi) / "config.json").read_text())
    assert config["task"] == hanoi and config["training"]["wall_minutes"] <= 60
    argv = ["--task", hanoi, "--policy", "cliport", "--episodes", "3", "--device", "cpu", "--json"]
    assert eval_main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["refused_steps"] == 0 and result["policy_options"] == {}
    assert result["mean_score"] >= 90.0, result["scores"]


def test_eval_policy_options_reach_the_policy(capsys) -> None:
    """`--policy-options` is how the README's ablations run; a wrong option is one clear line, code 2."""
    argv = ["--task", "towers-of-hanoi-seq", "--policy", "cliport", "--episodes", "1", "--device", "cpu", "--json",
            "--policy-options", '{"subcell": false}']
    assert eval_main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["policy_options"] == {"subcell": False}
    assert eval_main([*argv[:-1], '{"no_such_option": 1}']) == 2
    assert "unknown CliportPolicy options ['no_such_option']" in capsys.readouterr().err


def test_shipped_multi_task_model_covers_every_trained_task(capsys) -> None:
    """The multi-task model is trained on four tasks' demos; tasks without their own checkpoint use it."""
    from vla_grounding.cliport.config import CliportConfig
    from vla_grounding.cliport.policy import MULTI_TASK, covers, shipped_checkpoint, task_checkpoint_dir, trained_tasks

    multi = task_checkpoint_dir(MULTI_TASK)
    config = CliportConfig.load(multi / "config.json")
    tasks = ["put-blocks-in-bowls-seen", "stack-block-pyramid-seq", "towers-of-hanoi-seq", "packing-box-pairs-seen"]
    assert trained_tasks(config) == tasks
    assert config.training["tasks"] == {t: {"demos": 100, "val_episodes": 15} for t in tasks}
    assert covers(config, "put-blocks-in-bowls-unseen")  # seen/unseen share a family
    assert shipped_checkpoint("packing-box-pairs-seen") == multi  # no single-task packing model is shipped
    argv = ["--task", "packing-box-pairs-seen", "--policy", "cliport", "--episodes", "2", "--device", "cpu", "--json"]
    assert eval_main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["refused_steps"] == 0 and result["mean_score"] >= 90.0, result["scores"]
