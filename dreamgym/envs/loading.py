"""Finds and loads the world model behind a dream env, falling back to the checkpoint bundled with dreamgym."""

from __future__ import annotations

from pathlib import Path

from dreamgym.errors import CheckpointError, UnknownTaskError
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.world_model.checkpoint import Checkpoint, checkpoint_task, load_checkpoint

__all__ = ["BUNDLED_CHECKPOINTS", "load_task_checkpoint", "resolve_task"]

BUNDLED_CHECKPOINTS = Path(__file__).resolve().parent.parent / "assets" / "checkpoints"


def load_task_checkpoint(task: TaskSpec, checkpoint: str | Path | None) -> Checkpoint:
    """Loads ``checkpoint`` for ``task``, checking task and spaces; ``None`` means the bundled default."""
    if checkpoint is None:
        checkpoint = BUNDLED_CHECKPOINTS / task.name
        if not checkpoint.exists():
            bundled = sorted(p.name for p in BUNDLED_CHECKPOINTS.glob("*") if p.is_dir())
            raise CheckpointError(
                f"No bundled world model for task {task.name!r} (bundled: {bundled}); pass "
                f"checkpoint=PATH from `dreamgym train --task {task.name} ...`."
            )
    return load_checkpoint(checkpoint, spec=task)


def resolve_task(task: str, checkpoint: str | Path | None) -> TaskSpec:
    """The task a dream env was asked for; a user's task not registered in this process is rebuilt from the
    checkpoint that records it (:func:`~dreamgym.world_model.checkpoint.checkpoint_task`)."""
    try:
        return get_task(task)
    except UnknownTaskError:
        if checkpoint is None or checkpoint_task(checkpoint).name != task:
            raise
        return get_task(task)
