"""The robot bridge end to end against loopback robots: episodes, the watchdog, lost clients, a lossy link,
emergency and protective stops, the safety layer, and who may connect and command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import dreamgym  # registers the robot envs
from dreamgym.errors import (
    EmergencyStopError,
    InvalidActionError,
    RobotAuthenticationError,
    RobotError,
    RobotNotConnectedError,
    RobotProtocolError,
)
from dreamgym.robots.client import RobotClient
from dreamgym.robots.control import INTERVENTIONS
from dreamgym.robots.emulation import NetworkConditions
from dreamgym.robots.env import RobotEnv
from dreamgym.robots.safety import SafetyConfig
from dreamgym.tasks import TASKS, TaskSpec, get_task
from dreamgym.transfer.gaps import make_gap_env
from tests.robots.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]
ZERO = np.zeros(1, np.float32)


def pendulum_policy(obs: np.ndarray) -> np.ndarray:
    """Pushes the cart at half strength towards the pole's lean: the pole falls after about 14 steps."""
    return 0.5 * obs[2:3]


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_policy_runs_full_episodes_exactly_as_in_pybullet(serve) -> None:
    server = serve(
        period=0.1
    )  # a long period: the exact comparison needs every command in time, even on a busy machine
    env = gym.make("dreamgym/InvertedPendulum-robot-v0", address=server.address)
    spec = get_task("InvertedPendulum")
    assert env.observation_space == spec.observation_space and env.action_space == spec.action_space
    sim = make_gap_env("InvertedPendulum")
    for seed in (3, 4):
        expected, _ = sim.reset(seed=seed)  # first: the robot's clock runs from its reset on
        obs, info = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, expected)
        assert info["tick"] == 0 and info["applied"] == "reset"
        done, steps = False, 0
        while not done:
            action = pendulum_policy(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            sim_obs, sim_reward, sim_terminated, *_ = sim.step(action)
            np.testing.assert_array_equal(obs, sim_obs)  # float32 crosses the wire bit for bit
            assert (reward, terminated) == (sim_reward, sim_terminated)
            assert info["ticks"] == 1 and info["applied"] == "command"
            done, steps = terminated or truncated, steps + 1
        assert terminated and info["tick"] == steps  # the task's own end, every tick one step
        assert info["interventions"] == dict.fromkeys(INTERVENTIONS, 0)
    sim.close()
    env.close()


def test_a_stalled_client_makes_the_robot_stop_within_one_period(serve) -> None:
    period = 0.1
    server = serve(period=period)
    env = RobotEnv("InvertedPendulum", server.address)
    env.reset(seed=0)
    for _ in range(3):
        env.step(ZERO)
    time.sleep(5 * period)  # the policy stalls
    status = env.status()
    # Measured on the robot's clock: the first watchdog stop follows the last command by one period (the tick
    # schedule is exact; the margin is for a loaded machine's scheduler waking the control thread late).
    assert status["watchdog_since"] is not None and status["mode"] == "running"
    assert 0.5 * period < status["watchdog_since"] - status["last_command_t"] <= 1.5 * period
    assert status["counts"]["watchdog_stops"] >= 3
    # The action answers an observation the robot moved past: it is not sent, and the env catches up.
    _, reward, _, _, info = env.step(ZERO)
    assert info["late"] and info["ticks"] >= 4 and reward == info["ticks"]  # one alive bonus per tick, none lost
    assert info["interventions"]["watchdog_stops"] >= 3
    assert not env.step(ZERO)[4]["late"] and not env.client.refused  # back in step, nothing was refused
    env.close()


def test_a_killed_client_leaves_the_robot_stopped(serve) -> None:
    server = serve(period=0.02)
    script = (
        "import numpy as np\n"
        "from dreamgym.robots.env import RobotEnv\n"
        f"env = RobotEnv('InvertedPendulum', {server.address!r})\n"
        "env.reset(seed=0)\n"
        "for i in range(1000):\n"
        "    env.step(np.zeros(1, np.float32))\n"
        "    if i == 2:\n"
        "        print('stepping', flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    watchdog = threading.Timer(60.0, child.kill)  # never hang the suite on a stuck child
    watchdog.start()
    try:
        assert child.stdout.readline() == b"stepping\n"
        child.kill()
        child.wait(timeout=10)
    finally:
        watchdog.cancel()
        child.stdout.close()
    monitor = RobotEnv("InvertedPendulum", server.address)
    wait_until(lambda: not monitor.status()["controlled"])
    status = monitor.status()
    assert status["mode"] == "idle" and status["counts"]["disconnect_stops"] == 1
    time.sleep(3 * 0.02)
    assert monitor.status()["tick"] == status["tick"]  # holding its safe stop, not running on
    monitor.reset(seed=0)  # and a new client can take over
    assert monitor.step(ZERO)[4]["applied"] == "command"
    monitor.close()


def test_packet_loss_and_latency_are_survived_and_every_tick_is_accounted(serve) -> None:
    network = NetworkConditions(latency=0.004, jitter=0.002, loss=0.2)
    server = serve(period=0.03, network=network, seed=1)
    env = RobotEnv("InvertedPendulum", server.address)
    sim = make_gap_env("InvertedPendulum")
    spanned = []
    for seed in (0, 1):
        env.reset(seed=seed)
        total, ticks, done, info = 0.0, 0, False, {}
        while not done:
            # Zero effort is also the watchdog's safe stop, so the robot's trajectory does not depend on which
            # commands were lost: its length must equal PyBullet's under zero effort.
            _, reward, terminated, truncated, info = env.step(ZERO)
            total, ticks, done = total + reward, ticks + info["ticks"], terminated or truncated
            spanned.append(info["ticks"])
        sim.reset(seed=seed)
        length = next(n for n in range(1, 1001) if sim.step(ZERO)[2])
        assert ticks == info["tick"] == length and total == length  # one alive bonus per tick, none lost
    lost = env.status()["lost"]
    assert lost["commands"] + lost["observations"] > 0 and max(spanned) > 1  # the link did drop messages
    sim.close()
    env.close()


def test_an_emergency_stop_latches_until_cleared_explicitly(serve) -> None:
    server = serve()
    env = RobotEnv("InvertedPendulum", server.address)
    operator = RobotEnv("InvertedPendulum", server.address)  # any authenticated client may stop the robot
    env.reset(seed=0)
    env.step(ZERO)
    operator.emergency_stop("operator pressed the button")
    _, _, terminated, _, info = env.step(ZERO)
    assert terminated and info["emergency_stop"] == "operator pressed the button"
    with pytest.raises(EmergencyStopError, match="clear the stop explicitly"):
        env.reset(seed=0)
    status = operator.status()
    assert status["estop"] == "operator pressed the button" and status["counts"]["emergency_stops"] == 1
    time.sleep(3 * 0.02)
    assert operator.status()["tick"] == status["tick"]  # not moving
    env.clear_emergency_stop()
    with pytest.raises(RobotError, match="no emergency stop to clear"):
        env.clear_emergency_stop()
    env.reset(seed=0)
    assert env.step(ZERO)[4]["applied"] == "command"
    operator.close()
    env.close()


def test_a_joint_past_its_limit_stops_the_episode(serve) -> None:
    server = serve(safety=SafetyConfig(observation_limits={0: (-0.05, 0.05)}))
    env = RobotEnv("InvertedPendulum", server.address)
    env.reset(seed=0)
    terminated, info = False, {}
    for _ in range(30):  # full push: the cart leaves +-0.05 m within a few steps
        _, _, terminated, _, info = env.step(np.ones(1, np.float32))
        if terminated:
            break
    assert terminated and info["stop"].startswith("observation[0] = ")
    assert info["interventions"]["protective_stops"] == 1
    with pytest.raises(RobotError, match="episode has ended; call reset"):
        env.step(ZERO)
    env.reset(seed=0)  # a protective stop ends the episode; unlike an emergency stop it does not latch
    env.close()


def test_the_robot_clips_and_rate_limits_commands_and_counts_it(serve) -> None:
    server = serve(safety=SafetyConfig(-0.5, 0.5, max_action_change=0.2), period=0.1)
    env = RobotEnv("InvertedPendulum", server.address)
    env.reset(seed=0)
    infos = [env.step(np.array([a], np.float32))[4] for a in (2.0, 2.0, -2.0, 0.2)]
    np.testing.assert_allclose([i["safe_action"][0] for i in infos], [0.2, 0.4, 0.2, 0.2])
    counts = infos[-1]["interventions"]
    assert (counts["clipped"], counts["rate_limited"], counts["watchdog_stops"]) == (3, 3, 0)
    with pytest.raises(InvalidActionError, match=r"Expected `action` of shape \(1,\), got \(2,\)"):
        env.step(np.zeros(2, np.float32))
    with pytest.raises(InvalidActionError, match="Expected a finite `action`"):
        env.step(np.array([np.nan], np.float32))
    env.close()


def test_a_users_gymnasium_task_is_served_too(serve) -> None:
    """A user's task (Gymnasium's Pendulum, actions in [-2, 2]) behind the loopback: the robot env takes unit
    actions, like every dreamgym env, and the simulator's own step is the period."""
    spec = dreamgym.register_task(TaskSpec.from_env("Pendulum-v1", name="BridgePendulum"))
    try:
        server = serve(spec, period=None)
        assert server.loop.period == 0.05  # Pendulum-v1's dt
        env = gym.make("dreamgym/BridgePendulum-robot-v0", address=server.address, max_episode_steps=5)
        obs, _ = env.reset(seed=0)
        sim = spec.make_env()
        np.testing.assert_array_equal(obs, sim.reset(seed=0)[0])
        assert SafetyConfig.for_task(spec).observation_limits == {}  # no joint layout known: no joint limits
        truncated, ticks = False, 0
        while not truncated:
            _, _, _, truncated, info = env.step(np.ones(1, np.float32))
            ticks += info["ticks"]
        assert ticks == 5 and info["safe_action"][0] == 1.0  # the unit action, as sent
        env.close()
        sim.close()
    finally:
        del TASKS[spec.name]
        for suffix in ("dream", "robot"):
            gym.registry.pop(f"dreamgym/BridgePendulum-{suffix}-v0")


def test_only_one_client_commands_and_only_with_the_token(serve, tmp_path: Path) -> None:
    server = serve()
    first = RobotEnv("InvertedPendulum", server.address)
    first.reset(seed=0)
    second = RobotEnv("InvertedPendulum", server.address)
    with pytest.raises(RobotProtocolError, match="another client controls the robot"):
        second.reset(seed=0)
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-robot-token-at-all")
    with pytest.raises(RobotAuthenticationError, match="refused the connection"):
        RobotEnv("InvertedPendulum", server.address, token_file=wrong)
    with pytest.raises(RobotError, match=r"runs 'InvertedPendulum'.*expected 'Hopper'"):
        RobotEnv("Hopper", server.address)
    refusals = second.status()["refusals"]
    assert refusals == {"not_controller": 1, "bad_proof": 1}
    first.close()
    second.reset(seed=0)  # the robot is free once its controller leaves
    second.close()


def test_no_robot_is_a_clear_error() -> None:
    import socket

    with pytest.raises(ValueError, match=r"Expected the robot's `address`, e.g. gymnasium.make\('dreamgym/Hopper"):
        gym.make("dreamgym/Hopper-robot-v0")

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RobotNotConnectedError, match=f"No robot answers at tcp://127.0.0.1:{port}"):
        RobotClient(f"tcp://127.0.0.1:{port}", TOKEN, timeout=1.0)


def test_robot_server_command_serves_hopper(tmp_path: Path) -> None:
    token_file = tmp_path / "robot.token"
    token_file.write_text(TOKEN.decode())
    command = [sys.executable, "-m", "dreamgym.cli", "robot-server", "--task", "Hopper", "--port", "0"]
    command += ["--token-file", str(token_file), "--period", "0.02"]
    env_vars = {k: v for k, v in os.environ.items() if k != "DREAMGYM_ROBOT_TOKEN"}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, env={**env_vars, "PYTHONPATH": str(ROOT)})
    watchdog = threading.Timer(60.0, server.kill)
    watchdog.start()
    try:
        line = server.stdout.readline().decode()
        assert line.startswith("loopback Hopper robot at tcp://127.0.0.1:") and "period 20 ms" in line
        address = line.split(" at ")[1].split(":")[0:3]
        env = gym.make("dreamgym/Hopper-robot-v0", address=":".join(address), token_file=token_file)
        rng = np.random.default_rng(0)
        env.reset(seed=0)
        done, ticks, info = False, 0, {}
        while not done:
            _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, 3).astype(np.float32))
            done, ticks = terminated or truncated, ticks + info["ticks"]
        assert terminated and ticks == info["tick"]  # the hopper fell: a full episode
        env.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    finally:
        watchdog.cancel()
        server.kill()
        server.stdout.close()


def test_a_loopback_rung_for_a_task_without_a_simulator_is_skipped_on_the_rung() -> None:
    from dreamgym.transfer.ladder import RobotRung

    log_task = TaskSpec("LoggedArm", None, (4,), 2, 100, 100, package=None)  # defined by a robot's log alone
    result = RobotRung("loopback").run(lambda obs: np.zeros((len(obs), 2)), log_task, 1, 0, False)
    assert result.status == "skipped" and not result.ok
    assert result.detail.startswith("the loopback robot serves the task's simulator; task 'LoggedArm' has no simulator")
