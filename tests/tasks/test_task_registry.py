"""The task registry: every TaskSpec matches its real PyBullet env, and unknown names get a suggestion."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.errors import DreamGymError, UnknownTaskError
from dreamgym.tasks import TASKS, get_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_spec_matches_real_env(name: str) -> None:
    spec = get_task(name)
    env = spec.make_env()
    try:
        obs, _ = env.reset(seed=0)
        if spec.image_shape is not None and spec.goal is not None:  # the Dict HER reads, flat inside dreamgym
            native = spec.make_env(flatten=False)
            assert native.observation_space == spec.env_observation_space
            native.close()
        else:
            assert env.observation_space == spec.env_observation_space or env.observation_space.shape == spec.obs_shape
        if spec.image_shape is not None:  # a pixel task: the proprioception is the observation dreamgym models
            assert obs["image"].shape == spec.image_shape
            obs = obs["proprio"]
        assert np.asarray(obs).shape == spec.obs_shape
        assert env.action_space.shape == (spec.action_dim,)
        np.testing.assert_array_equal(env.action_space.low, -1.0)
        np.testing.assert_array_equal(env.action_space.high, 1.0)
        assert env.spec.max_episode_steps == spec.max_episode_steps
        assert env.spec.reward_threshold == spec.success_return
        assert env.spec.id == spec.env_id or spec.image_shape is not None  # wrapped by the pixel env's own id
    finally:
        env.close()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_spaces_are_float32_boxes(name: str) -> None:
    spec = get_task(name)
    assert spec.observation_space.shape == spec.obs_shape
    assert spec.observation_space.dtype == np.float32
    assert spec.action_space.shape == (spec.action_dim,)
    assert spec.action_space.dtype == np.float32
    assert 0 < spec.dream_horizon <= spec.max_episode_steps


def test_unknown_task_suggests_close_name() -> None:
    with pytest.raises(UnknownTaskError, match=r"Unknown task 'Hoper'.*Did you mean 'Hopper'\?"):
        get_task("Hoper")


def test_unknown_task_without_close_name_lists_tasks() -> None:
    with pytest.raises(UnknownTaskError, match=r"expected one of \[") as info:
        get_task("Zzzzzzzz")
    assert "Did you mean" not in str(info.value)


def test_unknown_task_error_is_catchable_as_key_error_and_ours() -> None:
    with pytest.raises(KeyError):
        get_task("Hoper")
    with pytest.raises(DreamGymError):
        get_task("Hoper")
