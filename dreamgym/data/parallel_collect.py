"""Collection over Ray workers: each episode from seeds of its own, streamed in order into one Minari data set.

:func:`~dreamgym.data.collect.collect` runs one env whose later episodes continue its RNG, so its episodes depend
on every episode before them. Here episode ``i`` depends on ``(seed, i)`` alone: its reset seed and its policy's
seed are :func:`episode_seed`, so it is the same episode whichever worker runs it, and the data set is the same
for 1, 2 or 200 workers, and the same as :func:`collect_episodes` with ``workers=None`` (in this process, no Ray).
Each worker builds its own PyBullet env and policy once (:class:`~dreamgym.workers.WorkerPool`); the driver takes
finished episodes in index order as soon as they are contiguous and appends them to a staging Minari data set,
which is renamed into place when the step budget is reached, so a killed collection leaves no data set at all
and a dead worker's episode is simply run again.

An episode is a function of its seed only if the env's ``reset(seed=...)`` forgets what ran before. Measured
here: pybullet_envs_gymnasium's locomotion envs do, except for the first episode after the env is made (it
starts from the freshly loaded robot rather than the saved state every later reset restores, and its first
reward differs), so a worker resets its env once before its first episode. panda-gym's envs carry simulator
state across resets (an episode after others differs by up to 0.008 in its observations), so for every task
outside pybullet_envs_gymnasium each episode gets an env of its own (0.4 s to make for PandaPush).

Example:
    >>> from dreamgym.data.parallel_collect import collect_episodes
    >>> path = collect_episodes("Hopper", steps=100_000, out="data/hopper", workers=8)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from dreamgym.atomic import atomic_directory
from dreamgym.data.collect import (
    METADATA_KEY,
    _checked_action,
    _checked_request,
    _collection_metadata,
    _empty_record,
    _finish_metadata,
    _new_storage,
    _record_step,
)
from dreamgym.data.policies import Policy, reset_policy, resolve_policy
from dreamgym.seeding import seeded_torch
from dreamgym.tasks.registry import TaskSpec

__all__ = ["collect_episodes", "episode_seed"]

EPISODE_SEEDS = "numpy SeedSequence([seed, episode index])"
"""How episode seeds derive from the run's seed, as recorded in the data set's metadata."""

HISTORY_FREE_PACKAGES = ("pybullet_envs_gymnasium",)
"""Packages whose envs, once reset, give the same episode for a seed whatever ran before (module docstring)."""

_WRITE_BATCH = 64
"""Episodes appended to the HDF5 file per write: a write per episode costs more than a short episode's steps."""


def episode_seed(seed: int, index: int) -> int:
    """The seed of episode ``index`` of a collection seeded ``seed``: its env reset seed and its policy's seed.

    A hash of both numbers (NumPy's ``SeedSequence``), so neighbouring runs and episodes get unrelated streams.
    """
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


class _EpisodeRunner:
    """A worker's env and policy, built once; :meth:`run` plays episode ``index`` from its own seeds."""

    def __init__(
        self,
        task: TaskSpec,
        policy: str | Path | Policy | None,
        deterministic: bool,
        wrap_env: Callable[[gym.Env], gym.Env] | None,
    ) -> None:
        self.task, self.wrap_env = task, wrap_env
        self.reuse_env = task.package in HISTORY_FREE_PACKAGES
        self.env = self._make_env()
        if self.reuse_env:
            self.env.reset(seed=0)  # past the first reset, the only one that differs from the rest
        self.policy_kind = _policy_kind(policy)
        # random and scripted policies are reseeded per episode (cheap); a checkpoint is loaded once per worker
        self.fixed = None if self.policy_kind in ("random", "scripted") else policy
        if isinstance(self.fixed, (str, Path)):
            self.fixed = resolve_policy(self.fixed, self.env.action_space, 0, deterministic, task.image_shape).act

    def _make_env(self) -> gym.Env:
        env = self.task.make_env()
        return self.wrap_env(env) if self.wrap_env is not None else env

    def close(self) -> None:
        self.env.close()

    def _policy(self, seed: int) -> Policy:
        if self.policy_kind == "random":
            return resolve_policy(None, self.env.action_space, seed).act
        if self.policy_kind == "scripted":
            from dreamgym.data.scripted import scripted_policy

            return scripted_policy(self.task, seed=seed)
        reset_policy(self.fixed)
        return self.fixed

    def run(self, seed: int, index: int) -> dict[str, Any]:
        """Episode ``index`` to its end: the Minari record (observations, actions, ...) and its ``seed``."""
        own_seed = episode_seed(seed, index)
        if not self.reuse_env:
            self.env.close()
            self.env = self._make_env()
        env, act = self.env, self._policy(own_seed)
        obs_dtype, space = env.observation_space.dtype, env.action_space
        limit = self.task.max_episode_steps
        with seeded_torch(own_seed):  # a checkpoint or callable that samples does so from the episode's stream
            observation, _ = env.reset(seed=own_seed)
            record = _empty_record(observation, obs_dtype)
            for step in itertools.count():
                action = _checked_action(act, observation, space.shape, space.dtype, step)
                observation, reward, terminated, truncated, _ = env.step(action)
                truncated = truncated or step + 1 >= limit  # the task's time limit, even on an env without one
                _record_step(record, observation, action, reward, terminated, truncated, obs_dtype)
                if terminated or truncated:
                    break
        return {**record, "seed": own_seed}


def _policy_kind(policy: str | Path | Policy | None) -> str:
    if policy is None or (isinstance(policy, str) and policy in ("random", "scripted")):
        return policy or "random"
    if isinstance(policy, (str, Path)):
        return "sb3"
    if callable(policy):
        return "callable"
    raise TypeError(
        f"Expected `policy` to be None, 'random', 'scripted', a path to an SB3 checkpoint or a callable, "
        f"got {type(policy).__name__}."
    )


def _run_job(runner: _EpisodeRunner, index: int, *, seed: int) -> dict[str, Any]:
    return runner.run(seed, index)


def collect_episodes(
    task: TaskSpec | str,
    steps: int,
    out: str | Path,
    policy: str | Path | Policy | None = None,
    seed: int = 0,
    *,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    deterministic: bool = False,
    name: str | None = None,
    algorithm_name: str | None = None,
    author: str = "dreamgym",
    extra_metadata: dict[str, Any] | None = None,
    gap: Mapping[str, Any] | None = None,
    wrap_env: Callable[[gym.Env], gym.Env] | None = None,
    max_worker_failures: int = 3,
) -> Path:
    """Collects exactly ``steps`` env steps of episodes seeded per index, on ``workers`` Ray workers.

    Episodes are kept in index order until the budget is reached; the episode that reaches it is cut there and
    marked ``truncated`` on its last kept step, as :func:`~dreamgym.data.collect.collect` does. Episode ``i``
    carries its seed (:func:`episode_seed`) in Minari's per-episode ``seed`` field.

    Args:
        task, steps, out, policy, progress, overwrite, deterministic, name, algorithm_name, author,
            extra_metadata, gap: as for :func:`~dreamgym.data.collect.collect`; ``policy`` may also be
            ``"scripted"``. A callable policy (and ``wrap_env``) is sent to the workers, so it must pickle
            (cloudpickle: closures and lambdas do).
        seed: the run's seed, from which every episode's seeds derive.
        workers: Ray workers (each runs its own env); ``None`` runs the same episodes in this process without Ray.
        wrap_env: applied to each worker's env (a reality gap); its random streams must restart from the
            episode's reset seed, as dreamgym's gap wrappers do, or episodes would depend on the worker.
        max_worker_failures: worker deaths tolerated before the collection fails
            (:class:`~dreamgym.workers.WorkerError`); each dead worker's episode runs again on a new one.

    Returns:
        The finished data set's path, ``out``.
    """
    task, out, extra_metadata, gap = _checked_request(task, steps, out, overwrite, wrap_env, gap, extra_metadata)
    kind = _policy_kind(policy)
    env = task.make_env()
    try:
        described = policy
        if kind == "scripted":
            from dreamgym.data.scripted import scripted_policy

            described = scripted_policy(task, seed=seed)
        description = resolve_policy(described, env.action_space, seed, deterministic=deterministic).description
        setup = partial(_EpisodeRunner, task, policy, deterministic, wrap_env)
        job = partial(_run_job, seed=seed)
        with (
            _episode_stream(setup, job, workers, max_worker_failures) as (stream, failures),
            atomic_directory(out, overwrite) as staging,
        ):
            storage = _new_storage(staging, env)
            episodes = _stream_in_order(stream, storage, steps, progress, f"collect {task.name}")
            metadata = _collection_metadata(
                task, name or kind, algorithm_name, description, author, extra_metadata, seed, gap, steps
            )
            metadata[METADATA_KEY] |= {
                "episode_seeds": EPISODE_SEEDS,
                "workers": workers,
                "worker_failures": failures(),
            }
            _finish_metadata(storage, metadata, steps, episodes)
    finally:
        env.close()
    return out


@contextlib.contextmanager
def _episode_stream(
    setup: Callable[[], _EpisodeRunner],
    job: Callable[[_EpisodeRunner, int], dict[str, Any]],
    workers: int | None,
    max_failures: int,
) -> Iterator[tuple[Iterator[tuple[int, dict[str, Any]]], Callable[[], int]]]:
    """Endless ``(index, episode)`` pairs: from a worker pool, or from one runner in this process."""
    if workers is None:
        runner = setup()
        try:
            yield ((index, job(runner, index)) for index in itertools.count()), lambda: 0
        finally:
            runner.close()
        return
    from dreamgym.workers import WorkerPool

    with WorkerPool(setup, job, workers, max_failures=max_failures) as pool:
        yield pool.map(itertools.count()), lambda: pool.failures


def _stream_in_order(
    stream: Iterator[tuple[int, dict[str, Any]]], storage: Any, steps: int, progress: bool, desc: str
) -> int:
    """Appends episodes to ``storage`` in index order until ``steps`` steps; returns how many episodes it holds.

    Episodes that finish early wait in memory for the ones before them; those past the budget are dropped.
    """
    from minari.data_collector import EpisodeBuffer

    waiting: dict[int, dict[str, Any]] = {}
    ready: list[Any] = []  # in order, not yet in the file: written in batches, as each write reopens the file
    written = total = 0
    with tqdm(total=steps, desc=desc, unit="step", disable=not progress, dynamic_ncols=True) as bar:
        for index, episode in stream:
            if index in waiting or index < written:
                raise AssertionError(f"episode {index} arrived twice")  # the pool hands out each index once
            waiting[index] = episode
            while written in waiting and total < steps:
                record = _cut(waiting.pop(written), steps - total)
                seed = record.pop("seed")
                ready.append(EpisodeBuffer(id=written, seed=seed, **record))
                total += len(record["rewards"])
                written += 1
                bar.update(len(record["rewards"]))
            if len(ready) >= _WRITE_BATCH or total >= steps:
                storage.update_episodes(ready)
                ready = []
            if total >= steps:
                return written
    raise AssertionError("the episode stream ended before the step budget")  # it is endless


def _cut(record: dict[str, Any], budget: int) -> dict[str, Any]:
    """The episode's first ``budget`` steps when it is longer, ending ``truncated`` where the budget ends it."""
    length = len(record["rewards"])
    if length < budget:
        return record
    observations = record["observations"]
    cut = {
        **{key: list(record[key][:budget]) for key in ("actions", "rewards", "terminations", "truncations")},
        "observations": (
            {key: list(values[: budget + 1]) for key, values in observations.items()}
            if isinstance(observations, dict)
            else list(observations[: budget + 1])
        ),
        "seed": record["seed"],
    }
    cut["truncations"][-1] = True
    return cut
