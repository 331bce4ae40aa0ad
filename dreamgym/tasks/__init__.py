"""Task registry: which real robot environment each dreamgym task stands for, and what its observations are."""

from dreamgym.tasks.layout import Integral, ObsField, ObsLayout, Planar, TerminationRule
from dreamgym.tasks.registry import TASKS, TaskSpec, ensure_registered, get_task, register_task

__all__ = [
    "TASKS",
    "Integral",
    "ObsField",
    "ObsLayout",
    "Planar",
    "TaskSpec",
    "TerminationRule",
    "ensure_registered",
    "get_task",
    "register_task",
]
