"""Registers ``dreamgym/<Task>-dream-v0`` for every task, with string entry points so importing stays cheap."""

from __future__ import annotations

import gymnasium as gym

from dreamgym.tasks import TASKS

__all__ = ["dream_env_id", "register_dream_envs"]


def dream_env_id(task: str, version: int = 0) -> str:
    return f"dreamgym/{task}-dream-v{version}"


def register_dream_envs() -> None:
    """Registers a single-env and a vector entry point per task (idempotent)."""
    for name in TASKS:
        env_id = dream_env_id(name)
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="dreamgym.envs.dream_env:DreamEnv",
            vector_entry_point="dreamgym.envs.dream_vector_env:DreamVectorEnv",
            kwargs={"task": name},
        )
