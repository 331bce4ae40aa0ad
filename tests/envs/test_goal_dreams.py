"""Dreams of a goal task: the real env's Dict observation, a goal that stays put, the task's own reward and success,
HER training in the dream and success rates on the ladder."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dreamgym  # noqa: F401  (registers the dream ids)
from dreamgym.data import collect, load_episodes
from dreamgym.tasks import get_task

TASK = "PandaReach"


@pytest.fixture(scope="module")
def reach_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The debug world model after 20 updates on 400 random PandaReach steps (8 episodes)."""
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(TASK)
    root = tmp_path_factory.mktemp("reach")
    data = load_episodes(collect(spec, 400, root / "data", seed=0, progress=False), spec)
    model_cfg, train_cfg = make_config("debug", spec.obs_shape[0], spec.action_dim, steps=20)
    return train_world_model(data, root / "ckpt", spec, model_cfg, train_cfg, logdir=root / "tb", progress=False).path


def test_the_dream_observes_the_real_envs_dict_and_passes_both_checkers(reach_checkpoint: Path) -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(f"dreamgym/{TASK}-dream-v0", checkpoint=reach_checkpoint)
    assert env.observation_space == get_task(TASK).make_env(flatten=False).observation_space
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)  # as a goal env: Dict observation and compute_reward


def test_goal_stays_put_and_reward_success_and_end_follow_the_task(reach_checkpoint: Path) -> None:
    spec = get_task(TASK)
    env = gym.make(f"dreamgym/{TASK}-dream-v0", checkpoint=reach_checkpoint).unwrapped
    env.action_space.seed(0)
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        goal = obs["desired_goal"].copy()
        for _ in range(spec.max_episode_steps):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            np.testing.assert_array_equal(obs["desired_goal"], goal)
            assert reward == env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
            assert info["is_success"] == spec.goal.is_success(obs["achieved_goal"], obs["desired_goal"])
            assert terminated == bool(spec.termination(spec.goal.codec.to_flat(obs)))
            if terminated or truncated:
                break


def test_vector_dreams_batch_the_dict(reach_checkpoint: Path) -> None:
    envs = gym.make_vec(f"dreamgym/{TASK}-dream-v0", num_envs=3, checkpoint=reach_checkpoint, autoreset_mode="SameStep")
    obs, _ = envs.reset(seed=0)
    shapes = {k: v.shape for k, v in obs.items()}
    assert shapes == {"achieved_goal": (3, 3), "desired_goal": (3, 3), "observation": (3, 6)}
    ended = False
    for _ in range(get_task(TASK).dream_horizon):
        obs, _, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert info["is_success"].shape == (3,) and obs["observation"].shape == (3, 6)
        if (terminated | truncated).any():
            final = info["final_obs"][np.flatnonzero(terminated | truncated)[0]]
            assert set(final) == {"achieved_goal", "desired_goal", "observation"}
            ended = True
            break
    assert ended
    assert envs.unwrapped.compute_reward(np.zeros((2, 3)), np.zeros((2, 3)), None).tolist() == [0.0, 0.0]


def test_her_trains_in_the_dream_and_the_ladder_reports_success(reach_checkpoint: Path) -> None:
    from stable_baselines3 import SAC, HerReplayBuffer

    from agents.evaluation import evaluate_in_dream, evaluate_in_pybullet, sb3_policy
    from dreamgym.transfer.ladder import DreamRung, PyBulletRung

    env = gym.make(f"dreamgym/{TASK}-dream-v0", checkpoint=reach_checkpoint)
    model = SAC("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, learning_starts=60, seed=0, device="cpu")
    model.learn(120)
    assert model.replay_buffer.size() > 0
    policy = sb3_policy(model)  # acts on the ladder's flat observations
    real = evaluate_in_pybullet(policy, TASK, 2, seed=0)
    dreamed = evaluate_in_dream(policy, TASK, reach_checkpoint, 2, seed=0)
    for result in (real, dreamed):
        assert result.successes is not None and result.success_rate in (0.0, 0.5, 1.0)
        assert (result.returns == -(result.lengths - result.successes)).all()  # -1 per step until the goal
    spec = get_task(TASK)
    for rung in (DreamRung(reach_checkpoint), PyBulletRung()):
        outcome = rung.run(policy, spec, 2, 0, progress=False)
        assert len(outcome.successes) == 2 and outcome.success_rate is not None


def test_a_trained_goal_model_records_its_table_and_dreams_the_goal_it_reaches(reach_checkpoint: Path) -> None:
    from dreamgym.world_model import load_checkpoint

    spec = get_task(TASK)
    assert load_checkpoint(reach_checkpoint).model.cfg.obs_layout.table == spec.decoder_table()
    env = gym.make(f"dreamgym/{TASK}-dream-v0", checkpoint=reach_checkpoint)
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
        np.testing.assert_array_equal(obs["achieved_goal"], obs["observation"][:3])  # the end effector's position
