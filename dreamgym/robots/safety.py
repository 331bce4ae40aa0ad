"""A safety layer between a policy and a robot: action clipping, a rate limit, joint limits and emergency stop.

A policy trained in a dream has never been punished for what breaks hardware, so every command to a robot
passes through here. Clipping and rate limiting change the command and count it; a joint outside its limits
or a non-finite value stops the robot, ends the episode, and latches until the next reset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dreamgym.errors import EmergencyStopError
from dreamgym.robots.base import Robot
from dreamgym.tasks import TaskSpec, get_task

__all__ = ["SafetyConfig", "SafetyLayer"]


@dataclass(frozen=True)
class SafetyConfig:
    """Limits the safety layer enforces.

    Attributes:
        action_low: lowest command per dimension; lower ones are clipped.
        action_high: highest command per dimension.
        max_action_change: largest change of a command between consecutive steps, per dimension (a slew-rate
            limit that spares gearboxes from bang-bang policies), counted after a reset from rest: zero effort,
            or the action range's command nearest to it; ``None`` disables it.
        observation_limits: observation index -> (low, high); leaving the range is an emergency stop. Used for
            joint positions, which the tasks report scaled so that +-1 are the joint's limits.
    """

    action_low: float = -1.0
    action_high: float = 1.0
    max_action_change: float | None = None
    observation_limits: dict[int, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.action_low < self.action_high:
            raise ValueError(f"Expected action_low < action_high, got {self.action_low} and {self.action_high}.")
        if self.max_action_change is not None and not self.max_action_change > 0:
            raise ValueError(f"Expected max_action_change > 0 or None, got {self.max_action_change}.")
        for index, (low, high) in self.observation_limits.items():
            if not low < high:
                raise ValueError(f"Observation limit of index {index} must have low < high, got ({low}, {high}).")

    @classmethod
    def for_task(cls, task: str | TaskSpec, joint_margin: float = 0.25, **kwargs: Any) -> SafetyConfig:
        """Joint-position limits of a task's robot, ``joint_margin`` beyond the joint's range.

        Pendulum tasks report the cart position (the slider's range is +-1 m) first; the locomotion tasks
        report each joint's position scaled to [-1, 1] at entries 8, 10, ... after 8 torso values. Bullet's
        joint limits are soft, so a margin keeps normal contact overshoot from stopping the robot.
        """
        spec = get_task(task) if isinstance(task, str) else task
        bound = 1.0 + joint_margin
        indices = [0] if "Pendulum" in spec.name else list(range(8, 8 + 2 * spec.action_dim, 2))
        return cls(observation_limits={i: (-bound, bound) for i in indices}, **kwargs)


class SafetyLayer:
    """Wraps a :class:`Robot` and enforces a :class:`SafetyConfig`; itself a :class:`Robot`.

    ``counts`` holds how many commands were clipped and rate-limited and how many emergency stops happened, so a
    report can say how much the safety layer shaped what the robot did.
    """

    def __init__(self, robot: Robot, config: SafetyConfig | None = None):
        self.robot = robot
        self.config = config or SafetyConfig.for_task(robot.task)
        self.task = robot.task
        self.observation_space = robot.observation_space
        self.action_space = robot.action_space
        size = int(np.prod(self.observation_space.shape))
        outside = sorted(i for i in self.config.observation_limits if not -size <= i < size)
        if outside:
            raise ValueError(
                f"Safety observation limits name indices {outside}, but {robot.task}'s observations have {size} "
                "entries; the limits were made for another task."
            )
        self.counts = {"clipped": 0, "rate_limited": 0, "emergency_stops": 0}
        self.last_stop_reason: str | None = None
        self._previous = self._at_rest()
        self._stopped = False

    def _at_rest(self) -> np.ndarray:
        """The command assumed after a reset, so the first step is slew-limited too: zero effort, within range."""
        rest = np.zeros(self.action_space.shape, dtype=np.float32)
        return np.clip(rest, self.config.action_low, self.config.action_high)  # a range may exclude zero

    @property
    def connected(self) -> bool:
        return self.robot.connected

    def _violation(self, obs: np.ndarray) -> str | None:
        if not np.all(np.isfinite(obs)):
            return "non-finite observation"
        for index, (low, high) in self.config.observation_limits.items():
            if not low <= obs[index] <= high:
                return f"observation[{index}] = {obs[index]:.3f} outside its limit [{low}, {high}]"
        return None

    def reset(self, *, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets the robot; one that comes back outside its limits is stopped before any command reaches it."""
        self._previous = self._at_rest()
        self._stopped = False
        obs, info = self.robot.reset(seed=seed)
        reason = self._violation(obs)
        if reason is not None:
            self.emergency_stop(reason)
            info = {**info, **self._stop_info()}
        return obs, info

    def emergency_stop(self, reason: str) -> None:
        """Stops the robot and latches until the next reset."""
        self._stopped = True
        self.last_stop_reason = reason  # before stop(), which may raise when the connection is lost
        self.counts["emergency_stops"] += 1
        self.robot.stop()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Sends the made-safe action; on a violation stops the robot and ends the episode (``terminated``).

        Raises:
            EmergencyStopError: a non-finite action (the robot is stopped without moving), or stepping again
                after an emergency stop, before ``reset``.
        """
        if self._stopped:
            raise EmergencyStopError(
                f"The robot was emergency-stopped ({self.last_stop_reason}); call reset() before stepping again."
            )
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(f"Expected `action` of shape {self.action_space.shape}, got {action.shape}.")
        if not np.all(np.isfinite(action)):  # no observation to return: the robot never moved
            self.emergency_stop("non-finite action")
            raise EmergencyStopError(f"The policy gave a non-finite action {action.tolist()}; the robot was stopped.")
        safe = np.clip(action, self.config.action_low, self.config.action_high)
        self.counts["clipped"] += int(not np.array_equal(safe, action))
        if self.config.max_action_change is not None:
            limit = self.config.max_action_change
            limited = np.clip(safe, self._previous - limit, self._previous + limit)
            self.counts["rate_limited"] += int(not np.array_equal(limited, safe))
            safe = limited
        self._previous = safe
        obs, reward, terminated, truncated, info = self.robot.step(safe)
        info = {**info, "safe_action": safe}
        reason = self._violation(obs)
        if reason is not None:
            self.emergency_stop(reason)
            return obs, reward, True, truncated, {**info, **self._stop_info()}
        return obs, reward, terminated, truncated, info

    def _stop_info(self) -> dict[str, Any]:
        return {"emergency_stop": self.last_stop_reason}

    def stop(self) -> None:
        self.emergency_stop("requested")

    def close(self) -> None:
        self.robot.close()
