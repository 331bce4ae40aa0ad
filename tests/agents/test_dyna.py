"""Dyna rounds on a pixel task: a camera world model, an agent on the dreamed proprioception, real data from it,
scored in the vector task the pixel task renders."""

from __future__ import annotations

import json
from pathlib import Path

from agents.dyna import DynaConfig, run_dyna
from agents.evaluation import evaluate_in_pybullet, random_policy
from agents.sb3_dream import DreamAgentConfig
from dreamgym.data import load_episodes
from dreamgym.tasks import get_task
from dreamgym.world_model import load_checkpoint


def test_a_pixel_tasks_policy_is_scored_in_the_vector_task_it_renders() -> None:
    """The same seeds give the same episodes: the pixel env's physics are its vector task's."""
    policy = random_policy(1, seed=3)
    pixels = evaluate_in_pybullet(policy, "InvertedPendulumPixels", episodes=3, seed=7)
    vector = evaluate_in_pybullet(random_policy(1, seed=3), "InvertedPendulum", episodes=3, seed=7)
    assert pixels.returns.tolist() == vector.returns.tolist() and pixels.mean > 0


def test_pixel_dyna_trains_a_camera_model_and_collects_with_its_agent(tmp_path: Path) -> None:
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
    stored = json.loads((tmp_path / "run" / "results.json").read_text())
    assert stored["config"]["model_overrides"] == {"cnn_depth": 2, "batch_size": 4, "seq_len": 8}
