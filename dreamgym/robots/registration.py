"""Registers ``dreamgym/<Task>-robot-v0`` for every vector task, with string entry points so importing stays cheap."""

from __future__ import annotations

import gymnasium as gym

from dreamgym.tasks import TASKS

__all__ = ["register_robot_envs", "robot_env_id"]


def robot_env_id(task: str, version: int = 0) -> str:
    return f"dreamgym/{task}-robot-v{version}"


def register_robot_envs() -> None:
    """Registers a robot env per vector task (idempotent); ``address`` and the token source are make() kwargs.

    No ``max_episode_steps`` here: Gymnasium's ``TimeLimit`` counts calls to ``step``, while a robot's episode
    is counted in its own ticks (:class:`~dreamgym.robots.env.RobotEnv` truncates on those).
    """
    for name, spec in TASKS.items():
        env_id = robot_env_id(name)
        if spec.obs_kind != "vector" or env_id in gym.registry:
            continue
        gym.register(id=env_id, entry_point="dreamgym.robots.env:RobotEnv", kwargs={"task": name})
