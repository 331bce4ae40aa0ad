"""The robot path end to end: a loopback PyBullet server, the socket client, and the safety layer."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from dreamgym.errors import EmergencyStopError, RobotError, RobotNotConnectedError
from dreamgym.robots.base import Robot
from dreamgym.robots.loopback import LoopbackRobotServer
from dreamgym.robots.remote import connect_robot, parse_address
from dreamgym.robots.safety import SafetyConfig, SafetyLayer
from dreamgym.transfer.gaps import make_gap_env


@pytest.fixture
def server() -> Iterator[LoopbackRobotServer]:
    with LoopbackRobotServer("InvertedPendulum") as running:
        yield running


def test_loopback_robot_matches_pybullet_exactly(server: LoopbackRobotServer) -> None:
    robot = connect_robot(server.address)
    assert isinstance(robot, Robot) and robot.connected and robot.task == "InvertedPendulum"
    assert robot.observation_space.shape == (5,) and robot.action_space.shape == (1,)
    env = make_gap_env("InvertedPendulum")
    actions = np.random.default_rng(0).uniform(-1, 1, size=(15, 1)).astype(np.float32)
    for seed in (3, 4):
        obs, _ = robot.reset(seed=seed)
        expected, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, expected)
        for action in actions:
            got, expected = robot.step(action), env.step(action)
            np.testing.assert_array_equal(got[0], expected[0])  # float32 survives the JSON wire exactly
            assert got[1:4] == (expected[1], expected[2], expected[3])
            if got[2]:
                break
    robot.close()
    assert not robot.connected
    with pytest.raises(RobotNotConnectedError, match="not connected"):
        robot.reset(seed=0)


def test_no_robot_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RobotNotConnectedError, match=f"No robot answers at tcp://127.0.0.1:{port}"):
        connect_robot(f"tcp://127.0.0.1:{port}", timeout=1.0)


def test_bad_address_and_bad_action_are_clear_errors(server: LoopbackRobotServer) -> None:
    with pytest.raises(ValueError, match="Expected a robot address like"):
        parse_address("localhost")
    with pytest.raises(ValueError, match="Expected a robot address like"):
        parse_address("tcp://127.0.0.1:70000")  # no such port; socket would raise OverflowError
    robot = connect_robot(server.address)
    robot.reset(seed=0)
    with pytest.raises(RobotError, match=r"expected an action of shape \(1,\), got \(2,\)"):
        robot.step(np.zeros(2, np.float32))
    robot.close()


def test_safety_layer_clips_and_rate_limits(server: LoopbackRobotServer) -> None:
    config = SafetyConfig(action_low=-0.5, action_high=0.5, max_action_change=0.2)
    robot = SafetyLayer(connect_robot(server.address), config)
    robot.reset(seed=0)
    sent = [robot.step(np.array([a], np.float32))[4]["safe_action"][0] for a in (2.0, 2.0, -2.0, 0.2)]
    np.testing.assert_allclose(sent, [0.2, 0.4, 0.2, 0.2])  # the first command is limited against rest (zero)
    assert robot.counts == {"clipped": 3, "rate_limited": 3, "emergency_stops": 0}
    robot.reset(seed=0)
    assert robot.step(np.ones(1, np.float32))[4]["safe_action"][0] == pytest.approx(0.2)  # again from rest
    robot.close()
    assert server.stopped  # closing stops the robot: it never keeps running its last command
    robot = SafetyLayer(connect_robot(server.address), SafetyConfig(0.3, 0.8, max_action_change=0.1))
    robot.reset(seed=0)  # a range without zero: rest is its nearest command, so the first one stays inside it
    assert robot.step(np.full(1, 0.6, np.float32))[4]["safe_action"][0] == pytest.approx(0.4)
    robot.close()


def test_joint_limit_stops_the_robot_until_reset(server: LoopbackRobotServer) -> None:
    robot = SafetyLayer(connect_robot(server.address), SafetyConfig(observation_limits={0: (-0.05, 0.05)}))
    robot.reset(seed=0)
    terminated, info = False, {}
    for _ in range(30):  # full push: the cart leaves +-0.05 m within a few steps
        _, _, terminated, _, info = robot.step(np.ones(1, np.float32))
        if terminated:
            break
    assert terminated and "observation[0]" in info["emergency_stop"] and robot.counts["emergency_stops"] == 1
    assert server.stopped  # the stop reached the robot, not only the layer
    with pytest.raises(EmergencyStopError, match="call reset"):
        robot.step(np.zeros(1, np.float32))
    robot.reset(seed=0)
    assert not server.stopped
    with pytest.raises(EmergencyStopError, match="non-finite action"):
        robot.step(np.array([np.nan], np.float32))
    robot.close()


def test_robot_reset_outside_its_limits_is_stopped_before_any_command(server: LoopbackRobotServer) -> None:
    robot = SafetyLayer(connect_robot(server.address), SafetyConfig(observation_limits={1: (0.5, 0.6)}))
    _, info = robot.reset(seed=0)  # entry 1 starts near zero, outside (0.5, 0.6)
    assert "observation[1]" in info["emergency_stop"] and server.stopped
    with pytest.raises(EmergencyStopError, match="call reset"):
        robot.step(np.zeros(1, np.float32))
    robot.close()


def test_emergency_stop_that_cannot_reach_the_robot_still_latches(server: LoopbackRobotServer) -> None:
    remote = connect_robot(server.address)
    robot = SafetyLayer(remote, SafetyConfig())
    robot.reset(seed=0)

    def lost() -> None:
        raise RobotNotConnectedError("connection lost")

    remote.stop = lost
    with pytest.raises(RobotNotConnectedError, match="connection lost"):  # the stop was tried, and failed
        robot.step(np.array([np.nan], np.float32))
    with pytest.raises(EmergencyStopError, match=r"emergency-stopped \(non-finite action\)"):
        robot.step(np.zeros(1, np.float32))
    remote.close()


def test_safety_limits_of_another_task_are_refused(server: LoopbackRobotServer) -> None:
    robot = connect_robot(server.address)
    with pytest.raises(ValueError, match=r"indices \[8, 10, 12\].*InvertedPendulum's observations have 5"):
        SafetyLayer(robot, SafetyConfig.for_task("Hopper"))
    robot.close()


def test_malformed_messages_are_answered_not_fatal(server: LoopbackRobotServer) -> None:
    robot = connect_robot(server.address)
    robot.observation_space = type(robot.observation_space)(-np.inf, np.inf, shape=(4,), dtype=np.float32)
    with pytest.raises(RobotError, match=r"observation of shape \(5,\); it announced \(4,\)"):
        robot.reset(seed=0)
    robot.close()
    with socket.create_connection(parse_address(server.address), timeout=5) as raw, raw.makefile("rwb") as stream:
        stream.write(b"[1]\n")
        stream.flush()
        assert b"expected a JSON object" in stream.readline()
    assert connect_robot(server.address).task == "InvertedPendulum"  # the server kept serving


def test_task_safety_limits_cover_the_joints() -> None:
    assert set(SafetyConfig.for_task("Hopper").observation_limits) == {8, 10, 12}
    assert SafetyConfig.for_task("InvertedPendulum").observation_limits == {0: (-1.25, 1.25)}
    with pytest.raises(ValueError, match="max_action_change > 0"):
        SafetyConfig(max_action_change=0.0)
