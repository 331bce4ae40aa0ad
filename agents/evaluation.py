"""Scoring a policy in the dream and on the real PyBullet task with the same seeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamgym.tasks import get_task
from dreamgym.transfer.ladder import Episodes, run_dreams, run_episodes
from dreamgym.transfer.recording import random_policy  # re-exported: agents and evaluation share one

__all__ = ["EvalResult", "Policy", "evaluate_in_dream", "evaluate_in_pybullet", "random_policy", "sb3_policy"]

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps a batch of observations (N, obs_dim) to a batch of actions (N, action_dim)."""


@dataclass(frozen=True)
class EvalResult:
    """Returns and lengths of evaluation episodes and, for goal tasks, whether each ended in success."""

    returns: np.ndarray
    lengths: np.ndarray
    successes: np.ndarray | None = None

    @classmethod
    def of(cls, episodes: Episodes) -> EvalResult:
        successes = None if episodes.successes is None else np.asarray(episodes.successes, dtype=bool)
        return cls(np.asarray(episodes.returns, np.float64), np.asarray(episodes.lengths, np.int64), successes)

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(np.mean(self.successes))

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def __str__(self) -> str:
        success = f", success {100 * self.success_rate:.0f} %" if self.success_rate is not None else ""
        return f"{self.mean:8.1f} ± {self.std:6.1f}{success}"


def sb3_policy(model, deterministic: bool = True) -> Policy:
    """Wraps an SB3 model (or a path to its zip) as a batched policy."""
    if isinstance(model, str | Path):
        from dreamgym.data import load_sb3_policy

        return load_sb3_policy(model, deterministic=deterministic)
    from dreamgym.data.policies import sb3_predictor

    return sb3_predictor(model, deterministic)


def evaluate_in_pybullet(
    policy: Policy, task: str, episodes: int, seed: int, progress: bool = False, env_kwargs: dict | None = None
) -> EvalResult:
    """Runs ``episodes`` real episodes, episode ``i`` reset with ``seed + i``, with the ladder's episode loop.

    A pixel task's policies act on the proprioception (the flat view its dreams give them), so they run in the
    vector task it renders, as on the ladder's PyBullet rungs: the same physics and observation, without drawing
    frames no policy reads.
    """
    spec = get_task(task).vector_task
    env = spec.make_env(**(env_kwargs or {}))
    try:
        episodes_run = run_episodes(policy, env, episodes, seed, spec.max_episode_steps, progress, f"{task} PyBullet")
    finally:
        env.close()
    return EvalResult.of(episodes_run)


def evaluate_in_dream(
    policy: Policy, task: str, checkpoint: str | Path, episodes: int, seed: int, horizon: int | None = None
) -> EvalResult:
    """Runs ``episodes`` dreams in one batch (dream ``i`` seeded with ``seed + i``) until each one ends.

    The horizon defaults to the real task's episode limit so dream and PyBullet returns compare directly.
    """
    spec = get_task(task)
    return EvalResult.of(run_dreams(policy, spec, checkpoint, episodes, seed, horizon or spec.max_episode_steps))
