"""Dyna rounds on a pixel task: a camera world model, an agent on the dreamed proprioception, real data from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agents.dyna
from agents.dyna import DynaConfig, run_dyna
from agents.sb3_dream import DreamAgentConfig
from dreamgym.data import load_episodes
from dreamgym.tasks import get_task
from dreamgym.world_model import load_checkpoint


def test_pixel_dyna_trains_a_camera_model_and_scores_the_agent_on_the_vector_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scored_on: list[str] = []
    real_evaluate = agents.dyna.evaluate_in_pybullet

    def evaluate(policy, task, *args, **kwargs):
        scored_on.append(task)
        return real_evaluate(policy, task, *args, **kwargs)

    monkeypatch.setattr(agents.dyna, "evaluate_in_pybullet", evaluate)
    config = DynaConfig(
        task="InvertedPendulumPixels",
        out=str(tmp_path / "run"),
        rounds=2,
        initial_steps=120,
        steps_per_round=60,
        preset="debug",
        ensemble=2,
        wm_updates_first=2,
        wm_updates_per_round=1,
        agent=DreamAgentConfig(steps=256, num_envs=4),
        early_agent_steps=256,
        eval_episodes=2,
        model_overrides=dict(cnn_depth=2, batch_size=4, seq_len=8),
        progress=False,
    )
    rounds = run_dyna(config)

    assert [(r.real_steps, r.wm_updates) for r in rounds] == [(120, 2), (180, 3)]
    checkpoint = load_checkpoint(tmp_path / "run" / "world_model")
    assert checkpoint.config["model"]["image_shape"] == list(get_task("InvertedPendulumPixels").image_shape)
    assert checkpoint.config["model"]["cnn_depth"] == 2
    # Round 1's data comes from round 0's agent acting on the real frames' proprioception.
    collected = load_episodes(tmp_path / "run" / "data" / "round1", get_task("InvertedPendulumPixels"))
    assert collected.image is not None and len(collected) - collected.num_episodes == 60
    # The random baseline and each round are scored on the vector task the pixel task renders.
    assert scored_on == ["InvertedPendulum"] * 3
    stored = json.loads((tmp_path / "run" / "results.json").read_text())
    assert stored["config"]["model_overrides"] == {"cnn_depth": 2, "batch_size": 4, "seq_len": 8}
