"""The world models shipped with dreamgym: ``gymnasium.make`` works with no checkpoint argument."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import dreamgym
from dreamgym.envs.loading import BUNDLED_CHECKPOINTS
from dreamgym.errors import CheckpointError
from dreamgym.tasks import TASKS, TaskSpec
from dreamgym.tasks.registry import BUILT_IN_TASKS

BUNDLED = sorted(p.name for p in BUNDLED_CHECKPOINTS.iterdir() if p.is_dir())


def test_every_built_in_task_is_bundled() -> None:
    assert set(BUNDLED) == set(BUILT_IN_TASKS)


@pytest.mark.parametrize("task", BUNDLED)
def test_a_bundled_model_dreams_out_of_the_box(task: str) -> None:
    env = gym.make(f"dreamgym/{task}-dream-v0")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    obs, reward, *_ = env.step(env.action_space.sample())
    # The real task's own spaces: a goal task's Dict, every other task's flat vector.
    assert env.observation_space.contains(obs) and np.isfinite(reward)
    values = obs.values() if isinstance(obs, dict) else [obs]
    assert all(np.isfinite(v).all() for v in values)
    # A bundled model is an inference-only export: it never carries optimiser state.
    assert not any(BUNDLED_CHECKPOINTS.joinpath(task).glob("trainer*"))


def test_vector_env_uses_the_bundled_model_too() -> None:
    envs = gym.make_vec("dreamgym/InvertedPendulum-dream-v0", num_envs=4)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, 5)


def test_a_task_without_a_bundled_model_says_what_to_pass() -> None:
    dreamgym.register_task(TaskSpec.from_env("Pendulum-v1"))  # a user's task: nothing is bundled for it
    try:
        with pytest.raises(CheckpointError, match=r"No bundled world model for task 'Pendulum'.*checkpoint=PATH"):
            gym.make("dreamgym/Pendulum-dream-v0")
    finally:
        del TASKS["Pendulum"]
        gym.registry.pop("dreamgym/Pendulum-dream-v0")


def test_bundled_hopper_dreams_with_uncertainty_and_both_safeguards() -> None:
    # The offline benchmark's Hopper-medium model: 5 MLP heads, disagreement calibrated on its data set.
    envs = gym.make_vec("dreamgym/Hopper-dream-v0", num_envs=8, uncertainty_penalty=1.0, halt_threshold="p99")
    plain = gym.make_vec("dreamgym/Hopper-dream-v0", num_envs=8)
    actions = np.zeros((8, 3), dtype=np.float32)
    envs.reset(seed=0)
    plain.reset(seed=0)
    _, reward, *_, info = envs.step(actions)
    _, plain_reward, *_, plain_info = plain.step(actions)
    assert (info["uncertainty"] > 0).all() and np.allclose(info["uncertainty"], plain_info["uncertainty"])
    kept = ~info["halted"]  # the same dreams, the penalty subtracted where they did not halt
    assert kept.any()
    assert np.allclose(reward[kept], plain_reward[kept] - info["uncertainty"][kept], atol=1e-5)
