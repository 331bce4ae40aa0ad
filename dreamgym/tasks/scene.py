"""Where a tabletop task's gripper, block and table are: what the object-permanence audit needs to know.

panda-gym builds every scene alike (``Task._create_scene``): a table 1.1 m long (x) and 0.7 m wide (y), its top
at z = 0, centred 0.3 m behind the robot's base, and for the block tasks a cube of 4 cm. The dimensions of the
flat observation come from the task's layout, by field name, so the scene cannot drift from the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from dreamgym.tasks.layout import ObsLayout

__all__ = ["TableScene"]


@dataclass(frozen=True)
class TableScene:
    """A tabletop scene in a flat observation.

    Attributes:
        gripper_dims: the end-effector position (x, y, z).
        object_dims: the block's position, or ``None`` where the task has no object.
        object_velocity_dims: the block's linear velocity, or ``None``.
        object_half_size: half the block's edge (m).
        table_x, table_y: the table top's extent (m).
        table_top: the table top's height (m).
    """

    gripper_dims: tuple[int, ...]
    object_dims: tuple[int, ...] | None = None
    object_velocity_dims: tuple[int, ...] | None = None
    object_half_size: float = 0.02
    table_x: tuple[float, float] = (-0.85, 0.25)
    table_y: tuple[float, float] = (-0.35, 0.35)
    table_top: float = 0.0

    @classmethod
    def from_layout(cls, layout: ObsLayout, with_object: bool) -> TableScene:
        def dims(name: str) -> tuple[int, ...]:
            return next(f.dims for f in layout.fields if f.name.startswith(name))

        if not with_object:
            return cls(dims("end-effector position"))
        return cls(dims("end-effector position"), dims("object position"), dims("object velocity"))
