"""``dreamgym evaluate`` runs the ladder and writes the report; its mistakes are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamgym.cli import main


@pytest.fixture(scope="module")
def untrained_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SB3 PPO policy for InvertedPendulum, saved untrained: the CLI's plumbing does not need a good one."""
    from stable_baselines3 import PPO

    from dreamgym.tasks import get_task

    env = get_task("InvertedPendulum").make_env()
    path = tmp_path_factory.mktemp("policy") / "policy.zip"
    PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu").save(path)
    env.close()
    return path


def test_evaluate_runs_the_ladder_and_writes_a_report(
    trained_checkpoint: Path, untrained_policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy)]
    args += ["--task", "InvertedPendulum", "--episodes", "2", "--seed", "3", "--max-episode-steps", "25"]
    args += ["--gaps", "mild", "random", "--strengths", "0", "1", "--robot", "loopback"]
    args += ["--out", str(out), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    for row in (
        "random policy in PyBullet",
        "dream-trained policy in the dream",
        "dream-trained policy in PyBullet",
        "PyBullet + mild gap",
        "PyBullet + random gap",
        "robot",
        "robustness (return at strength x harsh): 0:",
    ):
        assert row in printed
    ladder = json.loads((out / "ladder.json").read_text())
    assert [r["seeds"] for r in ladder["rungs"]] == [[3, 4]] * 5
    assert ladder["robustness"]["strengths"] == [0.0, 1.0]
    for name in ("report.md", "report.html", "figures.json", "return_per_rung.png", "robustness.png"):
        assert (out / name).stat().st_size > 0
    assert "## Random-policy baseline" in (out / "report.md").read_text()


def test_evaluate_without_robot_reports_it_not_connected(
    trained_checkpoint: Path, untrained_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy)]
    args += ["--episodes", "1", "--max-episode-steps", "10", "--gaps", "none", "--robustness", "none", "--no-progress"]
    assert main(args) == 0
    robot_row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("robot "))
    assert "not connected" in robot_row and "no robot address given" in robot_row


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "Hopper"], "models 'InvertedPendulum', not 'Hopper'"),
        (["--gaps", "moderat"], "Unknown reality gap 'moderat'; expected one of"),
        (["--robustness", "random"], "--robustness must be one of ['mild', 'moderate', 'harsh', 'none']"),
    ],
)
def test_evaluate_mistakes_are_clear_errors(
    trained_checkpoint: Path, untrained_policy: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err
