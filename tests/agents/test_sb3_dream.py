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
