"""The ladder end to end on the tiny model, with a loopback robot, and the report it writes."""

from __future__ import annotations

import base64
import json
import socket
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from dreamgym.robots.control import INTERVENTIONS
from dreamgym.transfer.gaps import GAP_PRESETS, RandomGap
from dreamgym.transfer.ladder import (
    LadderResult,
    PyBulletRung,
    RobotRung,
    RobustnessCurve,
    RungResult,
    default_rungs,
    run_ladder,
)
from dreamgym.transfer.report import ReportSection, write_report

STEPS = 40  # episode cap: the tests check plumbing, not control


def pendulum_policy(obs: np.ndarray) -> np.ndarray:
    """Pushes the cart one way at half strength (0.5 cos theta): deterministic, and the pole falls after a number
    of steps that depends on motor strength and latency, so gaps show up in the returns."""
    return 0.5 * obs[:, 2:3]


@pytest.fixture(scope="module")
def ladder(trained_checkpoint: Path) -> LadderResult:
    rungs = default_rungs(trained_checkpoint, gaps=("mild", "harsh"), robot="loopback", max_episode_steps=STEPS)
    assert isinstance(rungs[-1], RobotRung) and rungs[-1].address == "loopback"
    # A 100 ms control period (the task's is 16.5 ms) leaves a loaded test machine room to meet every deadline.
    rungs[-1] = replace(rungs[-1], loopback_period=0.1)
    return run_ladder(
        pendulum_policy, "InvertedPendulum", rungs, episodes=3, seed=5, robustness_strengths=(0, 0.5, 1), progress=False
    )


def test_ladder_runs_every_rung_on_the_same_seeds(ladder: LadderResult) -> None:
    names = [r.name for r in ladder.rungs]
    assert names == ["dream", "PyBullet nominal", "PyBullet + mild gap", "PyBullet + harsh gap", "robot"]
    assert all(r.ok and r.seeds == (5, 6, 7) for r in ladder.rungs)
    assert all(max(r.lengths) <= STEPS for r in ladder.rungs[1:])
    nominal, harsh, robot = ladder.rung("PyBullet nominal"), ladder.rung("PyBullet + harsh gap"), ladder.rung("robot")
    # The loopback robot is nominal PyBullet behind the robot bridge: the same numbers exactly, as long as every
    # command met its deadline (the interventions say whether one did not).
    interventions = robot.extra["interventions"]
    assert robot.extra["loopback"] is True and set(interventions) == set(INTERVENTIONS)
    assert interventions == dict.fromkeys(INTERVENTIONS, 0) and robot.returns == nominal.returns
    assert "interventions: none" in robot.detail
    assert harsh.returns != nominal.returns and harsh.extra["gap"] == GAP_PRESETS["harsh"].to_dict()
    # The robustness curve reuses the nominal (strength 0) and harsh (strength 1) rungs and adds strength 0.5.
    curve = ladder.robustness
    assert curve.strengths == (0.0, 0.5, 1.0)
    assert curve.returns[0] == nominal.returns and curve.returns[2] == harsh.returns
    ratios = {row["to"]: row for row in ladder.ratios()}
    assert ratios["PyBullet nominal"]["from"] == "dream"
    assert ratios["PyBullet + harsh gap"]["ratio_to_nominal"] == pytest.approx(harsh.mean / nominal.mean)
    json.dumps(ladder.to_dict())  # everything in the result is JSON data


def test_same_seed_same_ladder(ladder: LadderResult, trained_checkpoint: Path) -> None:
    rungs = [PyBulletRung(GAP_PRESETS["harsh"], "PyBullet + harsh gap", STEPS), PyBulletRung(RandomGap(), "r", STEPS)]
    again = run_ladder(
        pendulum_policy, "InvertedPendulum", rungs, episodes=3, seed=5, robustness_gap=None, progress=False
    )
    assert again.rungs[0].returns == ladder.rung("PyBullet + harsh gap").returns
    other_seed = run_ladder(
        pendulum_policy, "InvertedPendulum", rungs[1:], 3, seed=6, robustness_gap=None, progress=False
    )
    assert other_seed.rungs[0].returns[:2] == again.rungs[1].returns[1:]  # episode seeds 6, 7 in both


def test_absent_robot_is_not_connected_and_carries_no_numbers(pendulum_task, monkeypatch) -> None:
    monkeypatch.setenv("DREAMGYM_ROBOT_TOKEN", "a-token-for-a-robot-that-is-not-there")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for rung in (RobotRung(None), RobotRung(f"tcp://127.0.0.1:{port}", connect_timeout=1.0)):
        result = rung.run(pendulum_policy, pendulum_task, episodes=2, seed=0, progress=False)
        assert result.status == "not connected" and not result.ok
        assert result.returns == () and result.mean is None and result.success_rate is None
    assert "No robot answers" in result.detail


def test_ratios_are_undefined_against_non_positive_returns() -> None:
    rungs = (
        RungResult("dream", "dream", returns=(-2.0, -4.0)),
        RungResult("PyBullet nominal", "pybullet", returns=(10.0, 20.0)),
        RungResult("robot", "robot", status="not connected"),
        RungResult("gap", "gap", returns=(5.0, 7.0), success_return=6.0),
    )
    rows = LadderResult("InvertedPendulum", 2, 0, rungs).ratios()
    assert [(r["from"], r["to"]) for r in rows] == [("dream", "PyBullet nominal"), ("PyBullet nominal", "gap")]
    assert rows[0]["ratio"] is None and rows[0]["difference"] == 18.0
    assert rows[1]["ratio"] == pytest.approx(0.4) and rows[1]["ratio_to_nominal"] == pytest.approx(0.4)
    assert rungs[3].success_rate == 0.5


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"])
        self.tables += tag == "table"


def test_report_files_are_present_and_well_formed(ladder: LadderResult, tmp_path: Path) -> None:
    extra_png = tmp_path / "extra.png"
    extra_png.write_bytes(_tiny_png())
    section = ReportSection(
        "Open-loop error",
        "An extra section as another analysis would add it.",
        table=[{"horizon": 1, "error": 0.1}, {"horizon": 5, "error": 0.4}],
        figures=[extra_png],
        data={"horizon": [1, 5], "error": [0.1, 0.4]},
        scalars={"fidelity/error": [(1, 0.1), (5, 0.4)]},
    )
    files = write_report(tmp_path / "report", ladder, sections=[section])
    names = {p.name for p in files.figures}
    assert {"return_per_rung.png", "ratio_to_nominal.png", "robustness.png", "extra.png"} <= names
    for png in files.figures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    md = files.markdown.read_text()
    assert md.startswith("# InvertedPendulum transfer report")
    assert "| rung | return (mean ± std) | success | ratio to previous | ratio to nominal |" in md
    assert "| robot |" in md and "![robustness](robustness.png)" in md and "## Open-loop error" in md

    parser = _Images()
    parser.feed(files.html.read_text())
    # ladder, robustness, the robot's interventions, extra; 3 ladder figures + extra
    assert parser.tables == 4 and len(parser.sources) == 4
    assert "## Robot interventions" in md and "| robot | 0 | 0 |" in md
    for src in parser.sources:  # self-contained: every image is inline PNG data
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"

    figures = json.loads(files.figures_json.read_text())["figures"]
    assert figures["return_per_rung"]["x"][0] == "dream" and len(figures["robustness"]["mean"]) == 3
    assert figures["open_loop_error"]["error"] == [0.1, 0.4]
    assert json.loads((files.directory / "ladder.json").read_text())["rungs"][4]["name"] == "robot"

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(files.tensorboard))
    events.Reload()
    assert [e.step for e in events.Scalars("ladder/return_mean")] == [0, 1, 2, 3, 4]
    assert [e.step for e in events.Scalars("robustness/return_mean")] == [0, 50, 100]
    assert [e.value for e in events.Scalars("fidelity/error")] == pytest.approx([0.1, 0.4])


def _tiny_png() -> bytes:
    from io import BytesIO

    from matplotlib.figure import Figure

    buffer = BytesIO()
    Figure(figsize=(1, 1)).savefig(buffer, format="png")
    return buffer.getvalue()


def test_malformed_robot_address_is_an_error_on_the_rung(pendulum_task) -> None:
    result = RobotRung("no-port-here").run(pendulum_policy, pendulum_task, episodes=1, seed=0, progress=False)
    assert result.status == "error" and not result.ok
    assert "robot address 'no-port-here': Expected a robot address like 'tcp://127.0.0.1:5555'" in result.detail


def _made_ladder(nominal: tuple[float, ...], robustness: bool = False) -> LadderResult:
    """A ladder of given returns, no simulator needed: dream, PyBullet nominal (``nominal``), a gap, no robot."""
    rungs = (
        RungResult("dream", "dream", returns=(40.0, 60.0)),
        RungResult("PyBullet nominal", "pybullet", returns=nominal),
        RungResult("gap", "gap", returns=(30.0, 50.0)),
        RungResult("robot", "robot", status="not connected"),
    )
    curve = RobustnessCurve(GAP_PRESETS["harsh"], (0.0, 1.0), (nominal, (1.0, 3.0))) if robustness else None
    return LadderResult("InvertedPendulum", 2, 0, rungs, curve)


def test_every_rung_has_one_ratio_to_nominal_in_the_terminal_and_the_report(tmp_path: Path) -> None:
    ladder = _made_ladder(nominal=(100.0, 100.0))
    assert [ladder.ratio_to_nominal(r) for r in ladder.rungs] == [0.5, 1.0, 0.4, None]
    terminal = {line.split()[0]: line.split() for line in ladder.table().splitlines()[1:]}
    assert terminal["dream"][5] == "0.50" and terminal["gap"][5] == "0.40"  # name, mean, ±, std, success, ratio

    files = write_report(tmp_path / "report", ladder, tensorboard=False)
    assert "| dream | 50.0 ± 10.0 | - | - | 0.50 | 2 |" in files.markdown.read_text()
    figure = json.loads(files.figures_json.read_text())["figures"]["ratio_to_nominal"]
    assert figure["x"] == ["dream", "PyBullet nominal", "gap"] and figure["y"] == [0.5, 1.0, 0.4]
    rungs = json.loads((files.directory / "ladder.json").read_text())["rungs"]
    assert [r["ratio_to_nominal"] for r in rungs] == [0.5, 1.0, 0.4, None]


def test_ladder_figures_are_chosen_by_name_when_the_ratio_figure_is_skipped(tmp_path: Path) -> None:
    ladder = _made_ladder(nominal=(-1.0, -3.0), robustness=True)  # no ratio to a non-positive nominal return
    files = write_report(tmp_path / "report", ladder, tensorboard=False)
    md = files.markdown.read_text()
    assert md.count("![robustness](robustness.png)") == 1 and "ratio_to_nominal" not in md
    ladder_section = md.split("## Robustness curve")[0]
    assert "![return_per_rung](return_per_rung.png)" in ladder_section


def test_the_report_replaces_an_earlier_one_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "report"
    write_report(out, _made_ladder(nominal=(100.0, 100.0)))
    (out / "stale.png").write_bytes(b"from an earlier run")
    earlier = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    broken = ReportSection("Broken", figures=[tmp_path / "missing.png"])  # fails after the ladder's figures
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        write_report(out, _made_ladder(nominal=(10.0, 10.0)), sections=[broken])
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging directory left behind

    files = write_report(out, _made_ladder(nominal=(10.0, 10.0)))
    assert not (out / "stale.png").exists() and len(list(files.tensorboard.iterdir())) == 1
    assert "| PyBullet nominal | 10.0 ± 0.0 |" in files.markdown.read_text()


def test_the_report_refuses_to_replace_a_directory_of_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a report")
    with pytest.raises(FileExistsError, match="holds other files, which the report would delete"):
        write_report(tmp_path, _made_ladder(nominal=(100.0, 100.0)), tensorboard=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_simulator_rungs_a_users_task_cannot_run_are_skipped_with_the_reason() -> None:
    import dataclasses

    from dreamgym.tasks import TaskSpec
    from dreamgym.transfer.gaps import GapConfig
    from dreamgym.transfer.ladder import LadderResult, PyBulletRung, run_ladder

    pendulum = TaskSpec.from_env("Pendulum-v1")
    still = lambda obs: np.zeros((len(obs), 1), np.float32)  # noqa: E731
    # Motor strength, latency and noise wrap any env; mass, friction and jitter need PyBullet's API.
    interface = GapConfig(motor=0.5, latency=1)
    motor = PyBulletRung(interface, "motor", max_episode_steps=5).run(still, pendulum, 2, 0, False)
    assert motor.ok and motor.lengths == (5, 5)
    mass = PyBulletRung(GapConfig(mass=1.5, motor=0.5), "mass", max_episode_steps=5).run(still, pendulum, 2, 0, False)
    assert (mass.status, mass.returns) == ("skipped", ())
    assert mass.detail == "the gap's mass acts through PyBullet's physics; Pendulum runs in Pendulum-v1"
    log = dataclasses.replace(pendulum, name="ArmLog", env_id=None, dataset="logs/arm")
    ladder = run_ladder(still, log, [PyBulletRung(None, "nominal", 5)], episodes=2, progress=False)
    reason = "task 'ArmLog' has no simulator: it was defined by the recorded data set 'logs/arm'"
    assert ladder.rungs[0].status == "skipped" and ladder.rungs[0].detail == reason
    assert ladder.robustness is None and ladder.skipped == {"robustness curve": reason}
    assert f"skipped robustness curve: {reason}" in ladder.table()
    assert LadderResult.from_dict(ladder.to_dict()) == ladder


def test_a_pixel_tasks_pybullet_rungs_run_the_vector_task_it_renders() -> None:
    from dreamgym.transfer.recording import random_policy

    rungs = [PyBulletRung(max_episode_steps=STEPS)]
    pixels = run_ladder(random_policy(1, 0), "InvertedPendulumPixels", rungs, 2, 0, None, progress=False)
    vector = run_ladder(random_policy(1, 0), "InvertedPendulum", rungs, 2, 0, None, progress=False)
    assert pixels.rungs[0].ok and pixels.rungs[0].mean == vector.rungs[0].mean
