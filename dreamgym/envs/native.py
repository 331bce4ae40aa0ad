"""How a dream env presents its task: in the real env's own spaces, or in the flat ones dreamgym works in."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dreamgym.tasks import TaskSpec

__all__ = ["present_observation", "set_native_spaces"]


def set_native_spaces(
    env: Any, task: TaskSpec, native: bool, frames: bool = True
) -> tuple[gym.spaces.Space, gym.spaces.Box]:
    """Sets ``env.codec`` (the codec of a ``Dict`` observation: a goal task's, a user's), ``env.pixels`` (a pixel
    task's frames are shown), ``env.observation_bounds`` (a user's ``Box`` bounds dreams are clipped into) and
    ``env.native_actions`` (actions come in the task's own bounds), and returns one env's observation and action
    spaces; a goal env also gets ``compute_reward``, the goal-env API HER relabels with (SB3 and Gymnasium treat
    any env with a ``compute_reward`` as a goal env, so only goal envs have it).

    With ``native`` False every task is presented flat, with actions in [-1, 1], as dreamgym's pipeline works. With
    ``frames`` False a pixel task is presented as its vector twin (a goal task's ``Dict`` without the image, or the
    flat proprioception): an agent that acts on proprioception alone does not pay for decoding frames it never reads.
    """
    env.codec = task.observation_codec if native else None
    env.pixels = task.image_shape is not None and native and frames
    env.native_actions = native and task.rescales_actions
    if env.codec is not None and task.goal is not None:
        env.compute_reward = task.goal.compute_reward
    observation_space = task.observation_space
    if native:
        observation_space = task.env_observation_space if frames else task.vector_task.env_observation_space
    env.observation_bounds = None
    if isinstance(observation_space, gym.spaces.Box) and not env.pixels:
        low, high = observation_space.low, observation_space.high
        if np.isfinite(low).any() or np.isfinite(high).any():
            env.observation_bounds = (low, high)
    action_space = task.env_action_space if env.native_actions else task.action_space
    return observation_space, action_space


def present_observation(env: Any, obs: np.ndarray, image: np.ndarray | None) -> np.ndarray | dict[str, np.ndarray]:
    """Flat dreamed observations (one or a batch; and a pixel task's frames) in the space :func:`set_native_spaces`
    gave ``env``: the frame beside ``proprio``, or beside a goal task's ``Dict`` entries; a ``Dict``'s entries (a goal
    task's, a user's); or ``obs``; always inside the real space's bounds (a dream may stray where the real env never
    observes, and an env must stay inside its own space)."""
    if env.pixels:
        rest = env.codec.to_dict(obs, clip=True) if env.codec is not None else {"proprio": obs}
        return {"image": image, **rest}
    if env.codec is not None:
        return env.codec.to_dict(obs, clip=True)
    if env.observation_bounds is not None:
        return np.clip(obs, *env.observation_bounds).astype(np.float32)
    return obs
