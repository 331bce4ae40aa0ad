"""Goal-conditioned tasks: the ``Dict`` observation of panda-gym (and Gymnasium-Robotics), flat inside dreamgym.

A goal task observes ``{"observation", "achieved_goal", "desired_goal"}``; a world model, a replay buffer and
the evaluation ladder work on one flat vector. The vector is Gymnasium's own flattening of the ``Dict`` space
(``gymnasium.spaces.flatten``: the sub-spaces concatenated in the space's key order), so a policy trained on
the ``Dict`` (SB3's ``MultiInputPolicy``, HER) and the flat pipeline convert with :class:`DictCodec`, and the
env the data is collected from is the real env under ``gymnasium.wrappers.FlattenObservation``.

The goal's rules are the task's own, applied to any flat observation, real or dreamed: success is
``|achieved - desired| < distance_threshold``, the sparse reward ``-(distance > threshold)``, the dense one
``-distance`` (panda-gym's ``Task.is_success`` and ``compute_reward``), and the episode ends on success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["DictCodec", "GoalSpec"]


class DictCodec:
    """Converts batches between a ``Dict`` of ``Box`` spaces and Gymnasium's flat vector of it.

    Args:
        space: a ``gymnasium.spaces.Dict`` whose sub-spaces are ``Box``.
    """

    def __init__(self, space: Any):
        from gymnasium import spaces

        if not isinstance(space, spaces.Dict) or not all(isinstance(s, spaces.Box) for s in space.spaces.values()):
            raise TypeError(f"Expected a Dict observation space of Box sub-spaces, got {space}.")
        self.space = space
        self.slices: dict[str, slice] = {}
        start = 0
        for key, sub in space.spaces.items():  # the order gymnasium.spaces.flatten concatenates in
            size = int(np.prod(sub.shape))
            self.slices[key] = slice(start, start + size)
            start += size
        self.size = start
        self.flat_space = spaces.flatten_space(space)

    def to_dict(self, flat: np.ndarray, clip: bool = False) -> dict[str, np.ndarray]:
        """(..., size) -> {key: (..., *shape)}; ``clip`` puts each entry inside its ``Box``'s bounds (a dreamed value
        may stray outside what the real env can observe, and an env must stay inside its own space)."""
        flat = np.asarray(flat)
        if flat.shape[-1] != self.size:
            raise ValueError(f"Expected flat observations with {self.size} values, got shape {flat.shape}.")
        lead = flat.shape[:-1]
        entries = {}
        for key, s in self.slices.items():
            sub = self.space.spaces[key]
            value = flat[..., s].reshape(*lead, *sub.shape)
            entries[key] = (np.clip(value, sub.low, sub.high) if clip else value).astype(sub.dtype)
        return entries

    def to_flat(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`to_dict`."""
        missing = set(self.slices) - set(obs)
        if missing:
            raise ValueError(f"Observation lacks the keys {sorted(missing)}; expected {list(self.slices)}.")
        first = np.asarray(obs[next(iter(self.slices))])
        lead = first.shape[: first.ndim - len(self.space.spaces[next(iter(self.slices))].shape)]
        parts = [np.asarray(obs[key], dtype=np.float32).reshape(*lead, -1) for key in self.slices]
        return np.concatenate(parts, -1)


@dataclass(frozen=True)
class GoalSpec:
    """The goal of a goal-conditioned task and its rules, over flat observations.

    Attributes:
        observation_dim: size of the ``observation`` entry.
        goal_dim: size of each goal entry.
        distance_threshold: the goal is reached when the achieved goal is closer than this (m).
        reward_type: ``"sparse"`` (-1 until reached, 0 after) or ``"dense"`` (minus the distance).
        bound: every entry's space is ``Box(-bound, bound)`` (panda-gym: 10).
    """

    observation_dim: int
    goal_dim: int = 3
    distance_threshold: float = 0.05
    reward_type: Literal["sparse", "dense"] = "sparse"
    bound: float = 10.0

    def __post_init__(self) -> None:
        if self.reward_type not in ("sparse", "dense"):
            raise ValueError(f"Unknown reward_type {self.reward_type!r}; expected 'sparse' or 'dense'.")

    @property
    def space(self):
        """The real env's ``Dict`` observation space."""
        from gymnasium import spaces

        def box(n: int) -> spaces.Box:
            return spaces.Box(-self.bound, self.bound, shape=(n,), dtype=np.float32)

        # A dict given to spaces.Dict is sorted by key, as panda-gym's own space is.
        return spaces.Dict(
            {
                "observation": box(self.observation_dim),
                "achieved_goal": box(self.goal_dim),
                "desired_goal": box(self.goal_dim),
            }
        )

    @property
    def codec(self) -> DictCodec:
        return DictCodec(self.space)

    @property
    def flat_size(self) -> int:
        return self.observation_dim + 2 * self.goal_dim

    def dims(self, key: str) -> tuple[int, ...]:
        """The flat dimensions of one entry (``"observation"``, ``"achieved_goal"`` or ``"desired_goal"``)."""
        s = self.codec.slices[key]
        return tuple(range(s.start, s.stop))

    def distance(self, achieved, desired):
        """Euclidean distance over the last axis; numpy or torch."""
        return ((achieved - desired) ** 2).sum(-1) ** 0.5

    def is_success(self, achieved, desired):
        return self.distance(achieved, desired) < self.distance_threshold

    def reward(self, achieved, desired):
        """The task's reward for (achieved, desired) goals; numpy or torch, any batch shape."""
        d = self.distance(achieved, desired)
        return -1.0 * (d > self.distance_threshold) if self.reward_type == "sparse" else -d

    def compute_reward(self, achieved, desired, info: Any = None) -> np.ndarray:
        """The goal-env API HER relabels with: float32 rewards for any batch of (achieved, desired) goals."""
        reward = self.reward(np.asarray(achieved, np.float64), np.asarray(desired, np.float64))
        return np.asarray(reward, dtype=np.float32)

    def split(self, flat):
        """(achieved, desired) goals of flat observations (..., flat_size); numpy or torch."""
        return flat[..., list(self.dims("achieved_goal"))], flat[..., list(self.dims("desired_goal"))]
