"""Recording real PyBullet episodes in the data-set row layout, so fidelity and audit code reads one format.

Held-out episodes recorded here are laid out exactly like a Minari data set loaded with
:func:`dreamgym.data.load_episodes` (see :class:`~dreamgym.data.SequenceData`), so every measurement that
takes real episodes works on a recorded rollout and on a stored data set alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dreamgym.data import SequenceData
from dreamgym.data.policies import reset_policy
from dreamgym.errors import CheckpointError
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.world_model.checkpoint import Checkpoint, load_checkpoint

__all__ = ["BatchPolicy", "episode_slices", "load_for_task", "padded_episodes", "random_policy", "record_pybullet"]

BatchPolicy = Callable[[np.ndarray], np.ndarray]
"""Maps a batch of observations (N, obs_dim) to a batch of actions (N, action_dim), as in ``agents.evaluation``."""


def random_policy(action_dim: int, seed: int) -> BatchPolicy:
    """Uniform random actions in [-1, 1] for a batch of observations, from its own seeded stream."""
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(-1.0, 1.0, size=(len(obs), action_dim)).astype(np.float32)


def load_for_task(checkpoint: Checkpoint | str | Path, task: str | TaskSpec) -> tuple[Checkpoint, TaskSpec]:
    """Loads ``checkpoint`` (or checks a loaded one) for ``task``, refusing a model of another task or spaces."""
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint, spec=spec)
    elif checkpoint.task != spec.name:
        raise CheckpointError(
            f"Checkpoint {str(checkpoint.path)!r} was trained on task {checkpoint.task!r}, "
            f"but it is being evaluated on task {spec.name!r}."
        )
    return checkpoint, spec


def record_pybullet(
    task: str | TaskSpec,
    policy: BatchPolicy,
    episodes: int,
    seed: int,
    max_steps: int | None = None,
    env_kwargs: dict | None = None,
) -> SequenceData:
    """Runs ``policy`` for ``episodes`` real episodes (episode ``i`` reset with ``seed + i``) and records them.

    Args:
        task: task name or spec.
        policy: batched policy; it is called with one observation at a time as a batch of one (a pixel task's
            proprioception, its camera frame recorded beside it).
        episodes: number of episodes, at least 1.
        seed: reset seed of episode 0.
        max_steps: cut each episode after this many steps (a truncation, not a termination); the task's
            time limit by default.
        env_kwargs: passed to ``gymnasium.make`` (e.g. ``render_mode``).

    Returns:
        The episodes as rows in the data-set convention, with the seeds in ``metadata``.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    if episodes <= 0:
        raise ValueError(f"Expected a positive number of `episodes`, got {episodes!r}.")
    max_steps = spec.max_episode_steps if max_steps is None else max_steps
    if max_steps <= 0:
        raise ValueError(f"Expected a positive `max_steps`, got {max_steps!r}.")
    env = spec.make_env(**(env_kwargs or {}))
    pixels = spec.image_shape is not None
    parts = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            reset_policy(policy)
            observations, actions, rewards, terminations = [obs], [], [], []
            for _ in range(max_steps):
                vector = obs["proprio"] if pixels else obs  # a pixel task's policy reads the proprioception
                action = np.asarray(policy(np.asarray(vector, dtype=np.float32)[None]), dtype=np.float32)[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                observations.append(obs)
                actions.append(action)
                rewards.append(reward)
                terminations.append(terminated)
                if terminated or truncated:
                    break
            frames = np.array([o["image"] for o in observations]) if pixels else None
            vectors = np.array([o["proprio"] for o in observations] if pixels else observations)
            parts.append(
                SequenceData.from_episode(vectors, np.array(actions), np.array(rewards), terminations, image=frames)
            )
    finally:
        env.close()
    metadata = {"task": spec.name, "seeds": [seed + i for i in range(episodes)], "max_steps": max_steps}
    return SequenceData.concatenate(parts, metadata=metadata)


def episode_slices(data: SequenceData) -> list[slice]:
    """Row ranges of the episodes in ``data``, in order."""
    starts = np.flatnonzero(data.is_first)
    if len(starts) == 0 or starts[0] != 0:
        raise ValueError("Expected rows that begin with an episode's first row (is_first set on row 0).")
    ends = [*starts[1:], len(data)]
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def padded_episodes(data: SequenceData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes as padded arrays: observations (E, T+1, d), valid steps (E, T) and terminations (E, T).

    Step ``t`` (0-based) is the transition from observation ``t`` to ``t + 1``; ``T`` is the longest episode.
    """
    slices = episode_slices(data)
    steps = max(s.stop - s.start for s in slices) - 1
    obs = np.zeros((len(slices), steps + 1, *data.obs_shape), dtype=np.float32)
    valid = np.zeros((len(slices), steps), dtype=bool)
    terminated = np.zeros((len(slices), steps), dtype=bool)
    for e, rows in enumerate(slices):
        length = rows.stop - rows.start
        obs[e, :length] = data.obs[rows]
        valid[e, : length - 1] = True
        terminated[e, : length - 1] = data.is_terminal[rows][1:]
    return obs, valid, terminated
