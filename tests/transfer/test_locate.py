"""The colour locator and the object-permanence events on synthetic frames and on PyBullet's own frames."""

from __future__ import annotations

import numpy as np
import pytest

from dreamgym.transfer.locate import (
    BLOCK,
    GRIPPER,
    ColourKey,
    colour_mask,
    count_events,
    locate,
    permanence_events,
)

TABLE = (220, 220, 220)
GREEN = (15, 137, 15)
BLUE = (20, 50, 200)


def scene(block: tuple[int, int] | None, gripper: tuple[int, int] | None) -> np.ndarray:
    """A 64x64 table with a 3x3 green block and a 4x4 blue gripper at the given top-left corners."""
    frame = np.full((64, 64, 3), TABLE, np.uint8)
    if block is not None:
        frame[block[0] : block[0] + 3, block[1] : block[1] + 3] = GREEN
    if gripper is not None:
        frame[gripper[0] : gripper[0] + 4, gripper[1] : gripper[1] + 4] = BLUE
    return frame


def test_locator_finds_block_and_gripper_on_a_synthetic_frame() -> None:
    frame = scene((30, 20), (10, 40))
    frame[50:52, 50:52] = (137, 15, 15)  # the red target is neither
    block, gripper = locate(frame, BLOCK), locate(frame, GRIPPER)
    assert block.found.tolist() == [True] and block.pixels.tolist() == [9]
    np.testing.assert_allclose(block.centre[0], (31.0, 21.0))
    assert block.box[0].tolist() == [30, 20, 32, 22]
    np.testing.assert_allclose(gripper.centre[0], (11.5, 41.5))
    shaded = scene((30, 20), None) // 2  # a face turned from the light keeps its hue
    assert locate(shaded, BLOCK).found[0]
    empty = locate(scene(None, None), BLOCK)
    assert not empty.found[0] and np.isnan(empty.centre[0]).all() and empty.box[0].tolist() == [-1] * 4


def test_locator_refuses_bad_frames_and_keys() -> None:
    with pytest.raises(ValueError, match=r"Expected RGB frames of shape \(N, H, W, 3\) or \(H, W, 3\), got \(64, 64\)"):
        locate(np.zeros((64, 64)), BLOCK)
    with pytest.raises(ValueError, match="Expected `channel` 0, 1 or 2"):
        ColourKey("x", channel=3)
    with pytest.raises(ValueError, match="at least 2 frames"):
        permanence_events(scene((1, 1), None)[None])


def test_a_planted_vanishing_block_is_counted_once() -> None:
    frames = np.stack([scene((30, 20), (5, 50)) for _ in range(6)])
    assert count_events(permanence_events(frames)) == {"vanished": 0, "moved_untouched": 0, "overlaps_gripper": 0}
    frames[3] = scene(None, (5, 50))  # gone for one frame, nothing near it
    events = permanence_events(frames)
    assert events["vanished"].tolist() == [False, False, True, False, False]
    assert count_events(events) == {"vanished": 1, "moved_untouched": 0, "overlaps_gripper": 0}


def test_hiding_leaving_the_view_and_pushing_are_not_events() -> None:
    hidden = np.stack([scene((30, 20), (29, 26)), scene(None, (29, 21))])  # the gripper over it
    leaving = np.stack([scene((30, 0), (5, 50)), scene(None, (5, 50))])  # at the left edge
    pushed = np.stack([scene((30, 20), (30, 24)), scene((30, 25), (30, 29))])  # the gripper beside it
    # Pushed, then sliding on after the gripper stopped: momentum, not a block starting to move untouched.
    sliding = np.stack([scene((30, 20), (30, 17)), scene((30, 25), (30, 20)), scene((30, 30), (30, 20))])
    for frames in (hidden, leaving, pushed, sliding):
        assert count_events(permanence_events(frames)) == {"vanished": 0, "moved_untouched": 0, "overlaps_gripper": 0}


def test_a_block_that_jumps_untouched_and_a_gripper_blended_into_it_are_counted() -> None:
    jump = np.stack([scene((30, 20), (5, 50)), scene((30, 28), (5, 50))])
    assert permanence_events(jump)["moved_untouched"].tolist() == [True]
    rest_then_jump = np.stack([scene((30, 20), (5, 50)), scene((30, 20), (5, 50)), scene((30, 28), (5, 50))])
    assert permanence_events(rest_then_jump)["moved_untouched"].tolist() == [False, True]
    blended = scene((30, 20), (29, 24))
    blended[30:33, 20:23] = (20, 110, 120)  # the block's pixels mixed with the gripper's, as a blurring dream draws
    events = permanence_events(np.stack([scene((30, 20), (29, 24)), blended]))
    assert events["overlaps_gripper"].tolist() == [True]
    far = scene((30, 20), (5, 50))
    far[40:43, 40:43] = (20, 110, 120)  # blended colour far from the gripper is not the gripper in the block
    assert not permanence_events(np.stack([far, far]))["overlaps_gripper"].any()


def test_pybullet_frames_with_a_planted_vanishing_block() -> None:
    """PyBullet's own frames are the control; erasing the block from one of them is counted exactly once more."""
    from dreamgym.data.scripted import scripted_policy
    from dreamgym.tasks import get_task

    spec = get_task("PandaPushPixels")
    env, policy = spec.make_env(), scripted_policy(spec, seed=0)
    obs, _ = env.reset(seed=0)
    frames = [obs["image"]]
    for _ in range(8):
        obs, *_ = env.step(policy(obs["proprio"]))
        frames.append(obs["image"])
    env.close()
    frames = np.stack(frames)
    block = locate(frames, BLOCK)
    assert block.found.all() and locate(frames, GRIPPER).found.all()
    before = count_events(permanence_events(frames))
    planted = frames.copy()
    target = 4
    planted[target][colour_mask(frames[target], BLOCK)[0]] = TABLE  # the block painted over with the table
    assert not locate(planted[target], BLOCK).found[0]
    after = count_events(permanence_events(planted))
    assert after["vanished"] == before["vanished"] + 1
