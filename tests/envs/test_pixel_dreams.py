"""Pixel dreams end to end: HopperPixels frames collected into Minari, a camera world model trained on them, and
``dreamgym/HopperPixels-dream-v0`` showing decoded frames beside the proprioception."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import dreamgym  # noqa: F401  (registers the ids)
from dreamgym.data import collect, load_episodes
from dreamgym.errors import DatasetError
from dreamgym.tasks import get_task

TASK = "HopperPixels"


@pytest.fixture(scope="module")
def pixel_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return collect(get_task(TASK), 200, tmp_path_factory.mktemp("pixels") / "data", seed=0, progress=False)


@pytest.fixture(scope="module")
def pixel_checkpoint(pixel_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dreamgym.world_model import make_config
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(TASK)
    data = load_episodes(pixel_data, spec)
    model_cfg, train_cfg = make_config("debug", 15, 3, steps=5)
    out = tmp_path_factory.mktemp("pixel_ckpt") / "ckpt"
    return train_world_model(data, out, spec, model_cfg, train_cfg, progress=False).path


def test_a_foreground_weighted_model_keeps_the_background_of_its_frames(pixel_data: Path, tmp_path: Path) -> None:
    from dreamgym.world_model import load_checkpoint, make_config
    from dreamgym.world_model.image_nets import static_background
    from dreamgym.world_model.trainer import train_world_model

    spec = get_task(TASK)
    data = load_episodes(pixel_data, spec)
    model_cfg, train_cfg = make_config("debug", 15, 3, steps=2, checkpoint_every=1, image_foreground_weight=5.0)
    trained = train_world_model(data, tmp_path / "ckpt", spec, model_cfg, train_cfg, progress=False).model
    background = static_background(data.image)
    assert torch.equal(trained.image_background, background) and background.float().std() > 0
    loaded = load_checkpoint(tmp_path / "ckpt", task=TASK).model
    assert loaded.cfg.image_foreground_weight == 5.0 and torch.equal(loaded.image_background, background)
    # Training on with other frames keeps the background the model learned against.
    other = dataclasses.replace(data, image=255 - data.image)
    more = dataclasses.replace(train_cfg, steps=3)
    resumed = train_world_model(other, tmp_path / "ckpt", spec, model_cfg, more, progress=False)
    assert resumed.step == 3 and torch.equal(resumed.model.image_background, background)
    with pytest.raises(ValueError, match=r"uint8 background of shape \(64, 64, 3\)"):
        loaded.set_image_background(background.float())


def test_pixel_data_sets_hold_the_frames_beside_the_proprioception(pixel_data: Path) -> None:
    data = load_episodes(pixel_data, get_task(TASK))
    assert data.image.shape == (len(data), 64, 64, 3) and data.image.dtype == np.uint8
    assert data.obs.shape == (len(data), 15)
    assert len(np.unique(data.image.reshape(len(data), -1), axis=0)) > len(data) // 2  # frames change with the robot
    with pytest.raises(DatasetError, match="has camera images, task 'Hopper' does not"):
        load_episodes(pixel_data, get_task("Hopper"))


def test_the_pixel_dream_observes_decoded_frames_and_passes_the_checker(pixel_checkpoint: Path) -> None:
    env = gym.make(f"dreamgym/{TASK}-dream-v0", checkpoint=pixel_checkpoint)
    assert env.observation_space == get_task(TASK).make_env().observation_space
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    start = obs["image"].copy()
    obs, *_ = env.step(env.action_space.sample())
    assert obs["image"].dtype == np.uint8 and obs["image"].shape == (64, 64, 3) and obs["proprio"].shape == (15,)
    assert not np.array_equal(obs["image"], start)  # the real start frame, then the decoder's


def test_vector_pixel_dreams_keep_each_envs_last_frame(pixel_checkpoint: Path) -> None:
    envs = gym.make_vec(f"dreamgym/{TASK}-dream-v0", num_envs=3, checkpoint=pixel_checkpoint, autoreset_mode="SameStep")
    obs, _ = envs.reset(seed=0)
    assert obs["image"].shape == (3, 64, 64, 3) and obs["proprio"].shape == (3, 15)
    for _ in range(get_task(TASK).dream_horizon):
        obs, _, terminated, truncated, info = envs.step(envs.action_space.sample())
        done = terminated | truncated
        if done.any():
            i = int(np.flatnonzero(done)[0])
            assert info["final_obs"][i]["image"].shape == (64, 64, 3)
            assert not np.array_equal(info["final_obs"][i]["image"], obs["image"][i])  # the reset's start frame now
            return
    pytest.fail("no dream ended within the horizon")


def test_the_pixel_push_dream_observes_the_frame_beside_the_goal_dict(push_pixels_checkpoint: Path) -> None:
    spec = get_task("PandaPushPixels")
    env = gym.make("dreamgym/PandaPushPixels-dream-v0", checkpoint=push_pixels_checkpoint)
    assert (
        env.observation_space == spec.env_observation_space == gym.make("dreamgym/PandaPushPixels-v0").observation_space
    )
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    obs, reward, *_, info = env.step(env.action_space.sample())
    assert obs["image"].shape == (64, 64, 3) and obs["observation"].shape == (18,) and "is_success" in info
    assert reward == env.unwrapped.compute_reward(obs["achieved_goal"], obs["desired_goal"], info)
    envs = gym.make_vec("dreamgym/PandaPushPixels-dream-v0", num_envs=2, checkpoint=push_pixels_checkpoint)
    obs, _ = envs.reset(seed=0)
    assert obs["image"].shape == (2, 64, 64, 3) and obs["desired_goal"].shape == (2, 3)


def test_a_pixel_push_dream_without_frames_is_its_vector_twins_goal_dict(push_pixels_checkpoint: Path) -> None:
    from dreamgym.envs.dream_vector_env import DreamVectorEnv

    env = gym.make("dreamgym/PandaPushPixels-dream-v0", checkpoint=push_pixels_checkpoint, frames=False)
    assert env.observation_space == get_task("PandaPush").env_observation_space  # HER-ready, no image
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.dreams.image is None  # the image decoder is skipped
    shown = DreamVectorEnv("PandaPushPixels", num_envs=2, checkpoint=push_pixels_checkpoint)
    hidden = DreamVectorEnv("PandaPushPixels", num_envs=2, checkpoint=push_pixels_checkpoint, frames=False)
    assert set(hidden.single_observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    obs_shown, _ = shown.reset(seed=0)
    obs_hidden, _ = hidden.reset(seed=0)
    actions = np.full((2, 3), 0.5, np.float32)
    for _ in range(3):
        for key, value in obs_hidden.items():
            np.testing.assert_array_equal(obs_shown[key], value)
        obs_shown, *_ = shown.step(actions)
        obs_hidden, *_ = hidden.step(actions)


def test_a_flat_pixel_dream_skips_the_frames_and_dreams_the_same_proprioception(pixel_checkpoint: Path) -> None:
    from dreamgym.envs.dream_vector_env import DreamVectorEnv

    native = DreamVectorEnv(TASK, num_envs=2, checkpoint=pixel_checkpoint)
    flat = DreamVectorEnv(TASK, num_envs=2, checkpoint=pixel_checkpoint, native_spaces=False)
    assert flat.dreams.image is None and flat.observation_space.shape == (2, 15)
    obs_native, _ = native.reset(seed=0)
    obs_flat, _ = flat.reset(seed=0)
    np.testing.assert_array_equal(obs_native["proprio"], obs_flat)
    actions = np.full((2, 3), 0.5, np.float32)
    for _ in range(3):
        obs_native, *_ = native.step(actions)
        obs_flat, *_ = flat.step(actions)
        np.testing.assert_array_equal(obs_native["proprio"], obs_flat)


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile's CPU backend needs a C++ compiler")
def test_compiled_frames_are_the_eager_decoders_up_to_rounding(pixel_checkpoint: Path) -> None:
    from dreamgym.envs.dream_batch import DreamBatch
    from dreamgym.world_model import load_checkpoint

    checkpoint = load_checkpoint(pixel_checkpoint)
    actions = np.random.default_rng(0).uniform(-1, 1, (4, 3)).astype(np.float32)
    batches = [DreamBatch(checkpoint, 4, horizon=10, compile_frames=compiled) for compiled in (False, True)]
    for batch in batches:
        batch.set_seeds(torch.arange(4), torch.arange(4))
        batch.reset(torch.ones(4, dtype=torch.bool))
    start_frames = batches[1].image.numpy().copy()  # the real frames of the starts
    for _ in range(3):
        eager, compiled = (batch.step(actions) for batch in batches)
        np.testing.assert_array_equal(compiled.obs, eager.obs)  # only the frames go through the compiler
        assert compiled.image.dtype == np.uint8 and compiled.image.shape == eager.image.shape
        assert np.abs(compiled.image.astype(np.int16) - eager.image.astype(np.int16)).max() <= 1
        assert not np.array_equal(compiled.image, start_frames)  # decoded by the compiled decoder


def test_bfloat16_frames_change_the_frames_alone(pixel_checkpoint: Path) -> None:
    from dreamgym.envs.dream_batch import DreamBatch
    from dreamgym.envs.dream_vector_env import DreamVectorEnv
    from dreamgym.world_model import load_checkpoint

    checkpoint = load_checkpoint(pixel_checkpoint)
    actions = np.random.default_rng(0).uniform(-1, 1, (4, 3)).astype(np.float32)
    batches = [DreamBatch(checkpoint, 4, horizon=10, frame_dtype=dtype) for dtype in ("float32", "bfloat16")]
    for batch in batches:
        batch.set_seeds(torch.arange(4), torch.arange(4))
        batch.reset(torch.ones(4, dtype=torch.bool))
    differences = []
    for _ in range(3):
        full, half = (batch.step(actions) for batch in batches)
        np.testing.assert_array_equal(half.obs, full.obs)  # the frames are not fed back
        np.testing.assert_array_equal(half.reward, full.reward)
        assert half.image.dtype == np.uint8 and half.image.shape == full.image.shape
        differences.append(np.abs(half.image.astype(np.int16) - full.image.astype(np.int16)))
    # bfloat16 keeps 8 significant bits: frames differ by a few intensity levels, and do differ somewhere.
    assert 0 < np.mean(differences) < 2 and np.max(differences) <= 32
    with pytest.raises(ValueError, match="frame_dtype"):
        DreamVectorEnv(TASK, num_envs=2, checkpoint=pixel_checkpoint, frame_dtype="float16")
