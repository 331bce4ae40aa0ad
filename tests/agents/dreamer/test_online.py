"""The online loop: one run end to end, its checkpoints, and a killed run resuming to the same numbers."""

import dataclasses
import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from agents.online import OnlineTrainer, train_online
from dreamgym.cli import main
from dreamgym.errors import CheckpointError
from tests.agents.dreamer.conftest import TINY


def test_a_run_acts_learns_evaluates_and_writes_its_policy(online_run: OnlineTrainer) -> None:
    out = online_run.out
    assert online_run.steps == TINY.steps
    assert online_run.updates == (TINY.steps - TINY.prefill) * TINY.train_ratio // (4 * 16)
    assert [e["step"] for e in online_run.evaluations] == [120, 240]
    assert len(online_run.evaluations[-1]["returns"]) == TINY.eval_episodes
    assert online_run.episodes and all(e["length"] >= 1 for e in online_run.episodes)
    assert {"policy.json", "actor.safetensors", "model.safetensors", "config.json"} <= {
        p.name for p in (out / "policy").iterdir()
    }
    assert json.loads((out / "evaluations.json").read_text())["evaluations"] == online_run.evaluations
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert all(seconds > 0 for seconds in online_run.seconds.values())


def _weights(run: Path) -> dict:
    return load_file(run / "policy" / "actor.safetensors") | load_file(run / "policy" / "model.safetensors")


def test_killed_run_resumes_to_the_numbers_of_an_uninterrupted_one(
    online_run: OnlineTrainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = OnlineTrainer.checkpoint

    def checkpoint_then_die(self: OnlineTrainer) -> None:
        original(self)
        raise KeyboardInterrupt  # the process is killed right after its first checkpoint landed

    monkeypatch.setattr(OnlineTrainer, "checkpoint", checkpoint_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_online(TINY, tmp_path / "run", progress=False)
    monkeypatch.undo()
    state = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert state["steps"] == 120 and not all(state["need_reset"])  # an env was mid-episode: it must be replayed
    resumed = train_online(TINY, tmp_path / "run", progress=False)
    assert resumed.updates == online_run.updates
    assert resumed.evaluations == online_run.evaluations
    killed_weights, full_weights = _weights(tmp_path / "run"), _weights(online_run.out)
    assert killed_weights.keys() == full_weights.keys()
    for key, value in full_weights.items():
        assert (killed_weights[key] == value).all(), key
    stored = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert stored["episodes"] == online_run.episodes


def test_a_resume_whose_simulator_does_not_replay_is_refused(
    online_run: OnlineTrainer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = dataclasses.replace(TINY, steps=120)
    train_online(short, tmp_path / "run", progress=False)
    monkeypatch.setattr(OnlineTrainer, "_episode_seed", lambda self, env, episode: 12345)  # not the recorded seed
    with pytest.raises(CheckpointError, match="did not reproduce its recorded observations"):
        OnlineTrainer(TINY, tmp_path / "run", progress=False)


def test_a_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    train_online(dataclasses.replace(TINY, steps=120), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match=r"other settings \(preset, train_ratio differ\)"):
        OnlineTrainer(dataclasses.replace(TINY, preset="small", train_ratio=8.0), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="already ran 120 steps, more than the 60"):
        OnlineTrainer(dataclasses.replace(TINY, steps=60), tmp_path / "run", progress=False)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="positive `num_envs`"):
        dataclasses.replace(TINY, num_envs=0)
    with pytest.raises(ValueError, match="positive `train_ratio`"):
        dataclasses.replace(TINY, train_ratio=0.0)
    with pytest.raises(KeyError, match="Did you mean 'Hopper'"):
        dataclasses.replace(TINY, task="Hoper")


def test_cli_trains_online_and_evaluates_the_policy_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    flags = ["--task", "InvertedPendulum", "--steps", "120", "--num-envs", "2", "--preset", "debug"]
    flags += ["--prefill", "60", "--train-ratio", "16", "--eval-episodes", "2", "--out", str(run), "--no-progress"]
    assert main(["train-online", *flags]) == 0
    assert "PyBullet return" in capsys.readouterr().out
    policy = run / "policy"
    quick = ["--episodes", "2", "--gaps", "none", "--robustness", "none", "--no-video", "--no-audit", "--no-fidelity"]
    assert main(["evaluate", "--checkpoint", str(policy), "--policy", str(policy), *quick, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "dream-trained policy in PyBullet" in printed and "dream-trained policy in the dream" in printed
