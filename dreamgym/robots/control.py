"""The robot's control loop: a fixed period, a watchdog, a latching emergency stop, and the safety layer.

One thread owns the robot (:class:`RobotBackend`) and ticks it on a fixed schedule. At every tick of an episode it
applies the command that answered the latest observation, made safe by the :class:`SafetyGovernor`; if no such
command arrived within the period, the watchdog applies the task's safe stop instead. Either way the tick's
observation, stamped with the robot's clock, goes to the controlling client. Requests (reset, stop, status) run on
the same thread between ticks, so the robot is never touched by two threads.

Every intervention is counted, for the whole life of the robot (:meth:`ControlLoop.status`) and per episode (in
each observation): watchdog stops, emergency stops, protective stops (a joint past its limit), stops for a lost
client, clipped and rate-limited commands, stale commands, overruns of the period, and refused messages.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dreamgym.errors import EmergencyStopError, RobotError
from dreamgym.robots.protocol import ProtocolViolation, decode_array, encode_array, require
from dreamgym.robots.safety import SafetyConfig, SafetyGovernor
from dreamgym.tasks import TaskSpec

__all__ = ["INTERVENTIONS", "ControlLoop", "RobotBackend"]

log = logging.getLogger("dreamgym.robots")

INTERVENTIONS = (
    "watchdog_stops",
    "emergency_stops",
    "protective_stops",
    "disconnect_stops",
    "clipped",
    "rate_limited",
    "stale_commands",
    "overruns",
    "refused",
)
"""What the robot counts as an intervention; ``refused`` sums the refused messages of every kind but the
:data:`TIMING_REFUSALS`."""

TIMING_REFUSALS = ("stale", "not_running")
"""Refusals of an honest client that was late (its command answers an observation the robot has moved past, or an
episode that just ended): counted under their codes (a stale command also as ``stale_commands``), logged quietly,
and left out of ``refused``, which counts the messages that break the protocol."""

HEARTBEATS = 50
"""Times the last observation of a finished episode is sent again, one per period, in case it was lost."""


class RobotBackend(Protocol):
    """The robot itself, as the control loop drives it; a real robot's driver implements these four methods.

    Attributes:
        task: the dreamgym task the robot runs (its spaces, its safe stop).
        control_period: the robot's natural control period in seconds (the simulator's step for the loopback).
    """

    task: TaskSpec
    control_period: float

    def reset(self, seed: int | None) -> np.ndarray:
        """Brings the robot to a start state (seeded where the robot can be) and returns the first observation."""
        ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        """Applies ``action`` for one period: ``obs, reward, terminated, truncated``."""
        ...

    def hold(self, action: np.ndarray) -> None:
        """Applies the safe stop ``action`` outside an episode (brakes on, zero torque); called every idle tick."""
        ...

    def close(self) -> None: ...


@dataclass
class _Command:
    tick: int
    action: np.ndarray


class ControlLoop:
    """Ticks a :class:`RobotBackend` every ``period`` seconds and serves the requests of connected clients.

    Args:
        backend: the robot.
        period: control period in seconds.
        safety: limits of the safety layer; the task's joint limits by default.
        clock: the robot's clock (seconds, monotonic); observation timestamps come from it.

    Example:
        >>> loop = ControlLoop(SimulatorBackend("Hopper"), period=0.02).start()  # doctest: +SKIP
    """

    def __init__(
        self,
        backend: RobotBackend,
        period: float,
        safety: SafetyConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not period > 0:
            raise ValueError(f"Expected a control `period` > 0 seconds, got {period}.")
        self.backend, self.task, self.period, self.clock = backend, backend.task, float(period), clock
        self.safe_action = backend.task.stop_action
        self.governor = SafetyGovernor(safety or SafetyConfig.for_task(self.task), self.obs_dim, self.safe_action)
        self.counts: dict[str, int] = dict.fromkeys(INTERVENTIONS, 0) | {"ticks": 0, "commands": 0}
        self.refusals: dict[str, int] = {}
        self.mode = "idle"  # idle | running | ended
        self.estop: str | None = None
        self.controller: object | None = None
        self.tick = 0
        self.episode = 0  # numbers the episodes, so a client can tell a late message of the last one
        self._lock = threading.Lock()
        self._pending: _Command | None = None
        self._requests: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._episode_start = self._snapshot()
        self._return = 0.0
        self._last: dict[str, Any] | None = None
        self._heartbeats = 0
        self._next_tick = 0.0
        self._last_command_t: float | None = None
        self._watchdog_since: float | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self.publish: Callable[[object, dict[str, Any]], None] = lambda owner, message: None

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.task.obs_shape))

    @property
    def action_dim(self) -> int:
        return self.task.action_dim

    # -- the control thread -------------------------------------------------------------------------------------

    def start(self) -> ControlLoop:
        self._running = True
        self._next_tick = self.clock() + self.period
        self._thread = threading.Thread(target=self._run, name=f"robot-{self.task.name}", daemon=True)
        self._thread.start()
        return self

    def stop_loop(self) -> None:
        """Stops ticking (the robot is left holding its safe stop) and releases the backend."""
        if self._thread is not None and self._running:
            self.call(self._shutdown)
            self._thread.join(timeout=5.0)
        self.backend.close()

    def _shutdown(self) -> None:
        self.backend.hold(self.safe_action)
        self._running = False

    def _run(self) -> None:
        while self._running:
            wait = self._next_tick - self.clock()
            if wait > 0:
                try:
                    request, future = self._requests.get(timeout=wait)
                except queue.Empty:
                    continue
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(request())
                    except BaseException as err:  # handed to the caller, who raises it; the loop goes on
                        future.set_exception(err)
                continue
            now = self.clock()
            missed = int((now - self._next_tick) // self.period)
            if missed:  # the loop fell a whole period behind: skip the missed ticks rather than rush them
                self.counts["overruns"] += missed
                self._next_tick += missed * self.period
            self._next_tick += self.period
            try:
                self._tick()
            except Exception as err:  # a failing robot driver must not leave the loop dead with the robot moving
                log.exception("robot step failed; emergency stop")
                self._emergency_stop(f"robot failure: {type(err).__name__}: {err}")

    def call(self, request: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Runs ``request`` on the control thread, between ticks, and returns its result (or raises its error)."""
        if threading.current_thread() is self._thread:
            return request()
        if not self._running:
            raise RobotError("The robot's control loop is not running.")
        future: Future = Future()
        self._requests.put((request, future))
        return future.result(timeout=timeout)

    def _tick(self) -> None:
        with self._lock:
            command, self._pending = self._pending, None
            expected = self.tick
            if self.mode == "running":
                self.tick += 1
        if self.mode != "running" or self.estop is not None:
            self.backend.hold(self.safe_action)
            if self.mode == "ended" and self._last is not None and self._heartbeats < HEARTBEATS:
                self._heartbeats += 1
                self.publish(self.controller, self._last)
            return
        t = self.clock()
        if command is not None and command.tick == expected:
            action, applied = self.governor.filter(command.action), "command"
            self._last_command_t, self._watchdog_since = t, None
        else:
            action, applied = self.safe_action, "watchdog"
            self.governor.hold(action)
            self.counts["watchdog_stops"] += 1
            if self._watchdog_since is None:
                self._watchdog_since = t
        obs, reward, terminated, truncated = self.backend.step(action)
        self.counts["ticks"] += 1
        obs = np.asarray(obs, dtype=np.float32).reshape(-1)
        stop = self.governor.violation(obs)
        if stop is not None:
            self.counts["protective_stops"] += 1
            log.warning("protective stop at tick %d: %s", self.tick, stop)
            self.backend.hold(self.safe_action)
            terminated = True
        self._return += float(reward)
        if terminated or truncated:
            self.mode = "ended"
        self._publish_obs(obs, float(reward), bool(terminated), bool(truncated), t, applied, action, stop)

    def _publish_obs(
        self,
        obs: np.ndarray,
        reward: float,
        terminated: bool,
        truncated: bool,
        t: float,
        applied: str,
        action: np.ndarray,
        stop: str | None = None,
    ) -> dict[str, Any]:
        message = {
            "type": "obs",
            "episode": self.episode,
            "tick": self.tick,
            "t": t,
            "obs": encode_array(obs),
            "reward": reward,
            "return": self._return,
            "terminated": terminated,
            "truncated": truncated,
            "applied": applied,
            "action": encode_array(action),
            "stop": stop,
            "interventions": self.episode_counts(),
        }
        self._last, self._heartbeats = message, 0
        if applied != "reset":  # the reset's observation is the reply to the reset request, sent reliably
            self.publish(self.controller, message)
        return message

    # -- counters -----------------------------------------------------------------------------------------------

    def _snapshot(self) -> dict[str, int]:
        counts = {**self.counts, **self.governor.counts}
        counts["refused"] = sum(n for code, n in self.refusals.items() if code not in TIMING_REFUSALS)
        return counts

    def episode_counts(self) -> dict[str, int]:
        """This episode's interventions (since the last reset)."""
        now = self._snapshot()
        return {name: now[name] - self._episode_start[name] for name in INTERVENTIONS}

    def refuse(self, code: str, message: str, peer: str) -> None:
        """Logs and counts a refused message (thread-safe: connection threads call it)."""
        with self._lock:
            self.refusals[code] = self.refusals.get(code, 0) + 1
        level = logging.DEBUG if code in TIMING_REFUSALS else logging.WARNING
        log.log(level, "refused a message from %s (%s): %s", peer, code, message)

    def status(self) -> dict[str, Any]:
        """The robot's state and its lifetime counters; ``last_command_t`` is the robot time of the last tick that
        applied a command (or of the reset), ``watchdog_since`` that of the first watchdog stop after it."""
        counts = self._snapshot()
        return {
            "type": "status",
            "task": self.task.name,
            "mode": self.mode,
            "estop": self.estop,
            "episode": self.episode,
            "tick": self.tick,
            "t": self.clock(),
            "period": self.period,
            "controlled": self.controller is not None,
            "last_command_t": self._last_command_t,
            "watchdog_since": self._watchdog_since,
            "counts": counts,
            "refusals": dict(self.refusals),
        }

    # -- requests (each runs on the control thread through `call`) ----------------------------------------------

    def reset(self, owner: object, seed: int | None) -> dict[str, Any]:
        """Starts an episode for ``owner``, who becomes the controller; the observation message of tick 0."""
        if self.estop is not None:
            raise EmergencyStopError(
                f"The robot is emergency-stopped ({self.estop}); clear the stop explicitly before resetting it."
            )
        if self.controller is not None and self.controller is not owner:
            raise ProtocolViolation("not_controller", "another client controls the robot; it must close first")
        self.controller = owner
        obs = np.asarray(self.backend.reset(seed), dtype=np.float32).reshape(-1)
        self.governor.reset()
        with self._lock:
            self._pending, self.tick, self.mode = None, 0, "running"
            self.episode += 1
        self._episode_start, self._return = self._snapshot(), 0.0
        t = self.clock()
        self._next_tick = t + self.period  # tick 1 comes one full period after the first observation
        self._last_command_t, self._watchdog_since = t, None  # the start state counts as fresh
        stop = self.governor.violation(obs)
        if stop is not None:  # a robot that starts outside its limits is stopped before any command reaches it
            self.counts["protective_stops"] += 1
            self.mode = "ended"
            self.backend.hold(self.safe_action)
        return self._publish_obs(obs, 0.0, stop is not None, False, t, "reset", self.safe_action, stop)

    def submit(self, owner: object, body: dict[str, Any]) -> None:
        """Accepts a command for the next tick; checked against the task's action space first, then against who
        sent it and which observation it answers (thread-safe).

        Raises:
            ProtocolViolation: ``out_of_space`` (wrong size or non-finite), ``malformed``, ``not_controller``,
                ``not_running`` or ``stale`` (it answers an observation older than the latest).
        """
        action = decode_array(body.get("action"), self.action_dim, "action")
        if not np.all(np.isfinite(action)):
            raise ProtocolViolation("out_of_space", f"expected a finite `action`, got {action.tolist()}")
        tick = require(body, "tick", int, "the tick of the observation the command answers")
        with self._lock:
            if owner is not self.controller:
                raise ProtocolViolation("not_controller", "only the client that reset the robot may command it")
            if self.mode != "running":
                raise ProtocolViolation("not_running", f"no episode is running (the robot is {self.mode})")
            if tick != self.tick:
                self.counts["stale_commands"] += 1
                raise ProtocolViolation("stale", f"command answers tick {tick}; the latest observation is {self.tick}")
            self._pending = _Command(tick, action)
            self.counts["commands"] += 1

    def emergency_stop(self, reason: str) -> None:
        self.call(lambda: self._emergency_stop(reason))

    def _emergency_stop(self, reason: str) -> None:
        """Latches until :meth:`clear_emergency_stop`; an episode in progress ends at once."""
        self.backend.hold(self.safe_action)
        if self.estop is None:
            self.counts["emergency_stops"] += 1
            log.warning("emergency stop: %s", reason)
        self.estop = reason
        if self.mode == "running":
            self.mode = "ended"
            self._last = None  # the stop notice replaces the heartbeat of a finished episode
            self.publish(
                self.controller, {"type": "stopped", "episode": self.episode, "tick": self.tick, "reason": reason}
            )

    def clear_emergency_stop(self) -> None:
        if self.estop is None:
            raise RobotError("There is no emergency stop to clear.")
        log.warning("emergency stop cleared (was: %s)", self.estop)
        self.estop, self.mode = None, "idle"

    def end_episode(self, owner: object) -> None:
        """The controller ends its episode (its own time limit, say): the robot holds its safe stop."""
        if owner is not self.controller:
            raise ProtocolViolation("not_controller", "only the client that reset the robot may end its episode")
        self.mode, self._last = "idle", None
        self.backend.hold(self.safe_action)

    def release(self, owner: object) -> None:
        """``owner`` left (closed, or its connection broke): if it controlled a running episode, stop the robot."""
        if owner is not self.controller:
            return
        self.controller = None
        if self.mode == "running":
            self.counts["disconnect_stops"] += 1
            log.warning("the controlling client left mid-episode; the robot holds its safe stop")
        self.mode, self._last = "idle", None
        self.backend.hold(self.safe_action)
