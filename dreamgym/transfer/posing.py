"""Posing a PyBullet robot in an observation: the robot drawn, or collided, in a dreamed (or real) state.

A dream is a sequence of observation vectors. To see it (:mod:`dreamgym.transfer.video`) or to ask whether it
puts a leg through the floor (:mod:`dreamgym.transfer.interpenetration`), a second PyBullet instance is posed in
each observation: joint positions from their scaled values, and for planar walkers the root's height and pitch.
Only what the observation holds can be posed, so a task whose base pose is not in its observation has no pose
(:data:`UNPOSABLE_TASKS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dreamgym.tasks import TaskSpec, get_task

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["POSABLE_TASKS", "UNPOSABLE_TASKS", "Pose", "WalkerPose", "make_pose", "robot_body_id"]

POSABLE_TASKS: tuple[str, ...] = ("InvertedPendulum", "InvertedDoublePendulum", "Hopper", "Walker2D", "HalfCheetah")
"""Tasks whose observation holds every coordinate of the robot's pose that matters for drawing and collision."""

UNPOSABLE_TASKS: dict[str, str] = {
    "Ant": (
        "Ant's base is free (6 degrees of freedom): its observation holds the torso height, roll and pitch but not "
        "its x, y or yaw, and the angle to the walk target does not pin the yaw down, so the robot cannot be posed"
    ),
    **{
        task: (
            "the observation holds the Panda's end-effector position, not its seven joint angles, and the arm is "
            "redundant (many joint configurations reach one end-effector position), so the arm cannot be posed"
        )
        for task in ("PandaReach", "PandaPush")
    },
}
"""Why each task that cannot be posed cannot be: callers report these tasks as "not posed"."""


class Pose:
    """Poses the robot of a PyBullet env in one observation; call :meth:`reset` between trajectories.

    Subclasses override :meth:`__call__`; a pose that keeps state across the steps of a trajectory (a walker's x,
    integrated from its speed) overrides :meth:`reset` too.
    """

    def __call__(self, env: gym.Env, obs: np.ndarray) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forgets what earlier steps left behind, so the next call starts a new trajectory."""


class _PendulumPose(Pose):
    """InvertedPendulum: the cart on its slider and the hinge angle from its (cos, sin) pair."""

    def __call__(self, env: gym.Env, obs: np.ndarray) -> None:
        robot = env.unwrapped.robot
        robot.slider.reset_current_position(float(obs[0]), 0)
        robot.j1.reset_current_position(float(np.arctan2(obs[3], obs[2])), 0)


class _DoublePendulumPose(Pose):
    """InvertedDoublePendulum: the cart and both hinges; the pole tip's x (obs[2]) follows from them."""

    def __call__(self, env: gym.Env, obs: np.ndarray) -> None:
        robot = env.unwrapped.robot
        robot.slider.reset_current_position(float(obs[0]), 0)
        robot.j1.reset_current_position(float(np.arctan2(obs[4], obs[3])), 0)
        robot.j2.reset_current_position(float(np.arctan2(obs[7], obs[6])), 0)


class WalkerPose(Pose):
    """Poses a planar walker: joints from their scaled positions, then the root's pitch, height and x.

    The root of Hopper, Walker2D and HalfCheetah is three joints (slide x, slide z, hinge pitch) whose names
    start with "ignore"; the torso sits above the pitch hinge, so its height is set by solving for the z slide
    after the pitch is applied. The pitch hinge's angle is read from the observation's roll and pitch together,
    so a walker tipped onto its back is posed on its back. x is not observed: it is integrated from the forward
    speed (``obs[3]`` is 0.3 vx), which makes the pose stateful; :meth:`reset` starts x again at 0.

    The envs' observation mixes two instants: ``calc_state`` reads joint positions from the current joint state
    but the torso's height and pitch from link states Bullet last updated before its final physics substep, one
    substep earlier. Posed as read, a fast-moving limb is off by a few centimetres against the torso (2.6 cm at
    Hopper's foot under random actions). ``match_torso_time`` moves the joints back by that substep instead,
    ``q - h * dq`` with the observed joint speed, which is exact for Bullet's semi-implicit integrator: the
    robot is then posed as the contact solver last saw it.

    Args:
        env: the env whose robot is posed, reset at least once (the robot is loaded on reset).
        task: the task's name, for its observation layout.
        match_torso_time: pose the joints at the torso's instant (see above); off for drawing, where a few
            centimetres do not show, on for measuring contacts.
    """

    def __init__(self, env: gym.Env, task: str, match_torso_time: bool = False):
        layout = get_task(task).layout
        if layout is None:
            raise ValueError(f"Expected task {task!r} to have an observation layout, got None.")
        self.joint_dims = layout.joint_dims
        self.speed_dims = tuple(d + 1 for d in self.joint_dims)  # calc_state interleaves (position, 0.1 speed)
        if not set(self.speed_dims) <= set(layout.velocity_dims):
            raise ValueError(
                f"Expected each joint position of {task!r} followed by its speed, got positions at {self.joint_dims} "
                f"and velocities at {layout.velocity_dims}."
            )
        robot, self.p = env.unwrapped.robot, env.unwrapped._p
        self.body = robot.robot_body.bodies[robot.robot_body.bodyIndex]
        self.root: dict[str, int] = {}
        for j in range(self.p.getNumJoints(self.body)):
            info = self.p.getJointInfo(self.body, j)
            if info[1].startswith(b"ignore"):
                axis = int(np.argmax(np.abs(info[13])))
                self.root[{(1, 0): "x", (1, 2): "z", (0, 1): "pitch"}[(info[2], axis)]] = j
        if set(self.root) != {"x", "z", "pitch"}:
            raise ValueError(f"Expected a planar root (slide x, slide z, hinge pitch) for {task!r}, got {self.root}.")
        self.dt = env.unwrapped.scene.dt
        self.substep = env.unwrapped.scene.timestep if match_torso_time else 0.0
        self.x = 0.0

    def reset(self) -> None:
        self.x = 0.0

    def __call__(self, env: gym.Env, obs: np.ndarray) -> None:
        robot, p = env.unwrapped.robot, self.p
        for joint, dim, speed in zip(robot.ordered_joints, self.joint_dims, self.speed_dims, strict=True):
            position = joint.lowerLimit + (float(obs[dim]) + 1.0) / 2.0 * (joint.upperLimit - joint.lowerLimit)
            if self.substep:
                position -= self.substep * float(obs[speed]) / 0.1  # obs[speed] is 0.1 rad/s
            joint.reset_current_position(position, 0)
        # The observation's (roll, pitch) are Euler angles of a rotation about y alone: pitch is in [-pi/2, pi/2],
        # and a walker tipped past upright (HalfCheetah on its back) reads roll = pi (yaw = pi) with the pitch
        # reflected, and its forward speed (in the yaw-rotated frame) negated.
        upright = np.cos(float(obs[6])) >= 0.0
        pitch = float(obs[7]) if upright else np.pi - float(obs[7])
        self.x += (1.0 if upright else -1.0) * float(obs[3]) / 0.3 * self.dt  # obs[3] is 0.3 vx
        p.resetJointState(self.body, self.root["x"], self.x)
        p.resetJointState(self.body, self.root["pitch"], pitch)
        p.resetJointState(self.body, self.root["z"], 0.0)
        torso_z = robot.robot_body.current_position()[2]
        p.resetJointState(self.body, self.root["z"], float(obs[0]) + robot.initial_z - torso_z)
        robot.calc_state()  # moves the robot's recorded position, which the camera follows


def make_pose(task: str | TaskSpec, env: gym.Env, match_torso_time: bool = False) -> Pose | None:
    """The pose of ``task``'s robot in ``env``, or ``None`` for a task in :data:`UNPOSABLE_TASKS`.

    Args:
        task: task name or spec; ``env`` must be its PyBullet env, already reset (the robot is loaded on reset).
        env: the env to pose; posing overwrites its simulator state, so it should be an env of its own, not one
            that is being stepped.
        match_torso_time: for walkers, pose the joints one physics substep back, at the instant the observed
            torso pose is from (see :class:`WalkerPose`); a pendulum's observation holds one instant.

    Returns:
        A :class:`Pose`, called as ``pose(env, obs)`` with one observation (d,); ``None`` where the task's
        observation does not hold its pose (the reason is ``UNPOSABLE_TASKS[task]``).
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    name = spec.vector_task.name
    if name == "InvertedPendulum":
        return _PendulumPose()
    if name == "InvertedDoublePendulum":
        return _DoublePendulumPose()
    if name in ("Hopper", "Walker2D", "HalfCheetah"):
        return WalkerPose(env, name, match_torso_time)
    return None


def robot_body_id(env: gym.Env) -> int:
    """PyBullet's unique id of the robot's multibody in ``env`` (reset at least once).

    Read off a joint rather than ``robot.robot_body``: the pendulums' root body has no part of that name.
    """
    robot = env.unwrapped.robot
    if not robot.ordered_joints:
        raise ValueError(f"Expected a robot with joints in {type(env.unwrapped).__name__}, got none; was it reset?")
    joint = robot.ordered_joints[0]
    return joint.bodies[joint.bodyIndex]
