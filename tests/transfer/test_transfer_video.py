"""Side-by-side video of PyBullet and the dream on the tiny test model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.evaluation import random_policy
from dreamgym.transfer.video import PLOT_HEIGHT, side_by_side_video
from dreamgym.world_model.checkpoint import load_checkpoint


def test_video_has_one_frame_per_step_and_starts_without_divergence(trained_checkpoint: Path, tmp_path: Path):
    import cv2

    checkpoint = load_checkpoint(trained_checkpoint)
    video = side_by_side_video(checkpoint, "InvertedPendulum", random_policy(1, 0), 5, tmp_path / "side.mp4", steps=4)
    assert video.path.exists() and video.dream_frames == "puppet"
    capture = cv2.VideoCapture(str(video.path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    assert len(frames) == video.frames == len(video.divergence) <= 5  # the start frame and one per step
    assert frames[0].shape[:2] == video.size == (240 + PLOT_HEIGHT, 2 * 320)
    assert video.divergence[0] == 0.0 and (video.divergence[1:] > 0).all()  # from one start, each world its own way
    replay = side_by_side_video(
        checkpoint, "InvertedPendulum", random_policy(1, 0), 5, tmp_path / "new" / "b.gif", steps=4
    )  # into a folder that does not exist yet
    assert replay.path.suffix == ".gif" and replay.path.exists()
    np.testing.assert_array_equal(video.divergence, replay.divergence)


def test_video_refuses_no_steps(trained_checkpoint: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="positive integer `steps`"):
        side_by_side_video(trained_checkpoint, "InvertedPendulum", random_policy(1, 0), 0, tmp_path / "x.mp4", steps=0)
