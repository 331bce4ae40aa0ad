"""A loopback robot: a task's simulator (PyBullet, optionally behind a reality gap) served by the real robot server.

It runs the whole robot path (authentication, the fixed control period, the watchdog, the safety layer, the wire
protocol) with no hardware, for tests, for the evaluation ladder's robot rung, and to rehearse a client against
latency, jitter and packet loss before it meets a real link. Its numbers are the simulator's, and the ladder labels
them as the loopback's, never as a real robot's.

Run one with ``dreamgym robot-server --task Hopper`` (the token from ``DREAMGYM_ROBOT_TOKEN`` or ``--token-file``).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np

from dreamgym.robots.control import ControlLoop
from dreamgym.robots.emulation import NetworkConditions
from dreamgym.robots.protocol import TOKEN_ENV, load_token
from dreamgym.robots.safety import SafetyConfig
from dreamgym.robots.server import RobotServer
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.transfer.gaps import GapConfig, RandomGap, make_gap_env

__all__ = ["SimulatorBackend", "loopback_server", "serve_loopback"]


def _control_period(env: Any) -> float | None:
    """Seconds of simulated time one env step covers, where the env says: the scene's step for pybullet-envs, the
    simulator's substeps for panda-gym, ``dt`` for Gymnasium's own envs; ``None`` otherwise."""
    unwrapped = env.unwrapped
    scene = getattr(unwrapped, "scene", None)
    if scene is not None:
        return float(scene.dt)
    sim = getattr(unwrapped, "sim", None)
    if sim is not None:
        return float(sim.timestep * sim.n_substeps)
    dt = getattr(unwrapped, "dt", None)
    return float(dt) if isinstance(dt, int | float) else None


class SimulatorBackend:
    """A task's simulator env as a :class:`~dreamgym.robots.control.RobotBackend`: dreamgym's PyBullet tasks, or a
    user's task with a Gymnasium env (``TaskSpec.from_env``).

    Args:
        task: a vector task with a simulator (pixel tasks are not served).
        gap: the simulated robot's reality gap (e.g. ``"moderate"``), nominal by default.
        seed: seed of the gap's noise streams (each also restarts from every reset's seed).
    """

    def __init__(self, task: str | TaskSpec, gap: GapConfig | RandomGap | str | None = None, seed: int = 0):
        self.task = get_task(task) if isinstance(task, str) else task
        if self.task.obs_kind != "vector":
            raise ValueError(f"Expected a vector task for the loopback robot, got the pixel task {self.task.name!r}.")
        self.env = make_gap_env(self.task, gap, seed=seed)
        self.env.reset(seed=seed)  # pybullet-envs build their scene, and its time step, on the first reset
        self.control_period: float | None = _control_period(self.env)

    def reset(self, seed: int | None) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        return np.asarray(obs, dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return np.asarray(obs, dtype=np.float32), float(reward), bool(terminated), bool(truncated)

    def hold(self, action: np.ndarray) -> None:
        """Nothing to do: the simulated robot only moves when stepped, so between episodes it stands still."""

    def close(self) -> None:
        self.env.close()


def loopback_server(
    task: str | TaskSpec,
    token: bytes,
    *,
    period: float | None = None,
    gap: GapConfig | RandomGap | str | None = None,
    network: NetworkConditions | None = None,
    safety: SafetyConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
) -> RobotServer:
    """A robot server over a task's simulator (not started: call ``start()`` or ``serve_forever()``, or use ``with``).

    Args:
        task: the task.
        token: the shared secret clients must prove.
        period: control period in seconds; the simulator's own step (real time) by default, where the env says it.
        gap: the simulated robot's reality gap.
        network: emulated latency, jitter and loss of the control stream.
        safety: limits of the robot-side safety layer; the task's joint limits by default.
        host, port: where to listen (port 0: any free port, see ``server.address``).
        seed: seed of the gap and of the emulated network.

    Example:
        >>> with loopback_server("Hopper", token, period=0.02) as server:  # doctest: +SKIP
        ...     env = gymnasium.make("dreamgym/Hopper-robot-v0", address=server.address)
    """
    backend = SimulatorBackend(task, gap, seed)
    try:
        period = period or backend.control_period
        if period is None:
            raise ValueError(f"{backend.task.name}'s env does not say how long a step lasts; pass a control `period`.")
        loop = ControlLoop(backend, period, safety)
        return RobotServer(loop, token, host, port, network, seed=seed)
    except BaseException:
        backend.close()
        raise


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve_loopback(
    task: str,
    token_file: str | Path | None = None,
    token_env: str = TOKEN_ENV,
    *,
    period: float | None = None,
    gap: str | None = None,
    network: NetworkConditions | None = None,
    host: str = "127.0.0.1",
    port: int = 5555,
    seed: int = 0,
) -> None:
    """Serves a loopback robot until interrupted (Ctrl-C or SIGTERM); the body of ``dreamgym robot-server``."""
    token = load_token(token_file, token_env)
    server = loopback_server(task, token, period=period, gap=gap, network=network, host=host, port=port, seed=seed)
    loop = server.loop
    print(
        f"loopback {loop.task.name} robot at {server.address}: period {1e3 * loop.period:g} ms, "
        f"{server.network.describe()}, gap {gap or 'nominal'}",
        flush=True,
    )
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # a terminated server shuts down cleanly, as on Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
