"""World-model checkpoints: a directory of safetensors weights and a JSON config, written atomically.

Layout::

    ckpt/
      config.json            sizes, task (and a user task's description), spaces, data-set fingerprint, sha256 of
                             every file below
      model.safetensors      world-model weights
      starts.safetensors     real context windows that dreams start from (so a checkpoint is self-contained)
      trainer.safetensors    optimiser moments and RNG state, only while training may resume
      trainer.json           step counter and sampler state, likewise

Every file is first written under a ``.tmp`` name and fsynced; ``config.json.tmp`` is written last, so
its presence means the whole set is complete. Renames then commit the set. A loader that finds leftovers
of a killed write finishes the commit (roll forward) or discards them (roll back), so a kill at any
point leaves either the old or the new checkpoint, never a mix.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from dreamgym.errors import CheckpointError
from dreamgym.tasks import TaskSpec
from dreamgym.tasks.registry import recorded_task
from dreamgym.world_model.config import WorldModelConfig
from dreamgym.world_model.model import WorldModel

__all__ = [
    "FORMAT_VERSION",
    "Checkpoint",
    "checkpoint_task",
    "decoded_difference",
    "export_checkpoint",
    "load_checkpoint",
    "read_config",
    "save_checkpoint",
    "stored_model_config",
    "update_config",
]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
STARTS_FILE = "starts.safetensors"


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint: the model (in eval mode), its config.json and the dream start windows."""

    model: WorldModel
    config: dict[str, Any]
    starts: dict[str, torch.Tensor]
    path: Path

    @property
    def task(self) -> str:
        return self.config["task"]


WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}
"""How a checkpoint's floating-point weights may be stored; they always load into a float32 model."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_directory(directory: Path) -> None:
    """Makes the renames done in ``directory`` durable: a rename is a change of the directory, not of the file."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _recover_interrupted_write(directory: Path) -> None:
    """Finishes or discards a write that was killed half-way (see the module docstring)."""
    pending = directory / (CONFIG_FILE + ".tmp")
    leftovers = list(directory.glob("*.tmp"))
    if not leftovers:
        return
    try:
        manifest = json.loads(pending.read_text())["files"]
        for name, digest in manifest.items():
            tmp, final = directory / (name + ".tmp"), directory / name
            source = tmp if tmp.exists() else final
            if _sha256(source.read_bytes()) != digest:
                raise ValueError(name)
    except (OSError, ValueError, KeyError, TypeError):
        for tmp in leftovers:  # incomplete set: the old checkpoint is untouched, drop the new one
            tmp.unlink(missing_ok=True)
        return
    for name in [*manifest, CONFIG_FILE]:
        tmp = directory / (name + ".tmp")
        if tmp.exists():
            os.replace(tmp, directory / name)


def save_checkpoint(
    directory: str | Path,
    model: WorldModel,
    *,
    task: str,
    observation_shape: tuple[int, ...],
    action_shape: tuple[int, ...],
    starts: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
    trainer_tensors: dict[str, torch.Tensor] | None = None,
    trainer_state: dict[str, Any] | None = None,
    spec: TaskSpec | None = None,
    weights_dtype: str = "float32",
) -> Path:
    """Writes a checkpoint directory atomically and returns its path.

    Args:
        directory: target directory, created if needed.
        model: the world model; its config is stored in config.json.
        task: dreamgym task name the model was trained for.
        observation_shape: shape of one observation, checked when the checkpoint is loaded for an env.
        action_shape: shape of one action, likewise.
        starts: real context windows (``obs``, ``prev_action``, ``is_first``) dreams start from.
        extra: further JSON-serialisable fields for config.json (training settings, data set, step).
        trainer_tensors: optimiser and RNG tensors needed to resume training.
        trainer_state: JSON-serialisable trainer state needed to resume training.
        spec: the task, recorded as ``task_spec`` (:meth:`TaskSpec.to_dict`): the real env's own action bounds and
            observation space, checked on load, and what rebuilds a user's task where it is not registered.
        weights_dtype: ``"float32"``, or ``"float16"`` to store the floating-point weights in half the space; they
            load back into the float32 model (``load_state_dict`` casts), rounded to float16's precision.
    """
    from dreamgym import __version__

    _check_weights_dtype(weights_dtype)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _recover_interrupted_write(directory)
    state = _stored_state(model, weights_dtype)
    blobs = {
        MODEL_FILE: save_tensors(state),
        STARTS_FILE: save_tensors({k: v.contiguous() for k, v in starts.items()}),
    }
    if trainer_tensors is not None:
        blobs["trainer.safetensors"] = save_tensors({k: v.contiguous() for k, v in trainer_tensors.items()})
    if trainer_state is not None:
        blobs["trainer.json"] = json.dumps(trainer_state).encode()
    config = {
        "format": "dreamgym-world-model",
        "format_version": FORMAT_VERSION,
        "dreamgym_version": __version__,
        "task": task,
        "observation_space": {"shape": list(observation_shape), "dtype": "float32"},
        "action_space": {"shape": list(action_shape), "dtype": "float32", "low": -1.0, "high": 1.0},
        "model": model.cfg.to_dict(),
        "weights_dtype": weights_dtype,
        **({"task_spec": spec.to_dict()} if spec is not None else {}),
        **(extra or {}),
        "files": {name: _sha256(data) for name, data in blobs.items()},
    }
    for name, data in blobs.items():
        _write_synced(directory / (name + ".tmp"), data)
    _write_synced(directory / (CONFIG_FILE + ".tmp"), json.dumps(config, indent=2).encode())
    for name in blobs:
        os.replace(directory / (name + ".tmp"), directory / name)
    _sync_directory(directory)  # the weights' renames reach the disk before the config that names them
    os.replace(directory / (CONFIG_FILE + ".tmp"), directory / CONFIG_FILE)
    _sync_directory(directory)
    for stale in {"trainer.safetensors", "trainer.json"} - set(blobs):
        (directory / stale).unlink(missing_ok=True)
    return directory


def _check_weights_dtype(weights_dtype: str) -> None:
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"Unknown weights_dtype {weights_dtype!r}; expected one of {sorted(WEIGHT_DTYPES)}.")


def _stored_state(model: WorldModel, weights_dtype: str) -> dict[str, torch.Tensor]:
    """The model's state as a checkpoint stores it: floating-point tensors in ``weights_dtype``, the rest as is."""
    stored = WEIGHT_DTYPES[weights_dtype]
    return {
        k: (v.to(stored) if v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }


def export_checkpoint(
    source: str | Path,
    target: str | Path,
    start_windows: int | None = None,
    weights_dtype: str = "float32",
    inference_unimix: bool | None = None,
) -> Path:
    """Writes an inference-only copy of a checkpoint: weights, start windows and config, no trainer state.

    What a dream env needs is a fraction of what resuming training needs (the optimiser moments double the
    size), so shipped and bundled models are exports. The copy is verified on the way and written atomically
    with its own manifest; every recorded fact (data set, calibration, training settings) is kept.

    Args:
        source: checkpoint directory to copy.
        target: directory of the export.
        start_windows: keep only the first this many of the stored start windows (all if ``None``). Training
            stores 2048 windows sampled at random, so the first N are a random subset of the data too; on a
            28-dimensional task all of them take 4.7 MB, and a bundled model has to stay small.
        weights_dtype: ``"float16"`` halves the weights on disk (a camera model's decoder is most of a bundle).
            The export is then checked against the float32 model it came from: both filter the kept start
            windows and decode them with the same latent samples' seed, and ``config.json`` records, as
            ``float16_check``, how far the decoded observations moved, beside how far the float32 model's own
            move under another seed (:func:`decoded_difference`).
        inference_unimix: how the export draws its inference latents (``WorldModelConfig.inference_unimix``);
            ``None`` keeps the source's. Only sampling changes, not a weight: an older model exported with
            ``False`` dreams from its network's own categoricals, as models trained today do.
    """
    _check_weights_dtype(weights_dtype)  # before the source is read: a wrong name costs nothing
    checkpoint = load_checkpoint(source)
    if inference_unimix is not None and inference_unimix != checkpoint.model.cfg.inference_unimix:
        model = WorldModel(dataclasses.replace(checkpoint.model.cfg, inference_unimix=inference_unimix))
        model.load_state_dict(checkpoint.model.state_dict())
        checkpoint = dataclasses.replace(checkpoint, model=model.eval())
    starts = checkpoint.starts
    if start_windows is not None:
        if not isinstance(start_windows, int) or start_windows < 1:
            raise ValueError(f"Expected a positive integer `start_windows`, got {start_windows!r}.")
        starts = {name: tensor[:start_windows] for name, tensor in starts.items()}
    # An export of an export names the checkpoint the weights were trained in: the weights are the same.
    origin = checkpoint.config.get("exported_from") or {
        "path": str(source),
        "model_sha256": checkpoint.config["files"][MODEL_FILE],
    }
    defining = {"format", "format_version", "dreamgym_version", "task", "observation_space", "action_space"}
    defining |= {"task_spec", "weights_dtype", "float16_check"}
    extra = {k: v for k, v in checkpoint.config.items() if k not in defining | {"model", "files"}}

    extra["exported_from"] = origin
    if weights_dtype != "float32" and checkpoint.config.get("weights_dtype") == weights_dtype:
        # Stored so already: the check made when its float32 weights were rounded still holds (no float32 is left).
        extra["float16_check"] = checkpoint.config.get("float16_check")
    elif weights_dtype != "float32":
        # The model as it will load from the export: its weights rounded to the stored dtype, back in float32.
        rounded = copy.deepcopy(checkpoint.model)
        rounded.load_state_dict(_stored_state(checkpoint.model, weights_dtype))
        extra["float16_check"] = {
            "windows": int(starts["obs"].shape[0]),
            "float16_vs_float32": decoded_difference(checkpoint.model, rounded, starts),
            "float32_sampling_noise": decoded_difference(checkpoint.model, checkpoint.model, starts, seeds=(0, 1)),
        }
    return save_checkpoint(
        target,
        checkpoint.model,
        task=checkpoint.task,
        observation_shape=tuple(checkpoint.config["observation_space"]["shape"]),
        action_shape=tuple(checkpoint.config["action_space"]["shape"]),
        starts=starts,
        spec=checkpoint_task(checkpoint.config) if "task_spec" in checkpoint.config else None,
        extra=extra,
        weights_dtype=weights_dtype,
    )


def decoded_difference(
    model: WorldModel, other: WorldModel, starts: dict[str, torch.Tensor], seeds: tuple[int, int] = (0, 0)
) -> dict[str, float]:
    """Mean and largest absolute difference between the observations two models decode from the posteriors of the
    same windows, each model's latent samples drawn with its seed of ``seeds``.

    The same model under two seeds measures the model's own sampling noise, the yardstick for a copy of its weights
    (the same seeds): a float16 copy that moves the decoded observations far less than resampling does is as good.
    """
    from dreamgym.seeding import seeded_torch

    decoded = []
    with torch.inference_mode():
        for each, seed in zip((model, other), seeds, strict=True):
            with seeded_torch(seed):
                image = starts.get("image")
                posts = each.observe(starts["obs"], starts["prev_action"], starts["is_first"], image=image)
                decoded.append(each.decode(posts).obs)
    difference = (decoded[0] - decoded[1]).abs()
    return {"mean": float(difference.mean()), "max": float(difference.max())}


def update_config(directory: str | Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Adds or replaces JSON fields of an existing checkpoint's config.json, atomically; returns the new config.

    Used to attach facts computed after training (the disagreement calibration of an older checkpoint) without
    rewriting the weights. The file manifest is kept and checked first, so only a complete checkpoint is
    updated, and the write goes through ``config.json.tmp`` like :func:`save_checkpoint`'s, so a kill leaves
    the old or the new config.
    """
    directory = Path(directory)
    config = read_config(directory)
    protected = {"format", "format_version", "files", "task", "observation_space", "action_space", "model", "task_spec"}
    if protected & set(fields):
        raise ValueError(f"Expected fields other than {sorted(protected & set(fields))}; those define the checkpoint.")
    for name in config["files"]:
        read_verified(directory, name, config)
    config = {**config, **fields}
    _write_synced(directory / (CONFIG_FILE + ".tmp"), json.dumps(config, indent=2).encode())
    os.replace(directory / (CONFIG_FILE + ".tmp"), directory / CONFIG_FILE)
    _sync_directory(directory)
    return config


def read_config(directory: str | Path) -> dict[str, Any]:
    """Reads and validates config.json without loading weights."""
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not directory.is_dir() or not (config_path.exists() or (directory / (CONFIG_FILE + ".tmp")).exists()):
        raise CheckpointError(
            f"No world-model checkpoint at {str(directory)!r}: expected a directory with {CONFIG_FILE} and "
            f"{MODEL_FILE}. Train one with `dreamgym train --dataset DATA --out {directory}`."
        )
    _recover_interrupted_write(directory)
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"Checkpoint config {str(config_path)!r} is corrupt or unreadable: {err}") from err
    if config.get("format") != "dreamgym-world-model" or "files" not in config:
        raise CheckpointError(f"{str(config_path)!r} is not a dreamgym world-model config.")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint {str(directory)!r} has format version {config.get('format_version')}, "
            f"this dreamgym reads version {FORMAT_VERSION}; retrain or convert it."
        )
    return config


def read_verified(directory: Path, name: str, config: dict[str, Any]) -> bytes:
    """Reads one file of the checkpoint and checks it against the sha256 recorded in config.json."""
    path = directory / name
    if name not in config["files"]:
        raise CheckpointError(f"Checkpoint {str(directory)!r} does not list {name} in {CONFIG_FILE}.")
    if not path.exists():
        raise CheckpointError(f"Checkpoint {str(directory)!r} is missing {name}.")
    data = path.read_bytes()
    if _sha256(data) != config["files"][name]:
        raise CheckpointError(
            f"{str(path)!r} does not match the sha256 recorded in {CONFIG_FILE}: the file is truncated, "
            "corrupt or was modified after it was written. Re-train or restore the checkpoint."
        )
    return data


def load_tensor_file(directory: Path, name: str, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    try:
        return load_tensors(read_verified(directory, name, config))
    except SafetensorError as err:
        raise CheckpointError(f"{str(directory / name)!r} is not a valid safetensors file: {err}") from err


def stored_model_config(config: dict[str, Any], directory: str | Path) -> WorldModelConfig:
    """The architecture a checkpoint's ``config`` (from :func:`read_config`) describes.

    A config written before ``ensemble_heads`` existed holds linear heads, one written before ``decoder``
    existed a plain decoder, and one written before ``inference_unimix`` existed draws its inference latents from
    the mixed categoricals, whatever today's defaults are.
    """
    before = {"ensemble_heads": "linear", "decoder": "plain", "inference_unimix": True}
    try:
        return WorldModelConfig(**before | config["model"])
    except (TypeError, ValueError) as err:  # unknown fields, or a field with a value no model has
        raise CheckpointError(f"Checkpoint {str(directory)!r} has an invalid model config: {err}") from err


def checkpoint_task(checkpoint: str | Path | dict[str, Any]) -> TaskSpec:
    """The task a checkpoint models (a directory, or its config from :func:`read_config`), registered on the way.

    A task dreamgym knows by name is that task. A user's task that is not registered in this process (a task read
    off an env, or defined by a robot's log whose data set is gone) is rebuilt from the checkpoint's ``task_spec``
    and registered, so ``dreamgym/<name>-dream-v0`` and every command take it. Exposed as
    ``dreamgym.task_from_checkpoint``.

    Example:
        >>> spec = dreamgym.task_from_checkpoint("ckpt/arm")  # doctest: +SKIP
        >>> env = gymnasium.make(f"dreamgym/{spec.name}-dream-v0", checkpoint="ckpt/arm")  # doctest: +SKIP

    Raises:
        UnknownTaskError: the task is not registered and the checkpoint, written before tasks were recorded in it,
            does not describe it.
    """
    config = checkpoint if isinstance(checkpoint, dict) else read_config(checkpoint)
    source = "The checkpoint" if isinstance(checkpoint, dict) else f"Checkpoint {str(checkpoint)!r}"
    return recorded_task(config["task"], config.get("task_spec"), source)


def _check_task(directory: Path, config: dict[str, Any], spec: TaskSpec) -> None:
    """Refuses a checkpoint whose recorded env spaces (action bounds, observation space) are not ``spec``'s; one
    written before they were recorded is only checked by shape."""
    stored = config.get("task_spec")
    if stored is None:
        return
    current = spec.to_dict()
    for key, label in (("action_space", "action space"), ("observation_space", "observation space")):
        if stored[key] != current[key]:
            raise CheckpointError(
                f"Checkpoint {str(directory)!r} was trained for task {spec.name!r} with the {label} "
                f"{stored[key]}, but the task now has {current[key]}. A model conditioned on other action bounds or "
                "observation entries would dream the wrong thing; retrain on data of this task, or register the "
                "task as it was."
            )


def load_checkpoint(
    directory: str | Path,
    *,
    task: str | None = None,
    observation_shape: tuple[int, ...] | None = None,
    action_shape: tuple[int, ...] | None = None,
    spec: TaskSpec | None = None,
) -> Checkpoint:
    """Loads a checkpoint, refusing one that is corrupt or was trained for another task or other spaces.

    ``spec`` checks all of ``task``, ``observation_shape`` and ``action_shape`` and, where the checkpoint records
    them, the real env's action bounds and observation space (a ``Dict``'s keys, shapes and order).

    Raises:
        CheckpointError: with a message naming what did not match and what was expected.
    """
    directory = Path(directory)
    config = read_config(directory)
    if spec is not None:
        task, observation_shape, action_shape = spec.name, spec.obs_shape, (spec.action_dim,)
    if task is not None and config["task"] != task:
        raise CheckpointError(
            f"Checkpoint {str(directory)!r} was trained on task {config['task']!r}, "
            f"but it is being loaded for task {task!r}."
        )
    for label, expected, stored in (
        ("observation", observation_shape, config["observation_space"]["shape"]),
        ("action", action_shape, config["action_space"]["shape"]),
    ):
        if expected is not None and tuple(stored) != tuple(expected):
            raise CheckpointError(
                f"Checkpoint {str(directory)!r} was trained with {label} shape {tuple(stored)}, "
                f"but the env expects {label} shape {tuple(expected)}."
            )
    if spec is not None:
        _check_task(directory, config, spec)
    model = WorldModel(stored_model_config(config, directory))
    try:
        model.load_state_dict(load_tensor_file(directory, MODEL_FILE, config))
    except RuntimeError as err:
        raise CheckpointError(f"Weights in {str(directory)!r} do not fit the model config: {err}") from err
    model.eval()
    starts = load_tensor_file(directory, STARTS_FILE, config)
    return Checkpoint(model=model, config=config, starts=starts, path=directory)


def numpy_rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """JSON-serialisable state of a numpy Generator (PCG64 integers are exact in JSON)."""
    return rng.bit_generator.state


def restore_numpy_rng(state: dict[str, Any]) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng
