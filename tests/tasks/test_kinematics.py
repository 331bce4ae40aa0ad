"""The planar walkers' kinematic chains place the robot exactly where PyBullet does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamgym.tasks import get_task
from dreamgym.tasks.kinematics import PLANAR_WALKERS, planar_chain
from dreamgym.transfer.posing import make_pose, robot_body_id
from dreamgym.transfer.recording import random_policy, record_pybullet
from dreamgym.world_model.kinematics import FloorProjection


@pytest.mark.parametrize("task", PLANAR_WALKERS)
def test_lowest_point_is_pybullets_distance_to_the_floor(task: str):
    """Real states, lifted and sunk by up to 30 cm, posed in PyBullet: the chain's lowest point is the robot's
    distance to the floor as Bullet's collision detection measures it (negative: inside the floor)."""
    spec = get_task(task)
    floor = FloorProjection(planar_chain(spec))
    obs = record_pybullet(spec, random_policy(spec.action_dim, 0), 3, 0, max_steps=100).obs[::4].copy()
    obs[:, 0] += np.random.default_rng(0).uniform(-0.3, 0.3, len(obs))
    env = spec.make_env()
    try:
        env.reset(seed=0)
        pose, p, body = make_pose(spec, env, match_torso_time=True), env.unwrapped._p, robot_body_id(env)
        (ground,) = {b for b, _ in env.unwrapped.ground_ids}
        distance = []
        for row in obs:
            pose(env, row)
            p.performCollisionDetection()
            distance.append(min(point[8] for point in p.getClosestPoints(body, ground, 5.0)))
    finally:
        env.close()
    lowest = floor.lowest_point(torch.as_tensor(obs)).numpy()
    assert (np.array(distance) < 0).any() and (np.array(distance) > 0).any()  # both sides of the floor
    np.testing.assert_allclose(lowest, distance, atol=1e-4)


def test_projection_raises_only_bodies_in_the_floor():
    spec = get_task("Hopper")
    floor = FloorProjection(planar_chain(spec))
    obs = torch.as_tensor(record_pybullet(spec, random_policy(3, 1), 1, 0, max_steps=30).obs)
    sunk = obs.clone()
    sunk[:, 0] -= 0.5
    projected = floor.project(sunk)
    torch.testing.assert_close(floor.lowest_point(projected), torch.zeros(len(obs)), atol=1e-5, rtol=0)
    torch.testing.assert_close(projected[:, 1:], sunk[:, 1:])  # only the height moves
    lifted = obs.clone()
    lifted[:, 0] += 0.5
    torch.testing.assert_close(floor.project(lifted), lifted)


def test_only_planar_walkers_have_a_chain():
    with pytest.raises(ValueError, match=r"Expected a planar walker \(Hopper, Walker2D, HalfCheetah\), got task 'Ant'"):
        planar_chain("Ant")
    assert get_task("Ant").kinematic_chain() is None
