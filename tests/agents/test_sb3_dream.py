"""Training SB3 agents in dreams: reward normalisation and seeding, on the tiny test world model."""

from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecNormalize

from agents.sb3_dream import DreamAgentConfig, train_in_dream

TINY = dict(steps=64, num_envs=4, horizon=16, algo_kwargs=dict(n_steps=16, batch_size=32, n_epochs=1))


def _weights(model) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in model.policy.parameters()])


def test_rewards_are_normalised_with_the_algorithms_discount(trained_checkpoint: Path) -> None:
    model = train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY), progress=False)
    env = model.get_env()
    assert isinstance(env, VecNormalize) and not env.norm_obs and env.norm_reward
    assert env.gamma == pytest.approx(model.gamma) == pytest.approx(0.999)
    assert env.ret_rms.count > 1  # it saw the dream's rewards


def test_normalisation_can_be_turned_off(trained_checkpoint: Path) -> None:
    config = DreamAgentConfig(**TINY, normalize_reward=False)
    model = train_in_dream(trained_checkpoint, "InvertedPendulum", config, progress=False)
    assert not isinstance(model.get_env(), VecNormalize)


def test_same_seed_same_agent(trained_checkpoint: Path) -> None:
    first, second, other = (
        train_in_dream(trained_checkpoint, "InvertedPendulum", DreamAgentConfig(**TINY, seed=s), progress=False)
        for s in (3, 3, 4)
    )
    np.testing.assert_array_equal(_weights(first), _weights(second))
    assert not np.array_equal(_weights(first), _weights(other))


def test_a_continued_agent_trains_the_same_whatever_ran_before(trained_checkpoint: Path, tmp_path: Path) -> None:
    """A Dyna run resumed after a kill continues the saved agent in a fresh process: same seed, same result."""
    import torch
    from stable_baselines3 import PPO

    config = DreamAgentConfig(**TINY, seed=3)
    train_in_dream(trained_checkpoint, "InvertedPendulum", config, progress=False).save(tmp_path / "agent.zip")
    continued = []
    for disturbance in (1, 2):  # what earlier work (a world model's training, say) left in the global RNGs
        torch.manual_seed(disturbance)
        np.random.seed(disturbance)
        model = PPO.load(tmp_path / "agent.zip", device="cpu")
        torch.manual_seed(disturbance)
        np.random.seed(disturbance)
        continued.append(
            _weights(train_in_dream(trained_checkpoint, "InvertedPendulum", config, model=model, progress=False))
        )
    np.testing.assert_array_equal(*continued)
    assert not np.array_equal(continued[0], _weights(PPO.load(tmp_path / "agent.zip", device="cpu")))  # it trained on


def test_steps_are_whole_rollouts_so_the_progress_bar_ends_at_its_total() -> None:
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.sb3_dream import _whole_rollouts

    env = DummyVecEnv([lambda: gym.make("Pendulum-v1")] * 2)
    model = PPO("MlpPolicy", env, n_steps=8, batch_size=16, n_epochs=1, device="cpu", seed=0)
    steps = _whole_rollouts(model, 33)
    assert steps == 48
    model.learn(steps)
    assert model.num_timesteps == steps  # SB3 took exactly what it was asked for
