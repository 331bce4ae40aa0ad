"""Interpenetration: states in which a body part lies below the ground or inside another part of the robot.

A dream can put a foot half a metre into the floor or fold a shin through the torso while every number in its
observation stays in range. Whether it does is a question of geometry, so it is asked of PyBullet: one env is
posed in each observation (:mod:`dreamgym.transfer.posing`) and its collision detection measures how deep the
robot's links reach into the ground and into each other. The same pipeline run on PyBullet's own observations
is the control, and the tolerance is chosen so that the control is zero (:data:`PENETRATION_TOLERANCE`).

Which pairs of the robot's own links are checked:

- Only links with a collision shape. The planar walkers' root is three dummy "ignore" joints with shapeless
  links, and every joint of an MJCF robot hangs a shapeless link between two shaped ones; a link's *parent* here
  is its nearest shaped ancestor (Hopper's foot's is its leg, its thigh's is the torso).
- Not a link and its parent: they meet at the joint between them and overlap there by construction.
- Not links on different branches (Walker2D's two legs, HalfCheetah's back and front legs). A planar model lays
  limbs that stand side by side in one plane, so its legs pass through each other by design.
- Not the pairs in :data:`PERMITTED_OVERLAPS`, which the simulator lets overlap: its robots do not collide with
  themselves, and those pairs meet within the joints' limits.

What is left is a limb folded through itself beyond what the joints allow: a walker's foot in its own thigh,
HalfCheetah's back foot in its back thigh, the double pendulum's second pole in the cart. Those overlaps need
a joint past its limits, so they overlap with the audit's ``joint_limit`` check; the ground is the main check.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dreamgym.tasks import TaskSpec, get_task
from dreamgym.transfer.posing import UNPOSABLE_TASKS, make_pose, robot_body_id

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["PENETRATION_TOLERANCE", "PERMITTED_OVERLAPS", "Interpenetration", "measure_interpenetration"]

PENETRATION_TOLERANCE = 0.02
"""Depth (m) beyond which a penetration counts: 2 cm, 1.5 times the deepest PyBullet itself produces.

The control: PyBullet's own rollouts posed through this module on their observations, uniform random actions,
100 episodes of up to 1000 steps per task (seeds 1000-1099). Deepest penetration: 1.36 cm on Hopper, 0.43 cm on
Walker2D, 1.27 cm on HalfCheetah, always a foot or shin in the floor (Bullet's contact solver lets a landing
foot sink before it pushes it out), and 0 on InvertedPendulum (no floor and no pair to check) and
InvertedDoublePendulum. At 2 cm the control is 0 on every task. Under actions held at +-1 for 20 steps, harsher
than a random policy, HalfCheetah slamming down reaches 3.1 cm, in 19 of its 100 100 states (0.02 %);
:attr:`Interpenetration.depth` holds every depth, so :meth:`Interpenetration.rate` reads the rate at any
tolerance. Without :class:`~dreamgym.transfer.posing.WalkerPose`'s ``match_torso_time`` the same control would
read 2.6 cm on Hopper: the observation's torso is one physics substep behind its joints.
"""

PERMITTED_OVERLAPS: dict[str, frozenset[frozenset[str]]] = {
    "Hopper": frozenset({frozenset({"torso", "leg"}), frozenset({"torso", "foot"})}),
    "Walker2D": frozenset(
        {
            frozenset({"torso", "leg"}),
            frozenset({"torso", "foot"}),
            frozenset({"torso", "leg_left"}),
            frozenset({"torso", "foot_left"}),
        }
    ),
    "HalfCheetah": frozenset(
        {
            frozenset({"torso", "fshin"}),
            frozenset({"torso", "ffoot"}),
            frozenset({"fthigh", "ffoot"}),
            frozenset({"torso", "bshin"}),
            frozenset({"torso", "bfoot"}),
        }
    ),
}
"""Pairs of a robot's links that the simulator lets overlap, so an overlap of them is no sign of a bad dream.

PyBullet's MJCF walkers do not collide with themselves (``conaffinity="0"``; Hopper's one chain is excluded by
``URDF_USE_SELF_COLLISION_EXCLUDE_ALL_PARENTS``), so a pair stays apart only where the joint limits keep it apart.
These pairs overlap somewhere with every joint inside its nominal limits (found by sampling 20 000 poses per
task uniformly within the limits): a walker's leg folded up reaches into its torso (9 cm, through the capsule),
HalfCheetah's front foot into its head and thigh. HalfCheetah's back shin and foot reach the torso only past
their soft limits, and PyBullet's own rollouts take them there (6.4 cm and 9.2 cm under actions held at +-1).
What is left is checked; ``tests/transfer/test_interpenetration.py`` samples the limits again to keep this list
honest.
"""


@dataclass(frozen=True)
class Interpenetration:
    """How deep the robot reaches into the ground or into itself at every step, and which pair reaches deepest.

    Attributes:
        task: the task's name.
        tolerance: depth (m) beyond which a step is flagged (:attr:`flags`).
        valid: (N, T) bool, the steps that were measured.
        depth: (N, T) deepest penetration over all checked pairs (m, >= 0); 0 where nothing penetrates or the step
            is not valid.
        pair: (N, T) index into :attr:`pairs` of the deepest pair; -1 where nothing penetrates.
        pairs: the checked pairs, ``"link/floor"`` for the ground and ``"link/link"`` within the robot.
    """

    task: str
    tolerance: float
    valid: np.ndarray
    depth: np.ndarray
    pair: np.ndarray
    pairs: tuple[str, ...]

    @property
    def flags(self) -> np.ndarray:
        """(N, T) bool: valid steps deeper than :attr:`tolerance`."""
        return self.flags_at(self.tolerance)

    def flags_at(self, tolerance: float) -> np.ndarray:
        """(N, T) bool: valid steps deeper than ``tolerance`` (m)."""
        return self.valid & (self.depth > tolerance)

    def rate(self, tolerance: float | None = None) -> float:
        """Fraction of valid steps deeper than ``tolerance`` (m; :attr:`tolerance` by default)."""
        flags = self.flags_at(self.tolerance if tolerance is None else tolerance)
        return float(flags.sum() / max(int(self.valid.sum()), 1))

    def pair_counts(self, tolerance: float | None = None) -> dict[str, int]:
        """Flagged steps per deepest pair, only pairs that were deepest somewhere."""
        flags = self.flags_at(self.tolerance if tolerance is None else tolerance)
        counts = np.bincount(self.pair[flags], minlength=len(self.pairs))
        return {name: int(count) for name, count in zip(self.pairs, counts, strict=True) if count}

    def to_dict(self) -> dict[str, Any]:
        """A summary for reports: rate and count at the tolerance, the deepest penetration and its pair."""
        deepest = np.unravel_index(int(np.argmax(self.depth)), self.depth.shape) if self.depth.size else None
        return {
            "task": self.task,
            "tolerance": self.tolerance,
            "steps": int(self.valid.sum()),
            "flagged": int(self.flags.sum()),
            "rate": self.rate(),
            "max_depth": float(self.depth.max(initial=0.0)),
            "max_depth_pair": None
            if deepest is None or self.pair[deepest] < 0
            else self.pairs[int(self.pair[deepest])],
            "pair_counts": self.pair_counts(),
        }


def _has_collision_shape(p, body: int, link: int) -> bool:
    """Whether a link has a collision shape: a shapeless link's bounding box is a point.

    ``getCollisionShapeData`` would say so directly, but it crashes PyBullet 3.2 on these MJCF capsules.
    """
    low, high = np.asarray(p.getAABB(body, link))
    return bool((high - low).max() > 0.0)


class _Collider:
    """The checked pairs of one posed env, and the deepest penetration among them after each pose."""

    def __init__(self, env: gym.Env, task: str):
        self.p, self.body = env.unwrapped._p, robot_body_id(env)
        p, body = self.p, self.body
        links = [j for j in range(-1, p.getNumJoints(body)) if _has_collision_shape(p, body, j)]
        names = {j: (p.getBodyInfo(body)[0] if j < 0 else p.getJointInfo(body, j)[12]).decode() for j in links}
        ancestors = {j: self._shaped_ancestors(j, set(links)) for j in links}
        self.grounds = self._ground_bodies(env)
        self.pairs: list[str] = []
        self.ground_pair: dict[tuple[int, int], int] = {}
        for ground, link in itertools.product(self.grounds, links):
            self.ground_pair[(link, ground)] = len(self.pairs)
            self.pairs.append(f"{names[link]}/{p.getBodyInfo(ground)[0].decode()}")
        permitted = PERMITTED_OVERLAPS.get(task, frozenset())
        self.self_pairs: list[tuple[int, int]] = []
        for link in links:
            for ancestor in ancestors[link][1:]:  # on one branch, and not the link's parent
                if frozenset({names[ancestor], names[link]}) not in permitted:
                    self.self_pairs.append((ancestor, link))
                    self.pairs.append(f"{names[ancestor]}/{names[link]}")

    def _shaped_ancestors(self, link: int, shaped: set[int]) -> list[int]:
        """The link's ancestors that have a collision shape, nearest first."""
        out = []
        while link != -1:
            link = self.p.getJointInfo(self.body, link)[16]
            if link in shaped:
                out.append(link)
        return out

    def _ground_bodies(self, env: gym.Env) -> list[int]:
        """The locomotion envs' ground (``ground_ids``), else the bodies the MJCF names "floor".

        The pendulums' rail is a body of its own too, but the cart rides on it by design, so it is not ground;
        InvertedPendulum has no floor at all.
        """
        ground_ids = getattr(env.unwrapped, "ground_ids", None)
        if ground_ids is not None:
            return sorted({body for body, _ in ground_ids})
        bodies = (self.p.getBodyUniqueId(i) for i in range(self.p.getNumBodies()))
        return [b for b in bodies if b != self.body and self.p.getBodyInfo(b)[0] == b"floor"]

    def deepest(self) -> tuple[float, int]:
        """(depth, pair index) of the deepest penetration in the current pose; (0.0, -1) where none."""
        p, body = self.p, self.body
        p.performCollisionDetection()
        distance, pair = 0.0, -1
        for ground in self.grounds:
            for contact in p.getContactPoints(bodyA=body, bodyB=ground):
                if contact[8] < distance:
                    distance, pair = contact[8], self.ground_pair[(contact[3], ground)]
        base = len(self.ground_pair)
        for i, (a, b) in enumerate(self.self_pairs):
            # The collision filter leaves these pairs out of performCollisionDetection; getClosestPoints ignores it.
            for point in p.getClosestPoints(body, body, 0.0, linkIndexA=a, linkIndexB=b):
                if point[8] < distance:
                    distance, pair = point[8], base + i
        return 0.0 - distance, pair  # not -distance: no -0.0 where nothing touches


def measure_interpenetration(
    task: str | TaskSpec,
    obs: np.ndarray,
    valid: np.ndarray,
    tolerance: float = PENETRATION_TOLERANCE,
) -> Interpenetration:
    """Poses one PyBullet env in every valid observation and measures how deep the robot penetrates.

    A step is flagged when a link reaches more than ``tolerance`` into the ground (a contact point with the
    floor at distance below ``-tolerance``) or into another link of its own robot (see the module docstring for
    the pairs checked). One env is made, reset once with seed 0 and reused for all states; a walker's pose is
    reset at the start of every trajectory. Python-loop work, one state at a time: about 5 000 states/s on Hopper,
    4 000 on Walker2D and HalfCheetah, 25 000 or more on the pendulums (one CPU core).

    Args:
        task: task name or spec; a task in :data:`~dreamgym.transfer.posing.UNPOSABLE_TASKS` is refused.
        obs: (N, T, d) observations, dreamed or real; must be finite on valid steps.
        valid: (N, T) bool, the steps to measure (a trajectory that ended early has invalid steps after).
        tolerance: depth (m) beyond which a step is flagged; :attr:`Interpenetration.depth` holds every depth.

    Returns:
        The depths, the deepest pair and the flags of every step.

    Raises:
        ValueError: the task cannot be posed, or the arrays have the wrong shapes or non-finite valid states.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    if spec.name in UNPOSABLE_TASKS:
        raise ValueError(f"Cannot measure interpenetration on {spec.name}: {UNPOSABLE_TASKS[spec.name]}.")
    obs, valid = np.asarray(obs), np.asarray(valid)
    if obs.ndim != 3 or obs.shape[2:] != spec.obs_shape:
        raise ValueError(f"Expected obs of shape (N, T, {spec.obs_shape[0]}) for {spec.name}, got {obs.shape}.")
    if valid.shape != obs.shape[:2] or valid.dtype != np.bool_:
        raise ValueError(f"Expected valid of shape {obs.shape[:2]} and dtype bool, got {valid.shape} {valid.dtype}.")
    if not (isinstance(tolerance, int | float | np.floating) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"Expected a finite non-negative tolerance in metres, got {tolerance!r}.")
    bad = np.argwhere(valid & ~np.isfinite(obs).all(-1))
    if len(bad):
        raise ValueError(
            f"Expected finite observations on valid steps, got {len(bad)} non-finite, the first at (n, t) = "
            f"{tuple(int(i) for i in bad[0])}; mark them invalid."
        )
    depth = np.zeros(valid.shape, dtype=np.float64)
    pair = np.full(valid.shape, -1, dtype=np.int64)
    env = spec.make_env()
    try:
        env.reset(seed=0)
        pose = make_pose(spec, env, match_torso_time=True)
        if pose is None:
            raise ValueError(f"Cannot measure interpenetration on {spec.name}: no pose is known for its robot.")
        collider = _Collider(env, spec.name)
        pairs = tuple(collider.pairs)
        for n in range(valid.shape[0]):
            pose.reset()
            for t in np.flatnonzero(valid[n]):
                pose(env, obs[n, t])
                depth[n, t], pair[n, t] = collider.deepest()
    finally:
        env.close()
    return Interpenetration(spec.name, float(tolerance), valid.copy(), depth, pair, pairs)
