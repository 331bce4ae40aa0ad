"""Shared fixtures for the data tests: one small real data set, and a writer for hand-made (bad) ones."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from dreamgym.data import collect
from dreamgym.tasks.registry import get_task

PENDULUM_STEPS = 300  # test_data_collect.py asserts this number


@pytest.fixture(scope="session")
def pendulum_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 random steps of InvertedPendulum (about a dozen episodes: a random pole falls fast)."""
    out = tmp_path_factory.mktemp("data") / "pend"
    return collect(get_task("InvertedPendulum"), PENDULUM_STEPS, out, progress=False)


@pytest.fixture
def write_minari(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Writes hand-made episodes with Minari's own API under a private Minari root; returns the id."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))

    def write(episodes: list[dict[str, list]], obs_dim: int = 5, action_dim: int = 1) -> str:
        import minari
        from minari.data_collector import EpisodeBuffer

        dataset_id = "dreamgym/test/handmade-v0"
        buffers = [EpisodeBuffer(id=i, **episode) for i, episode in enumerate(episodes)]
        with warnings.catch_warnings():  # Minari warns about every optional field left out
            warnings.simplefilter("ignore")
            minari.create_dataset_from_buffers(
                dataset_id,
                buffers,
                observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
                action_space=gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32),
            )
        return dataset_id

    return write


@pytest.fixture
def make_episode() -> Callable[..., dict[str, list]]:
    """Builds episodes whose values encode their position, so row layouts can be checked exactly."""
    return _make_episode


def _make_episode(steps: int, obs_dim: int = 5, action_dim: int = 1, terminated: bool = True) -> dict[str, list]:
    return {
        "observations": [np.full(obs_dim, t, np.float32) for t in range(steps + 1)],
        "actions": [np.full(action_dim, 0.1 * t, np.float32) for t in range(steps)],
        "rewards": [float(t) for t in range(steps)],
        "terminations": [terminated and t == steps - 1 for t in range(steps)],
        "truncations": [not terminated and t == steps - 1 for t in range(steps)],
    }
