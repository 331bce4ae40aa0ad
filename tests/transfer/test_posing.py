"""Posing a PyBullet robot in an observation: the pose is the state the observation was read from."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.tasks import get_task
from dreamgym.transfer.posing import POSABLE_TASKS, UNPOSABLE_TASKS, WalkerPose, make_pose, robot_body_id


@pytest.fixture
def env_of():
    """Makes reset PyBullet envs of a task and closes them after the test."""
    made = []

    def make(task: str):
        env = get_task(task).make_env()
        env.reset(seed=0)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def _links(env) -> np.ndarray:
    """World (x, z) of every link frame, as Bullet last updated them (no forward kinematics of its own)."""
    p, body = env.unwrapped._p, robot_body_id(env)
    return np.array([np.asarray(p.getLinkState(body, j)[4])[[0, 2]] for j in range(p.getNumJoints(body))])


def test_every_task_is_posable_or_has_a_reason(env_of):
    from dreamgym.tasks import TASKS

    vector = {name for name, spec in TASKS.items() if spec.pixels_of is None}
    assert set(POSABLE_TASKS) | set(UNPOSABLE_TASKS) == vector and not set(POSABLE_TASKS) & set(UNPOSABLE_TASKS)
    assert make_pose("AntPixels", env_of("Ant")) is None  # a pixel task poses as its vector task
    assert make_pose("Ant", env_of("Ant")) is None and "free" in UNPOSABLE_TASKS["Ant"]


@pytest.mark.parametrize("task", ["Hopper", "Walker2D", "HalfCheetah"])
def test_a_walker_posed_at_the_torso_instant_is_the_robot_the_solver_last_saw(task: str, env_of):
    """PyBullet's observation holds the torso one substep behind the joints; matching the instants recovers the
    link frames the simulator itself holds, to float32 precision of the observation."""
    real, puppet = env_of(task), env_of(task)
    pose = make_pose(task, puppet, match_torso_time=True)
    rng = np.random.default_rng(0)
    for _ in range(30):
        obs, *_ = real.step(rng.uniform(-1, 1, get_task(task).action_dim).astype(np.float32))
        pose(puppet, obs)
        offset = _links(real) - _links(puppet)
        offset[:, 0] -= offset[0, 0]  # x is integrated from the speed, not observed
        assert np.abs(offset).max() < 2e-3


def test_a_walker_on_its_back_is_posed_on_its_back(env_of):
    env = env_of("HalfCheetah")
    pose = make_pose("HalfCheetah", env)
    obs = np.asarray(env.unwrapped.robot.calc_state(), dtype=np.float32)
    obs[6], obs[7] = np.pi, np.pi - 2.5  # rotated 2.5 rad about y, as getEulerFromQuaternion reads it
    pose(env, obs)
    again = env.unwrapped.robot.calc_state()
    assert abs(np.cos(again[6]) + 1) < 1e-6 and again[7] == pytest.approx(obs[7], abs=1e-5)
    assert again[0] == pytest.approx(obs[0], abs=1e-5)


def test_walker_pose_integrates_x_until_reset(env_of):
    env = env_of("Hopper")
    pose = make_pose("Hopper", env)
    assert isinstance(pose, WalkerPose)
    obs = np.asarray(env.unwrapped.robot.calc_state(), dtype=np.float32)
    obs[3] = 0.3  # 1 m/s forward
    pose(env, obs)
    pose(env, obs)
    assert pose.x == pytest.approx(2 * env.unwrapped.scene.dt)
    pose.reset()
    pose(env, obs)
    assert pose.x == pytest.approx(env.unwrapped.scene.dt)
