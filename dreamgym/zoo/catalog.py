"""The bundled models: where they are, their cards, and loading one with every file checked.

A bundle is a task's inference-only world-model checkpoint in ``dreamgym/assets/checkpoints/<Task>/`` with, beside
it, the reference policy trained only in its dreams (``policy.zip``, SB3), the small evaluation set of held-out
PyBullet episodes its card's open-loop errors were measured on (``eval.safetensors``), and the card itself
(``card.json``, rendered as ``CARD.md``). The checkpoint's own files are checked against the sha256 in its
``config.json``; the policy and the evaluation set against the sha256 in ``card.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dreamgym.envs.loading import BUNDLED_CHECKPOINTS
from dreamgym.errors import CheckpointError

__all__ = [
    "CARD_FILE",
    "CARD_FORMAT",
    "CARD_MARKDOWN",
    "EVAL_FILE",
    "POLICY_FILE",
    "Bundle",
    "bundle_dir",
    "bundled_tasks",
    "file_sha256",
    "load_bundle",
    "load_eval_set",
    "policy_path",
    "read_card",
    "save_eval_set",
]

CARD_FILE = "card.json"
CARD_MARKDOWN = "CARD.md"
CARD_FORMAT = "dreamgym-model-card"
POLICY_FILE = "policy.zip"
EVAL_FILE = "eval.safetensors"
_EVAL_FIELDS = ("obs", "prev_action", "action", "reward", "is_first", "is_terminal", "episode_index")


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def bundled_tasks(root: str | Path = BUNDLED_CHECKPOINTS) -> list[str]:
    """Names of the tasks with a bundled world model, sorted."""
    return sorted(p.name for p in Path(root).iterdir() if (p / "config.json").exists())


def bundle_dir(task: str, root: str | Path = BUNDLED_CHECKPOINTS) -> Path:
    """The bundle directory of ``task``; a task without one is refused with the list of those that have one."""
    directory = Path(root) / task
    if not (directory / "config.json").exists():
        raise CheckpointError(
            f"No bundled world model for task {task!r}; bundled: {bundled_tasks(root)}. Train one with "
            f"`dreamgym train --dataset DATA --out ckpt/{task}` and pass checkpoint=PATH."
        )
    return directory


def read_card(directory: str | Path) -> dict[str, Any]:
    """The model card of a bundle directory (``card.json``), checked to be one."""
    path = Path(directory) / CARD_FILE
    try:
        card = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"No readable model card at {str(path)!r}: {err}") from err
    if card.get("format") != CARD_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a dreamgym model card (format {card.get('format')!r}).")
    return card


def _verified(directory: Path, name: str, card: dict[str, Any]) -> Path:
    path = directory / name
    expected = card["files"].get(name)
    if expected is None or not path.exists():
        raise CheckpointError(f"Bundle {str(directory)!r} is missing {name} (its card lists {sorted(card['files'])}).")
    if file_sha256(path) != expected:
        raise CheckpointError(
            f"{str(path)!r} does not match the sha256 recorded in {CARD_FILE}: the file is corrupt or was modified "
            "after its card was written. Restore it, or rebuild the bundle with benchmarks/zoo.py."
        )
    return path


def policy_path(task: str, root: str | Path = BUNDLED_CHECKPOINTS) -> Path:
    """The bundled reference policy of ``task`` (an SB3 zip trained only in its dreams), checked against its card.

    Example:
        >>> from stable_baselines3 import PPO
        >>> agent = PPO.load(policy_path("Hopper"))  # doctest: +SKIP
    """
    directory = bundle_dir(task, root)
    return _verified(directory, POLICY_FILE, read_card(directory))


def save_eval_set(path: str | Path, data: Any) -> Path:
    """Writes an evaluation set (:class:`~dreamgym.data.SequenceData` rows) as safetensors, atomically.

    A pixel task's frames are stored zlib-compressed (``image_zlib``, their shape in the metadata): raw, 900
    frames of 64x64 take 11 MB, more than a whole bundle may; a camera scene of flat colours compresses about 15x
    and reads back bit for bit.
    """
    import zlib

    from safetensors.numpy import save

    from dreamgym.atomic import write_bytes_atomic

    arrays = {name: np.ascontiguousarray(getattr(data, name)) for name in _EVAL_FIELDS}
    metadata = {"metadata": json.dumps(data.metadata)}
    if data.image is not None:
        arrays["image_zlib"] = np.frombuffer(zlib.compress(np.ascontiguousarray(data.image).tobytes(), 6), np.uint8)
        metadata["image_shape"] = json.dumps(list(data.image.shape))
    write_bytes_atomic(path, save(arrays, metadata=metadata))
    return Path(path)


def load_eval_set(path: str | Path) -> Any:
    """Reads an evaluation set written by :func:`save_eval_set` back as :class:`~dreamgym.data.SequenceData`."""
    import zlib

    from safetensors import safe_open

    from dreamgym.data import SequenceData

    with safe_open(str(path), framework="numpy") as f:
        arrays = {name: f.get_tensor(name) for name in _EVAL_FIELDS}
        header = f.metadata() or {}
        image = None
        if "image_shape" in header:
            shape = tuple(json.loads(header["image_shape"]))
            image = np.frombuffer(zlib.decompress(f.get_tensor("image_zlib").tobytes()), np.uint8).reshape(shape)
    return SequenceData(**arrays, image=image, metadata=json.loads(header.get("metadata", "{}")))


@dataclass
class Bundle:
    """A loaded, verified bundle: the world model, its card, the evaluation set and the policy's path."""

    task: str
    directory: Path
    checkpoint: Any
    card: dict[str, Any]
    eval_set: Any
    policy: Path


def load_bundle(task: str, root: str | Path = BUNDLED_CHECKPOINTS) -> Bundle:
    """Loads ``task``'s bundle and checks every file and space.

    The world model is loaded for the task (its files checked against ``config.json``, its spaces against the
    task's); the policy and the evaluation set are checked against ``card.json``; the policy is loaded and its
    spaces must be those a dream env of the task shows an agent that acts on proprioception (a goal task's ``Dict``
    without a pixel task's frame, else the flat vector).

    Raises:
        CheckpointError: a missing or modified file, or a model or policy whose spaces are not the task's.
    """
    from dreamgym.envs.loading import load_task_checkpoint
    from dreamgym.tasks import get_task

    spec = get_task(task)
    directory = bundle_dir(spec.name, root)
    card = read_card(directory)
    checkpoint = load_task_checkpoint(spec, directory)
    model_sha256 = checkpoint.config["files"]["model.safetensors"]
    if card["task"] != spec.name or card["files"]["model.safetensors"] != model_sha256:
        raise CheckpointError(f"The card in {str(directory)!r} describes another model than the one beside it.")
    eval_set = load_eval_set(_verified(directory, EVAL_FILE, card))
    policy = _verified(directory, POLICY_FILE, card)
    _check_policy_spaces(policy, spec)
    return Bundle(spec.name, directory, checkpoint, card, eval_set, policy)


def _check_policy_spaces(path: Path, spec: Any) -> None:
    from dreamgym.data.policies import load_sb3_model

    model = load_sb3_model(path)
    twin = spec.vector_task  # a pixel task's reference policy acts on the proprioception beside the frame
    observation_space = twin.env_observation_space if twin.goal is not None else twin.observation_space
    for label, expected, got in (
        ("observation", observation_space, model.observation_space),
        ("action", spec.action_space, model.action_space),
    ):
        if expected != got:
            raise CheckpointError(
                f"Policy {str(path)!r} acts on the {label} space {got}, but task {spec.name!r} has {expected}."
            )
