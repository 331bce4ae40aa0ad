"""Tasks defined by a recorded log alone: a real robot's Minari data set, with no simulator behind it.

A Minari data set records its observation and action spaces; one written from a robot's arrays (no ``env_spec``,
no dreamgym task in its metadata) therefore defines a task by itself: its spaces are the data set's, its episode
limit the longest recorded episode, its rewards and terminations the recorded ones. The task has no simulator
(``env_id`` is ``None``): its world model trains on the log and dreams from the log's start windows, which the
checkpoint carries together with the task's description, so dreams run with neither the data set nor a simulator.

Example:
    >>> import dreamgym
    >>> spec = dreamgym.register_task(dreamgym.task_from_dataset("logs/my-robot-log"))  # doctest: +SKIP
    >>> spec.name  # doctest: +SKIP
    'MyRobotLog'
"""

from __future__ import annotations

import re
from pathlib import Path

from dreamgym.data.minari_io import dataset_metadata, open_dataset, read_episodes
from dreamgym.errors import DatasetError
from dreamgym.tasks.registry import TaskSpec, recorded_task

__all__ = ["log_task_name", "task_from_dataset"]


def log_task_name(dataset_id: str | None, path_or_id: str | Path) -> str:
    """The task name of a log: its Minari id without the version, in CamelCase (``acme/arm-pick-v0`` ->
    ``AcmeArmPick``), or the data set directory's name where the data set has no id.

    CamelCase matches dreamgym's own task names and keeps ``/`` (a Gymnasium namespace) out of the dream id.
    """
    stem = dataset_id or Path(path_or_id).name
    stem = re.sub(r"-v\d+$", "", stem)
    words = [w for w in re.split(r"[^0-9A-Za-z]+", stem) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name:
        raise DatasetError(f"Cannot name a task after data set {str(path_or_id)!r}; pass name=.")
    return name if name[0].isalpha() else f"Log{name}"


def task_from_dataset(path_or_id: str | Path, name: str | None = None, dream_horizon: int | None = None) -> TaskSpec:
    """The task a data set belongs to: the dreamgym task its metadata names (a user's task rebuilt from the
    description dreamgym's collection stores beside its name, and registered), or, for a log that names no task
    and no simulator, a new task read off the log's spaces (not registered yet: pass it to
    :func:`dreamgym.register_task`).

    Args:
        path_or_id: the data set directory or a local Minari id.
        name: the new task's name (``dreamgym/<name>-dream-v0``); :func:`log_task_name` by default.
        dream_horizon: steps of a dream before truncation; the longest recorded episode by default.

    Raises:
        DatasetError: the data set is missing, unreadable or empty.
        ValueError: the data set was recorded in a simulator dreamgym has no task for (use
            :meth:`TaskSpec.from_env` on it), or its spaces are not supported (named, with the reason).
    """
    dataset = open_dataset(path_or_id)
    metadata = dataset_metadata(path_or_id)
    if metadata.get("task") is not None:  # collected by dreamgym: the task it names (and, for a user's, describes)
        return recorded_task(metadata["task"], metadata.get("task_spec"), f"Data set {str(path_or_id)!r}")
    env_spec = dataset.spec.env_spec
    if env_spec is not None:
        raise ValueError(
            f"Data set {str(path_or_id)!r} was recorded in the simulator {env_spec.id!r}; define its task from that "
            f"env, dreamgym.register_task(TaskSpec.from_env({env_spec.id!r})), or --task module:ATTRIBUTE."
        )
    lengths = [len(episode.rewards) for _, episode in read_episodes(dataset, path_or_id)]
    if not lengths or max(lengths) == 0:
        raise DatasetError(f"Data set {str(path_or_id)!r} has no steps; a task needs at least one recorded episode.")
    name = name or log_task_name(metadata.get("dataset_id"), path_or_id)
    return TaskSpec.from_spaces(
        name,
        dataset.observation_space,
        dataset.action_space,
        max(lengths),
        source=f"Data set {str(path_or_id)!r}",
        dream_horizon=dream_horizon,
        dataset=str(metadata.get("dataset_id") or path_or_id),
    )
