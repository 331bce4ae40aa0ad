"""Object permanence and contact on a tabletop: what a dreamed block and gripper may not do.

A block at rest on the table starts to move only when something touches it; it does not sink into the table,
hover beyond its edge, or let the gripper inside it; the gripper does not go through the table top. PyBullet's
own rollouts break none of these (the audit's control shows it), so a dream that does has made the scene up.

The tolerances are stated here once, with what the simulator was seen to do (60 episodes of the noisy
scripted pusher, :mod:`dreamgym.data.scripted`):

- :data:`~dreamgym.tasks.scene.CONTACT_DISTANCE`: a resting block gained horizontal speed only with the end
  effector within 5.6 cm of its centre (half its diagonal is 3.5 cm, plus the finger pads).
- :data:`SPEED_GAIN`: the horizontal speed gain that counts as starting to move.
- :data:`DEPTH`: the deepest a block sank into the table top was 0.07 mm below resting, and the lowest the end
  effector went above the table was 3.9 mm over its top; a centimetre is far beyond either.
- :data:`INSIDE`: the end effector never came closer than 2.4 mm outside the block's faces.
"""

from __future__ import annotations

import numpy as np

from dreamgym.tasks.scene import CONTACT_DISTANCE, TableScene

__all__ = ["CONTACT_DISTANCE", "DEPTH", "INSIDE", "OBJECT_CHECKS", "SPEED_GAIN", "object_violations"]

SPEED_GAIN = 0.1
DEPTH = 0.01
INSIDE = 0.005

OBJECT_CHECKS = ("object_untouched", "object_in_table", "object_floating", "gripper_in_table", "gripper_in_object")
"""The tabletop facts, in report order:

- ``object_untouched``: a block resting on the table gains more than :data:`SPEED_GAIN` of horizontal speed
  while the gripper is farther than :data:`CONTACT_DISTANCE` from it, before and after the step.
- ``object_in_table``: a block over the table is more than :data:`DEPTH` lower than resting on it.
- ``object_floating``: a block's centre is beyond the table's edge by more than its own size, yet it is still
  at the table's height or above (it must be falling).
- ``gripper_in_table``: the end effector, over the table, is more than :data:`DEPTH` below its top.
- ``gripper_in_object``: the end effector lies inside the block, deeper than :data:`INSIDE` from its faces.
"""


def object_violations(scene: TableScene, obs: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray | None]:
    """(N, T) flags of each of :data:`OBJECT_CHECKS` for trajectories ``obs`` (N, T + 1, d) on ``valid`` steps;
    ``None`` for the block checks of a task without a block."""
    obs = obs.astype(np.float64)
    before, after = obs[:, :-1], obs[:, 1:]
    gripper = after[..., list(scene.gripper_dims)]
    checks: dict[str, np.ndarray | None] = {
        "gripper_in_table": scene.over_table(gripper) & (gripper[..., 2] < scene.table_top - DEPTH),
        "object_untouched": None,
        "object_in_table": None,
        "object_floating": None,
        "gripper_in_object": None,
    }
    if scene.object_dims is not None:
        block, block_before = after[..., list(scene.object_dims)], before[..., list(scene.object_dims)]
        gripper_before = before[..., list(scene.gripper_dims)]
        resting = scene.table_top + scene.object_half_size
        speed = np.linalg.norm(obs[..., list(scene.object_velocity_dims)][..., :2], axis=-1)
        at_rest_height = (np.abs(block[..., 2] - resting) < DEPTH) & (np.abs(block_before[..., 2] - resting) < DEPTH)
        far = (np.linalg.norm(gripper - block, axis=-1) > CONTACT_DISTANCE) & (
            np.linalg.norm(gripper_before - block_before, axis=-1) > CONTACT_DISTANCE
        )
        checks["object_untouched"] = at_rest_height & far & (np.diff(speed, axis=1) > SPEED_GAIN)
        checks["object_in_table"] = scene.over_table(block) & (block[..., 2] < resting - DEPTH)
        beyond = ~scene.over_table(block, margin=2 * scene.object_half_size)
        checks["object_floating"] = beyond & (block[..., 2] >= resting - DEPTH)
        checks["gripper_in_object"] = (np.abs(gripper - block) < scene.object_half_size - INSIDE).all(-1)
    return {name: None if mask is None else mask & valid for name, mask in checks.items()}
