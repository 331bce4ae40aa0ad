"""Reads a Minari data set, checks it is usable, and flattens it into :class:`SequenceData`.

Example:
    >>> from dreamgym.data import load_episodes
    >>> data = load_episodes("data/hopper-random", task=get_task("Hopper"))  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dreamgym.data.collect import METADATA_KEY
from dreamgym.data.sequence_data import SequenceData
from dreamgym.errors import DatasetError
from dreamgym.tasks.registry import TaskSpec

__all__ = ["dataset_metadata", "load_episodes", "open_dataset", "read_episodes"]

# Only strings of this form are looked up as Minari ids; anything else is a path. Requiring the version keeps
# a mistyped path from being searched for (and Minari's root directory created) under ~/.minari.
_DATASET_ID = re.compile(r"^[-\w]+(/[-\w]+)*-v\d+$")

_CREATE_HINT = "Create one with `dreamgym collect --task <TASK> --steps <N> --out <DIR>`."


def load_episodes(path_or_id: str | Path, task: TaskSpec | None = None) -> SequenceData:
    """Loads every episode of a Minari data set as one flat stream of rows (see :class:`SequenceData`).

    Args:
        path_or_id: the data set directory (the one holding ``data/``, or ``data/`` itself), or a Minari id
            such as ``dreamgym/Hopper/random-v0`` stored under ``$MINARI_DATASETS_PATH``.
        task: when given, the observation and action shapes must match it, so a world model is never
            trained on another robot's data.

    Returns:
        The rows, with the data set's dreamgym metadata (task, policy, seed, ...) plus ``dataset_id`` and
        ``source``.

    Raises:
        DatasetError: the data set is missing, unreadable, empty, of the wrong shapes or holds NaN/inf values.
    """
    dataset = open_dataset(path_or_id)
    if dataset.total_episodes == 0:
        raise DatasetError(f"Data set {str(path_or_id)!r} has no episodes; expected at least 1. {_CREATE_HINT}")
    rescale = _in_env_units(dataset, task, path_or_id)
    parts = [_episode_rows(i, episode, task, rescale) for i, episode in read_episodes(dataset, path_or_id)]
    shapes = {(part.obs_shape, part.action_dim) for part in parts}
    if len(shapes) > 1:
        raise DatasetError(
            f"Data set {str(path_or_id)!r} mixes observation/action shapes {sorted(shapes)}; expected one."
        )
    return SequenceData.concatenate(parts, metadata=_metadata(dataset, path_or_id))


def _in_env_units(dataset: Any, task: TaskSpec | None, path_or_id: str | Path) -> bool:
    """Whether the data set's actions are in the task's own bounds (a robot's log) rather than in [-1, 1] (what
    :func:`~dreamgym.data.collect` records through the rescaled env), so loading maps them onto [-1, 1]."""
    if task is None or not task.rescales_actions:
        return False
    stored = dataset.action_space
    if stored == task.env_action_space:
        return True
    if stored == task.action_space:
        return False
    raise DatasetError(
        f"Data set {str(path_or_id)!r} acts in {stored}; task {task.name!r} acts in {task.env_action_space} (or in "
        f"{task.action_space} as dreamgym records it). Was it recorded on another robot?"
    )


def dataset_metadata(path_or_id: str | Path) -> dict[str, Any]:
    """The data set's dreamgym metadata (task, policy, seed, gap, ...) without reading its episodes.

    Lets a caller learn which task a data set belongs to before loading it against that task's spaces.

    Raises:
        DatasetError: the data set is missing or unreadable.
    """
    return _metadata(open_dataset(path_or_id), path_or_id)


def _metadata(dataset: Any, path_or_id: str | Path) -> dict[str, Any]:
    raw: dict[str, Any] = dataset.storage.metadata
    return {**raw.get(METADATA_KEY, {}), "dataset_id": raw.get("dataset_id"), "source": str(path_or_id)}


def open_dataset(path_or_id: str | Path) -> Any:
    """Opens a Minari data set from a directory or, failing that, a local Minari id."""
    import minari

    path = Path(path_or_id)
    if path.exists():
        data_dir = next((d for d in (path / "data", path) if (d / "metadata.json").is_file()), None)
        if data_dir is None:
            raise DatasetError(
                f"{str(path)!r} is not a Minari data set: expected {str(path / 'data' / 'metadata.json')!r}. "
                f"{_CREATE_HINT}"
            )
        try:
            return minari.MinariDataset(data_dir)
        except (ValueError, KeyError, OSError) as err:
            raise DatasetError(f"Cannot read Minari data set at {str(path)!r}: {err}") from err
    if isinstance(path_or_id, str) and _DATASET_ID.fullmatch(path_or_id):
        try:
            return minari.load_dataset(path_or_id)
        except FileNotFoundError as err:
            raise DatasetError(
                f"No data set at path {path_or_id!r} and no local Minari data set with that id ({err}). {_CREATE_HINT}"
            ) from err
    raise DatasetError(f"No data set at path {str(path_or_id)!r}. {_CREATE_HINT}")


def read_episodes(dataset: Any, path_or_id: str | Path) -> Iterator[tuple[int, Any]]:
    """``(index, episode)`` pairs; a file that breaks while being read (truncated, corrupt) is a DatasetError."""
    episodes = iter(dataset.iterate_episodes())
    for index in itertools.count():
        try:
            episode = next(episodes)
        except StopIteration:
            return
        except (OSError, KeyError, ValueError) as err:  # what h5py raises for damaged files
            raise DatasetError(
                f"Cannot read episode {index} of data set {str(path_or_id)!r}; the file is damaged or truncated "
                f"({type(err).__name__}: {err}). Recollect the data set."
            ) from err
        yield index, episode


def _episode_rows(index: int, episode: Any, task: TaskSpec | None, rescale: bool = False) -> SequenceData:
    """Checks one Minari episode and lays it out as rows (actions mapped onto [-1, 1] where ``rescale``)."""
    image = None
    observations = episode.observations
    codec = task.observation_codec if task is not None and task.image_shape is None else None
    if isinstance(observations, dict) and codec is not None:  # a user's Dict, flat in the task's key order
        try:
            observations = codec.to_flat(observations)
        except ValueError as err:
            raise DatasetError(f"Episode {index} does not observe task {task.name!r}'s Dict: {err}") from err
    elif isinstance(observations, dict) and set(observations) == {"image", "proprio"}:  # a pixel task's
        image, observations = np.asarray(observations["image"]), observations["proprio"]
    fields = {
        "observations": observations,
        "actions": episode.actions,
        "rewards": episode.rewards,
    }
    for name, value in fields.items():
        if not isinstance(value, np.ndarray):
            raise DatasetError(
                f"Episode {index} has `{name}` of type {type(value).__name__}; expected an array "
                "(dreamgym supports Box observation and action spaces, a task's Dict of Box observations, and pixel "
                "tasks' image + proprio Dicts)."
            )
    steps = len(episode.rewards)
    lengths = {"observations": steps + 1, "actions": steps, "terminations": steps}
    counts = {
        "observations": len(observations),
        "actions": len(episode.actions),
        "terminations": len(episode.terminations),
    }
    if image is not None:
        lengths["images"], counts["images"] = steps + 1, len(image)
    for name, expected in lengths.items():
        if counts[name] != expected:
            raise DatasetError(f"Episode {index} has {counts[name]} {name} for {steps} rewards; expected {expected}.")
    observations, actions = fields["observations"], fields["actions"].reshape(steps, -1)
    if rescale:
        actions = task.to_unit_actions(actions)
    if task is not None:
        _check_shape(index, "observation", observations.shape[1:], task.obs_shape, task)
        _check_shape(index, "action", actions.shape[1:], (task.action_dim,), task)
    for name, value in (("observations", observations), ("actions", actions), ("rewards", episode.rewards)):
        finite = np.isfinite(value).reshape(len(value), -1).all(axis=1)
        if not finite.all():
            raise DatasetError(
                f"Episode {index} has non-finite values (NaN or inf) in `{name}`, first at step "
                f"{int(np.argmin(finite))}; expected finite numbers. Recollect the data set."
            )
    if task is not None and (image is None) != (task.image_shape is None):
        has = "has camera images" if image is not None else "has no camera images"
        raise DatasetError(f"Episode {index} {has}, task {task.name!r} {'does not' if image is not None else 'does'}.")
    if task is not None and image is not None:
        _check_shape(index, "image", image.shape[1:], task.image_shape, task)
    return SequenceData.from_episode(observations, actions, episode.rewards, episode.terminations, index, image)


def _check_shape(index: int, what: str, got: tuple[int, ...], expected: tuple[int, ...], task: TaskSpec) -> None:
    if tuple(got) != tuple(expected):
        raise DatasetError(
            f"Data set {what} shape {tuple(got)} (episode {index}) does not match task {task.name!r}: "
            f"expected {what} shape {tuple(expected)}. Was it collected on another task?"
        )
