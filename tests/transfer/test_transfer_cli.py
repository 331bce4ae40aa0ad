"""``dreamgym evaluate`` runs the ladder and writes the report; its mistakes are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dreamgym.cli import main


def test_evaluate_runs_the_ladder_and_writes_a_report(
    trained_checkpoint: Path, untrained_policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy)]
    args += ["--task", "InvertedPendulum", "--episodes", "2", "--seed", "3", "--max-episode-steps", "25"]
    args += ["--gaps", "mild", "random", "--strengths", "0", "1", "--robot", "loopback"]
    args += ["--fidelity-episodes", "2", "--fidelity-horizon", "10", "--audit-dreams", "4", "--audit-horizon", "10"]
    args += ["--video-steps", "4", "--video-format", "gif", "--out", str(out), "--no-progress"]
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
        "fidelity (open-loop RMSE / data std): h=1: ",
        "audit (fraction of steps breaking any physics check): dream ",
        f"video: {out / 'side_by_side.gif'} (5 frames)",
    ):
        assert row in printed
    ladder = json.loads((out / "ladder.json").read_text())
    assert [r["seeds"] for r in ladder["rungs"]] == [[3, 4]] * 5
    assert ladder["robustness"]["strengths"] == [0.0, 1.0]
    for name in ("report.md", "report.html", "figures.json", "return_per_rung.png", "robustness.png"):
        assert (out / name).stat().st_size > 0
    report = (out / "report.md").read_text()
    for heading in (
        "Random-policy baseline",
        "World-model fidelity",
        "Physics-consistency audit",
        "Side-by-side video",
    ):
        assert f"## {heading}" in report
    assert "[side_by_side.gif](side_by_side.gif)" in report


def test_evaluate_without_robot_reports_it_not_connected(
    trained_checkpoint: Path, untrained_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy)]
    args += ["--episodes", "1", "--max-episode-steps", "10", "--gaps", "none", "--robustness", "none", "--no-progress"]
    assert main([*args, "--no-fidelity", "--no-audit", "--no-video"]) == 0
    printed = capsys.readouterr().out
    assert not any(line.startswith(("fidelity", "audit", "video")) for line in printed.splitlines())
    robot_row = next(line for line in printed.splitlines() if line.startswith("robot "))
    assert "not connected" in robot_row and "no robot address given" in robot_row


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "Hopper"], "models 'InvertedPendulum', not 'Hopper'"),
        (["--gaps", "moderat"], "Unknown reality gap 'moderat'; expected one of"),
        (["--robustness", "random"], "(CLI: --robustness) to be one of ['mild', 'moderate', 'harsh', 'none'], got"),
    ],
)
def test_evaluate_mistakes_are_clear_errors(
    trained_checkpoint: Path, untrained_policy: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy), *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_evaluate_refuses_a_non_positive_count(
    trained_checkpoint: Path, untrained_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", "--checkpoint", str(trained_checkpoint), "--policy", str(untrained_policy)]
    assert main([*args, "--audit-dreams", "0"]) == 2
    assert "dreamgym evaluate: error: Expected a positive integer `audit_dreams`, got 0." in capsys.readouterr().err
