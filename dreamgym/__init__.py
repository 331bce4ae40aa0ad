"""dreamgym: Gymnasium environments dreamed by learned world models.

Importing the package only registers environment ids (``dreamgym/<Task>-dream-v0``, ``dreamgym/<Task>-robot-v0``);
torch and PyBullet load when an env is made.
"""

from typing import Any

from dreamgym.envs.registration import register_dream_envs
from dreamgym.robots.registration import register_robot_envs
from dreamgym.tasks import TaskSpec, register_task
from dreamgym.tasks.pixels import register_pixel_envs

__version__ = "0.1.0"
__all__ = ["TaskSpec", "__version__", "register_task", "task_from_checkpoint", "task_from_dataset"]

register_dream_envs()
register_pixel_envs()
register_robot_envs()

# A user's task from a log or a checkpoint, loaded on first use: they pull in Minari and torch, which a plain
# `import dreamgym` must not.
_LAZY = {
    "task_from_dataset": ("dreamgym.data.log_task", "task_from_dataset"),
    "task_from_checkpoint": ("dreamgym.world_model.checkpoint", "checkpoint_task"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'dreamgym' has no attribute {name!r}")
