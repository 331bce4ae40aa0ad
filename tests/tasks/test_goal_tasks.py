"""The panda-gym goal tasks: their flat layout, goal rules and termination agree with the simulator."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dreamgym.tasks import TASKS, get_task
from dreamgym.tasks.goals import DictCodec, GoalSpec

GOAL_TASKS = sorted(name for name, spec in TASKS.items() if spec.goal is not None and spec.image_shape is None)


def test_the_goal_tasks_are_the_panda_tasks() -> None:
    assert GOAL_TASKS == ["PandaPush", "PandaReach"]


@pytest.mark.parametrize("name", GOAL_TASKS)
def test_flat_observation_is_gymnasiums_flattening_of_the_real_dict(name: str) -> None:
    spec = get_task(name)
    raw, flat = spec.make_env(flatten=False), spec.make_env()
    assert raw.observation_space == spec.env_observation_space == spec.goal.space
    assert flat.observation_space.shape == spec.obs_shape
    obs, _ = raw.reset(seed=3)
    flat_obs, _ = flat.reset(seed=3)
    codec = spec.goal.codec
    np.testing.assert_array_equal(codec.to_flat(obs), flat_obs)
    np.testing.assert_array_equal(codec.to_flat(obs), gym.spaces.flatten(raw.observation_space, obs))
    back = codec.to_dict(np.stack([flat_obs, flat_obs]))
    assert all(back[k].shape == (2, *raw.observation_space[k].shape) for k in obs)
    np.testing.assert_array_equal(back["desired_goal"][1], obs["desired_goal"])
    raw.close()
    flat.close()


def _rollout(name: str, steps: int = 120, seed: int = 0):
    """Random steps of the flat env with the simulator's own view of each state."""
    spec = get_task(name)
    env = spec.make_env()
    env.action_space.seed(seed)
    rows = []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        sim = env.unwrapped
        rows.append(
            {
                "obs": obs,
                "reward": reward,
                "terminated": terminated,
                "success": info["is_success"],
                "ee": sim.robot.get_ee_position(),
                "goal": sim.task.get_goal(),
                "object": sim.sim.get_base_position("object") if name == "PandaPush" else None,
            }
        )
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return spec, rows


@pytest.mark.parametrize("name", GOAL_TASKS)
def test_layout_reads_the_simulator(name: str) -> None:
    spec, rows = _rollout(name)
    ee = spec.layout.fields[2]
    assert ee.name.startswith("end-effector position")
    for row in rows:
        np.testing.assert_allclose(row["obs"][list(ee.dims)], row["ee"], atol=1e-6)
        np.testing.assert_allclose(row["obs"][list(spec.goal.dims("desired_goal"))], row["goal"], atol=1e-6)
        achieved = row["obs"][list(spec.goal.dims("achieved_goal"))]
        np.testing.assert_allclose(achieved, row["ee"] if row["object"] is None else row["object"], atol=1e-6)
    low, high = spec.layout.bounds()
    observed = np.stack([row["obs"] for row in rows])
    assert (observed >= low).all() and (observed <= high).all()


@pytest.mark.parametrize("name", GOAL_TASKS)
def test_reward_success_and_termination_rules_agree_with_the_env(name: str) -> None:
    spec, rows = _rollout(name)
    obs = np.stack([row["obs"] for row in rows])
    achieved, desired = spec.goal.split(obs)
    np.testing.assert_array_equal(spec.goal.compute_reward(achieved, desired), [row["reward"] for row in rows])
    np.testing.assert_array_equal(spec.goal.is_success(achieved, desired), [row["success"] for row in rows])
    np.testing.assert_array_equal(spec.termination(obs), [row["terminated"] for row in rows])
    # Random actions rarely reach the goal: plant states on both sides of the threshold, judged by the env's task.
    task = spec.make_env().unwrapped.task
    planted = obs[:2].copy()
    planted[0, list(spec.goal.dims("achieved_goal"))] = planted[0, list(spec.goal.dims("desired_goal"))] + [0.03, 0, 0]
    planted[1, list(spec.goal.dims("achieved_goal"))] = planted[1, list(spec.goal.dims("desired_goal"))] + [0.07, 0, 0]
    a, d = spec.goal.split(planted)
    np.testing.assert_array_equal(spec.termination(planted), task.is_success(a, d))
    np.testing.assert_array_equal(spec.goal.compute_reward(a, d, {}), task.compute_reward(a, d, {}))
    assert spec.termination(planted).tolist() == [True, False]


def test_dense_goals_reward_minus_the_distance() -> None:
    goal = GoalSpec(observation_dim=2, reward_type="dense")
    np.testing.assert_allclose(goal.compute_reward(np.array([[0.3, 0.4, 0.0]]), np.zeros((1, 3))), [-0.5])
    with pytest.raises(ValueError, match="Unknown reward_type 'shaped'"):
        GoalSpec(observation_dim=2, reward_type="shaped")


def test_the_codec_refuses_what_it_cannot_convert() -> None:
    codec = get_task("PandaReach").goal.codec
    with pytest.raises(ValueError, match="Expected flat observations with 12 values, got shape \\(11,\\)"):
        codec.to_dict(np.zeros(11))
    with pytest.raises(ValueError, match=r"lacks the keys \['desired_goal'\]"):
        codec.to_flat({"observation": np.zeros(6), "achieved_goal": np.zeros(3)})
    with pytest.raises(TypeError, match="Expected a Dict observation space of Box sub-spaces"):
        DictCodec(gym.spaces.Box(0, 1, (3,)))


@pytest.mark.parametrize("name", GOAL_TASKS)
def test_unseeded_resets_continue_the_seeded_one(name: str) -> None:
    """panda-gym draws fresh entropy on an unseeded reset; the task's env chains it from the seeded one."""

    def starts() -> list[np.ndarray]:
        env = get_task(name).make_env()
        first = [env.reset(seed=7)[0]]
        return first + [env.reset()[0] for _ in range(3)]

    for a, b in zip(starts(), starts(), strict=True):
        np.testing.assert_array_equal(a, b)
