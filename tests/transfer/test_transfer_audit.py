"""Physics audit: the per-task table matches the simulator, real data passes, planted violations are counted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import random_policy
from dreamgym.tasks import get_task
from dreamgym.transfer.audit import TASK_PHYSICS, PhysicsBounds, audit_dreams, find_violations
from dreamgym.transfer.recording import padded_episodes, record_pybullet
from dreamgym.world_model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def hopper_real():
    """Three short random Hopper episodes (a random hopper falls within a few dozen steps)."""
    return record_pybullet("Hopper", random_policy(3, 0), episodes=3, seed=0, max_steps=100)


@pytest.mark.parametrize("task", ["Hopper", "Walker2D", "HalfCheetah", "Ant"])
def test_walker_table_matches_the_robot(task: str):
    spec = get_task(task)
    env = spec.make_env()
    try:
        env.reset(seed=0)
        robot = env.unwrapped.robot
        physics = TASK_PHYSICS[task]
        assert len(physics.joint_position_dims) == len(robot.ordered_joints) == spec.action_dim
        assert len(physics.contact_dims) == len(robot.foot_list)
        assert physics.contact_dims[-1] == spec.obs_shape[0] - 1
    finally:
        env.close()


def test_pendulum_slider_limits_are_the_nominal_ones():
    env = get_task("InvertedPendulum").make_env()
    try:
        env.reset(seed=0)
        slider = env.unwrapped.robot.slider
        assert (slider.lowerLimit, slider.upperLimit) == (-1.0, 1.0)
    finally:
        env.close()


def test_real_data_passes_and_planted_pendulum_violations_are_counted(wm_sequences):
    bounds = PhysicsBounds.fit(wm_sequences, "InvertedPendulum")
    obs, valid, terminated = padded_episodes(wm_sequences)
    clean = find_violations(bounds, obs, valid, terminated)
    assert clean["ground"] is None and clean["contact"] is None
    assert all(not mask.any() for mask in clean.values() if mask is not None)  # incl. the termination rule

    planted = obs.copy()
    planted[0, 3, 0] = 1.5  # slider beyond its 1 m limit: a limit violation and two jumps (in and out)
    planted[1, 2, 2:4] = np.cos(0.5), np.sin(0.5)  # the pole at 0.5 rad, yet the episode goes on
    found = find_violations(bounds, planted, valid, terminated)
    assert np.argwhere(found["joint_limit"]).tolist() == [[0, 2]]
    assert np.argwhere(found["jump"][0]).ravel().tolist() == [2, 3]
    assert [1, 1] in np.argwhere(found["termination"]).tolist()
    assert not found["joint_limit"][1:].any()


def test_planted_hopper_violations_are_counted_and_real_termination_matches_the_rule(hopper_real):
    bounds = PhysicsBounds.fit(hopper_real, "Hopper")
    assert bounds.initial_z == pytest.approx(1.25)  # the torso height of hopper.xml, read from PyBullet
    obs, valid, terminated = padded_episodes(hopper_real)
    assert terminated.any()  # random hoppers fall, so the rule is exercised on real terminations
    assert all(not mask.any() for mask in find_violations(bounds, obs, valid, terminated).values())

    planted = obs.copy()
    planted[0, 2, 8] = 1.5  # thigh beyond its limit (scaled position 1 is the limit)
    planted[0, 4, 0] = bounds.low[0] - 0.5  # torso under the lowest height PyBullet produced
    planted[1, 3, 14] = 0.5  # half a foot contact
    found = find_violations(bounds, planted, valid, terminated)
    assert found["joint_limit"][0, 1] and found["joint_limit"].sum() == 1
    assert found["ground"][0, 3] and found["ground"].sum() == 1
    assert found["contact"][1, 2] and found["contact"].sum() == 1
    assert found["termination"][0, 3]  # 0.5 below the lowest height is below 0.8 m: the rule says it fell


def test_audit_dreams_is_reproducible_and_its_real_control_is_clean(
    trained_checkpoint: Path, wm_sequences, tmp_path: Path
):
    bounds = PhysicsBounds.fit(wm_sequences, "InvertedPendulum")

    checkpoint = load_checkpoint(trained_checkpoint)

    def run():
        return audit_dreams(checkpoint, "InvertedPendulum", random_policy(1, 3), 6, 8, 100, bounds, 2)

    result, replay = run(), run()
    assert json.dumps(result.to_dict()) == json.dumps(replay.to_dict())
    assert result.real.step_rate["termination"] == 0.0 and result.real.trajectories == 2
    assert result.dream.trajectories == 6 and 0 < result.dream.steps <= 6 * 8
    assert result.plot(tmp_path / "audit.png").stat().st_size > 0
    section = result.report_section(tmp_path)
    assert [row["check"] for row in section.table][-1] == "any" and section.figures[0].exists()
    with pytest.raises(ValueError, match="bounds of task 'InvertedPendulum', got bounds fitted on 'Hopper'"):
        audit_dreams(trained_checkpoint, "InvertedPendulum", random_policy(1, 3), 6, 8, 100, _hopper_bounds(bounds))
    with pytest.raises(ValueError, match="positive integer `horizon`"):
        audit_dreams(trained_checkpoint, "InvertedPendulum", random_policy(1, 3), 6, 0, 100, bounds)


def _hopper_bounds(bounds: PhysicsBounds) -> PhysicsBounds:
    from dataclasses import replace

    return replace(bounds, task="Hopper")
