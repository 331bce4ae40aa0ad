"""``evaluate_transfer``: the ladder, baseline, fidelity, audit and video of one run land in one report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dreamgym.errors import InvalidGapError
from dreamgym.transfer.audit import PhysicsBounds
from dreamgym.transfer.evaluate import TransferConfig, TransferReport, evaluate_transfer, training_windows
from dreamgym.world_model.checkpoint import load_checkpoint

TINY = TransferConfig(
    episodes=2,
    seed=3,
    gaps=("mild",),
    strengths=(0.0, 1.0),
    max_episode_steps=20,
    fidelity_episodes=2,
    fidelity_horizon=10,
    fidelity_stride=2,
    audit_dreams=4,
    audit_horizon=10,
    audit_real_episodes=2,
    bounds_episodes=2,
    video_steps=6,
)


@pytest.fixture(scope="module")
def tiny_report(
    trained_checkpoint: Path, untrained_policy: Path, tmp_path_factory: pytest.TempPathFactory
) -> TransferReport:
    """One uninterrupted evaluation with every part, at TINY settings."""
    out = tmp_path_factory.mktemp("transfer") / "report"
    return evaluate_transfer(trained_checkpoint, untrained_policy, TINY, out=out, progress=False)


def test_one_report_holds_every_part(tiny_report: TransferReport, trained_checkpoint: Path) -> None:
    report, out = tiny_report, tiny_report.files.directory

    markdown = (out / "report.md").read_text()
    headings = [line[3:] for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == [
        "Evaluation ladder",
        "Robustness curve",
        "Random-policy baseline",
        "World-model fidelity (InvertedPendulum)",
        "Physics-consistency audit (InvertedPendulum)",
        "Side-by-side video",
    ]
    assert "[side_by_side.webm](side_by_side.webm)" in markdown
    page = (out / "report.html").read_text()
    assert '<video controls loop muted style="max-width:100%"><source src="data:video/webm;base64,' in page

    figures = json.loads((out / "figures.json").read_text())["figures"]
    fidelity = figures["world_model_fidelity_invertedpendulum"]["fidelity"]
    assert fidelity["steps_ahead"] == list(range(1, 11)) and len(fidelity["total_error"]) == 10
    assert len(fidelity["dream_returns"]) == len(fidelity["real_returns"]) == 2
    audit = figures["physics_consistency_audit_invertedpendulum"]
    assert audit["audit"]["dream"]["trajectories"] == 4 and audit["audit"]["real"]["trajectories"] == 2
    windows = load_checkpoint(trained_checkpoint).starts["obs"]
    assert audit["bounds_sources"]["checkpoint training windows"] == windows.shape[0] * windows.shape[1]
    assert set(audit["bounds_sources"]) == {
        "checkpoint training windows",
        "random policy in PyBullet",
        "evaluated policy in PyBullet",
    }
    video = figures["side_by_side_video"]["video"]
    assert video["path"] == "side_by_side.webm" and (out / "side_by_side.webm").stat().st_size > 0
    assert video["frames"] == len(video["divergence"]) == report.video.frames
    assert report.video.path == out / "side_by_side.webm"
    assert any((out / "tensorboard").iterdir())

    errors = report.fidelity_errors()
    assert list(errors) == [1, 10] and errors[1] == pytest.approx(fidelity["total_error"][0])
    assert report.audit_rates()["dream_step_rate"] == audit["audit"]["dream"]["step_rate"]["any"]
    lines = report.summary_lines()
    assert [line.split(" ")[0] for line in lines] == ["fidelity", "audit", "video:"]
    assert f"video: {out / 'side_by_side.webm'}" in lines[2]


def test_skipped_parts_leave_no_section(trained_checkpoint: Path, untrained_policy: Path, tmp_path: Path) -> None:
    config = TransferConfig(
        episodes=1,
        gaps=(),
        robustness=None,
        max_episode_steps=5,
        baseline=False,
        fidelity=False,
        audit=False,
        video=False,
    )
    report = evaluate_transfer(trained_checkpoint, untrained_policy, config, out=tmp_path, progress=False)
    assert report.sections == [] and report.summary_lines() == []
    assert [r.name for r in report.ladder.rungs] == [
        "dream-trained policy in the dream",
        "dream-trained policy in PyBullet",
        "robot",
    ]
    assert "## World-model fidelity" not in (tmp_path / "report.md").read_text()


def test_training_windows_keep_episode_boundaries(trained_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(trained_checkpoint)
    data = training_windows(checkpoint)
    count, length = checkpoint.starts["is_first"].shape
    assert len(data) == count * length and data.is_first[::length].all()
    np.testing.assert_array_equal(data.is_first.reshape(count, length), checkpoint.starts["is_first"].numpy())
    bounds = PhysicsBounds.fit(data, "InvertedPendulum")
    obs = checkpoint.starts["obs"].numpy()
    np.testing.assert_array_equal(bounds.low, obs.min((0, 1)))
    inside = np.abs(np.diff(obs, axis=1))[~checkpoint.starts["is_first"].numpy()[:, 1:]].max(0)
    np.testing.assert_array_equal(bounds.max_delta, inside)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"episodes": 0}, ValueError, "Expected a positive integer `episodes`, got 0."),
        ({"video_format": "avi"}, ValueError, "Expected `video_format` 'webm', 'mp4' or 'gif', got 'avi'."),
        ({"gaps": ("moderat",)}, InvalidGapError, "Did you mean 'moderate'?"),
        ({"robustness": "random"}, InvalidGapError, "to be one of ['mild', 'moderate', 'harsh', 'none'], got 'random'"),
        ({"robot": "robot.local"}, ValueError, "`robot` (CLI: --robot): Expected a robot address like 'tcp://"),
        ({"strengths": (0.0, -0.5)}, InvalidGapError, "strength -0.5 does not: Gap strength must be >= 0, got -0.5."),
        ({"strengths": (3.0,)}, InvalidGapError, "strength 3 does not: Invalid reality gap: friction multiplier"),
        (
            {"max_episode_steps": 3, "fidelity_context": 5},
            ValueError,
            "Expected `fidelity_context` (5) below `max_episode_steps` (3)",
        ),
    ],
)
def test_config_mistakes_are_clear_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        TransferConfig(**kwargs)


def test_numpy_integers_are_plain_integers_in_the_settings() -> None:
    config = TransferConfig(episodes=np.int64(2), seed=np.int64(3), max_episode_steps=np.int32(9))
    assert (config.episodes, config.seed, config.max_episode_steps) == (2, 3, 9)
    assert all(type(v) is int for v in (config.episodes, config.seed, config.max_episode_steps))


def test_settings_a_run_will_not_use_are_not_refused() -> None:
    TransferConfig(robustness=None, strengths=(-0.5, 3.0))  # no robustness curve: the strengths are unused
    TransferConfig(max_episode_steps=3, fidelity_context=5, fidelity=False)
    for robot in ("loopback", "tcp://127.0.0.1:5555", "robot.local:5555", None):
        assert TransferConfig(robot=robot).robot == robot


def test_finished_stages_survive_a_crash_and_the_report_replaces_the_earlier_one(
    trained_checkpoint: Path, untrained_policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("an earlier report")
    (out / "stale.png").write_bytes(b"an earlier figure")
    config = TransferConfig(
        episodes=1, gaps=(), robustness=None, max_episode_steps=5, fidelity_context=2, audit=False, video=False
    )

    def crash(*args, **kwargs):
        raise RuntimeError("fidelity crashed")

    monkeypatch.setattr("dreamgym.transfer.fidelity.measure_fidelity", crash)
    with pytest.raises(RuntimeError, match="fidelity crashed"):
        evaluate_transfer(trained_checkpoint, untrained_policy, config, out=out, progress=False)
    assert (out / "report.md").read_text() == "an earlier report"  # untouched, and not mixed with the new run
    assert sorted(p.name for p in (out / "partial").iterdir()) == ["baseline.json", "ladder.json", "run.json"]
    ladder = json.loads((out / "partial" / "ladder.json").read_text())
    assert [r["name"] for r in ladder["rungs"]] == [
        "dream-trained policy in the dream",
        "dream-trained policy in PyBullet",
        "robot",
    ]

    monkeypatch.undo()
    config = replace(config, fidelity=False)
    report = evaluate_transfer(trained_checkpoint, untrained_policy, config, out=out, progress=False)
    assert not (out / "partial").exists() and not (out / "stale.png").exists()
    assert (out / "report.md").read_text().startswith("# InvertedPendulum transfer report")
    assert report.files.directory == out


def _raiser(message: str):
    def crash(*args, **kwargs):
        raise RuntimeError(message)

    return crash


def _killed_in_video(
    checkpoint: Path, policy: Path, config: TransferConfig, out: Path, where: str = "video.side_by_side_video"
) -> None:
    """Runs the evaluation until its last stage, the video (or another step: ``where``), and kills it there."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(f"dreamgym.transfer.{where}", _raiser("killed"))
        with pytest.raises(RuntimeError, match="killed"):
            evaluate_transfer(checkpoint, policy, config, out=out, progress=False)


def _ladder_runs_again(checkpoint: Path, policy: Path, config: TransferConfig, out: Path, **kwargs: Any) -> bool:
    """Whether evaluating again runs the ladder rather than reading it from ``out/partial``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dreamgym.transfer.evaluate.run_ladder", _raiser("ladder ran"))
        patch.setattr("dreamgym.transfer.video.side_by_side_video", _raiser("killed"))
        with pytest.raises(RuntimeError) as raised:
            evaluate_transfer(checkpoint, policy, config, out=out, progress=False, **kwargs)
    return str(raised.value) == "ladder ran"


def test_a_killed_evaluation_resumes_after_its_finished_stages_and_writes_the_same_report(
    tiny_report: TransferReport,
    trained_checkpoint: Path,
    untrained_policy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "report"
    _killed_in_video(trained_checkpoint, untrained_policy, TINY, out)
    stored = {p.name for p in (out / "partial").iterdir()}
    assert stored == {
        "run.json",
        "ladder.json",
        "baseline.json",
        "fidelity.json",
        "fidelity_InvertedPendulum.png",
        "audit.json",
        "audit_InvertedPendulum.png",
    }

    for finished in (
        "evaluate.run_ladder",
        "evaluate.fit_audit_bounds",
        "fidelity.measure_fidelity",
        "audit.audit_dreams",
    ):
        monkeypatch.setattr(f"dreamgym.transfer.{finished}", _raiser(f"{finished} ran again"))
    resumed = evaluate_transfer(trained_checkpoint, untrained_policy, TINY, out=out, progress=False)

    expected = tiny_report.files.directory
    assert (out / "report.md").read_text() == (expected / "report.md").read_text()
    assert json.loads((out / "figures.json").read_text()) == json.loads((expected / "figures.json").read_text())
    assert resumed.summary_lines() == [line.replace(str(expected), str(out)) for line in tiny_report.summary_lines()]
    assert not (out / "partial").exists()


def test_another_evaluation_or_a_damaged_stage_is_run_again(
    trained_checkpoint: Path, untrained_policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stable_baselines3 import PPO

    from dreamgym.tasks import get_task

    out, policy = tmp_path / "report", tmp_path / "policy.zip"
    policy.write_bytes(untrained_policy.read_bytes())
    config = TransferConfig(episodes=1, gaps=(), robustness=None, max_episode_steps=5, fidelity=False, audit=False)
    _killed_in_video(trained_checkpoint, policy, config, out)
    stored = json.loads((out / "partial" / "ladder.json").read_text())
    assert not _ladder_runs_again(trained_checkpoint, policy, config, out)  # the same evaluation resumes
    assert _ladder_runs_again(trained_checkpoint, policy, config, out, resume=False)

    _killed_in_video(trained_checkpoint, policy, config, out)
    assert _ladder_runs_again(trained_checkpoint, policy, replace(config, episodes=2), out)  # other settings
    _killed_in_video(trained_checkpoint, policy, config, out)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dreamgym.transfer.evaluate.STAGE_FORMAT", 2)  # stages stored by older code
        assert _ladder_runs_again(trained_checkpoint, policy, config, out)

    monkeypatch.setenv("DREAMGYM_ROBOT_TOKEN", "a-token-for-a-robot-that-is-not-there")
    unreachable = replace(config, robot="tcp://127.0.0.1:1")  # not connected: try the robot again next time
    _killed_in_video(trained_checkpoint, policy, unreachable, out)
    assert json.loads((out / "partial" / "ladder.json").read_text())["rungs"][-1]["status"] == "not connected"
    with pytest.warns(UserWarning, match="robot rung did not run"):
        assert _ladder_runs_again(trained_checkpoint, policy, unreachable, out)

    _killed_in_video(trained_checkpoint, policy, config, out)
    env = get_task("InvertedPendulum").make_env()
    PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=1, device="cpu").save(policy)  # another, same path
    env.close()
    assert _ladder_runs_again(trained_checkpoint, policy, config, out)

    policy.write_bytes(untrained_policy.read_bytes())
    edited = {**stored, "rungs": [{**stored["rungs"][0], "returns": "12"}, *stored["rungs"][1:]]}
    for damage in ('{"task": "InvertedPendulum"}', json.dumps(edited)):  # cut, or edited
        _killed_in_video(trained_checkpoint, policy, config, out)
        (out / "partial" / "ladder.json").write_text(damage)
        with pytest.warns(UserWarning, match="Running the 'ladder' stage again"):
            assert _ladder_runs_again(trained_checkpoint, policy, config, out)

    _killed_in_video(trained_checkpoint, policy, config, out, where="evaluate.write_report")  # every stage stored
    moved = tmp_path / "moved"
    out.rename(moved)  # the stored video is found in the folder's new place
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dreamgym.transfer.video.side_by_side_video", _raiser("video ran"))
        report = evaluate_transfer(trained_checkpoint, policy, config, out=moved, progress=False)
    assert report.ladder.to_dict() == stored and report.video.path == moved / "side_by_side.webm"
