"""Task registry: which real robot environment each dreamgym task stands for."""

from dreamgym.tasks.registry import TASKS, TaskSpec, get_task

__all__ = ["TASKS", "TaskSpec", "get_task"]
