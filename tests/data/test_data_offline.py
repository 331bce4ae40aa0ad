"""Offline-RL data sets: the reality-gap metadata, episodes recorded elsewhere, and NaN rewards named precisely."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from dreamgym.data import collect, load_episodes, write_episodes
from dreamgym.tasks.registry import get_task

PENDULUM = get_task("InvertedPendulum")


def _metadata(path: Path) -> dict:
    return json.loads((path / "data" / "metadata.json").read_text())["dreamgym"]


def test_nominal_data_records_a_null_gap(pendulum_dataset: Path) -> None:
    metadata = _metadata(pendulum_dataset)
    assert "gap" in metadata and metadata["gap"] is None


def test_a_gap_wrapper_is_applied_and_its_description_recorded(tmp_path: Path) -> None:
    class Doubled(gym.RewardWrapper):
        def reward(self, reward: float) -> float:
            return 2.0 * reward

    gap = {"kind": "reward_scale", "scale": 2.0}
    path = collect(PENDULUM, 50, tmp_path / "gap", seed=1, progress=False, gap=gap, wrap_env=Doubled)
    nominal = collect(PENDULUM, 50, tmp_path / "nominal", seed=1, progress=False)
    assert _metadata(path)["gap"] == gap
    np.testing.assert_allclose(load_episodes(path).reward, 2.0 * load_episodes(nominal).reward)


def test_a_wrapper_without_a_gap_description_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Expected a `gap` description with `wrap_env`"):
        collect(PENDULUM, 10, tmp_path / "x", progress=False, wrap_env=lambda env: env)


def test_write_episodes_round_trips_with_metadata(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    episodes = [
        {
            "observations": rng.normal(size=(n + 1, 5)),
            "actions": rng.uniform(-1, 1, (n, 1)),
            "rewards": np.ones(n),
            "terminations": np.arange(n) == n - 1,
            "truncations": np.zeros(n, bool),
        }
        for n in (4, 7)
    ]
    path = write_episodes(
        PENDULUM,
        episodes,
        tmp_path / "replay",
        name="medium-replay",
        policy="a learner",
        seed=3,
        extra_metadata={"tier": "medium-replay"},
    )
    data = load_episodes(path, PENDULUM)
    assert data.num_episodes == 2 and len(data) == 13
    np.testing.assert_allclose(data.obs[5:], episodes[1]["observations"].astype(np.float32))
    metadata = _metadata(path)
    assert metadata["tier"] == "medium-replay" and metadata["steps"] == 11 and metadata["gap"] is None
    assert metadata["policy"] == "a learner" and metadata["seed"] == 3
    with pytest.raises(ValueError, match=r"Episode 0: expected observations of shape \(5, 5\)"):
        write_episodes(
            PENDULUM,
            [{**episodes[0], "observations": np.zeros((5, 4))}],
            tmp_path / "bad",
            name="x",
            policy="p",
            seed=0,
        )
    with pytest.raises(ValueError, match="at least one episode"):
        write_episodes(PENDULUM, [], tmp_path / "empty", name="x", policy="p", seed=0)
    nan_observations = episodes[1]["observations"].copy()
    nan_observations[2, 1] = np.nan
    short, nan = {**episodes[1], "rewards": np.ones(6)}, {**episodes[1], "observations": nan_observations}
    for bad, message in ((short, r"Episode 1: expected 7 rewards .*got 6"), (nan, r"Episode 1: `observations` holds")):
        with pytest.raises(ValueError, match=message):
            write_episodes(PENDULUM, [episodes[0], bad], tmp_path / "bad", name="x", policy="p", seed=0)
    assert not (tmp_path / "bad").exists()
