"""DreamSB3VecEnv: Stable-Baselines3 trains on it, and it follows SB3's VecEnv conventions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dreamgym.envs import DreamSB3VecEnv


@pytest.fixture
def sb3_env(trained_checkpoint: Path):
    env = DreamSB3VecEnv(
        "InvertedPendulum",
        num_envs=8,
        checkpoint=trained_checkpoint,
        horizon=3,
        termination_threshold=0.0,
        termination="model",
    )
    yield env
    env.close()


def test_ppo_learns_in_the_dreams(trained_checkpoint: Path) -> None:
    from stable_baselines3 import PPO

    env = DreamSB3VecEnv("InvertedPendulum", num_envs=8, checkpoint=trained_checkpoint, horizon=20)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(128)
    assert model.num_timesteps == 128  # one rollout of 16 steps in each of the 8 dreams
    assert any(not torch.equal(b, p) for b, p in zip(before, model.policy.parameters(), strict=True))  # it updated
    env.close()


def test_spaces_and_shapes(sb3_env: DreamSB3VecEnv) -> None:
    assert sb3_env.num_envs == 8
    assert sb3_env.observation_space.shape == (5,)
    assert sb3_env.action_space.shape == (1,)
    obs = sb3_env.reset()
    assert obs.shape == (8, 5) and obs.dtype == np.float32
    obs, reward, dones, infos = sb3_env.step(np.zeros((8, 1), np.float32))
    assert obs.shape == (8, 5)
    assert reward.shape == (8,) and reward.dtype == np.float32
    assert dones.shape == (8,) and dones.dtype == bool
    assert len(infos) == 8 and all(isinstance(info, dict) for info in infos)


def test_terminal_observation_in_infos_of_done_envs(sb3_env: DreamSB3VecEnv) -> None:
    sb3_env.reset()
    for _ in range(2):
        _, _, dones, infos = sb3_env.step(np.zeros((8, 1), np.float32))
        assert not dones.any()
        assert all("terminal_observation" not in info for info in infos)
    obs, _, dones, infos = sb3_env.step(np.zeros((8, 1), np.float32))
    assert dones.all()
    for info, new_obs in zip(infos, obs, strict=True):
        assert info["terminal_observation"].shape == (5,)
        assert info["TimeLimit.truncated"] is True
        assert not np.array_equal(info["terminal_observation"], new_obs)  # obs is already the next episode's


def test_seed_then_reset_is_reproducible(sb3_env: DreamSB3VecEnv) -> None:
    sb3_env.seed(5)
    a = sb3_env.reset()
    sb3_env.step(np.zeros((8, 1), np.float32))
    sb3_env.seed(5)
    b = sb3_env.reset()
    np.testing.assert_array_equal(a, b)
    c = sb3_env.reset()  # the seed is used once; the next reset continues the stream
    assert not np.array_equal(a, c)


def test_attribute_access(sb3_env: DreamSB3VecEnv) -> None:
    assert sb3_env.get_attr("num_envs") == [8] * 8
    assert sb3_env.get_attr("num_envs", indices=[0, 1]) == [8, 8]
    assert sb3_env.env_is_wrapped(object) == [False] * 8
    with pytest.raises(NotImplementedError, match="has no per-env 'reset'"):
        sb3_env.env_method("reset")
