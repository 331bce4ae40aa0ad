"""DreamVectorEnv: Gymnasium's vector API, agreement with single envs, autoreset modes and batch errors."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from dreamgym.envs import DreamEnv, DreamVectorEnv
from dreamgym.errors import InvalidActionError

ENV_ID = "dreamgym/InvertedPendulum-dream-v0"
N = 4


@pytest.fixture
def venv(trained_checkpoint: Path):
    # The tiny model's dreamed pole leaves the task's +-0.2 rad within a few steps; the reset mechanics tested
    # with this fixture need dreams that run on, which the continue head of the fixture model lets them do.
    env = gym.make_vec(ENV_ID, num_envs=N, checkpoint=trained_checkpoint, termination="model")
    yield env
    env.close()


def _state(env: DreamVectorEnv) -> tuple[torch.Tensor, ...]:
    dreams = env.dreams
    return (
        dreams.state.deter.clone(),
        dreams.state.stoch.clone(),
        dreams.obs.clone(),
        dreams.steps.clone(),
        dreams.episodes.clone(),
    )


def _assert_same_state(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_make_vec_returns_dream_vector_env(venv) -> None:
    assert type(venv) is DreamVectorEnv
    assert venv.num_envs == N
    assert venv.single_observation_space == gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    assert venv.single_action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    assert venv.observation_space.shape == (N, 5)
    assert venv.action_space.shape == (N, 1)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP


def test_reset_and_step_shapes(venv) -> None:
    obs, info = venv.reset(seed=0)
    assert obs.shape == (N, 5) and obs.dtype == np.float32
    assert obs in venv.observation_space
    obs, reward, terminated, truncated, info = venv.step(venv.action_space.sample())
    assert obs.shape == (N, 5) and obs.dtype == np.float32
    assert reward.shape == (N,) and terminated.shape == (N,) and truncated.shape == (N,)
    assert terminated.dtype == bool and truncated.dtype == bool
    assert info["uncertainty"].shape == (N,)
    assert info["_uncertainty"].all()


def _single_rollouts(checkpoint: Path, seed: int, actions: np.ndarray, horizon: int):
    """Runs N single DreamEnvs with Gymnasium's NEXT_STEP autoreset emulated by hand."""
    steps = len(actions)
    obs_out = np.zeros((steps + 1, N, 5), np.float32)
    rew_out = np.zeros((steps, N))
    term_out = np.zeros((steps, N), bool)
    trunc_out = np.zeros((steps, N), bool)
    for i in range(N):
        env = DreamEnv("InvertedPendulum", checkpoint=checkpoint, horizon=horizon)
        obs_out[0, i], _ = env.reset(seed=seed + i)
        needs_reset = False
        for t in range(steps):
            if needs_reset:  # the vector env spends this step on the reset and ignores the action
                obs_out[t + 1, i], _ = env.reset()
                needs_reset = False
                continue
            obs_out[t + 1, i], rew_out[t, i], term_out[t, i], trunc_out[t, i], _ = env.step(actions[t, i])
            needs_reset = term_out[t, i] or trunc_out[t, i]
    return obs_out, rew_out, term_out, trunc_out


def test_trajectories_equal_single_envs(trained_checkpoint: Path) -> None:
    """Env i of a vector env reset with seed s dreams what a single env reset with s + i dreams."""
    horizon, steps, seed = 4, 20, 10
    actions = np.random.default_rng(1).uniform(-1, 1, size=(steps, N, 1)).astype(np.float32)
    venv = gym.make_vec(ENV_ID, num_envs=N, checkpoint=trained_checkpoint, horizon=horizon)
    obs, _ = venv.reset(seed=seed)
    v_obs, v_rew, v_term, v_trunc = [obs], [], [], []
    for t in range(steps):
        obs, reward, terminated, truncated, _ = venv.step(actions[t])
        v_obs.append(obs)
        v_rew.append(reward)
        v_term.append(terminated)
        v_trunc.append(truncated)
    s_obs, s_rew, s_term, s_trunc = _single_rollouts(trained_checkpoint, seed, actions, horizon)
    assert np.array(v_trunc).any()  # the comparison crosses at least one autoreset
    np.testing.assert_array_equal(np.array(v_term), s_term)
    np.testing.assert_array_equal(np.array(v_trunc), s_trunc)
    np.testing.assert_allclose(np.array(v_obs), s_obs, atol=1e-4)
    np.testing.assert_allclose(np.array(v_rew), s_rew, atol=1e-4)


def test_seed_list(venv) -> None:
    a, _ = venv.reset(seed=[10, 11, 12, 13])
    b, _ = venv.reset(seed=10)
    np.testing.assert_array_equal(a, b)


def test_seed_list_with_none_keeps_stream(venv) -> None:
    venv.reset(seed=10)
    episodes = venv.dreams.episodes.clone()
    venv.reset(seed=[None, 20, None, None])
    assert venv.dreams.episodes.tolist() == [episodes[0] + 1, 0, episodes[2] + 1, episodes[3] + 1]


def test_wrong_number_of_seeds(venv) -> None:
    with pytest.raises(ValueError, match="Expected 4 seeds, one per env, got 2"):
        venv.reset(seed=[1, 2])


def test_nan_action_names_env_and_steps_nothing(venv) -> None:
    venv.reset(seed=0)
    venv.step(np.zeros((N, 1), np.float32))
    before = _state(venv.unwrapped)
    actions = np.zeros((N, 1), np.float32)
    actions[2] = np.nan
    with pytest.raises(InvalidActionError, match=r"NaN or inf for env indices \[2\].*No env was stepped"):
        venv.step(actions)
    _assert_same_state(before, _state(venv.unwrapped))


def test_inf_actions_in_several_envs(venv) -> None:
    venv.reset(seed=0)
    actions = np.zeros((N, 1))
    actions[[0, 3]] = np.inf
    with pytest.raises(InvalidActionError, match=r"env indices \[0, 3\]"):
        venv.step(actions)


def test_max_episode_steps_shortens_dreams_in_make_and_make_vec_alike(trained_checkpoint: Path) -> None:
    venv = gym.make_vec(
        ENV_ID,
        num_envs=N,
        checkpoint=trained_checkpoint,
        termination_threshold=0.0,
        termination="model",
        max_episode_steps=3,
    )
    env = gym.make(
        ENV_ID, checkpoint=trained_checkpoint, termination_threshold=0.0, termination="model", max_episode_steps=3
    )
    venv.reset(seed=0)
    env.reset(seed=0)
    zeros = np.zeros((N, 1), np.float32)
    for _ in range(2):
        assert not venv.step(zeros)[3].any() and not env.step(zeros[0])[3]
    assert venv.step(zeros)[3].all() and env.step(zeros[0])[3]  # truncated at step 3 in both
    longer = gym.make_vec(ENV_ID, num_envs=N, checkpoint=trained_checkpoint, horizon=5, max_episode_steps=10)
    assert longer.unwrapped.dreams.horizon == 5  # it only shortens: dream longer with `horizon`


def test_nan_action_of_env_being_reset_is_ignored(trained_checkpoint: Path) -> None:
    venv = gym.make_vec(
        ENV_ID, num_envs=N, checkpoint=trained_checkpoint, horizon=2, termination_threshold=0.0, termination="model"
    )
    venv.reset(seed=0)
    zeros = np.zeros((N, 1), np.float32)
    venv.step(zeros)
    _, _, _, truncated, _ = venv.step(zeros)
    assert truncated.all()
    obs, reward, terminated, truncated, _ = venv.step(np.full((N, 1), np.nan, np.float32))
    assert not (terminated | truncated).any()
    np.testing.assert_array_equal(reward, 0.0)
    assert np.isfinite(obs).all()
    assert venv.unwrapped.dreams.steps.tolist() == [0] * N


@pytest.mark.parametrize(
    ("shape", "match"),
    [((N, 2), r"Expected `actions` of shape \(4, 1\), got \(4, 2\)"), ((N,), r"got \(4,\)"), ((3, 1), r"got \(3, 1\)")],
)
def test_wrong_batch_shape(venv, shape: tuple[int, ...], match: str) -> None:
    venv.reset(seed=0)
    with pytest.raises(InvalidActionError, match=match):
        venv.step(np.zeros(shape, np.float32))


def test_non_numeric_batch(venv) -> None:
    venv.reset(seed=0)
    with pytest.raises(InvalidActionError, match="Expected `actions` with a float dtype, got dtype <U1"):
        venv.step(np.full((N, 1), "x"))


@pytest.mark.parametrize("num_envs", [0, -1])
def test_num_envs_must_be_positive(trained_checkpoint: Path, num_envs: int) -> None:
    with pytest.raises(ValueError, match=rf"Expected `num_envs` to be a positive integer, got {num_envs}"):
        gym.make_vec(ENV_ID, num_envs=num_envs, checkpoint=trained_checkpoint)
    with pytest.raises(ValueError, match="positive integer"):
        DreamVectorEnv("InvertedPendulum", num_envs=num_envs, checkpoint=trained_checkpoint)


def test_disabled_autoreset_is_refused(trained_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="supports autoreset modes NEXT_STEP and SAME_STEP, not DISABLED"):
        DreamVectorEnv(
            "InvertedPendulum", num_envs=2, checkpoint=trained_checkpoint, autoreset_mode=AutoresetMode.DISABLED
        )


def test_same_step_autoreset_puts_final_obs_in_info(trained_checkpoint: Path) -> None:
    kwargs = dict(num_envs=N, checkpoint=trained_checkpoint, horizon=3, termination_threshold=0.0, termination="model")
    torch.manual_seed(0)
    same = gym.make_vec(ENV_ID, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    torch.manual_seed(0)
    nxt = gym.make_vec(ENV_ID, **kwargs)
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    same.reset(seed=5)
    nxt.reset(seed=5)
    actions = np.full((N, 1), 0.25, np.float32)
    for _ in range(2):
        obs, _, _, truncated, info = same.step(actions)
        assert not truncated.any() and "final_obs" not in info
        nxt.step(actions)
    obs, reward, terminated, truncated, info = same.step(actions)
    n_obs, n_reward, _, n_truncated, _ = nxt.step(actions)
    assert truncated.all() and not terminated.any()
    np.testing.assert_array_equal(n_truncated, truncated)
    np.testing.assert_allclose(reward, n_reward)  # the reward of the last step, not of the reset
    assert info["_final_obs"].all()
    np.testing.assert_allclose(np.stack(info["final_obs"]), n_obs)
    # the returned observations are already those of the new episodes
    n_reset, *_ = nxt.step(actions)
    np.testing.assert_allclose(obs, n_reset)
    assert same.unwrapped.dreams.steps.tolist() == [0] * N
    same.close()
    nxt.close()


def test_reset_mask_resets_only_masked_envs(venv) -> None:
    venv.reset(seed=10)
    for _ in range(3):
        obs, *_ = venv.step(np.full((N, 1), 0.5, np.float32))
    before = _state(venv.unwrapped)
    mask = np.array([True, False, True, False])
    new_obs, _ = venv.reset(options={"reset_mask": mask})
    after = _state(venv.unwrapped)
    np.testing.assert_array_equal(new_obs[~mask], obs[~mask])
    assert not np.allclose(new_obs[mask], obs[mask])
    for old, new in zip(before, after, strict=True):
        assert torch.equal(old[~torch.as_tensor(mask)], new[~torch.as_tensor(mask)])
    assert after[3].tolist() == [0, 3, 0, 3]  # step counters
    assert after[4].tolist() == [1, 0, 1, 0]  # episode counters


def test_reset_mask_with_seed_only_reseeds_masked(venv) -> None:
    venv.reset(seed=10)
    seeds = venv.unwrapped.dreams.seeds.clone()
    venv.reset(seed=100, options={"reset_mask": [False, True, False, False]})
    assert venv.unwrapped.dreams.seeds.tolist() == [seeds[0], 101, seeds[2], seeds[3]]


def test_reset_mask_of_wrong_shape(venv) -> None:
    with pytest.raises(ValueError, match=r"Expected `reset_mask` of shape \(4,\), got \(3,\)"):
        venv.reset(options={"reset_mask": [True, False, True]})


def test_render_rgb_array(trained_checkpoint: Path) -> None:
    venv = gym.make_vec(ENV_ID, num_envs=2, checkpoint=trained_checkpoint, render_mode="rgb_array")
    venv.reset(seed=0)
    frame = venv.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    venv.close()
