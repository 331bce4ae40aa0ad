"""The interface every robot offers the evaluation ladder: the Gymnasium step API, plus ``connected`` and ``stop``.

A robot is not a ``gymnasium.Env``: it may vanish mid-episode, and it must be told to stop. Keeping the reset and
step signatures of Gymnasium lets the ladder run one episode loop for simulators and robots alike.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

__all__ = ["Robot"]


@runtime_checkable
class Robot(Protocol):
    """A robot executing one dreamgym task.

    Attributes:
        task: the dreamgym task name the robot runs (its observations and actions are that task's).
        observation_space: equal to the task's, so a policy moves from simulator to robot unchanged.
        action_space: equal to the task's.
    """

    task: str
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Box

    @property
    def connected(self) -> bool:
        """Whether the robot answers; ``False`` after ``close`` or a lost connection."""
        ...

    def reset(self, *, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Brings the robot to a start state and returns the first observation."""
        ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Executes one action for one control period: ``obs, reward, terminated, truncated, info``."""
        ...

    def stop(self) -> None:
        """Emergency stop: cut motor effort now. The robot refuses to move again until ``reset``."""
        ...

    def close(self) -> None:
        """Releases the connection; the robot is stopped first."""
        ...
