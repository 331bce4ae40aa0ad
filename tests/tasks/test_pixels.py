"""Pixel envs of the real tasks: the camera sees the robot, follows a walker, and the frames are reproducible."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import dreamgym  # noqa: F401  (registers the pixel ids)
from dreamgym.errors import UnknownTaskError
from dreamgym.tasks import TASKS, get_task
from dreamgym.tasks.pixels import CAMERAS, CameraConfig, make_pixel_env, pixel_env_id, register_pixel_envs

LOCOMOTION = ["InvertedPendulum", "Hopper", "Walker2D", "HalfCheetah", "Ant"]


def robot_pixels(image: np.ndarray) -> int:
    """Pixels of the locomotion robots' saturated colours; the floor (pale blue, white) and sky are below 70."""
    image = image.astype(np.int16)
    return int(((image.max(-1) - image.min(-1)) > 90).sum())


def _teleport_base(env: gym.Env, dx: float) -> None:
    """Moves a pybullet-envs robot's base dx along x, as if it had walked there."""
    u = env.unwrapped
    body = u.robot.robot_body.bodies[u.robot.robot_body.bodyIndex]
    position, orientation = u._p.getBasePositionAndOrientation(body)
    u._p.resetBasePositionAndOrientation(body, [position[0] + dx, position[1], position[2]], orientation)


def test_every_camera_is_for_a_known_task() -> None:
    assert set(CAMERAS) <= set(TASKS)
    assert set(CAMERAS) == {*LOCOMOTION, "PandaReach", "PandaPush"}


@pytest.mark.parametrize("task", sorted(CAMERAS))
def test_image_is_64x64_rgb_and_the_robot_is_visible_and_moves(task: str) -> None:
    env = make_pixel_env(task, flatten=True)
    assert env.observation_space["image"] == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert env.observation_space["proprio"] == env.env.observation_space
    assert env.observation_space["proprio"].shape == get_task(task).obs_shape
    obs, _ = env.reset(seed=0)
    first = obs["image"]
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    assert obs in env.observation_space
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 10, "the frame is (nearly) uniform"
    if task in LOCOMOTION:
        assert robot_pixels(first) > 50
    action = np.ones(env.action_space.shape, np.float32)
    for _ in range(5):
        obs, *_ = env.step(action)
    assert (obs["image"] != first).any(axis=-1).sum() > 10, "the frame does not change when the robot moves"
    env.close()


@pytest.mark.parametrize("task", ["Hopper", "PandaPush"])
def test_same_seed_gives_identical_frames_and_proprio_is_the_real_observation(task: str) -> None:
    a, b, real = make_pixel_env(task, flatten=True), make_pixel_env(task, flatten=True), get_task(task).make_env()
    obs_a, _ = a.reset(seed=7)
    obs_b, _ = b.reset(seed=7)
    obs_real, _ = real.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(10):
        np.testing.assert_array_equal(obs_a["image"], obs_b["image"])
        np.testing.assert_array_equal(obs_a["proprio"], obs_real)
        action = rng.uniform(-1, 1, a.action_space.shape).astype(np.float32)
        obs_a, *_ = a.step(action)
        obs_b, *_ = b.step(action)
        obs_real, *_ = real.step(action)
    for env in (a, b, real):
        env.close()


def test_tracking_camera_keeps_the_hopper_in_view() -> None:
    env = make_pixel_env("Hopper")
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    threshold = robot_pixels(obs["image"]) // 2  # fallen or crouched, the hopper still covers half its standing area
    for _ in range(100):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert robot_pixels(obs["image"]) > threshold
        if terminated or truncated:
            obs, _ = env.reset()
    # A random hopper falls within a metre; moving it 4 m on shows what tracking is for.
    fixed = make_pixel_env("Hopper", dataclasses.replace(CAMERAS["Hopper"], track=False))
    for camera, visible in ((env, True), (fixed, False)):
        camera.reset(seed=0)
        _teleport_base(camera, 4.0)
        obs, *_ = camera.step(np.zeros(3, np.float32))
        assert (robot_pixels(obs["image"]) > threshold) == visible
        camera.close()


@pytest.mark.parametrize("task", ["Hopper", "PandaPush"])
def test_gymnasium_env_checker_passes(task: str) -> None:
    from gymnasium.utils.env_checker import check_env

    env = gym.make(pixel_env_id(task))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    env.close()
    # Expected advice: gym.make's wrappers, the walkers' unbounded state Box, and panda-gym's own float noise
    # between a reset env and a fresh one.
    expected = ("different from the unwrapped", "infinity", "not equal although similar")
    assert [str(w.message) for w in caught if not any(e in str(w.message) for e in expected)] == []


def test_registered_ids_use_the_tasks_time_limits() -> None:
    register_pixel_envs()  # idempotent
    for task in CAMERAS:
        spec = gym.spec(pixel_env_id(task))
        assert spec.entry_point == "dreamgym.tasks.pixels:make_pixel_env"
        assert spec.kwargs == {"task": task}
        assert spec.max_episode_steps == get_task(task).max_episode_steps


def test_render_of_the_real_env_still_works() -> None:
    env = gym.make(pixel_env_id("InvertedPendulum"), render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[-1] == 3
    env.close()


def test_unknown_task_names_the_known_ones() -> None:
    known = r"No camera for task 'Hoper'; expected one of \[.*'Hopper'.*Did you mean 'Hopper'"
    with pytest.raises(UnknownTaskError, match=known):
        make_pixel_env("Hoper")
    with pytest.raises(UnknownTaskError, match="For another task, pass camera=CameraConfig"):
        make_pixel_env("InvertedDoublePendulum")
    env = make_pixel_env("InvertedDoublePendulum", CameraConfig(width=32, height=48))
    assert env.reset(seed=0)[0]["image"].shape == (48, 32, 3)
    env.close()


def test_camera_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="positive image size"):
        CameraConfig(width=0)
    with pytest.raises(ValueError, match="field of view"):
        CameraConfig(fov=180.0)


def test_tracking_needs_a_robot() -> None:
    with pytest.raises(ValueError, match="no walking robot"):
        make_pixel_env("PandaReach", CameraConfig(track=True))
    with pytest.raises(ValueError, match="no walking robot"):
        make_pixel_env("InvertedPendulum", CameraConfig(track=True))


def test_import_dreamgym_does_not_load_pybullet() -> None:
    code = "import sys, dreamgym; print([m for m in sys.modules if 'bullet' in m or m == 'panda_gym'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("task", ["PandaReach", "PandaPush"])
def test_panda_pixel_envs_observe_the_frame_beside_the_goal_dict_as_her_expects(task: str) -> None:
    from dreamgym.tasks.pixels import PANDA_GRIPPER_RGBA
    from dreamgym.transfer.locate import BLOCK, GRIPPER, locate

    env = gym.make(pixel_env_id(task))
    assert list(env.observation_space.spaces) == ["achieved_goal", "desired_goal", "image", "observation"]
    assert env.observation_space == get_task(f"{task}Pixels").env_observation_space
    obs, _ = env.reset(seed=0)
    flat, _ = get_task(f"{task}Pixels").make_env().reset(seed=0)
    np.testing.assert_array_equal(obs["image"], flat["image"])
    np.testing.assert_array_equal(get_task(task).goal.codec.to_flat(obs), flat["proprio"])
    reward = env.unwrapped.compute_reward(obs["achieved_goal"], obs["desired_goal"], {})
    assert reward == get_task(task).goal.compute_reward(obs["achieved_goal"], obs["desired_goal"])
    assert locate(obs["image"], GRIPPER).pixels[0] > 5, f"the gripper is painted {PANDA_GRIPPER_RGBA}"
    assert locate(obs["image"], BLOCK).found[0] == (task == "PandaPush")
    env.close()


def test_sb3_her_trains_on_the_pixel_push_env() -> None:
    from stable_baselines3 import SAC, HerReplayBuffer

    env = gym.make(pixel_env_id("PandaPush"))
    model = SAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        buffer_size=200,
        learning_starts=60,
        batch_size=8,
        policy_kwargs={"net_arch": [16]},
        seed=0,
        device="cpu",
    )
    model.learn(64)  # past learning_starts: HER relabels goals of stored transitions with frames beside them
    action, _ = model.predict(env.reset(seed=1)[0], deterministic=True)
    assert action.shape == (3,)
    env.close()
