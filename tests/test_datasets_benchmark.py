"""The tier generator's resume guard: a stage made with other settings is never reused under these."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import datasets  # benchmarks/ is not a package


def _stored_run(run_dir: Path, cfg: datasets.TierConfig) -> dict:
    run_dir.mkdir(parents=True)
    settings = {k: v for k, v in asdict(cfg).items() if k in datasets.TRAINING_FIELDS}
    summary = {"config": settings, "evals": [{"step": 25_000, "path": "ppo_25000.zip", "return": 1.0, "std": 0.0}]}
    (run_dir / "training.json").write_text(json.dumps(summary))
    return summary


def test_a_finished_expert_run_is_read_back_under_the_same_settings(tmp_path: Path) -> None:
    cfg = datasets.TierConfig(out=str(tmp_path), train_steps=50_000)
    stored = _stored_run(tmp_path / "run", cfg)
    assert datasets.train_expert(cfg, tmp_path / "run") == stored  # no training: it would take minutes
    moved = datasets.TierConfig(out=str(tmp_path / "elsewhere"), train_steps=50_000, collect_steps=10)
    assert datasets.train_expert(moved, tmp_path / "run") == stored  # collection settings do not shape the expert


def test_an_expert_run_with_other_settings_is_refused(tmp_path: Path) -> None:
    _stored_run(tmp_path / "run", datasets.TierConfig(train_steps=50_000))
    with pytest.raises(SystemExit, match=r"was made with other settings: train_steps 50000 \(asked 100000\)"):
        datasets.train_expert(datasets.TierConfig(train_steps=100_000), tmp_path / "run")


def test_too_few_training_steps_for_one_checkpoint_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"--train-steps 1000 is below --eval-every 25000"):
        datasets.train_expert(datasets.TierConfig(train_steps=1000), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_recorded_episode_is_tagged_with_the_step_count_it_ended_at() -> None:
    from dreamgym.tasks import get_task

    sink: list[dict] = []
    clock = [96]  # what the callback set after the last vector step; this one brings the count to 96 + 8
    env = datasets.EpisodeRecorder(get_task("InvertedPendulum").make_env(), sink, clock, tick=8)
    env.reset(seed=0)
    env.action_space.seed(0)
    while not sink:
        env.step(env.action_space.sample())
    env.close()
    assert sink[0]["end_step"] == 104 and len(sink[0]["observations"]) == len(sink[0]["actions"]) + 1
