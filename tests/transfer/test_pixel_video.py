"""Pixel videos: real frames, dreamed frames from the same start and actions, their difference, events marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dreamgym.cli import main
from dreamgym.tasks import get_task
from dreamgym.transfer.locate import PIXEL_EVENTS
from dreamgym.transfer.pixel_rollout import load_pixel_policy, pixel_rollout
from dreamgym.transfer.video import PLOT_HEIGHT, pixel_side_by_side_video


def read_back(path: Path) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


def test_rollout_starts_both_sides_on_the_real_frame_and_takes_the_same_actions(push_pixels_checkpoint: Path):
    spec = get_task("PandaPushPixels")
    policy = load_pixel_policy("scripted", spec, seed=0)
    rollout = pixel_rollout(push_pixels_checkpoint, spec, policy, seed=3, steps=6)
    assert rollout.real_frames.shape == rollout.dream_frames.shape == (7, 64, 64, 3)
    assert rollout.dream_frames.dtype == np.uint8 and rollout.actions.shape == (6, 3)
    np.testing.assert_array_equal(rollout.real_frames[0], rollout.dream_frames[0])
    assert rollout.image_error[0] == 0.0 and (rollout.image_error[1:] > 0).all()
    again = pixel_rollout(push_pixels_checkpoint, spec, load_pixel_policy("scripted", spec, seed=0), seed=3, steps=6)
    np.testing.assert_array_equal(rollout.dream_frames, again.dream_frames)  # same seed, same frames
    np.testing.assert_array_equal(rollout.real_frames, again.real_frames)


def test_video_file_reads_back_with_a_frame_per_step_and_three_panels(push_pixels_checkpoint: Path, tmp_path: Path):
    spec = get_task("PandaPushPixels")
    video = pixel_side_by_side_video(
        push_pixels_checkpoint, spec, load_pixel_policy("random", spec, 0), 0, tmp_path / "v.mp4", steps=5, zoom=2
    )
    frames = read_back(video.path)
    assert len(frames) == video.frames == 6 == len(video.divergence)
    assert frames[0].shape[:2] == video.size == (44 + 2 * 64 + PLOT_HEIGHT, 3 * 2 * 64)
    assert video.dream_frames == "decoded" and set(video.events) == {"real", "dream"}
    assert set(video.events["dream"]) == set(PIXEL_EVENTS)
    assert all(1 <= t <= 5 for steps in video.events["dream"].values() for t in steps)
    # The difference panel of the first frame is black: both sides show the same real start frame.
    top = 44
    assert frames[0][top : top + 128, 2 * 128 :].max() < 20


def test_cli_video_on_a_pixel_checkpoint(push_pixels_checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.mp4"
    assert (
        main(
            [
                "video",
                "--checkpoint",
                str(push_pixels_checkpoint),
                "--policy",
                "scripted",
                "--out",
                str(out),
                "--steps",
                "3",
            ]
        )
        == 0
    )
    assert len(read_back(out)) == 4
    printed = capsys.readouterr().out
    assert "wrote 4 frames" in printed and "dream frames: vanished" in printed


def test_cli_video_on_a_vector_checkpoint(trained_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "vector.mp4"
    assert main(["video", "--checkpoint", str(trained_checkpoint), "--out", str(out), "--steps", "3"]) == 0
    assert 2 <= len(read_back(out)) <= 4


def test_pixel_policies_refuse_a_task_without_a_camera() -> None:
    with pytest.raises(
        ValueError, match="Task 'PandaPush' has no camera; expected a pixel task such as 'PandaPushPixels'"
    ):
        load_pixel_policy("random", get_task("PandaPush"))
