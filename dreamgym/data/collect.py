"""Collects experience from a real PyBullet task into a Minari data set, written atomically.

Example:
    >>> from dreamgym.data import collect, load_episodes
    >>> path = collect("InvertedPendulum", steps=300, out="/tmp/pendulum-random", progress=False)
    >>> data = load_episodes(path)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from dreamgym.data.policies import Policy, resolve_policy
from dreamgym.errors import DatasetError, InvalidActionError
from dreamgym.tasks.registry import TaskSpec, get_task

__all__ = ["METADATA_KEY", "collect", "dataset_id_for"]

METADATA_KEY = "dreamgym"
"""Key under which dreamgym's own metadata sits in Minari's ``metadata.json`` (Minari keeps unknown keys)."""


def dataset_id_for(task: TaskSpec, name: str, version: int = 0) -> str:
    """Builds the Minari id ``dreamgym/<task>/<name>-v<version>``, replacing characters Minari rejects."""
    safe_name = re.sub(r"[^\w-]+", "_", name).strip("_-") or "data"
    return f"dreamgym/{task.name}/{safe_name}-v{version}"


def collect(
    task: TaskSpec | str,
    steps: int,
    out: str | Path,
    policy: str | Path | Policy | None = None,
    seed: int = 0,
    progress: bool = True,
    algorithm_name: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
    deterministic: bool = False,
    name: str | None = None,
    author: str = "dreamgym",
) -> Path:
    """Runs ``policy`` in the real env for exactly ``steps`` steps and saves a Minari data set.

    The first episode is reset with ``seed`` and later ones continue the env's RNG, so the same arguments give
    the same data. If the step budget ends mid-episode, that episode is stored cut short with
    ``truncated=True`` on its last step, as a time limit would.

    The data set is built in a hidden sibling directory of ``out`` and renamed into place only when complete,
    so an interrupted or failed collection never leaves a half-written data set at ``out``.

    Args:
        task: a :class:`TaskSpec` or a task name such as ``"Hopper"``.
        steps: number of env steps to collect; at least 1.
        out: directory of the data set to create (Minari layout: ``out/data/metadata.json`` and
            ``out/data/main_data.hdf5``). Placing it at ``$MINARI_DATASETS_PATH/<dataset id>`` also makes it
            loadable by id.
        policy: ``None`` or ``"random"`` for uniform random actions, a path to a Stable-Baselines3 ``.zip``,
            or a callable mapping an observation to an action.
        seed: seeds the env's first reset and the random policy.
        progress: show a tqdm bar with rate and time left.
        algorithm_name: Minari's ``algorithm_name`` field; defaults to a description of the policy.
        extra_metadata: JSON-serialisable fields added to the dreamgym metadata (for example a Dyna round).
        overwrite: replace an existing data set at ``out`` instead of refusing.
        deterministic: act greedily with an SB3 checkpoint; the default samples, for broader coverage.
        name: data set name inside the Minari id; defaults to the policy kind (``random``, ``sb3``, ...).
        author: Minari's ``author`` field.

    Returns:
        The path of the finished data set, ``out``.

    Raises:
        ValueError: ``steps`` is not positive.
        DatasetError: ``out`` already exists and ``overwrite`` is false.
        InvalidActionError: a callable policy returned an action of the wrong shape or non-finite values.
    """
    task = get_task(task) if isinstance(task, str) else task
    if steps < 1:
        raise ValueError(f"Expected `steps` >= 1, got {steps}.")
    out = Path(out).absolute()  # Minari joins relative paths onto its own root when sizing the file
    if out.exists() and not overwrite:
        raise DatasetError(
            f"Data set directory {str(out)!r} already exists; pass overwrite=True (CLI: --overwrite) "
            "or choose another output path."
        )
    extra_metadata = dict(extra_metadata or {})
    try:
        json.dumps(extra_metadata)
    except TypeError as err:
        raise TypeError(f"Expected `extra_metadata` to be JSON-serialisable: {err}") from err

    env = task.make_env()
    try:
        resolved = resolve_policy(policy, env.action_space, seed, deterministic=deterministic)
        episodes = _run_episodes(env, resolved.act, steps, seed, progress, desc=f"collect {task.name}")
        metadata = {
            "dataset_id": dataset_id_for(task, name or resolved.kind),
            "algorithm_name": algorithm_name or resolved.description,
            "author": {author},
            "description": f"{steps} steps of {task.env_id} collected with {resolved.description}.",
            METADATA_KEY: {
                **extra_metadata,
                "task": task.name,
                "env_id": task.env_id,
                "policy": resolved.description,
                "seed": seed,
                "steps": steps,
                "episodes": len(episodes),
                "dreamgym_version": _dreamgym_version(),
            },
        }
        with _atomic_directory(out, overwrite) as staging:
            _write_minari(staging, env, episodes, metadata)
    finally:
        env.close()
    return out


def _run_episodes(env: gym.Env, act: Policy, steps: int, seed: int, progress: bool, desc: str) -> list[Any]:
    """Steps ``env`` exactly ``steps`` times and returns one Minari ``EpisodeBuffer`` per episode.

    The buffers are built directly rather than with ``EpisodeBuffer.add_step_data``, which needs jax.
    """
    from minari.data_collector import EpisodeBuffer

    obs_dtype = env.observation_space.dtype
    action_shape, action_dtype = env.action_space.shape, env.action_space.dtype
    episodes: list[EpisodeBuffer] = []
    observation, _ = env.reset(seed=seed)
    record: dict[str, list[Any]] = _empty_record(observation, obs_dtype)
    with tqdm(total=steps, desc=desc, unit="step", disable=not progress, dynamic_ncols=True) as bar:
        for step in range(steps):
            action = np.asarray(act(observation), dtype=action_dtype)
            if action.shape != action_shape or not np.all(np.isfinite(action)):
                raise InvalidActionError(
                    f"Expected the policy to return a finite action of shape {action_shape}, "
                    f"got shape {action.shape} with values {action!r} at step {step}."
                )
            observation, reward, terminated, truncated, _ = env.step(action)
            truncated = truncated or step == steps - 1  # the budget ends the last episode like a time limit
            record["observations"].append(np.asarray(observation, dtype=obs_dtype))
            record["actions"].append(action)
            record["rewards"].append(float(reward))
            record["terminations"].append(bool(terminated))
            record["truncations"].append(bool(truncated))
            bar.update()
            if terminated or truncated:
                first = not episodes
                episodes.append(EpisodeBuffer(id=len(episodes), seed=seed if first else None, **record))
                bar.set_postfix(episodes=len(episodes), refresh=False)
                if step < steps - 1:
                    observation, _ = env.reset()
                    record = _empty_record(observation, obs_dtype)
    return episodes


def _empty_record(first_observation: Any, obs_dtype: Any) -> dict[str, list[Any]]:
    return {
        "observations": [np.asarray(first_observation, dtype=obs_dtype)],
        "actions": [],
        "rewards": [],
        "terminations": [],
        "truncations": [],
    }


def _write_minari(root: Path, env: gym.Env, episodes: list[Any], metadata: dict[str, Any]) -> None:
    """Writes a Minari data set into ``root/data`` with Minari's storage API.

    ``minari.create_dataset_from_buffers`` only writes under the global ``MINARI_DATASETS_PATH`` (and creates
    namespace files there); ``MinariStorage.new`` takes an explicit directory, which the atomic rename needs.
    The id and version fields it would add are set here so ``minari.MinariDataset`` reads the result.
    """
    import minari
    from minari.dataset.minari_storage import MinariStorage

    storage = MinariStorage.new(
        root / "data",
        observation_space=env.observation_space,
        action_space=env.action_space,
        env_spec=env.spec,
    )
    storage.update_metadata({**metadata, "minari_version": minari.__version__})
    storage.update_episodes(episodes)


@contextlib.contextmanager
def _atomic_directory(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yields a staging directory that replaces ``out`` only if the block finishes without an exception.

    The staging directory is a sibling of ``out`` so the final ``os.replace`` stays on one filesystem and is a
    single rename. A process killed outright can leave the hidden staging directory behind, never ``out``.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # left by an earlier killed run that had our pid
    staging.mkdir()
    try:
        yield staging
        if out.exists():
            if not overwrite:
                raise DatasetError(f"Data set directory {str(out)!r} appeared while collecting; not replaced.")
            retired = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, retired)  # two renames: POSIX cannot atomically swap a non-empty directory
            try:
                os.replace(staging, out)
            except BaseException:
                os.replace(retired, out)  # put the old data set back rather than leave nothing
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _dreamgym_version() -> str:
    from dreamgym import __version__

    return __version__
