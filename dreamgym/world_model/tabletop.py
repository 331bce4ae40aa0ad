"""A dreamed tabletop state moved to the nearest one the scene allows: nothing sinks into the table, a block that
nothing can lift lies on it, and the achieved goal is the position it repeats.

Each fact is exact in the simulator (:mod:`dreamgym.tasks.scene` says where the numbers come from):

- The end effector over the table is not below its top.
- A block over the table that the task cannot grasp rests on it: its centre is at least half its edge above the
  top (lying on a face) and at most half its space diagonal (standing on a corner). In the 8,192 real rows of the
  bundled PandaPush model's start windows the centre over the table lay between 1.89 and 3.60 cm: the cube's
  2.00 and 3.46 cm, give or take the contact solver's millimetre or two. A graspable block only may not sink.
- A block at rest stays where it is unless the end effector comes within reach of it (a dream step knows the
  observation before it, as the decoder's integrated positions do): its pose is kept and its velocities are zero.
  The learned dynamics let a HER agent trained in a PandaPush dream slide the block towards the goal from afar on
  8 % of its dreamed steps.
- panda-gym's achieved goal is the block's (or the end effector's) position, read twice into one observation; a
  decoder that predicts both apart dreamed them 2.6 cm apart on the median step of a PandaPush model, half the
  success distance. The projected position is copied over the achieved goal, so reward and success are judged on
  the state the dream shows.

Past the table's edge nothing is moved: a block pushed off falls, and nothing stops the gripper there.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from dreamgym.tasks.scene import TableScene

__all__ = ["TabletopProjection"]


class TabletopProjection:
    """Tabletop observations projected onto the states the scene allows (module docstring).

    Not an ``nn.Module``, as :class:`~dreamgym.world_model.kinematics.FloorProjection` is not: it has no
    parameters, and the decoder that holds it is an ``nn.Sequential``.

    Args:
        table: the dict :meth:`dreamgym.tasks.scene.TableScene.decoder_table` returns (stored in checkpoints).
    """

    def __init__(self, table: dict[str, Any]):
        self.scene = scene = TableScene.from_decoder_table(table)
        self.gripper = list(scene.gripper_dims)
        self.block = list(scene.object_dims) if scene.object_dims is not None else None
        self.achieved = list(scene.achieved_dims) if scene.achieved_dims is not None else None
        self.top = scene.table_top
        self.block_low = self.top + scene.object_half_size
        self.block_high = self.top + scene.object_half_size * math.sqrt(3.0) if not scene.graspable else math.inf
        self.pose = self.motion = None  # a block that keeps still unless touched
        if self.block is not None and scene.contact_distance is not None:
            self.pose = [*scene.object_dims, *scene.object_rotation_dims]
            self.motion = [*scene.object_velocity_dims, *scene.object_spin_dims]

    def project(self, obs: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        """``obs`` (..., d) with the scene's facts written in (in place; returns it); ``previous`` (..., d), the
        observation a dream step starts from, keeps a block at rest that nothing touched where it was."""
        gripper = obs[..., self.gripper]
        lowest = torch.where(self.scene.over_table(gripper), self.top, -math.inf)
        obs[..., self.gripper[2]] = torch.maximum(gripper[..., 2], lowest)
        source = self.gripper
        if self.block is not None:
            block = obs[..., self.block]
            over = self.scene.over_table(block)
            low = torch.where(over, self.block_low, -math.inf)
            high = torch.where(over, self.block_high, math.inf)
            obs[..., self.block[2]] = torch.minimum(torch.maximum(block[..., 2], low), high)
            if previous is not None and self.pose is not None:
                self._keep_untouched_block(obs, previous.to(obs.dtype))
            source = self.block
        if self.achieved is not None:
            obs[..., self.achieved] = obs[..., source]
        return obs

    def _keep_untouched_block(self, obs: torch.Tensor, previous: torch.Tensor) -> None:
        """A block resting at its previous place, out of the end effector's reach before and after the step,
        keeps its pose and has no velocity (in place)."""
        resting_at = previous[..., self.block]
        reach = self.scene.contact_distance
        out_of_reach = ((previous[..., self.gripper] - resting_at).norm(dim=-1) > reach) & (
            (obs[..., self.gripper] - resting_at).norm(dim=-1) > reach
        )
        at_rest = previous[..., self.motion[:2]].norm(dim=-1) < self.scene.rest_speed  # horizontal speed
        keep = (out_of_reach & at_rest)[..., None]
        obs[..., self.pose] = torch.where(keep, previous[..., self.pose], obs[..., self.pose])
        obs[..., self.motion] = torch.where(keep, 0.0, obs[..., self.motion])
