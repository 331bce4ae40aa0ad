"""The tasks dreamgym knows, each mapped to a real PyBullet environment from pybullet-envs-gymnasium.

A dream env must have exactly the spaces of its real task so a policy moves between the two unchanged;
the shapes here are checked against the real environments in the tests.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from dreamgym.errors import UnknownTaskError

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["TASKS", "TaskSpec", "get_task"]


@dataclass(frozen=True)
class TaskSpec:
    """What dreamgym needs to know about one robot task.

    Attributes:
        name: dreamgym's name for the task, used in ids such as ``dreamgym/Hopper-dream-v0``.
        env_id: the Gymnasium id of the real simulator environment.
        obs_shape: shape of one observation (vector tasks: a flat float32 vector).
        action_dim: number of action dimensions; actions lie in [-1, 1] for every PyBullet locomotion task.
        max_episode_steps: the real environment's time limit.
        dream_horizon: default length of one dream before it is truncated. Shorter than the real limit
            because open-loop model error grows with the horizon; long enough to see the task's failure modes.
        obs_kind: ``"vector"`` (state) or ``"pixels"`` (64x64 images).
        success_return: return at which an episode counts as solved: the PyBullet env's ``reward_threshold``.
        mirror: sign flips (observation signs, action signs) of a reflection the task's physics is invariant
            under, used to augment world-model data; ``None`` where there is none (legged robots moving
            forward are not mirror-symmetric).
    """

    name: str
    env_id: str
    obs_shape: tuple[int, ...]
    action_dim: int
    max_episode_steps: int
    dream_horizon: int
    obs_kind: Literal["vector", "pixels"] = "vector"
    success_return: float | None = None
    mirror: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def observation_space(self) -> gym.spaces.Box:
        from gymnasium import spaces

        return spaces.Box(-np.inf, np.inf, shape=self.obs_shape, dtype=np.float32)

    @property
    def action_space(self) -> gym.spaces.Box:
        from gymnasium import spaces

        return spaces.Box(-1.0, 1.0, shape=(self.action_dim,), dtype=np.float32)

    def make_env(self, **kwargs) -> gym.Env:
        """Creates the real simulator environment (imports PyBullet on first use)."""
        import gymnasium as gym
        import pybullet_envs_gymnasium  # noqa: F401  (registers the *BulletEnv ids)

        return gym.make(self.env_id, **kwargs)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "InvertedPendulum",
            "InvertedPendulumBulletEnv-v0",
            (5,),
            1,
            1000,
            500,
            success_return=950.0,
            # obs = (x, vx, cos(theta), sin(theta), theta_dot); reflecting the track flips all but cos(theta).
            mirror=((-1.0, -1.0, 1.0, -1.0, -1.0), (-1.0,)),
        ),
        # Success returns are the PyBullet envs' own reward thresholds (their gymnasium specs).
        TaskSpec(
            "InvertedDoublePendulum", "InvertedDoublePendulumBulletEnv-v0", (9,), 1, 1000, 500, success_return=9100.0
        ),
        TaskSpec("Hopper", "HopperBulletEnv-v0", (15,), 3, 1000, 300, success_return=2500.0),
        TaskSpec("HalfCheetah", "HalfCheetahBulletEnv-v0", (26,), 6, 1000, 300, success_return=3000.0),
        TaskSpec("Walker2D", "Walker2DBulletEnv-v0", (22,), 6, 1000, 300, success_return=2500.0),
        TaskSpec("Ant", "AntBulletEnv-v0", (28,), 8, 1000, 300, success_return=2500.0),
    )
}


def get_task(name: str) -> TaskSpec:
    """Looks a task up by name, with a suggestion when the name is close to a known one."""
    try:
        return TASKS[name]
    except KeyError:
        close = difflib.get_close_matches(name, TASKS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownTaskError(f"Unknown task {name!r}; expected one of {sorted(TASKS)}.{hint}") from None
