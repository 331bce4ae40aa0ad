"""The tasks dreamgym knows, each mapped to a real PyBullet environment from pybullet-envs-gymnasium.

A dream env must have exactly the spaces of its real task so a policy moves between the two unchanged;
the shapes here are checked against the real environments in the tests.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from dreamgym.errors import NoSimulatorError, UnknownTaskError
from dreamgym.tasks.goals import DictCodec, GoalSpec
from dreamgym.tasks.layout import Integral, ObsField, ObsLayout, Planar, TerminationRule
from dreamgym.tasks.scene import TableScene
from dreamgym.tasks.spaces import (
    check_action_space,
    check_observation_space,
    describe_space,
    space_from_description,
)

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = ["BUILT_IN_TASKS", "TASKS", "TaskSpec", "ensure_registered", "get_task", "recorded_task", "register_task"]


@dataclass(frozen=True)
class TaskSpec:
    """What dreamgym needs to know about one robot task.

    Attributes:
        name: dreamgym's name for the task, used in ids such as ``dreamgym/Hopper-dream-v0``.
        env_id: the Gymnasium id of the real simulator environment; ``None`` for a task known only from a recorded
            log (a real robot's), which has no simulator (see :func:`dreamgym.data.task_from_dataset`).
        obs_shape: shape of one observation as dreamgym's pipeline sees it: a flat float32 vector (a goal
            task's ``Dict`` flattened, see :mod:`dreamgym.tasks.goals`).
        action_dim: number of action dimensions. Inside dreamgym (models, replay, the ladder's policies) actions
            lie in [-1, 1]; a real env with other bounds is rescaled to them (see ``action_low``).
        max_episode_steps: the real environment's time limit.
        dream_horizon: default length of one dream before it is truncated. Shorter than the real limit
            because open-loop model error grows with the horizon; long enough to see the task's failure modes.
        obs_kind: ``"vector"`` (state) or ``"pixels"`` (64x64 images).
        success_return: return at which an episode counts as solved: the PyBullet env's ``reward_threshold``.
        mirror: sign flips (observation signs, action signs) of a reflection the task's physics is invariant
            under, used to augment world-model data; ``None`` where there is none (legged robots moving
            forward are not mirror-symmetric).
        layout: what each observation dimension is (see :mod:`dreamgym.tasks.layout`); ``None`` where unknown.
        termination: the task's own termination rule on observations; ``None`` where the rule reads state the
            observation does not hold.
        goal: a goal-conditioned task's goal and its rules (``None`` for other tasks): the real env's
            observation is a ``Dict``, which :meth:`make_env` flattens and the dream envs give back.
        package: the Python package whose import registers ``env_id`` with Gymnasium (``None``: Gymnasium knows
            the id already, or imports it from a ``module:Env-v0`` id itself).
        scene: a tabletop task's gripper, block and table (:mod:`dreamgym.tasks.scene`), which the audit checks
            object permanence and contact against; ``None`` for other tasks.
        action_low, action_high: the real env's action bounds where they are not [-1, 1]; :meth:`make_env`
            rescales its actions to [-1, 1] (``gymnasium.wrappers.RescaleAction``), and the dream envs take actions
            in these bounds, as the real env does.
        env_kwargs: keyword arguments of ``gymnasium.make`` for the real env.
        image_shape: a pixel task's camera frame (height, width, channels); its real env observes
            ``Dict(image, proprio)`` and ``obs_shape`` is the proprioception's (:mod:`dreamgym.tasks.pixels`).
        pixels_of: the vector task a pixel task renders: its layout, rules and robot are that task's.
        env_observation: a user's task's own observation space, where it is not :attr:`observation_space`: a
            ``Box`` with the env's bounds, or a ``Dict`` of ``Box`` entries, which :meth:`make_env` flattens in the
            ``Dict``'s key order and the dream envs give back (see :mod:`dreamgym.tasks.spaces`).
        dataset: the recorded data set a task without a simulator was defined from (``env_id`` is then ``None``).
        safe_action: the command that brings the robot to a safe stop, in the unit action space; the robot
            bridge's watchdog and emergency stop apply it (:attr:`stop_action`). ``None``: zero, which is no torque
            for the pendulums and walkers and "hold still" for panda-gym's end-effector displacements.
    """

    name: str
    env_id: str | None
    obs_shape: tuple[int, ...]
    action_dim: int
    max_episode_steps: int
    dream_horizon: int
    obs_kind: Literal["vector", "pixels"] = "vector"
    success_return: float | None = None
    mirror: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    layout: ObsLayout | None = None
    termination: TerminationRule | None = None
    goal: GoalSpec | None = None
    package: str | None = "pybullet_envs_gymnasium"
    scene: TableScene | None = None
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    image_shape: tuple[int, int, int] | None = None
    pixels_of: str | None = None
    env_observation: Any = None
    dataset: str | None = None
    safe_action: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.layout is not None and (self.layout.size,) != self.obs_shape:
            raise ValueError(
                f"Task {self.name!r}: the observation layout covers {self.layout.size} dimensions, the observation "
                f"shape is {self.obs_shape}."
            )
        if (self.action_low is None) != (self.action_high is None):
            raise ValueError(f"Task {self.name!r}: give both `action_low` and `action_high`, or neither.")
        if self.action_low is not None:
            low, high = np.asarray(self.action_low, np.float64), np.asarray(self.action_high, np.float64)
            if low.shape != (self.action_dim,) or high.shape != (self.action_dim,):
                raise ValueError(f"Task {self.name!r}: expected {self.action_dim} action bounds, got {low}, {high}.")
            if not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
                raise ValueError(f"Task {self.name!r}: expected finite action bounds, low < high; got {low}, {high}.")
        if self.env_observation is not None:
            from gymnasium import spaces

            flat = (spaces.flatdim(self.env_observation),)
            if flat != self.obs_shape:
                raise ValueError(
                    f"Task {self.name!r}: its observation space {self.env_observation} flattens to {flat[0]} values, "
                    f"the observation shape is {self.obs_shape}."
                )
        if self.safe_action is not None and (
            len(self.safe_action) != self.action_dim or not all(-1.0 <= v <= 1.0 for v in self.safe_action)
        ):
            raise ValueError(
                f"Task {self.name!r}: expected `safe_action` of {self.action_dim} values in [-1, 1], got "
                f"{self.safe_action}."
            )
        if self.goal is not None and (self.goal.flat_size,) != self.obs_shape:
            raise ValueError(
                f"Task {self.name!r}: the goal's Dict observation flattens to {self.goal.flat_size} values, the "
                f"observation shape is {self.obs_shape}."
            )

    @property
    def observation_space(self) -> gym.spaces.Box:
        from gymnasium import spaces

        return spaces.Box(-np.inf, np.inf, shape=self.obs_shape, dtype=np.float32)

    @property
    def env_observation_space(self) -> gym.spaces.Space:
        """The real env's own observation space: a pixel task's ``Dict(image, proprio)``, a goal task's goal
        ``Dict``, a user's task's own space (:attr:`env_observation`), else :attr:`observation_space`."""
        from gymnasium import spaces

        if self.image_shape is not None:
            image = spaces.Box(0, 255, shape=self.image_shape, dtype=np.uint8)
            if self.goal is not None:  # one flat Dict, as SB3's HER and MultiInputPolicy take (no nesting)
                return spaces.Dict({"image": image, **self.goal.space.spaces})
            return spaces.Dict({"image": image, "proprio": self.observation_space})
        if self.goal is not None:
            return self.goal.space
        return self.env_observation if self.env_observation is not None else self.observation_space

    @property
    def observation_codec(self) -> DictCodec | None:
        """Converts between the real env's ``Dict`` observations (a goal task's, a user's) and the flat vector the
        pipeline works on; ``None`` where the real env observes a ``Box``."""
        from gymnasium import spaces

        if self.goal is not None:
            return self.goal.codec
        if isinstance(self.env_observation, spaces.Dict):
            return DictCodec(self.env_observation)
        return None

    @property
    def vector_task(self) -> TaskSpec:
        """The task whose observation is this one's proprioception: the vector task a pixel task renders (same
        robot, physics, layout and rules), else this task itself."""
        return get_task(self.pixels_of) if self.pixels_of is not None else self

    @property
    def simulator(self) -> str | None:
        """What runs the real task: ``"PyBullet"``, another env's Gymnasium id, or ``None`` for a task defined by a
        recorded log alone."""
        if self.env_id is None:
            return None
        return "PyBullet" if self.package in PYBULLET_PACKAGES or self.pixels_of is not None else self.env_id

    @property
    def action_space(self) -> gym.spaces.Box:
        """The unit action space dreamgym's models and pipeline work in."""
        from gymnasium import spaces

        return spaces.Box(-1.0, 1.0, shape=(self.action_dim,), dtype=np.float32)

    @property
    def stop_action(self) -> np.ndarray:
        """The safe stop as a unit action (see ``safe_action``)."""
        if self.safe_action is None:
            return np.zeros(self.action_dim, dtype=np.float32)
        return np.asarray(self.safe_action, dtype=np.float32)

    @property
    def rescales_actions(self) -> bool:
        return self.action_low is not None and not (
            np.allclose(self.action_low, -1.0) and np.allclose(self.action_high, 1.0)
        )

    @property
    def env_action_space(self) -> gym.spaces.Box:
        """The real env's own action space (its bounds), which the dream envs take too."""
        from gymnasium import spaces

        if not self.rescales_actions:
            return self.action_space
        low, high = np.asarray(self.action_low, np.float32), np.asarray(self.action_high, np.float32)
        return spaces.Box(low, high, dtype=np.float32)

    def to_unit_actions(self, actions: np.ndarray) -> np.ndarray:
        """Actions in the real env's bounds, mapped linearly onto [-1, 1] (what ``RescaleAction`` inverts)."""
        if not self.rescales_actions:
            return actions
        return to_unit_actions(actions, self.action_low, self.action_high)

    @classmethod
    def from_env(
        cls, env_id: str, name: str | None = None, dream_horizon: int | None = None, **env_kwargs: Any
    ) -> TaskSpec:
        """A task read off a real Gymnasium env: its spaces, time limit and reward threshold.

        Args:
            env_id: a registered Gymnasium id (or ``module:Env-v0``, which Gymnasium imports).
            name: dreamgym's name for the task (its dream id is ``dreamgym/<name>-dream-v0``); the id's name
                without version by default.
            dream_horizon: steps of a dream before truncation; the env's time limit by default.
            **env_kwargs: passed to ``gymnasium.make`` whenever the real env is made.

        Raises:
            ValueError: a space dreamgym does not support yet, or no time limit to read.
        """
        import gymnasium as gym

        env = gym.make(env_id, **env_kwargs)
        try:
            obs_space, action_space, spec = env.observation_space, env.action_space, env.spec
        finally:
            env.close()
        limit = spec.max_episode_steps if spec is not None else None
        if limit is None:
            check_observation_space(obs_space, repr(env_id))
            check_action_space(action_space, repr(env_id))
            raise ValueError(f"{env_id!r} has no time limit; register it with max_episode_steps.")
        return cls.from_spaces(
            name or env_id.split(":")[-1].split("/")[-1].rsplit("-v", 1)[0],
            obs_space,
            action_space,
            int(limit),
            env_id=env_id,
            source=repr(env_id),
            dream_horizon=dream_horizon,
            success_return=spec.reward_threshold,
            env_kwargs=dict(env_kwargs),
        )

    @classmethod
    def from_spaces(
        cls,
        name: str,
        observation_space: gym.spaces.Space,
        action_space: gym.spaces.Space,
        max_episode_steps: int,
        *,
        env_id: str | None = None,
        source: str | None = None,
        dream_horizon: int | None = None,
        success_return: float | None = None,
        env_kwargs: dict[str, Any] | None = None,
        dataset: str | None = None,
    ) -> TaskSpec:
        """A user's task from its real spaces: what :meth:`from_env` and
        :func:`dreamgym.data.task_from_dataset` share.

        Raises:
            ValueError: a space dreamgym does not support yet (named, with the reason; see
                :mod:`dreamgym.tasks.spaces`).
        """
        from gymnasium import spaces

        source = source or repr(env_id or name)
        check_observation_space(observation_space, source)
        check_action_space(action_space, source)
        return cls(
            name,
            env_id,
            (int(spaces.flatdim(observation_space)),),
            int(action_space.shape[0]),
            int(max_episode_steps),
            int(dream_horizon or max_episode_steps),
            success_return=success_return,
            package=None,
            action_low=tuple(float(v) for v in action_space.low),
            action_high=tuple(float(v) for v in action_space.high),
            env_kwargs=dict(env_kwargs or {}),
            env_observation=observation_space,
            dataset=dataset,
        )

    def to_dict(self) -> dict[str, Any]:
        """What a checkpoint records of its task: enough to rebuild a user's task with :meth:`from_dict` (no env or
        data set needed), and the real env's own spaces (:func:`~dreamgym.tasks.spaces.describe_space`), which
        loading checks. A built-in task's layout and rules are not recorded: dreamgym rebuilds it by name."""
        import json

        try:
            env_kwargs = json.loads(json.dumps(self.env_kwargs))
        except TypeError as err:
            raise ValueError(
                f"Task {self.name!r}: its env_kwargs must be JSON-serialisable, so a checkpoint can remake the env; "
                f"{err}."
            ) from err
        return {
            "name": self.name,
            "env_id": self.env_id,
            "obs_shape": list(self.obs_shape),
            "action_dim": self.action_dim,
            "max_episode_steps": self.max_episode_steps,
            "dream_horizon": self.dream_horizon,
            "success_return": self.success_return,
            "package": self.package,
            "action_low": list(self.action_low) if self.action_low is not None else None,
            "action_high": list(self.action_high) if self.action_high is not None else None,
            "env_kwargs": env_kwargs,
            "env_observation": describe_space(self.env_observation) if self.env_observation is not None else None,
            "dataset": self.dataset,
            "observation_space": describe_space(self.env_observation_space),
            "action_space": describe_space(self.env_action_space),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        """The user's task :meth:`to_dict` recorded (a checkpoint's ``task_spec``)."""
        env_observation = data.get("env_observation")
        return cls(
            data["name"],
            data["env_id"],
            tuple(data["obs_shape"]),
            int(data["action_dim"]),
            int(data["max_episode_steps"]),
            int(data["dream_horizon"]),
            success_return=data["success_return"],
            package=data["package"],
            action_low=tuple(data["action_low"]) if data["action_low"] is not None else None,
            action_high=tuple(data["action_high"]) if data["action_high"] is not None else None,
            env_kwargs=dict(data["env_kwargs"]),
            env_observation=space_from_description(env_observation) if env_observation is not None else None,
            dataset=data.get("dataset"),
        )

    def kinematic_chain(self) -> dict | None:
        """The robot's planar kinematic chain (:func:`dreamgym.tasks.kinematics.planar_chain`; reads the MJCF and
        makes the env once), or ``None`` for a robot that is not a planar walker."""
        from dreamgym.tasks.kinematics import PLANAR_WALKERS, planar_chain

        if self.pixels_of is not None:
            return get_task(self.pixels_of).kinematic_chain()
        return planar_chain(self) if self.name in PLANAR_WALKERS else None

    def decoder_table(self) -> dict | None:
        """The tabletop scene a structured decoder keeps dreams on (:meth:`TableScene.decoder_table`), or ``None``
        for a task without a table."""
        return self.scene.decoder_table() if self.scene is not None else None

    def make_env(self, flatten: bool = True, **kwargs) -> gym.Env:
        """Creates the real simulator environment (imports the package that registers it on first use).

        A ``Dict`` observation (a goal task's, a user's) is flattened (``FlattenObservation``, the ``Dict``'s key
        order) unless ``flatten`` is False, so collection, world models and the evaluation ladder see the flat
        vector they work on. A pixel goal task keeps its camera frame: flattened, it observes
        ``Dict(image, proprio)`` with the flat goal vector as ``proprio``, as every pixel task does inside dreamgym.

        Raises:
            NoSimulatorError: the task was defined by a recorded log and has no simulator.
        """
        import importlib

        import gymnasium as gym

        from dreamgym.tasks.wrappers import ChainedSeeds, QuietConnect, native_output_silenced

        if self.env_id is None:
            raise NoSimulatorError(
                f"Task {self.name!r} has no simulator: it was defined by the recorded data set {self.dataset!r}. "
                "Its world model trains on that log and dreams without one; real episodes come from the robot."
            )
        if self.package is not None:
            with native_output_silenced((1, 2)):  # PyBullet prints its build time on import (stderr)
                if self.package in PYBULLET_PACKAGES:  # otherwise make imports it, unsilenced
                    importlib.import_module("pybullet")
                importlib.import_module(self.package)
        if self.image_shape is not None and self.goal is not None:  # the pixel env flattens the goal itself
            kwargs = {**kwargs, "flatten": flatten}
        with native_output_silenced():  # ... and argv lines on connecting (panda-gym connects here)
            env = gym.make(self.env_id, **{**self.env_kwargs, **kwargs})
        env = QuietConnect(env)
        if self.package == "panda_gym":
            env = ChainedSeeds(env)
        if self.observation_codec is not None and flatten and self.image_shape is None:
            env = gym.wrappers.FlattenObservation(env)
        if self.rescales_actions:
            env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
        return env


PYBULLET_PACKAGES = ("pybullet_envs_gymnasium", "panda_gym")


def to_unit_actions(actions: np.ndarray, low, high) -> np.ndarray:
    """Actions within ``[low, high]`` mapped linearly onto [-1, 1] (the inverse of ``RescaleAction``'s map)."""
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    return (2.0 * (np.asarray(actions, np.float32) - low) / (high - low) - 1.0).astype(np.float32)


PENDULUM_DT = 0.0165  # SingleRobotEmptyScene(timestep=0.0165, frame_skip=1) in both pendulum envs


def _pendulum_layout(poles: int) -> ObsLayout:
    """InvertedPendulum.calc_state: (x, vx, cos theta, sin theta, theta_dot); the double pendulum's inserts the
    pole tip's x after vx and appends (cos gamma, sin gamma, gamma_dot) of the second hinge. One physics step per
    env step, so the cart's position is the exact integral of its velocity."""
    fields = [
        ObsField("cart position on the slider (m)", "joint_position", (0,), -1.0, 1.0),
        ObsField("cart velocity (m/s)", "velocity", (1,)),
    ]
    first = 2 if poles == 1 else 3
    if poles == 2:
        fields.append(ObsField("pole tip x (m)", "other", (2,)))
    for p, name in enumerate(("theta", "gamma")[:poles]):
        base = first + 3 * p
        fields += [
            ObsField(f"hinge angle {name}", "angle_pair", (base, base + 1)),
            ObsField(f"hinge speed {name}_dot (rad/s)", "velocity", (base + 2,)),
        ]
    return ObsLayout(tuple(fields), integrals=(Integral(0, 1, PENDULUM_DT),))


PI_FLOAT32 = float(np.float32(math.pi))  # above pi: a flipped body's float32 roll of +-pi rounds to it


def _walker_layout(joints: int, feet: int, initial_z: float, planar: bool = True) -> ObsLayout:
    """WalkerBase.calc_state: [z - initial_z, sin, cos (angle to target), 0.3 vx, 0.3 vy, 0.3 vz, roll, pitch],
    then (position scaled to [-1, 1] between the limits, 0.1 speed) per joint, then one contact flag per foot,
    all clipped to [-5, 5]. The torso's centre never goes below the floor, so the height is at least -initial_z;
    roll and pitch are Euler angles (pybullet's getEulerFromQuaternion: pitch in [-pi/2, pi/2]). All but Ant are
    held in the x-z plane (:class:`~dreamgym.tasks.layout.Planar`)."""
    end = 8 + 2 * joints
    return ObsLayout(
        (
            ObsField("torso height above its height at reset (m)", "height", (0,), low=-initial_z),
            ObsField("angle to the walk target", "angle_pair", (2, 1)),
            ObsField("torso velocity, body frame (0.3 m/s)", "velocity", (3, 4, 5)),
            ObsField("torso roll (rad)", "orientation", (6,), -PI_FLOAT32, PI_FLOAT32),
            ObsField("torso pitch (rad)", "orientation", (7,), -PI_FLOAT32 / 2, PI_FLOAT32 / 2),
            ObsField(
                "joint positions, scaled to [-1, 1] between the limits",
                "joint_position",
                tuple(range(8, end, 2)),
                -1.0,
                1.0,
            ),
            ObsField("joint speeds (0.1 rad/s)", "velocity", tuple(range(9, end, 2))),
            ObsField("foot contacts with the ground", "contact", tuple(range(end, end + feet)), 0.0, 1.0),
        ),
        clip=5.0,
        planar=Planar(roll=6, heading=(2, 1), lateral=(4,), pitch=7) if planar else None,
    )


def _upright(initial_z: float) -> TerminationRule:
    """Hopper.alive_bonus and Walker2D.alive_bonus: alive while z > 0.8 and |pitch| < 1."""
    return TerminationRule(height_dim=0, initial_height=initial_z, min_height=0.8, pitch_dim=7, max_abs_pitch=1.0)


# initial_z (the torso height at reset) is read from the simulator in the tests; the termination thresholds are
# those of each robot's alive_bonus, and tests/tasks/test_layout.py checks the rules against alive_bonus itself.
HOPPER_Z, WALKER_Z, CHEETAH_Z, ANT_Z = 1.25, 1.25, 0.7, 0.75


def _panda_layout(with_object: bool) -> ObsLayout:
    """panda-gym's flattened goal observation: achieved goal, desired goal (both (x, y, z), m), then
    ``Panda.get_obs`` (end-effector position and velocity; the gripper is blocked in Reach and Push, so no finger
    width), then for tasks with an object ``Task.get_obs`` (its position, Euler rotation, velocity and angular
    velocity, as pybullet reports them)."""
    fields = [
        ObsField("achieved goal (object or end-effector position, m)", "other", (0, 1, 2)),
        ObsField("desired goal (target position, m)", "other", (3, 4, 5)),
        ObsField("end-effector position (m)", "other", (6, 7, 8)),
        ObsField("end-effector velocity (m/s)", "velocity", (9, 10, 11)),
    ]
    if with_object:
        fields += [
            ObsField("object position (m)", "other", (12, 13, 14)),
            ObsField("object roll, yaw (rad)", "orientation", (15, 17), -PI_FLOAT32, PI_FLOAT32),
            ObsField("object pitch (rad)", "orientation", (16,), -PI_FLOAT32 / 2, PI_FLOAT32 / 2),
            ObsField("object velocity (m/s)", "velocity", (18, 19, 20)),
            ObsField("object angular velocity (rad/s)", "velocity", (21, 22, 23)),
        ]
    return ObsLayout(tuple(fields))


def _panda(name: str, env_id: str, observation_dim: int, with_object: bool) -> TaskSpec:
    goal = GoalSpec(observation_dim)
    layout = _panda_layout(with_object)
    # panda-gym's episodes last 50 steps and end when the goal is reached; dreams run as long as an episode.
    return TaskSpec(
        name,
        env_id,
        (goal.flat_size,),
        3,
        50,
        50,
        layout=layout,
        termination=TerminationRule(
            goal_dims=(goal.dims("achieved_goal"), goal.dims("desired_goal")), goal_distance=goal.distance_threshold
        ),
        goal=goal,
        package="panda_gym",
        scene=TableScene.from_layout(layout, with_object),
    )


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "InvertedPendulum",
            "InvertedPendulumBulletEnv-v0",
            (5,),
            1,
            1000,
            500,
            success_return=950.0,
            # obs = (x, vx, cos(theta), sin(theta), theta_dot); reflecting the track flips all but cos(theta).
            mirror=((-1.0, -1.0, 1.0, -1.0, -1.0), (-1.0,)),
            layout=_pendulum_layout(1),
            # InvertedPendulumBulletEnv.step: done = |theta| > 0.2.
            termination=TerminationRule(angle_pair=(2, 3), max_abs_angle=0.2),
        ),
        # Success returns are the PyBullet envs' own reward thresholds (their gymnasium specs).
        TaskSpec(
            "InvertedDoublePendulum",
            "InvertedDoublePendulumBulletEnv-v0",
            (9,),
            1,
            1000,
            500,
            success_return=9100.0,
            layout=_pendulum_layout(2),
            # done = the pole tip's height <= 1: the observation holds the tip's x, not its height.
        ),
        TaskSpec(
            "Hopper",
            "HopperBulletEnv-v0",
            (15,),
            3,
            1000,
            300,
            success_return=2500.0,
            layout=_walker_layout(3, 1, HOPPER_Z),
            termination=_upright(HOPPER_Z),
        ),
        TaskSpec(
            "HalfCheetah",
            "HalfCheetahBulletEnv-v0",
            (26,),
            6,
            1000,
            300,
            success_return=3000.0,
            layout=_walker_layout(6, 6, CHEETAH_Z),
            # HalfCheetahBulletEnv._isDone is always False: its alive_bonus (pitch, shin and thigh contacts) only
            # shapes the reward, and only a non-finite state ends an episode.
            termination=TerminationRule(),
        ),
        TaskSpec(
            "Walker2D",
            "Walker2DBulletEnv-v0",
            (22,),
            6,
            1000,
            300,
            success_return=2500.0,
            layout=_walker_layout(6, 2, WALKER_Z),
            termination=_upright(WALKER_Z),
        ),
        TaskSpec(
            "Ant",
            "AntBulletEnv-v0",
            (28,),
            8,
            1000,
            300,
            success_return=2500.0,
            layout=_walker_layout(8, 4, ANT_Z, planar=False),
            # Ant.alive_bonus: alive while z > 0.26 (the central sphere would scrape the ground).
            termination=TerminationRule(height_dim=0, initial_height=ANT_Z, min_height=0.26),
        ),
        _panda("PandaReach", "PandaReach-v3", 6, with_object=False),
        _panda("PandaPush", "PandaPush-v3", 18, with_object=True),
    )
}


PIXEL_TASKS = ("InvertedPendulum", "Hopper", "HalfCheetah", "Walker2D", "Ant", "PandaReach", "PandaPush")
"""Vector tasks with a pixel twin ``<Task>Pixels``: the real task seen through a 64x64 RGB camera beside its
proprioception (``dreamgym/<Task>Pixels-v0``, cameras in :data:`dreamgym.tasks.pixels.CAMERAS`). A goal task's
twin observes the camera frame beside its goal ``Dict``: ``image``, ``observation``, ``achieved_goal``,
``desired_goal``."""
IMAGE_SHAPE = (64, 64, 3)


def _pixel_twin(spec: TaskSpec) -> TaskSpec:
    import dataclasses

    return dataclasses.replace(
        spec,
        name=f"{spec.name}Pixels",
        env_id=f"dreamgym/{spec.name}Pixels-v0",
        obs_kind="pixels",
        image_shape=IMAGE_SHAPE,
        pixels_of=spec.name,
        package="dreamgym",  # whose import registers the pixel envs
    )


TASKS.update({f"{name}Pixels": _pixel_twin(TASKS[name]) for name in PIXEL_TASKS})
BUILT_IN_TASKS = tuple(TASKS)
"""The tasks dreamgym itself defines (each ships a bundled model); :func:`register_task` adds a user's beside them."""


def register_task(spec: TaskSpec, overwrite: bool = False) -> TaskSpec:
    """Adds a task to dreamgym: every command and env takes its name, and ``dreamgym/<name>-dream-v0`` is
    registered with Gymnasium.

    Example:
        >>> import dreamgym
        >>> spec = dreamgym.register_task(dreamgym.TaskSpec.from_env("Pendulum-v1"))  # doctest: +SKIP
        >>> env = gymnasium.make("dreamgym/Pendulum-dream-v0", checkpoint="ckpt/")  # doctest: +SKIP

    Raises:
        ValueError: a task of that name exists (pass ``overwrite=True`` to replace one of your own), the name cannot
            be part of a Gymnasium id, or the env's kwargs cannot be recorded in a checkpoint.
    """
    if not re.fullmatch(r"[\w.-]+", spec.name):
        raise ValueError(
            f"Expected a task name of letters, digits, '_', '-' and '.' (it becomes dreamgym/<name>-dream-v0), "
            f"got {spec.name!r}."
        )
    if spec.name in TASKS and not overwrite:
        raise ValueError(f"A task named {spec.name!r} is registered already; pass overwrite=True to replace it.")
    spec.to_dict()  # refuses env_kwargs a checkpoint could not record, before any data is collected
    TASKS[spec.name] = spec
    from dreamgym.envs.registration import register_dream_envs
    from dreamgym.robots.registration import register_robot_envs

    register_dream_envs()
    register_robot_envs()
    return spec


def get_task(name: str) -> TaskSpec:
    """Looks a task up by name, with a suggestion when the name is close to a known one.

    ``"module:ATTRIBUTE"`` names a user's :class:`TaskSpec` (``--task my_pkg.tasks:ARM`` on the command line): the
    module is imported and the spec registered under its own name, so the dream id and the checkpoints that
    record the task's name find it.
    """
    if ":" in name:
        return _import_task(name)
    try:
        return TASKS[name]
    except KeyError:
        close = difflib.get_close_matches(name, TASKS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownTaskError(f"Unknown task {name!r}; expected one of {sorted(TASKS)}.{hint}") from None


def _import_task(reference: str) -> TaskSpec:
    import importlib

    module_name, _, attribute = reference.partition(":")
    try:
        spec = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise UnknownTaskError(f"Cannot import task {reference!r} (expected 'module:ATTRIBUTE'): {err}") from None
    if not isinstance(spec, TaskSpec):
        raise UnknownTaskError(f"{reference!r} is a {type(spec).__name__}, not a dreamgym TaskSpec.")
    return ensure_registered(spec)


def recorded_task(name: str, description: dict[str, Any] | None, source: str) -> TaskSpec:
    """The task a checkpoint or a data set records by ``name`` and :meth:`TaskSpec.to_dict` ``description``: the
    task registered under that name, else the user's task rebuilt from its description and registered, so a
    fresh process needs neither the user's module nor the env or log it was read off.

    Raises:
        UnknownTaskError: not registered, and ``source`` (written before it recorded its task) does not describe it.
    """
    if name in TASKS or description is None:
        try:
            return get_task(name)
        except UnknownTaskError as err:
            raise UnknownTaskError(
                f"{err} {source} does not describe its task (it was written before tasks were recorded); register "
                "the task first (dreamgym.register_task, or --task module:ATTRIBUTE)."
            ) from None
    return ensure_registered(TaskSpec.from_dict(description))


def ensure_registered(spec: TaskSpec) -> TaskSpec:
    """Registers ``spec`` unless that very task is registered already (imported again, rebuilt from a checkpoint,
    read off a data set again); a different task under its name is refused as :func:`register_task` refuses it."""
    if TASKS.get(spec.name) is not spec:
        register_task(spec, overwrite=TASKS.get(spec.name) == spec)
    return spec
