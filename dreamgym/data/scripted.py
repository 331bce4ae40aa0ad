"""Noisy scripted experts for the manipulation tasks, so their data sets show what a world model must learn.

Uniform random actions almost never touch PandaPush's block (the arm wanders, the block never moves), and a
world model trained on such data has no reason to know that pushed blocks move and untouched ones do not. A
scripted expert that reaches behind the block and pushes it towards the target, with Gaussian noise on every
action and a share of purely random actions, covers contact, pushing, missing and free motion. It reads only
the flat observation, where the goal and the task's tabletop scene (:mod:`dreamgym.tasks.scene`) say, so it runs
on a robot as it runs in PyBullet.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dreamgym.tasks import TaskSpec, get_task

__all__ = ["SCRIPTED_TASKS", "scripted_policy"]

ACTION_STEP = 0.05
"""panda-gym's end-effector displacement per unit of action (m): ``Panda.set_action`` scales actions by it."""
BEHIND = 0.05
"""How far behind the block (away from the target) the end effector lines up before pushing (m)."""
HOVER = 0.06
"""Height at which the end effector travels to its lining-up point, above the block (m)."""


def _toward(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.clip((target - position) / ACTION_STEP, -1.0, 1.0)


def _reach(obs: np.ndarray, spec: TaskSpec) -> np.ndarray:
    ee = obs[..., list(spec.scene.gripper_dims)]
    _, desired = spec.goal.split(obs)
    return _toward(ee, desired)


def _push(obs: np.ndarray, spec: TaskSpec) -> np.ndarray:
    """Line up behind the block at its height (travelling above it), then push through it towards the target."""
    ee, block = obs[..., list(spec.scene.gripper_dims)], obs[..., list(spec.scene.object_dims)]
    _, desired = spec.goal.split(obs)
    heading = desired[..., :2] - block[..., :2]
    heading /= np.linalg.norm(heading, axis=-1, keepdims=True) + 1e-8
    behind = block.copy()
    behind[..., :2] -= BEHIND * heading
    offset = ee[..., :2] - behind[..., :2]
    lined_up = (np.linalg.norm(offset, axis=-1) < 0.02) | (
        ((block[..., :2] - ee[..., :2]) * heading).sum(-1) > 0.0  # behind the block, on the target's line
    ) & (np.abs(offset[..., 0] * heading[..., 1] - offset[..., 1] * heading[..., 0]) < 0.015)
    low = ee[..., 2] < block[..., 2] + 0.015
    travel = behind.copy()
    travel[..., 2] = np.where(np.linalg.norm(offset, axis=-1) < 0.02, block[..., 2], HOVER)
    push = block.copy()
    push[..., :2] += BEHIND * heading
    target = np.where((lined_up & low)[..., None], push, travel)
    return _toward(ee, target)


SCRIPTED_TASKS: dict[str, Callable[[np.ndarray, TaskSpec], np.ndarray]] = {"PandaReach": _reach, "PandaPush": _push}


def scripted_policy(
    task: str | TaskSpec, noise: float = 0.3, random_share: float = 0.2, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """The task's scripted expert with exploration noise, as a policy on flat observations ((d,) or (N, d)).

    Args:
        task: a task with a scripted expert (:data:`SCRIPTED_TASKS`).
        noise: standard deviation of the Gaussian noise added to each action (actions lie in [-1, 1]).
        random_share: probability that an action is uniform random instead.
        seed: seeds the noise.

    Raises:
        ValueError: the task has no scripted expert.
    """
    spec = get_task(task) if isinstance(task, str) else task
    name = spec.vector_task.name
    if name not in SCRIPTED_TASKS:
        raise ValueError(f"Task {spec.name!r} has no scripted expert; expected one of {sorted(SCRIPTED_TASKS)}.")
    expert = SCRIPTED_TASKS[name]
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        action = expert(obs, spec) + rng.normal(0.0, noise, size=(*obs.shape[:-1], spec.action_dim))
        random = rng.random(obs.shape[:-1]) < random_share
        action = np.where(random[..., None], rng.uniform(-1.0, 1.0, action.shape), action)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    return act
