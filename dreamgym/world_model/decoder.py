"""The observation decoder: an MLP whose outputs are read as the kinds of dimension they stand for.

Every dimension is regressed in symlog space as DreamerV3 does, except binary ones (foot contacts), which are
Bernoulli logits trained by log-likelihood: a contact is either made or not, and a regression onto {0, 1}
decodes the 0.5 of a contact "half made". At decoding time angle pairs are projected onto the unit circle,
bounded dimensions into their bounds and, for planar walkers, the torso raised until no part of the robot is
below the floor (:mod:`dreamgym.world_model.kinematics`), and on a tabletop the gripper and block out of the table
(:mod:`dreamgym.world_model.tabletop`), so a dreamed observation is a state the robot can be in. The
projections are the nearest valid point, which is also why the loss stays the plain regression: the projection
can only bring a prediction closer to a valid target.

A robot held in a plane has a roll of 0 or +-pi and nothing else; the decoded roll is snapped to the nearer, the
heading (0 or pi) follows it and the sideways speed is 0, so a dreamed planar walker is never half turned over.
Its roll and pitch are one angle, the rotation about y, and models that record the pitch in their planar layout
decode that angle as a (cos, sin) pair in the roll and pitch outputs: a robot then turns over only by pitching
through the vertical, as the simulator's do. Decoded apart, the roll snapped over at any pitch, and HalfCheetah's
dreams turned the robot onto its back in one step from a pitch of 1.0 rad.

A dream step also knows the observation before it. A position the simulator integrates exactly from its velocity
(the pendulum's cart) is then stepped from the previous one by the decoded velocity instead of being decoded
afresh: decoded independently at every step it jitters with the sampled latent, several times farther than the
cart can move in a step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dreamgym.world_model.config import WorldModelConfig
from dreamgym.world_model.functional import symexp, symlog
from dreamgym.world_model.kinematics import FloorProjection
from dreamgym.world_model.networks import MLP
from dreamgym.world_model.tabletop import TabletopProjection

__all__ = ["ObservationDecoder"]


class ObservationDecoder(MLP):
    """Features -> observation, respecting ``cfg.obs_layout``; without a layout every dimension is a free real.

    Subclasses :class:`MLP` so its parameters keep the names they had when the decoder was a plain MLP, and
    checkpoints written before layouts existed load unchanged.
    """

    def __init__(self, cfg: WorldModelConfig):
        super().__init__(cfg.feature_dim, cfg.hidden, cfg.mlp_layers, out_dim=cfg.obs_dim)
        layout = cfg.obs_layout
        binary = list(layout.binary) if layout is not None else []
        continuous = [d for d in range(cfg.obs_dim) if d not in set(binary)]
        pairs = list(layout.angle_pairs) if layout is not None else []
        self.register_buffer("binary", torch.tensor(binary, dtype=torch.long), persistent=False)
        self.register_buffer("continuous", torch.tensor(continuous, dtype=torch.long), persistent=False)
        self.register_buffer("pairs", torch.tensor(pairs, dtype=torch.long).reshape(-1, 2), persistent=False)
        bounded = layout is not None and layout.low is not None
        low = [-torch.inf if v is None else v for v in layout.low] if bounded else [-torch.inf] * cfg.obs_dim
        high = [torch.inf if v is None else v for v in layout.high] if bounded else [torch.inf] * cfg.obs_dim
        self.register_buffer("low", torch.tensor(low), persistent=False)
        self.register_buffer("high", torch.tensor(high), persistent=False)
        self.bounded = bounded
        integrals = list(layout.integrals) if layout is not None else []
        self.register_buffer(
            "integral_dims",
            torch.tensor([(p, v) for p, v, _ in integrals], dtype=torch.long).reshape(-1, 2),
            persistent=False,
        )
        self.register_buffer("integral_dt", torch.tensor([dt for _, _, dt in integrals]), persistent=False)
        self.planar = layout.planar if layout is not None else None
        self.floor = FloorProjection(layout.floor) if layout is not None and layout.floor is not None else None
        self.table = TabletopProjection(layout.table) if layout is not None and layout.table is not None else None

    def _snap_to_plane(self, obs: torch.Tensor) -> None:
        """Writes the planar robot's facts into ``obs`` in place; the roll's cosine says whether it is on its back,
        as it does for the floor projection. Where the layout names the pitch, the roll and pitch outputs hold the
        cosine and sine of the one angle about y (:meth:`_targets`) and are read back as Euler angles here."""
        roll_dim, (cos_dim, sin_dim), lateral = self.planar["roll"], self.planar["heading"], self.planar["lateral"]
        roll = obs[..., roll_dim]
        if self.planar["pitch"] is None:
            flipped = roll.cos() < 0
            obs[..., roll_dim] = torch.where(flipped, torch.copysign(torch.full_like(roll, math.pi), roll), 0.0)
        else:  # roll holds cos(angle), pitch sin(angle); on its back the pitch is pi - angle, atan2(sin, -cos)
            flipped, sin = roll < 0, obs[..., self.planar["pitch"]]
            obs[..., self.planar["pitch"]] = torch.atan2(sin, roll.abs())
            obs[..., roll_dim] = torch.where(flipped, math.pi, 0.0)  # +pi: how the simulator reads 97 % of them
        obs[..., cos_dim] = torch.where(flipped, -1.0, 1.0)
        obs[..., sin_dim] = 0.0
        obs[..., list(lateral)] = 0.0

    def _targets(self, obs: torch.Tensor) -> torch.Tensor:
        """Real observations as the decoder's outputs stand for them: a planar walker's roll and pitch as the
        cosine and sine of its one angle about y (out of place)."""
        if self.planar is None or self.planar["pitch"] is None:
            return obs
        roll, pitch = obs[..., self.planar["roll"]], obs[..., self.planar["pitch"]]
        targets = obs.clone()
        targets[..., self.planar["roll"]] = torch.where(roll.cos() < 0, -pitch.cos(), pitch.cos())
        targets[..., self.planar["pitch"]] = pitch.sin()
        return targets

    def loss(self, raw: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of real ``obs`` (..., d) under the outputs ``raw``, summed over dimensions."""
        obs = self._targets(obs)
        loss = (raw[..., self.continuous] - symlog(obs[..., self.continuous])).square().sum(-1)
        if len(self.binary):
            loss = loss + nn.functional.binary_cross_entropy_with_logits(
                raw[..., self.binary], obs[..., self.binary], reduction="none"
            ).sum(-1)
        return loss

    def observation(
        self, raw: torch.Tensor, binary_draw: torch.Tensor | None = None, previous: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The decoded observation (..., d), and the probability (..., n_binary) that each binary dimension is 1
        (``None`` where there is none).

        Args:
            raw: decoder outputs.
            binary_draw: uniform numbers (..., n_binary); a binary dimension is 1 where its draw is below its
                probability (a sample). ``None``: 1 where the probability exceeds one half (the mode).
            previous: the observation (..., d) one step before, in a dream; integrated positions are stepped
                from it (module docstring). ``None``: every dimension is decoded from the state alone.
        """
        obs = symexp(raw)  # a fresh tensor: the in-place writes below touch nothing of the caller's
        if len(self.pairs):
            pairs = obs[..., self.pairs]  # (..., P, 2)
            obs[..., self.pairs.flatten()] = (pairs / pairs.norm(dim=-1, keepdim=True).clamp_min(1e-6)).flatten(-2)
        if self.planar is not None:
            self._snap_to_plane(obs)
        if previous is not None and len(self.integral_dims):
            position, velocity = self.integral_dims.unbind(-1)
            obs[..., position] = previous[..., position].to(obs.dtype) + self.integral_dt * obs[..., velocity]
        if self.bounded:
            obs = torch.maximum(torch.minimum(obs, self.high), self.low)
        if self.floor is not None:  # after the joints are bounded: they place the capsules
            obs = torch.minimum(self.floor.project(obs), self.high)
        if self.table is not None:
            obs = self.table.project(obs, previous)
        if not len(self.binary):
            return obs, None
        prob = torch.sigmoid(raw[..., self.binary])
        obs[..., self.binary] = (prob > (0.5 if binary_draw is None else binary_draw)).to(obs.dtype)
        return obs, prob
