"""Image fidelity of a camera world model: reconstruction and open-loop pixel error on held-out frames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dreamgym.data import SequenceData, collect, load_episodes
from dreamgym.tasks import get_task
from dreamgym.transfer.fidelity import filter_episodes, image_reconstruction_error, open_loop_errors
from dreamgym.world_model.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def heldout(tmp_path_factory: pytest.TempPathFactory) -> SequenceData:
    spec = get_task("PandaPushPixels")
    path = collect(spec, 40, tmp_path_factory.mktemp("heldout") / "d", policy="scripted", seed=9, progress=False)
    return load_episodes(path, spec)


def test_reconstruction_error_is_the_mean_pixel_error_of_the_posterior_frames(push_pixels_checkpoint: Path, heldout):
    checkpoint = load_checkpoint(push_pixels_checkpoint)
    posts, slices = filter_episodes(checkpoint.model, heldout, seed=0)
    error = image_reconstruction_error(checkpoint.model, heldout, posts)
    with torch.inference_mode():
        decoded = checkpoint.model.decode_image(posts)  # (E, T, H, W, C), padding included
    per_row = [
        float((decoded[e, t] - torch.tensor(heldout.image[rows][t], dtype=torch.float32) / 255).abs().mean())
        for e, rows in enumerate(slices)
        for t in range(rows.stop - rows.start)
    ]
    assert len(per_row) == len(heldout)
    assert error == pytest.approx(np.mean(per_row), rel=1e-5) and 0.0 < error < 1.0
    with pytest.raises(ValueError, match="camera frames"):
        image_reconstruction_error(checkpoint.model, dataclasses.replace(heldout, image=None), posts)


def test_open_loop_errors_add_the_image_error_against_horizon(push_pixels_checkpoint: Path, heldout) -> None:
    checkpoint = load_checkpoint(push_pixels_checkpoint)
    errors = open_loop_errors(checkpoint, heldout, horizon=3, context=2, seed=0)
    assert errors["image_error"].shape == (3,) and np.all((errors["image_error"] > 0) & (errors["image_error"] < 1))
    again = open_loop_errors(checkpoint, heldout, horizon=3, context=2, seed=0, max_batch=2)  # chunked alike
    np.testing.assert_allclose(errors["image_error"], again["image_error"], rtol=1e-6)


def test_vector_models_have_no_image_error(trained_checkpoint: Path, wm_sequences) -> None:
    errors = open_loop_errors(load_checkpoint(trained_checkpoint), wm_sequences, horizon=2, context=2, seed=0)
    assert "image_error" not in errors


def test_a_recorded_pixel_episode_keeps_its_frames_beside_the_vector_tasks_observations(tmp_path: Path) -> None:
    from dreamgym.transfer.recording import random_policy, record_pybullet
    from dreamgym.zoo.catalog import load_eval_set, save_eval_set

    pixels = record_pybullet("InvertedPendulumPixels", random_policy(1, 0), episodes=2, seed=5, max_steps=30)
    vector = record_pybullet("InvertedPendulum", random_policy(1, 0), episodes=2, seed=5, max_steps=30)
    np.testing.assert_array_equal(pixels.obs, vector.obs)
    assert pixels.image.shape == (len(pixels), *get_task("InvertedPendulumPixels").image_shape)
    assert len({frame.tobytes() for frame in pixels.image}) > len(pixels) // 2  # frames of a moving cart differ
    # An evaluation set stores the frames compressed and reads them back bit for bit.
    path = save_eval_set(tmp_path / "eval.safetensors", pixels)
    back = load_eval_set(path)
    np.testing.assert_array_equal(back.image, pixels.image)
    np.testing.assert_array_equal(back.obs, pixels.obs)
    assert back.metadata == pixels.metadata and path.stat().st_size < pixels.image.nbytes / 4
    assert load_eval_set(save_eval_set(tmp_path / "vector.safetensors", vector)).image is None
