"""Fixtures of the transfer tests: an SB3 policy for the tiny InvertedPendulum model of ``tests/conftest.py``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def untrained_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SB3 PPO policy for InvertedPendulum, saved untrained: the evaluation's plumbing does not need a good one."""
    from stable_baselines3 import PPO

    from dreamgym.tasks import get_task

    env = get_task("InvertedPendulum").make_env()
    path = tmp_path_factory.mktemp("policy") / "policy.zip"
    PPO("MlpPolicy", env, n_steps=64, batch_size=64, seed=0, device="cpu").save(path)
    env.close()
    return path
