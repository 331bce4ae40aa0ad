"""The robot-side safety layer on its own: clipping, the slew-rate limit, and the limits that stop a robot."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.robots.safety import SafetyConfig, SafetyGovernor
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.transfer.gaps import make_gap_env


def test_commands_are_clipped_and_rate_limited_from_rest_and_counted() -> None:
    governor = SafetyGovernor(SafetyConfig(-0.5, 0.5, max_action_change=0.2), 5, np.zeros(1, np.float32))
    sent = [governor.filter(np.array([a], np.float32))[0] for a in (2.0, 2.0, -2.0, 0.2)]
    np.testing.assert_allclose(sent, [0.2, 0.4, 0.2, 0.2])  # the first command is limited against rest (zero)
    assert governor.counts == {"clipped": 3, "rate_limited": 3}
    governor.reset()
    assert governor.filter(np.ones(1, np.float32))[0] == pytest.approx(0.2)  # again from rest
    governor.hold(np.array([-0.5], np.float32))  # a safe stop applied by the robot is the next slew's start
    assert governor.filter(np.ones(1, np.float32))[0] == pytest.approx(-0.3)


def test_a_range_without_zero_rests_at_its_nearest_command() -> None:
    governor = SafetyGovernor(SafetyConfig(0.3, 0.8, max_action_change=0.1), 5, np.zeros(1, np.float32))
    assert governor.filter(np.full(1, 0.6, np.float32))[0] == pytest.approx(0.4)


def test_violations_name_the_joint_and_its_limit() -> None:
    governor = SafetyGovernor(SafetyConfig.for_task("InvertedPendulum"), 5, np.zeros(1, np.float32))
    assert governor.violation(np.zeros(5, np.float32)) is None
    obs = np.array([1.3, 0, 1, 0, 0], np.float32)
    assert governor.violation(obs) == "observation[0] = 1.300 outside its limit [-1.25, 1.25]"
    assert governor.violation(np.array([0, np.nan, 1, 0, 0], np.float32)) == "non-finite observation"


def test_limits_of_another_task_are_refused() -> None:
    with pytest.raises(ValueError, match=r"indices \[8, 10, 12\].*task's observations have 5"):
        SafetyGovernor(SafetyConfig.for_task("Hopper"), 5, np.zeros(1, np.float32))


def test_task_safety_limits_cover_the_joints() -> None:
    assert SafetyConfig.for_task("Hopper").observation_limits == dict.fromkeys((8, 10, 12), (-1.25, 1.25))
    assert SafetyConfig.for_task("InvertedPendulum").observation_limits == {0: (-1.25, 1.25)}
    assert SafetyConfig.for_task("HopperPixels") == SafetyConfig.for_task("Hopper")
    assert SafetyConfig.for_task("PandaReach").observation_limits == {}  # no joint positions observed


@pytest.mark.parametrize("task", ["Hopper", "HalfCheetah", "Ant"])
def test_robots_do_not_start_past_their_safety_limits(task: str) -> None:
    """Bullet's soft joint limits let robots read past their range; the limits must leave their own start states
    alone, or a robot would stop before its first command."""
    governor = SafetyGovernor(SafetyConfig.for_task(task), get_task(task).obs_shape[0], get_task(task).stop_action)
    env = make_gap_env(task)
    for seed in range(10):
        assert governor.violation(env.reset(seed=seed)[0]) is None
    env.close()
    with pytest.raises(ValueError, match="max_action_change > 0"):
        SafetyConfig(max_action_change=0.0)


def test_the_safe_stop_is_the_tasks() -> None:
    np.testing.assert_array_equal(get_task("Hopper").stop_action, np.zeros(3, np.float32))
    spec = TaskSpec("Arm", "Arm-v0", (4,), 2, 100, 100, safe_action=(0.0, -1.0))
    np.testing.assert_array_equal(spec.stop_action, np.array([0.0, -1.0], np.float32))
    with pytest.raises(ValueError, match=r"expected `safe_action` of 2 values in \[-1, 1\], got \(0.0,\)"):
        TaskSpec("Arm", "Arm-v0", (4,), 2, 100, 100, safe_action=(0.0,))
