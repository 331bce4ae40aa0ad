"""Pixel observations of the real PyBullet tasks: a 64x64 RGB camera image next to the task's own state vector.

Each frame is drawn by PyBullet's CPU rasteriser (``ER_TINY_RENDERER``) from the env's own physics client, so it
needs no display, no OpenGL and no second simulation, and the same seed gives the same frames. The observation is
a ``Dict`` of ``"image"`` and ``"proprio"``, the layout SB3's ``MultiInputPolicy`` and Dreamer-style image world
models read. A goal task (panda-gym) puts the frame beside its goal ``Dict`` instead, in one flat ``Dict``
(``image``, ``observation``, ``achieved_goal``, ``desired_goal``), which SB3's HER and ``MultiInputPolicy`` take as
they are; inside dreamgym (``TaskSpec.make_env``) its ``proprio`` is the flat goal vector, as for every task.

Example:
    >>> import gymnasium as gym
    >>> import dreamgym
    >>> env = gym.make("dreamgym/HopperPixels-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs["image"].shape, obs["image"].dtype
    ((64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from dreamgym.errors import UnknownTaskError
from dreamgym.tasks.registry import get_task

__all__ = [
    "CAMERAS",
    "PANDA_GRIPPER_RGBA",
    "PANDA_TARGET_RGBA",
    "CameraConfig",
    "PixelObservation",
    "make_pixel_env",
    "pixel_env_id",
    "register_pixel_envs",
]


@dataclass(frozen=True)
class CameraConfig:
    """Where the camera of a pixel env looks from (PyBullet's yaw/pitch orbit camera, z up).

    Attributes:
        width: image width in pixels.
        height: image height in pixels.
        distance: distance from the camera to its target (m).
        yaw: camera yaw about the z axis (degrees); 0 looks along +y, so a robot walking along +x moves right.
        pitch: camera pitch (degrees); negative looks down.
        target: the point the camera looks at (m); with ``track`` its x and y are offsets from the robot's base.
        track: follow the robot's base in x and y, for locomotion robots that walk out of a fixed view. Height is
            not followed, so the image still shows the robot rising and falling.
        fov: vertical field of view (degrees).
        shadow: draw shadows. Off by default: they make a walker's frame about half as slow again and the Panda
            arm's twice as slow.
    """

    width: int = 64
    height: int = 64
    distance: float = 2.5
    yaw: float = 0.0
    pitch: float = -10.0
    target: tuple[float, float, float] = (0.0, 0.0, 0.5)
    track: bool = False
    fov: float = 45.0
    shadow: bool = False

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"Expected a positive image size, got width={self.width}, height={self.height}.")
        if self.distance <= 0:
            raise ValueError(f"Expected a positive camera distance, got {self.distance}.")
        if not 0 < self.fov < 180:
            raise ValueError(f"Expected a field of view between 0 and 180 degrees, got {self.fov}.")
        if len(self.target) != 3:
            raise ValueError(f"Expected an (x, y, z) camera target, got {self.target}.")


# Chosen by looking at frames: each robot fills a good part of the image in its usual poses, from standing to
# fallen, and the walkers are seen side-on so their joint angles read directly.
CAMERAS: dict[str, CameraConfig] = {
    # Fixed: the cart's position on the rail is part of the state, so a tracking camera would hide it.
    "InvertedPendulum": CameraConfig(distance=2.2, pitch=-5.0, target=(0.0, 0.0, 0.25)),
    "Hopper": CameraConfig(distance=2.4, pitch=-10.0, target=(0.0, 0.0, 0.7), track=True),
    "Walker2D": CameraConfig(distance=2.6, pitch=-10.0, target=(0.0, 0.0, 0.7), track=True),
    "HalfCheetah": CameraConfig(distance=2.4, pitch=-15.0, target=(0.0, 0.0, 0.35), track=True),
    "Ant": CameraConfig(distance=3.4, yaw=30.0, pitch=-35.0, target=(0.0, 0.0, 0.2), track=True),
    # Fixed, from the side of the table (the arm's base to the left): the block and target (anywhere within
    # 0.15 m of the table's centre) and the end effector above them stay in view; from the far side the arm hides
    # them whenever it reaches forward.
    "PandaReach": CameraConfig(distance=1.0, pitch=-35.0, target=(-0.05, 0.0, 0.13)),
    "PandaPush": CameraConfig(distance=1.0, pitch=-35.0, target=(-0.05, 0.0, 0.13)),
}

# panda-gym draws the target as the block's green at alpha 0.3; the tiny renderer ignores alpha, so in a pixel
# env the target would look exactly like the block. Red keeps the two apart and the alpha keeps it a ghost in
# OpenGL renders.
PANDA_TARGET_RGBA = (0.9, 0.1, 0.1, 0.3)

# The Panda's hand and fingers are drawn blue: the arm is white and grey like the table, and the object-permanence
# measurement on frames (:mod:`dreamgym.transfer.locate`) finds the gripper by its colour, as it finds the block by
# panda-gym's green.
PANDA_GRIPPER_RGBA = (0.1, 0.25, 0.9, 1.0)
PANDA_GRIPPER_LINKS = ("panda_hand", "panda_leftfinger", "panda_rightfinger")


class PixelObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Adds a camera image of a PyBullet env to its observation: ``{"image": (H, W, 3) uint8, "proprio": obs}``.

    Works on pybullet-envs-gymnasium envs (client ``unwrapped._p``, robot base ``unwrapped.robot.body_real_xyz``)
    and panda-gym envs (client ``unwrapped.sim.physics_client``). ``render()`` is the wrapped env's own. An env
    that observes a ``Dict`` (a goal task's) gets ``"image"`` added to it: ``{"image", **obs}``.

    Args:
        env: the real env, e.g. ``get_task("Hopper").make_env()``.
        camera: where the camera looks from.

    Example:
        >>> from dreamgym.tasks import get_task
        >>> env = PixelObservation(get_task("Hopper").make_env(), CAMERAS["Hopper"])
        >>> sorted(env.observation_space.spaces)
        ['image', 'proprio']
    """

    def __init__(self, env: gym.Env, camera: CameraConfig):
        import pybullet

        gym.utils.RecordConstructorArgs.__init__(self, camera=camera)
        super().__init__(env)
        self.camera = camera
        self._is_panda = hasattr(env.unwrapped, "sim")
        if camera.track:
            from pybullet_envs_gymnasium.robot_locomotors import WalkerBase

            if not isinstance(getattr(env.unwrapped, "robot", None), WalkerBase):
                raise ValueError(
                    f"A tracking camera follows a walking robot's base; {env.unwrapped} has no walking robot. "
                    "Use track=False."
                )
        if self._is_panda:
            _recolour_panda(env.unwrapped.sim)
        image = gym.spaces.Box(0, 255, (camera.height, camera.width, 3), np.uint8)
        self._merge = isinstance(env.observation_space, gym.spaces.Dict)
        if self._merge:
            self.observation_space = gym.spaces.Dict({"image": image, **env.observation_space.spaces})
        else:
            self.observation_space = gym.spaces.Dict({"image": image, "proprio": env.observation_space})
        # Computed once: only a tracking camera's view changes between frames.
        self._projection = pybullet.computeProjectionMatrixFOV(
            fov=camera.fov, aspect=camera.width / camera.height, nearVal=0.05, farVal=50.0
        )
        self._fixed_view = None if camera.track else self._view(camera.target)
        self._renderer = pybullet.ER_TINY_RENDERER
        self._flags = pybullet.ER_NO_SEGMENTATION_MASK

    def _view(self, target: tuple[float, ...]) -> tuple[float, ...]:
        import pybullet

        c = self.camera
        return pybullet.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=list(target), distance=c.distance, yaw=c.yaw, pitch=c.pitch, roll=0, upAxisIndex=2
        )

    def _client(self) -> Any:
        env = self.env.unwrapped
        if self._is_panda:
            return env.sim.physics_client
        if getattr(env, "physicsClientId", -1) < 0:  # pybullet-envs connects on the first reset
            raise gym.error.ResetNeeded("The PyBullet env has no physics client yet; call reset() first.")
        return env._p

    def frame(self) -> np.ndarray:
        """The camera image of the current state, (height, width, 3) uint8."""
        c = self.camera
        if self._fixed_view is not None:
            view = self._fixed_view
        else:
            x, y, _ = self.env.unwrapped.robot.body_real_xyz
            view = self._view((x + c.target[0], y + c.target[1], c.target[2]))
        _, _, rgba, _, _ = self._client().getCameraImage(
            c.width,
            c.height,
            viewMatrix=view,
            projectionMatrix=self._projection,
            shadow=int(c.shadow),
            renderer=self._renderer,
            flags=self._flags,
        )
        # pybullet returns a (H, W, 4) array when built with numpy, a flat tuple otherwise.
        return np.asarray(rgba, dtype=np.uint8).reshape(c.height, c.width, 4)[..., :3].copy()

    def observation(self, observation: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._merge:
            return {"image": self.frame(), **observation}
        return {"image": self.frame(), "proprio": observation}


def _recolour_panda(sim: Any) -> None:
    """Target red and gripper blue (see :data:`PANDA_TARGET_RGBA`, :data:`PANDA_GRIPPER_RGBA`)."""
    client, bodies = sim.physics_client, sim._bodies_idx
    if "target" in bodies:
        client.changeVisualShape(bodies["target"], -1, rgbaColor=PANDA_TARGET_RGBA)
    panda = bodies["panda"]
    for joint in range(client.getNumJoints(panda)):
        if client.getJointInfo(panda, joint)[12].decode() in PANDA_GRIPPER_LINKS:
            client.changeVisualShape(panda, joint, rgbaColor=PANDA_GRIPPER_RGBA)


def pixel_env_id(task: str, version: int = 0) -> str:
    return f"dreamgym/{task}Pixels-v{version}"


def make_pixel_env(task: str, camera: CameraConfig | None = None, flatten: bool = False, **kwargs: Any) -> gym.Env:
    """The real env of ``task`` with pixel observations (the entry point of ``dreamgym/<Task>Pixels-v0``).

    Args:
        task: a task name; without ``camera``, one of :data:`CAMERAS`.
        camera: the camera; defaults to the task's entry in :data:`CAMERAS`.
        flatten: a goal task observes ``Dict(image, proprio)`` with its flat goal vector as ``proprio`` (how
            dreamgym's pipeline reads it) instead of the frame beside its goal ``Dict`` (how HER reads it). Other
            tasks observe ``Dict(image, proprio)`` either way.
        **kwargs: passed to the real env (``TaskSpec.make_env``), e.g. ``render_mode="rgb_array"``.

    Raises:
        UnknownTaskError: a task with no default camera, when ``camera`` is not given.
    """
    if camera is None:
        if task not in CAMERAS:
            close = difflib.get_close_matches(task, CAMERAS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownTaskError(
                f"No camera for task {task!r}; expected one of {sorted(CAMERAS)}.{hint} "
                "For another task, pass camera=CameraConfig(...)."
            )
        camera = CAMERAS[task]
    spec = get_task(task)
    return PixelObservation(spec.make_env(flatten=flatten, **kwargs), camera)


def register_pixel_envs() -> None:
    """Registers ``dreamgym/<Task>Pixels-v0`` for every task in :data:`CAMERAS` (idempotent)."""
    for name in CAMERAS:
        env_id = pixel_env_id(name)
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="dreamgym.tasks.pixels:make_pixel_env",
            kwargs={"task": name},
            max_episode_steps=get_task(name).max_episode_steps,
            reward_threshold=get_task(name).success_return,
        )
