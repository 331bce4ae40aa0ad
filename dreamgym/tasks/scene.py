"""Where a tabletop task's gripper, block and table are: what the object-permanence audit and the structured
decoder need to know.

panda-gym builds every scene alike (``Task._create_scene``): a table 1.1 m long (x) and 0.7 m wide (y), its top
at z = 0, centred 0.3 m behind the robot's base, and for the block tasks a cube of 4 cm. The dimensions of the
flat observation come from the task's layout, by field name, so the scene cannot drift from the layout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dreamgym.tasks.layout import ObsLayout

__all__ = ["CONTACT_DISTANCE", "TableScene"]

CONTACT_DISTANCE = 0.07
"""A resting block gained horizontal speed only with the end effector within 5.6 cm of its centre (half its diagonal
is 3.5 cm, plus the finger pads), in 60 episodes of the noisy scripted pusher; 7 cm leaves a margin."""


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
        achieved_dims: the achieved goal, which panda-gym reads off the block's position (or, without a block,
            the end effector's): the same three numbers twice in every observation.
        graspable: whether the task can lift the block. In Reach and Push the fingers are held shut, so the block
            only slides and tips on the table.
        object_rotation_dims, object_spin_dims: the block's Euler angles and angular velocity.
        contact_distance: the end effector can touch the block only within this distance of its centre (see
            :data:`CONTACT_DISTANCE`); a block at rest that it did not come this close to stays where it is.
            ``None``: the rule is not enforced (a decoder's table from before it was).
        rest_speed: a block slower than this (horizontal, m/s) is at rest. In 20k steps of the noisy scripted
            pusher, a block at rest that the end effector stayed out of reach of moved more than 1 mm once in
            6,069 steps (2.2 mm).
    """

    gripper_dims: tuple[int, ...]
    object_dims: tuple[int, ...] | None = None
    object_velocity_dims: tuple[int, ...] | None = None
    object_half_size: float = 0.02
    table_x: tuple[float, float] = (-0.85, 0.25)
    table_y: tuple[float, float] = (-0.35, 0.35)
    table_top: float = 0.0
    achieved_dims: tuple[int, ...] | None = None
    graspable: bool = False
    object_rotation_dims: tuple[int, ...] | None = None
    object_spin_dims: tuple[int, ...] | None = None
    contact_distance: float | None = None
    rest_speed: float = 0.02

    def over_table(self, xy: Any, margin: float = 0.0) -> Any:
        """Whether positions ``xy`` (..., >= 2; numpy or torch) lie over the table top, grown by ``margin``."""
        (x0, x1), (y0, y1) = self.table_x, self.table_y
        x, y = xy[..., 0], xy[..., 1]
        return (x > x0 - margin) & (x < x1 + margin) & (y > y0 - margin) & (y < y1 + margin)

    @classmethod
    def from_decoder_table(cls, table: dict[str, Any]) -> TableScene:
        """The scene :meth:`decoder_table` stored."""
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in table.items()})

    def decoder_table(self) -> dict[str, Any]:
        """The scene as a structured decoder stores it in a checkpoint (:class:`~dreamgym.world_model.config.
        DecoderLayout`'s ``table``): JSON-able, and all it needs to keep dreamed tabletop states possible."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_layout(cls, layout: ObsLayout, with_object: bool) -> TableScene:
        def dims(name: str) -> tuple[int, ...]:
            return next(f.dims for f in layout.fields if f.name.startswith(name))

        achieved = dims("achieved goal")
        if not with_object:
            return cls(dims("end-effector position"), achieved_dims=achieved)
        return cls(
            dims("end-effector position"),
            dims("object position"),
            dims("object velocity"),
            achieved_dims=achieved,
            object_rotation_dims=tuple(sorted(dims("object roll") + dims("object pitch"))),
            object_spin_dims=dims("object angular velocity"),
            contact_distance=CONTACT_DISTANCE,
        )
