"""How a dream env presents its task: in the real env's own spaces, or in the flat ones dreamgym works in."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dreamgym.tasks import TaskSpec

__all__ = ["present_observation", "set_native_spaces"]


def set_native_spaces(env: Any, task: TaskSpec, native: bool) -> tuple[gym.spaces.Space, gym.spaces.Box]:
    """Sets ``env.codec`` (a goal task's Dict codec), ``env.pixels`` (a pixel task's frames are shown) and
    ``env.native_actions`` (actions come in the task's own bounds), and returns one env's observation and action
    spaces; a goal env also gets ``compute_reward``, the goal-env API HER relabels with (SB3 and Gymnasium treat
    any env with a ``compute_reward`` as a goal env, so only goal envs have it).

    With ``native`` False every task is presented flat, with actions in [-1, 1], as dreamgym's pipeline works.
    """
    env.codec = task.goal.codec if task.goal is not None and native else None
    env.pixels = task.image_shape is not None and native
    env.native_actions = native and task.rescales_actions
    if env.codec is not None:
        env.compute_reward = task.goal.compute_reward
    observation_space = task.env_observation_space if env.codec is not None or env.pixels else task.observation_space
    action_space = task.env_action_space if env.native_actions else task.action_space
    return observation_space, action_space


def present_observation(env: Any, obs: np.ndarray, image: np.ndarray | None) -> np.ndarray | dict[str, np.ndarray]:
    """Flat observations (and a pixel task's frames) in the space :func:`set_native_spaces` gave ``env``: the
    frame beside ``proprio``, or beside a goal task's ``Dict`` entries; a goal task's ``Dict``; or ``obs``."""
    if env.pixels:
        rest = env.codec.to_dict(obs) if env.codec is not None else {"proprio": obs}
        return {"image": image, **rest}
    return env.codec.to_dict(obs) if env.codec is not None else obs
