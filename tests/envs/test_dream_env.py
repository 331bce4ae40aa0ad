"""DreamEnv: the Gymnasium API contract, the task's spaces, reproducible dreams and clear action errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from dreamgym.envs import DreamEnv
from dreamgym.errors import CheckpointError, InvalidActionError
from dreamgym.tasks import get_task
from dreamgym.world_model import WorldModel, load_checkpoint, make_config, save_checkpoint

ENV_ID = "dreamgym/InvertedPendulum-dream-v0"


def _rollout(env: gym.Env, seed: int, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, _, _, _ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards)


@pytest.fixture(scope="module")
def actions() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(12, 1)).astype(np.float32)


@pytest.fixture
def env(trained_checkpoint: Path):
    env = gym.make(ENV_ID, checkpoint=trained_checkpoint)
    yield env
    env.close()


def test_make_returns_dream_env(env: gym.Env) -> None:
    assert isinstance(env.unwrapped, DreamEnv)
    assert env.spec.id == ENV_ID


def test_passes_gymnasium_env_checker(trained_checkpoint: Path) -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(ENV_ID, checkpoint=trained_checkpoint)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    env.close()
    # The checker warns about API deviations; the only acceptable one is the unbounded observation space,
    # which the real PyBullet task has too.
    unexpected = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert unexpected == []


def test_passes_sb3_env_checker(env: gym.Env) -> None:
    from stable_baselines3.common.env_checker import check_env

    check_env(env, warn=False)


def test_spaces_equal_real_task(env: gym.Env) -> None:
    task = get_task("InvertedPendulum")
    real = task.make_env()
    try:
        assert env.observation_space == real.observation_space
        assert env.action_space == real.action_space
    finally:
        real.close()


def test_reset_and_step_types(env: gym.Env) -> None:
    obs, info = env.reset(seed=0)
    assert obs.shape == (5,) and obs.dtype == np.float32
    assert info == {}
    obs, reward, terminated, truncated, info = env.step(np.zeros(1, np.float32))
    assert obs.shape == (5,) and obs.dtype == np.float32
    assert type(reward) is float and np.isfinite(reward)
    assert type(terminated) is bool and type(truncated) is bool
    assert info["uncertainty"] == 0.0  # a single model has no disagreement


def test_seeded_reset_is_reproducible_in_one_env(env: gym.Env, actions: np.ndarray) -> None:
    obs_a, rew_a = _rollout(env, 3, actions)
    obs_b, rew_b = _rollout(env, 3, actions)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)


def test_separately_made_envs_dream_the_same(trained_checkpoint: Path, actions: np.ndarray) -> None:
    """Two envs made from one checkpoint and reset with one seed must dream the same trajectory."""
    a = gym.make(ENV_ID, checkpoint=trained_checkpoint)
    b = gym.make(ENV_ID, checkpoint=trained_checkpoint)
    obs_a, rew_a = _rollout(a, 3, actions)
    obs_b, rew_b = _rollout(b, 3, actions)
    np.testing.assert_array_equal(obs_a, obs_b)  # bit for bit: start states and noise use private seeds
    np.testing.assert_array_equal(rew_a, rew_b)


def test_different_seeds_differ(env: gym.Env, actions: np.ndarray) -> None:
    obs_a, _ = _rollout(env, 3, actions)
    obs_b, _ = _rollout(env, 4, actions)
    assert not np.allclose(obs_a, obs_b)


def test_unseeded_resets_continue_the_seeded_stream(env: gym.Env) -> None:
    first = [env.reset(seed=7)[0]] + [env.reset()[0] for _ in range(3)]
    again = [env.reset(seed=7)[0]] + [env.reset()[0] for _ in range(3)]
    np.testing.assert_array_equal(np.array(first), np.array(again))


def test_starts_from_real_context(env: gym.Env) -> None:
    starts = env.unwrapped.checkpoint.starts["obs"][:, -1].numpy()
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert np.isclose(starts, obs).all(axis=1).any()


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (np.zeros(2, np.float32), r"Expected `action` of shape \(1,\), got \(2,\)"),
        (np.zeros((1, 1), np.float32), r"Expected `action` of shape \(1,\), got \(1, 1\)"),
        (np.float32(0.0), r"Expected `action` of shape \(1,\), got \(\)"),
        (np.array([np.nan], np.float32), r"Expected a finite `action` in \[-1, 1\], got \[nan\]"),
        (np.array([np.inf]), r"Expected a finite `action`"),
        (np.array(["a"]), r"Expected `action` with a float dtype, got dtype <U1"),
        (np.array([None], dtype=object), r"Expected `action` with a float dtype, got dtype object"),
    ],
)
def test_invalid_action(env: gym.Env, action, match: str) -> None:
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=match):
        env.unwrapped.step(action)


def test_invalid_action_is_a_value_error(env: gym.Env) -> None:
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Expected `action` of shape"):
        env.unwrapped.step(np.zeros(3))


def test_invalid_action_leaves_state_unchanged(env: gym.Env) -> None:
    env.reset(seed=0)
    dreams = env.unwrapped.dreams
    deter, steps = dreams.state.deter.clone(), dreams.steps.clone()
    with pytest.raises(InvalidActionError):
        env.unwrapped.step(np.array([np.nan]))
    assert torch.equal(dreams.state.deter, deter)
    assert torch.equal(dreams.steps, steps)


def test_out_of_bounds_actions_are_clipped(env: gym.Env) -> None:
    env.reset(seed=1)
    clipped = env.unwrapped.step(np.array([1.0], np.float32))
    env.reset(seed=1)
    beyond = env.unwrapped.step(np.array([5.0], np.float32))
    np.testing.assert_array_equal(clipped[0], beyond[0])


def test_integer_actions_are_accepted(env: gym.Env) -> None:
    env.reset(seed=1)
    integer = env.unwrapped.step(np.array([1]))
    env.reset(seed=1)
    real = env.unwrapped.step(np.array([1.0], np.float32))
    np.testing.assert_array_equal(integer[0], real[0])  # the same step as the same value in floating point
    assert integer[1] == real[1]


def test_truncated_at_horizon(trained_checkpoint: Path) -> None:
    env = gym.make(ENV_ID, checkpoint=trained_checkpoint, horizon=5, termination_threshold=0.0, termination="model")
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]
    env.close()


def test_terminated_when_continue_probability_is_below_threshold(trained_checkpoint: Path) -> None:
    env = gym.make(ENV_ID, checkpoint=trained_checkpoint, horizon=5, termination_threshold=1.1, termination="model")
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
    assert terminated and not truncated
    env.close()


def test_default_horizon_is_task_dream_horizon(env: gym.Env) -> None:
    assert env.unwrapped.dreams.horizon == get_task("InvertedPendulum").dream_horizon


def test_render_rgb_array(trained_checkpoint: Path) -> None:
    env = gym.make(ENV_ID, checkpoint=trained_checkpoint, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.zeros(1, np.float32))
    frame = env.render()
    assert isinstance(frame, np.ndarray)
    assert frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3
    env.close()


def test_render_without_mode_returns_none(env: gym.Env) -> None:
    env.reset(seed=0)
    assert env.unwrapped.render() is None


def test_unknown_render_mode(trained_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="Expected render_mode in \\['rgb_array'\\] or None, got 'human'"):
        DreamEnv("InvertedPendulum", checkpoint=trained_checkpoint, render_mode="human")


def test_checkpoint_of_another_task(trained_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match=r"trained on task 'InvertedPendulum'.*loaded for task 'Hopper'"):
        gym.make("dreamgym/Hopper-dream-v0", checkpoint=trained_checkpoint)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="No world-model checkpoint"):
        gym.make(ENV_ID, checkpoint=tmp_path / "missing")


def test_every_task_is_registered() -> None:
    import dreamgym  # noqa: F401
    from dreamgym.tasks import TASKS

    for name in TASKS:
        assert f"dreamgym/{name}-dream-v0" in gym.registry


@pytest.fixture(scope="module")
def ensemble_checkpoint(trained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained three-member ensemble with the trained checkpoint's start windows."""
    torch.manual_seed(0)
    model = WorldModel(make_config("debug", 5, 1, ensemble=3)[0])
    return save_checkpoint(
        tmp_path_factory.mktemp("ensemble") / "ckpt",
        model,
        task="InvertedPendulum",
        observation_shape=(5,),
        action_shape=(1,),
        starts=load_checkpoint(trained_checkpoint).starts,
    )


def test_ensemble_reports_uncertainty(ensemble_checkpoint: Path) -> None:
    env = gym.make(ENV_ID, checkpoint=ensemble_checkpoint)
    env.reset(seed=0)
    values = [env.step(np.zeros(1, np.float32))[4]["uncertainty"] for _ in range(3)]
    assert all(np.isfinite(v) and v >= 0 for v in values)
    assert max(values) > 0
    env.close()


def test_uncertainty_penalty_lowers_reward_by_lambda_times_disagreement(ensemble_checkpoint: Path) -> None:
    plain = gym.make(ENV_ID, checkpoint=ensemble_checkpoint).unwrapped
    penalised = gym.make(ENV_ID, checkpoint=ensemble_checkpoint, uncertainty_penalty=2.5).unwrapped
    for env in (plain, penalised):
        env.reset(seed=7)
    action = np.array([0.3], dtype=np.float32)
    _, reward, _, _, info = plain.step(action)
    _, penalised_reward, _, _, penalised_info = penalised.step(action)
    assert info["uncertainty"] > 0
    assert penalised_info["uncertainty"] == pytest.approx(info["uncertainty"])
    assert penalised_reward == pytest.approx(reward - 2.5 * info["uncertainty"], rel=1e-5, abs=1e-6)


def test_uncertainty_penalty_needs_an_ensemble(trained_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="needs an ensemble world model"):
        gym.make(ENV_ID, checkpoint=trained_checkpoint, uncertainty_penalty=1.0)
