"""Collects experience from a real PyBullet task into a Minari data set, written atomically.

Example:
    >>> from dreamgym.data import collect, load_episodes
    >>> path = collect("InvertedPendulum", steps=300, out="/tmp/pendulum-random", progress=False)
    >>> data = load_episodes(path)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from dreamgym.atomic import atomic_directory
from dreamgym.data.policies import Policy, proprioceptive, resolve_policy
from dreamgym.errors import DatasetError, InvalidActionError
from dreamgym.seeding import seeded_torch
from dreamgym.tasks.registry import TaskSpec, get_task

__all__ = ["METADATA_KEY", "collect", "dataset_id_for", "write_episodes"]

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
    gap: Mapping[str, Any] | None = None,
    wrap_env: Callable[[gym.Env], gym.Env] | None = None,
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
        policy: ``None`` or ``"random"`` for uniform random actions, ``"scripted"`` for the task's noisy
            scripted expert (manipulation tasks, :mod:`dreamgym.data.scripted`), a path to a Stable-Baselines3
            ``.zip``, or a callable mapping an observation to an action.
        seed: seeds the env's first reset and the policy: the random one, or torch's global RNG (restored after)
            for a checkpoint or callable that samples from it.
        progress: show a tqdm bar with rate and time left.
        algorithm_name: Minari's ``algorithm_name`` field; defaults to a description of the policy.
        extra_metadata: JSON-serialisable fields added to the dreamgym metadata (for example a Dyna round).
        overwrite: replace an existing data set at ``out`` instead of refusing.
        deterministic: act greedily with an SB3 checkpoint; the default samples, for broader coverage.
        name: data set name inside the Minari id; defaults to the policy kind (``random``, ``sb3``, ...).
        author: Minari's ``author`` field.
        gap: JSON-serialisable description of the reality gap the env was collected under, stored as the
            ``gap`` metadata field (``None``, stored as null, means the nominal simulator). The description is
            recorded, not interpreted: pass the settings of the gap wrapper applied by ``wrap_env``.
        wrap_env: applied to the freshly made env before collection (for example a reality-gap wrapper); it
            needs a ``gap`` description so the data set says what it was collected under.

    Returns:
        The path of the finished data set, ``out``.

    Raises:
        ValueError: ``steps`` is not positive, or ``wrap_env`` is given without ``gap``.
        DatasetError: ``out`` already exists and ``overwrite`` is false.
        InvalidActionError: a callable policy returned an action of the wrong shape or non-finite values.
    """
    task, out, extra_metadata, gap = _checked_request(task, steps, out, overwrite, wrap_env, gap, extra_metadata)
    env = task.make_env()
    if wrap_env is not None:
        env = wrap_env(env)
    try:
        if isinstance(policy, str) and policy == "scripted":
            from dreamgym.data.scripted import scripted_policy

            policy = proprioceptive(task.image_shape, scripted_policy(task, seed=seed))
            name = name or "scripted"
        resolved = resolve_policy(policy, env.action_space, seed, deterministic, task.image_shape)
        with contextlib.nullcontext() if resolved.kind == "random" else seeded_torch(seed):
            episodes = _run_episodes(env, resolved.act, steps, seed, progress, desc=f"collect {task.name}")
        metadata = _collection_metadata(
            task, name or resolved.kind, algorithm_name, resolved.description, author, extra_metadata, seed, gap, steps
        )
        with atomic_directory(out, overwrite) as staging:
            _write_minari(staging, env, episodes, metadata, steps)
    finally:
        env.close()
    return out


def write_episodes(
    task: TaskSpec | str,
    episodes: Sequence[Mapping[str, Any]],
    out: str | Path,
    *,
    name: str,
    policy: str,
    seed: int | None,
    extra_metadata: dict[str, Any] | None = None,
    gap: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    author: str = "dreamgym",
) -> Path:
    """Writes episodes recorded elsewhere (an agent's training rollouts, say) as a dreamgym Minari data set.

    :func:`collect` records a fixed policy; a data set such as D4RL's ``medium-replay`` is the stream of a
    learning agent, recorded while it trained, so it is written through here with the same metadata and the
    same atomic rename.

    Args:
        task: a :class:`TaskSpec` or a task name.
        episodes: mappings with ``observations`` (N+1 rows), ``actions``, ``rewards``, ``terminations`` and
            ``truncations`` (N rows each).
        out: data set directory to create.
        name: data set name inside the Minari id.
        policy: description of the policy (or learner) that acted, stored in the metadata.
        seed: seed of the run that produced the episodes.
        extra_metadata: further JSON-serialisable metadata fields.
        gap: reality-gap description as in :func:`collect`; ``None`` for the nominal simulator.
        overwrite: replace an existing data set at ``out``.
        author: Minari's ``author`` field.

    Raises:
        ValueError: there are no episodes, or an episode's arrays have the wrong shapes or lengths for the task,
            or hold NaN or inf.
        DatasetError: ``out`` exists and ``overwrite`` is false.
    """
    from minari.data_collector import EpisodeBuffer

    task = get_task(task) if isinstance(task, str) else task
    if not episodes:
        raise ValueError("Expected at least one episode to write, got none.")
    out = Path(out).absolute()
    if out.exists() and not overwrite:
        raise DatasetError(f"Data set directory {str(out)!r} already exists; pass overwrite=True or another path.")
    extra_metadata = _json_checked("extra_metadata", extra_metadata)
    buffers = []
    for i, episode in enumerate(episodes):
        obs = np.asarray(episode["observations"], dtype=np.float32)
        actions = np.asarray(episode["actions"], dtype=np.float32)
        steps = len(actions)
        if obs.shape != (steps + 1, *task.obs_shape) or actions.shape != (steps, task.action_dim):
            raise ValueError(
                f"Episode {i}: expected observations of shape {(steps + 1, *task.obs_shape)} and actions of shape "
                f"{(steps, task.action_dim)} for task {task.name!r}, got {obs.shape} and {actions.shape}."
            )
        for field in ("rewards", "terminations", "truncations"):
            if len(episode[field]) != steps:
                raise ValueError(f"Episode {i}: expected {steps} {field} (one per action), got {len(episode[field])}.")
        for field, values in (("observations", obs), ("actions", actions), ("rewards", episode["rewards"])):
            if not np.all(np.isfinite(values)):  # caught here, where it was made, not when the data set is read
                raise ValueError(f"Episode {i}: `{field}` holds NaN or inf; expected finite numbers.")
        buffers.append(
            EpisodeBuffer(
                id=i,
                seed=seed if i == 0 else None,
                observations=list(obs),
                actions=list(actions),
                rewards=[float(r) for r in episode["rewards"]],
                terminations=[bool(t) for t in episode["terminations"]],
                truncations=[bool(t) for t in episode["truncations"]],
            )
        )
    total = sum(len(b.rewards) for b in buffers)
    gap = _json_checked("gap", gap) if gap is not None else None
    metadata = _collection_metadata(task, name, None, policy, author, extra_metadata, seed, gap, total)
    env = task.make_env()
    try:
        with atomic_directory(out, overwrite) as staging:
            _write_minari(staging, env, buffers, metadata, total)
    finally:
        env.close()
    return out


def _checked_request(
    task: TaskSpec | str,
    steps: int,
    out: str | Path,
    overwrite: bool,
    wrap_env: Callable[[gym.Env], gym.Env] | None,
    gap: Mapping[str, Any] | None,
    extra_metadata: dict[str, Any] | None,
) -> tuple[TaskSpec, Path, dict[str, Any], dict[str, Any] | None]:
    """The task, absolute output path, metadata and gap of a collection, refused early where they are unusable."""
    task = get_task(task) if isinstance(task, str) else task
    if steps < 1:
        raise ValueError(f"Expected `steps` >= 1, got {steps}.")
    out = Path(out).absolute()  # Minari joins relative paths onto its own root when sizing the file
    if out.exists() and not overwrite:
        raise DatasetError(
            f"Data set directory {str(out)!r} already exists; pass overwrite=True (CLI: --overwrite) "
            "or choose another output path."
        )
    if wrap_env is not None and gap is None:
        raise ValueError(
            "Expected a `gap` description with `wrap_env`, so the data set records what it was collected under."
        )
    extra_metadata = _json_checked("extra_metadata", extra_metadata)
    return task, out, extra_metadata, _json_checked("gap", gap) if gap is not None else None


def _collection_metadata(
    task: TaskSpec,
    name: str,
    algorithm_name: str | None,
    policy: str,
    author: str,
    extra_metadata: dict[str, Any],
    seed: int,
    gap: dict[str, Any] | None,
    steps: int,
) -> dict[str, Any]:
    """Minari's metadata of a collected data set, with dreamgym's own under :data:`METADATA_KEY`; the caller adds
    :func:`_finish_metadata` adds ``steps``, ``episodes`` and ``dreamgym_version`` last, once they are known."""
    return {
        "dataset_id": dataset_id_for(task, name),
        "algorithm_name": algorithm_name or policy,
        "author": {author},
        "description": f"{steps} steps of {task.env_id} collected with {policy}.",
        METADATA_KEY: {
            **extra_metadata,
            "task": task.name,
            "task_spec": task.to_dict(),  # so a user's task comes back from the data set alone
            "env_id": task.env_id,
            "policy": policy,
            "seed": seed,
            "gap": gap,
        },
    }


def _json_checked(name: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A plain-dict copy of ``value``, refused unless it survives a JSON round trip (Minari stores JSON)."""
    value = dict(value or {})
    try:
        json.dumps(value)
    except TypeError as err:
        raise TypeError(f"Expected `{name}` to be JSON-serialisable: {err}") from err
    return value


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
            action = _checked_action(act, observation, action_shape, action_dtype, step)
            observation, reward, terminated, truncated, _ = env.step(action)
            truncated = truncated or step == steps - 1  # the budget ends the last episode like a time limit
            _record_step(record, observation, action, reward, terminated, truncated, obs_dtype)
            bar.update()
            if terminated or truncated:
                first = not episodes
                episodes.append(EpisodeBuffer(id=len(episodes), seed=seed if first else None, **record))
                bar.set_postfix(episodes=len(episodes), refresh=False)
                if step < steps - 1:
                    observation, _ = env.reset()
                    record = _empty_record(observation, obs_dtype)
    return episodes


def _checked_action(act: Policy, observation: Any, shape: tuple[int, ...], dtype: Any, step: int) -> np.ndarray:
    """The policy's action for ``observation``, refused unless finite and of the env's shape."""
    action = np.asarray(act(observation), dtype=dtype)
    if action.shape != shape or not np.all(np.isfinite(action)):
        raise InvalidActionError(
            f"Expected the policy to return a finite action of shape {shape}, "
            f"got shape {action.shape} with values {action!r} at step {step}."
        )
    return action


def _record_step(
    record: dict[str, Any],
    observation: Any,
    action: np.ndarray,
    reward: float,
    terminated: bool,
    truncated: bool,
    obs_dtype: Any,
) -> None:
    """Adds one step (the observation it arrived at, the action that led there, its reward and flags)."""
    _append_observation(record, observation, obs_dtype)
    record["actions"].append(action)
    record["rewards"].append(float(reward))
    record["terminations"].append(bool(terminated))
    record["truncations"].append(bool(truncated))


def _append_observation(record: dict[str, Any], observation: Any, obs_dtype: Any) -> None:
    """Adds one observation: a Box's as an array, a pixel task's ``Dict(image, proprio)`` entry by entry (Minari
    stores a Dict space's entries as datasets of their own, the frames as uint8)."""
    if isinstance(observation, dict):
        for key, value in observation.items():
            record["observations"][key].append(np.asarray(value))
    else:
        record["observations"].append(np.asarray(observation, dtype=obs_dtype))


def _empty_record(first_observation: Any, obs_dtype: Any) -> dict[str, Any]:
    observations: Any = {key: [] for key in first_observation} if isinstance(first_observation, dict) else []
    record = {
        "observations": observations,
        "actions": [],
        "rewards": [],
        "terminations": [],
        "truncations": [],
    }
    _append_observation(record, first_observation, obs_dtype)
    return record


def _write_minari(root: Path, env: gym.Env, episodes: list[Any], metadata: dict[str, Any], steps: int) -> None:
    """Writes a Minari data set into ``root/data`` with Minari's storage API; a pixel task's frames exact and
    compressed (:mod:`dreamgym.data.frames`).

    ``minari.create_dataset_from_buffers`` only writes under the global ``MINARI_DATASETS_PATH`` (and creates
    namespace files there); ``MinariStorage.new`` takes an explicit directory, which the atomic rename needs.
    The id and version fields it would add are set here so ``minari.MinariDataset`` reads the result.
    """
    storage = _new_storage(root, env)
    storage.update_episodes(episodes)
    _finish_metadata(storage, metadata, steps, len(episodes))


def _new_storage(root: Path, env: gym.Env) -> Any:
    """An empty Minari storage in ``root/data`` for ``env``'s spaces; episodes may be added to it one by one."""
    from minari.dataset.minari_storage import MinariStorage

    return MinariStorage.new(
        root / "data",
        observation_space=env.observation_space,
        action_space=env.action_space,
        env_spec=env.spec,
        jpeg_encoding=False,  # frames exact: raw here, then gzip-compressed by _finish_metadata
    )


def _finish_metadata(storage: Any, metadata: dict[str, Any], steps: int, episodes: int) -> None:
    """Completes a storage once every episode is in: its metadata, with the counts of what it holds and the
    dreamgym version that wrote it, and a pixel task's frames compressed."""
    import minari

    from dreamgym.data.frames import compress_frames

    counts = {"steps": steps, "episodes": episodes, "dreamgym_version": _dreamgym_version()}
    metadata = metadata | {METADATA_KEY: metadata[METADATA_KEY] | counts}
    storage.update_metadata({**metadata, "minari_version": minari.__version__})
    space = storage.observation_space
    if isinstance(space, gym.spaces.Dict) and "image" in space.spaces:
        compress_frames(storage.data_path / "main_data.hdf5")
        storage.update_metadata({"dataset_size": storage.get_size()})


def _dreamgym_version() -> str:
    from dreamgym import __version__

    return __version__
