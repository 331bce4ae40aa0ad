"""What each dimension of a task's observation is, and the task's own termination rule on observations.

A world model that knows an observation holds a (cos, sin) pair, a joint position between limits or a binary
foot contact can decode states a robot can be in; one that sees 15 anonymous floats cannot. The layouts here
are read off the PyBullet envs' ``calc_state`` code and checked against the simulator in
``tests/tasks/test_layout.py``; nothing in them is fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["FIELD_KINDS", "Integral", "ObsField", "ObsLayout", "Planar", "TerminationRule"]

FieldKind = Literal["angle_pair", "joint_position", "velocity", "height", "orientation", "contact", "other"]
FIELD_KINDS: tuple[str, ...] = FieldKind.__args__

# A (cos, sin) pair holds one angle: a point on the unit circle.
# A joint position lies between the joint's limits; PyBullet's limits are soft, so the simulator itself
# reaches slightly past them (how far is a property of the data, see ObsLayout.bounds).
# An orientation angle (roll, pitch of an Euler triple) lies in its Euler range.
# A contact flag is 0 or 1.


@dataclass(frozen=True)
class ObsField:
    """One named group of observation dimensions.

    Attributes:
        name: what the dimensions are, as the simulator's code names them.
        kind: one of :data:`FIELD_KINDS`.
        dims: the dimensions; an ``angle_pair`` holds two, ``(cos_dim, sin_dim)``.
        low, high: hard bounds of every dimension of the field (``-inf``/``inf`` where there is none); for a
            ``joint_position`` the joint's nominal limits in observation units.
    """

    name: str
    kind: FieldKind
    dims: tuple[int, ...]
    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"Unknown observation field kind {self.kind!r}; expected one of {list(FIELD_KINDS)}.")
        if self.kind == "angle_pair" and len(self.dims) != 2:
            raise ValueError(f"An angle pair holds two dimensions (cos, sin); {self.name!r} has {self.dims}.")
        if not self.low <= self.high:
            raise ValueError(f"Field {self.name!r} has low {self.low} above high {self.high}.")


@dataclass(frozen=True)
class Integral:
    """A position the simulator advances by exactly ``dt`` times the velocity it reports after the step.

    Bullet integrates semi-implicitly (velocity first, then position with the new velocity), so with one physics
    step per env step ``x' = x + dt * v'`` holds to float32 rounding. With several substeps per env step (the
    locomotors' four) it does not, and no such relation is declared.

    Attributes:
        position: the position dimension.
        velocity: the velocity dimension, in units per second of the position's unit.
        dt: the env step in seconds.
    """

    position: int
    velocity: int
    dt: float

    def __post_init__(self) -> None:
        if self.position == self.velocity or not self.dt > 0:
            raise ValueError(f"Expected distinct position and velocity dimensions and dt > 0, got {self}.")


@dataclass(frozen=True)
class Planar:
    """The facts of a robot held in the x-z plane (the planar walkers hang their torso on slide x, slide z and
    hinge y joints), exact in the simulator's observations.

    Its orientation is a rotation about y alone, which Euler angles read as roll 0 (upright) or +-pi (on its back,
    the pitch reflected); the yaw flips with the roll, so the angle to the walk target, far ahead on the x axis,
    is 0 or pi; and it never moves sideways.

    The roll and the pitch are then one angle, the rotation about y: the pitch upright, pi minus the pitch on its
    back. The roll flips only where that angle passes the vertical (the pitch at +-pi/2): in the 75k-step
    HalfCheetah data every turn-over happens at a pitch of 1.53-1.57 rad, and the angle moves at most 0.04 rad in
    that step.

    Attributes:
        roll: the torso roll dimension.
        heading: (cos_dim, sin_dim) of the angle to the walk target.
        lateral: the sideways velocity dimensions.
        pitch: the torso pitch dimension (``None``: a layout from before the angle was one).
    """

    roll: int
    heading: tuple[int, int]
    lateral: tuple[int, ...]
    pitch: int | None = None

    def angle(self, obs: np.ndarray) -> np.ndarray:
        """(...,) the rotation about y of observations (..., d), in [-pi, pi): the pitch upright, pi minus the
        pitch on its back.

        Raises:
            ValueError: the layout names no pitch.
        """
        if self.pitch is None:
            raise ValueError("Expected a planar layout that names its pitch dimension, got `pitch=None`.")
        pitch = obs[..., self.pitch]
        angle = np.where(np.cos(obs[..., self.roll]) < 0, np.pi - pitch, pitch)
        return np.mod(angle + np.pi, 2 * np.pi) - np.pi


@dataclass(frozen=True)
class ObsLayout:
    """The fields of a flat observation vector, every dimension in exactly one field.

    Attributes:
        fields: the fields, in any order.
        clip: every dimension is clipped to ``[-clip, clip]`` by the env itself (the PyBullet locomotors clip
            their state to [-5, 5]); ``None`` where the env does not clip.
        integrals: positions that are exact integrals of a velocity of the same observation (:class:`Integral`).
        planar: the facts of a planar robot (:class:`Planar`); ``None`` for a robot free in three dimensions.
    """

    fields: tuple[ObsField, ...]
    clip: float | None = None
    integrals: tuple[Integral, ...] = ()
    planar: Planar | None = None

    def __post_init__(self) -> None:
        dims = sorted(d for f in self.fields for d in f.dims)
        if dims != list(range(len(dims))):
            raise ValueError(f"Expected the fields to cover dimensions 0..{len(dims) - 1} once each; got {dims}.")
        kinds = self.kinds()
        for integral in self.integrals:
            if kinds[integral.position] not in ("joint_position", "other") or kinds[integral.velocity] != "velocity":
                raise ValueError(f"{integral} must pair a position dimension with a velocity dimension.")
        if self.planar is not None:
            planar = self.planar
            if (
                kinds[planar.roll] != "orientation"
                or planar.heading not in self.angle_pairs
                or any(kinds[d] != "velocity" for d in planar.lateral)
            ):
                raise ValueError(f"{planar} must name an orientation, an angle pair and velocity dimensions.")

    @property
    def size(self) -> int:
        return sum(len(f.dims) for f in self.fields)

    def dims_of(self, kind: FieldKind) -> tuple[int, ...]:
        """All dimensions of fields of one kind, in field order."""
        return tuple(d for f in self.fields if f.kind == kind for d in f.dims)

    @property
    def angle_pairs(self) -> tuple[tuple[int, int], ...]:
        """(cos_dim, sin_dim) of every angle pair."""
        return tuple((f.dims[0], f.dims[1]) for f in self.fields if f.kind == "angle_pair")

    @property
    def joint_dims(self) -> tuple[int, ...]:
        return self.dims_of("joint_position")

    @property
    def velocity_dims(self) -> tuple[int, ...]:
        return self.dims_of("velocity")

    @property
    def contact_dims(self) -> tuple[int, ...]:
        return self.dims_of("contact")

    @property
    def height_dim(self) -> int | None:
        dims = self.dims_of("height")
        return dims[0] if dims else None

    def kinds(self) -> list[str]:
        """The kind of every dimension, in dimension order."""
        kinds = [""] * self.size
        for f in self.fields:
            for d in f.dims:
                kinds[d] = f.kind
        return kinds

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """Nominal (low, high) limits of each joint position, in :attr:`joint_dims` order."""
        limits = [(f.low, f.high) for f in self.fields if f.kind == "joint_position" for _ in f.dims]
        low, high = zip(*limits, strict=True) if limits else ((), ())
        return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)

    def bounds(self, obs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension bounds a state the robot can be in lies within.

        The hard bounds of the fields and the env's clip. Joint limits are soft in PyBullet (a motor pushes a
        joint past them, by up to a quarter of the range on HalfCheetah, and Ant's reach twice theirs), so a
        joint's bounds are the union of its nominal limits and the range real observations ``obs`` (..., size)
        reach; without observations, how far the simulator lets a joint go is unknown and joints are unbounded.
        """
        low, high = np.full(self.size, -np.inf), np.full(self.size, np.inf)
        for f in self.fields:
            low[list(f.dims)], high[list(f.dims)] = f.low, f.high
        joints = list(self.joint_dims)
        if obs is None:
            low[joints], high[joints] = -np.inf, np.inf
        else:
            rows = np.asarray(obs, dtype=np.float64).reshape(-1, self.size)
            low[joints] = np.minimum(low[joints], rows[:, joints].min(0))
            high[joints] = np.maximum(high[joints], rows[:, joints].max(0))
        if self.clip is not None:
            low, high = np.maximum(low, -self.clip), np.minimum(high, self.clip)
        return low, high

    def describe(self) -> list[dict[str, object]]:
        """One row per field (name, kind, dims, bounds), for documentation and reports."""
        return [
            {"name": f.name, "kind": f.kind, "dims": list(f.dims), "low": f.low, "high": f.high} for f in self.fields
        ]


@dataclass(frozen=True)
class TerminationRule:
    """A task's own rule for when an episode ends, evaluated on observations.

    The PyBullet locomotors end an episode when ``robot.alive_bonus(z, pitch) < 0`` and the pendulum when its
    angle leaves +-0.2 rad; both read only what the observation holds, so a dreamed state can be judged by
    the rule the simulator would apply to it. A non-finite observation always ends the episode, as in the envs.

    Attributes:
        height_dim: the dimension holding the torso height relative to its height at reset.
        initial_height: the torso height at reset, which ``height_dim`` is relative to.
        min_height: the episode goes on only while the absolute torso height is above this.
        pitch_dim: the dimension holding the torso pitch.
        max_abs_pitch: the episode goes on only while ``|pitch|`` is below this.
        angle_pair: (cos_dim, sin_dim) of an angle whose magnitude must stay at most ``max_abs_angle``.
        max_abs_angle: see ``angle_pair``.
        forbidden_contacts: contact dimensions whose contact ends the episode (HalfCheetah's shins and thighs).
        goal_dims: (achieved-goal dims, desired-goal dims) of a goal task, whose episode ends once the two are
            closer than ``goal_distance`` (panda-gym terminates on success).
        goal_distance: see ``goal_dims``.
    """

    height_dim: int | None = None
    initial_height: float = 0.0
    min_height: float | None = None
    pitch_dim: int | None = None
    max_abs_pitch: float | None = None
    angle_pair: tuple[int, int] | None = None
    max_abs_angle: float | None = None
    forbidden_contacts: tuple[int, ...] = ()
    goal_dims: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    goal_distance: float | None = None

    def __call__(self, obs):
        """Whether each observation (..., d) ends the episode; takes numpy arrays (or lists) or torch tensors and
        returns the same kind."""
        import torch  # here, not at module level: the registry is imported by `import dreamgym`

        if not isinstance(obs, torch.Tensor):  # a copy: arrays may be read-only or have negative strides
            return self(torch.tensor(np.asarray(obs))).numpy()
        alive = torch.isfinite(obs).all(-1)
        if self.min_height is not None:
            # In float64, as the env adds its float32 observation to the float64 reset height.
            alive &= obs[..., self.height_dim].double() + self.initial_height > self.min_height
        if self.max_abs_pitch is not None:
            alive &= obs[..., self.pitch_dim].abs() < self.max_abs_pitch
        if self.max_abs_angle is not None:
            cos, sin = self.angle_pair
            alive &= torch.atan2(obs[..., sin], obs[..., cos]).abs() <= self.max_abs_angle
        if self.forbidden_contacts:
            alive &= (obs[..., list(self.forbidden_contacts)] <= 0.5).all(-1)
        if self.goal_distance is not None:
            achieved, desired = (obs[..., list(dims)].double() for dims in self.goal_dims)
            alive &= (achieved - desired).norm(dim=-1) >= self.goal_distance
        return ~alive
