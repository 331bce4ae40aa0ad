"""The command line end to end with a tiny world model: collect -> train -> dream -> evaluate, and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamgym.cli import COMMANDS, build_parser, main


def test_collect_train_dream_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, ckpt, policy = tmp_path / "data", tmp_path / "ckpt", tmp_path / "policy.zip"
    assert main(["collect", "--task", "InvertedPendulum", "--steps", "400", "--out", str(data), "--seed", "1"]) == 0
    assert main(["train", "--dataset", str(data), "--out", str(ckpt), "--preset", "debug", "--steps", "20"]) == 0
    config = json.loads((ckpt / "config.json").read_text())
    assert config["task"] == "InvertedPendulum" and config["step"] == 20
    assert (
        main(
            [
                "dream",
                "--checkpoint",
                str(ckpt),
                "--steps",
                "256",
                "--num-envs",
                "8",
                "--out",
                str(policy),
                "--logdir",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    assert policy.exists()
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(ckpt), "--policy", str(policy), "--episodes", "2"]) == 0
    table = capsys.readouterr().out
    for row in ("random policy in PyBullet", "dream-trained policy in the dream", "dream-trained policy in PyBullet"):
        assert row in table


def test_train_resumes_to_more_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dreamgym.world_model.model import WorldModel

    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    train = ["train", "--dataset", str(data), "--out", str(ckpt), "--preset", "debug", "--no-progress", "--steps"]
    assert main(["collect", "--steps", "300", "--out", str(data), "--no-progress"]) == 0
    assert main([*train, "10"]) == 0
    updates, loss = [], WorldModel.loss_and_posts
    monkeypatch.setattr(
        WorldModel, "loss_and_posts", lambda self, *args, **kwargs: updates.append(1) or loss(self, *args, **kwargs)
    )
    assert main([*train, "15"]) == 0
    assert json.loads((ckpt / "config.json").read_text())["step"] == 15
    assert len(updates) == 5  # five more updates from the checkpoint, not fifteen from scratch


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "No world-model checkpoint" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "ckpt")]) == 2
    assert "nope" in capsys.readouterr().err


def test_demo_tiny_runs_rounds_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "demo",
        "--out",
        str(tmp_path / "demo"),
        "--rounds",
        "2",
        "--initial-steps",
        "300",
        "--steps-per-round",
        "200",
        "--preset",
        "debug",
        "--wm-updates-first",
        "10",
        "--wm-updates-per-round",
        "5",
        "--agent-steps",
        "512",
        "--early-agent-steps",
        "256",
        "--num-envs",
        "8",
        "--eval-episodes",
        "2",
        "--raw-rewards",
        "--no-progress",
    ]
    assert main(args) == 0
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [r["round"] for r in results["rounds"]] == [0, 1]
    assert results["rounds"][1]["real_steps"] == 500
    assert [r["agent_steps"] for r in results["rounds"]] == [256, 512]  # the last round gets the budget
    assert results["config"]["agent"]["normalize_reward"] is False
    policy = tmp_path / "demo" / "agent" / "policy_round1.zip"
    trained = policy.read_bytes()
    capsys.readouterr()
    assert main([*args[:4], "3", *args[5:]]) == 0  # one more round: the first two are read back, not rerun
    out = capsys.readouterr().out
    resumed = json.loads((tmp_path / "demo" / "results.json").read_text())["rounds"]
    assert resumed[:2] == results["rounds"]  # their wall-clock seconds too: a rerun round would have new ones
    assert policy.read_bytes() == trained and resumed[2]["round"] == 2
    assert out.count("\n    0 ") == 1


def test_export_recalibrates_on_the_given_data(
    trained_ensemble_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dreamgym.data import load_episodes

    other = tmp_path / "other"  # not the data the checkpoint was calibrated on, so a copied calibration shows
    assert main(["collect", "--steps", "300", "--out", str(other), "--seed", "9", "--no-progress"]) == 0
    out = tmp_path / "export"
    args = ["export", "--checkpoint", str(trained_ensemble_checkpoint), "--out", str(out)]
    assert main([*args, "--calibrate", str(other)]) == 0
    assert "disagreement calibration on" in capsys.readouterr().out
    stored = json.loads((trained_ensemble_checkpoint / "config.json").read_text())["uncertainty_calibration"]
    exported = json.loads((out / "config.json").read_text())
    calibration = exported["uncertainty_calibration"]
    assert calibration["fingerprint"] == load_episodes(other).fingerprint() != stored["fingerprint"]
    assert calibration["p99"] != stored["p99"]
    assert "trainer.json" not in exported["files"]


def test_export_in_float16_reports_its_check(
    trained_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    args = ["export", "--checkpoint", str(trained_checkpoint), "--out", str(out), "--weights-dtype", "float16"]
    assert main(args) == 0
    exported = json.loads((out / "config.json").read_text())
    assert exported["weights_dtype"] == "float16"
    half = exported["float16_check"]["float16_vs_float32"]["mean"]
    assert f"float16 weights move the decoded observations by {half:.3g} on average" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args[:-1], "bfloat16"])
    assert "invalid choice: 'bfloat16'" in capsys.readouterr().err


def test_export_with_a_bad_calibration_path_writes_nothing(
    trained_ensemble_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    args = ["export", "--checkpoint", str(trained_ensemble_checkpoint), "--out", str(out)]
    assert main([*args, "--calibrate", str(tmp_path / "absent")]) == 2
    assert str(tmp_path / "absent") in capsys.readouterr().err
    assert not out.exists()  # no export left behind with a calibration that was never made


def test_train_hands_its_processes_the_command_line_it_was_given() -> None:
    """``--nproc`` starts each process with the command rebuilt from the parsed options: it must parse back the same."""
    import dataclasses

    from dreamgym.cli import COMMANDS, _as_argv, build_parser

    argv = ["train", "--dataset", "a", "b", "--out", "o", "--ensemble", "3", "--no-progress", "--nproc", "2"]

    def parsed(line: list[str]) -> object:
        namespace = build_parser().parse_args(line)
        return COMMANDS["train"](**{f.name: getattr(namespace, f.name) for f in dataclasses.fields(COMMANDS["train"])})

    args = parsed(argv)
    assert parsed(_as_argv("train", args)) == args
    assert (args.dataset, args.steps, args.no_progress, args.nproc) == (["a", "b"], None, True, 2)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_gives_each_default_once_and_never_none(command: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if a.choices).choices[command]
    for action in sub._actions:
        text = action.help or ""
        assert "default: None" not in text and text.count("(default") <= 1, (command, action.dest, text)
