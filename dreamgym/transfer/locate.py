"""Object permanence on camera frames: find the block and the gripper by their colours, and flag what they may not do.

A world model that dreams in pixels holds no object list; whether its block stays a block is only visible in the
frames it decodes. So the block is located by panda-gym's green and the gripper by the blue the pixel env paints
it (:data:`dreamgym.tasks.pixels.PANDA_GRIPPER_RGBA`), in real and dreamed frames alike, and three events are
counted on consecutive frames:

- ``vanished``: the block was seen, and in the next frame it is gone, though it was not at the image's border
  (leaving the view) and the gripper is not over where it was (hiding it).
- ``moved_untouched``: a block at rest (it had not moved by more than ``move_px`` over the step before, or it
  is the first step) moves by more than ``move_px`` while the gripper is farther than ``touch_px`` from it in
  both frames. A pushed block slides on after the gripper has left it; that is momentum, not a dream.
- ``overlaps_gripper``: pixels of the block's and the gripper's colours blended into one (cyan) within
  ``touch_px`` of the gripper, which no real frame shows: PyBullet draws each pixel from one surface, so where
  the gripper passes the block one hides the other; a dream that superimposes them has put the gripper inside the block.

PyBullet's own frames are the control: whatever they count is what the camera does, not what physics breaks.
The thresholds are in pixels of a 64x64 frame, where the block covers about 6-9 pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BLOCK",
    "GRIPPER",
    "PIXEL_EVENTS",
    "ColourKey",
    "Located",
    "PermanenceRules",
    "blend_mask",
    "colour_mask",
    "count_events",
    "locate",
    "permanence_events",
]

PIXEL_EVENTS = ("vanished", "moved_untouched", "overlaps_gripper")


@dataclass(frozen=True)
class ColourKey:
    """An object's colour: the channel that dominates its pixels.

    Dominance (that channel above both others by ``margin``) rather than a distance to one RGB value, because the
    renderer shades a face by its angle to the light and a decoder blurs edges: the hue survives both, the exact
    value neither.

    Attributes:
        name: what the colour marks.
        channel: 0 (red), 1 (green) or 2 (blue).
        margin: how far the channel must exceed the other two (0-255).
        min_pixels: fewest pixels that count as seeing the object.
    """

    name: str
    channel: int
    margin: int = 40
    min_pixels: int = 2

    def __post_init__(self) -> None:
        if self.channel not in (0, 1, 2):
            raise ValueError(f"Expected `channel` 0, 1 or 2 (red, green, blue), got {self.channel!r}.")
        if self.min_pixels < 1:
            raise ValueError(f"Expected `min_pixels` >= 1, got {self.min_pixels!r}.")


BLOCK = ColourKey("block", channel=1)
"""panda-gym's block: green (0.1, 0.9, 0.1)."""
GRIPPER = ColourKey("gripper", channel=2)
"""The Panda's hand and fingers as the pixel env paints them: blue."""


@dataclass(frozen=True)
class Located:
    """Where an object is in each of N frames.

    Attributes:
        found: (N,) whether at least ``min_pixels`` pixels have its colour.
        centre: (N, 2) (row, column) of the centroid of those pixels; NaN where not found.
        pixels: (N,) how many pixels have its colour.
        box: (N, 4) (row0, col0, row1, col1) bounding box, inclusive; -1 where not found.
    """

    found: np.ndarray
    centre: np.ndarray
    pixels: np.ndarray
    box: np.ndarray


def _frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"Expected RGB frames of shape (N, H, W, 3) or (H, W, 3), got {frames.shape}.")
    return frames.astype(np.int16)


def colour_mask(frames: np.ndarray, key: ColourKey) -> np.ndarray:
    """(N, H, W) pixels whose ``key.channel`` exceeds both other channels by ``key.margin``."""
    frames = _frames(frames)
    others = [c for c in range(3) if c != key.channel]
    main = frames[..., key.channel]
    return (main - frames[..., others[0]] > key.margin) & (main - frames[..., others[1]] > key.margin)


def blend_mask(frames: np.ndarray, margin: int = 40) -> np.ndarray:
    """(N, H, W) pixels where green and blue both exceed red by ``margin`` and neither exceeds the other by it:
    the block's green and the gripper's blue mixed, a colour neither surface has."""
    frames = _frames(frames)
    r, g, b = frames[..., 0], frames[..., 1], frames[..., 2]
    return (g - r > margin) & (b - r > margin) & (np.abs(g - b) <= margin)


def locate(frames: np.ndarray, key: ColourKey) -> Located:
    """Finds the object of colour ``key`` in each frame (N, H, W, 3) or one frame (H, W, 3).

    Example:
        >>> frame = np.full((64, 64, 3), 220, np.uint8); frame[10:13, 20:23] = (15, 137, 15)
        >>> located = locate(frame, BLOCK)
        >>> bool(located.found[0]), located.centre[0].tolist()
        (True, [11.0, 21.0])
    """
    mask = colour_mask(frames, key)
    n = len(mask)
    pixels = mask.reshape(n, -1).sum(1)
    found = pixels >= key.min_pixels
    centre = np.full((n, 2), np.nan)
    box = np.full((n, 4), -1, dtype=np.int64)
    for i in np.flatnonzero(found):
        rows, cols = np.nonzero(mask[i])
        centre[i] = rows.mean(), cols.mean()
        box[i] = rows.min(), cols.min(), rows.max(), cols.max()
    return Located(found=found, centre=centre, pixels=pixels, box=box)


@dataclass(frozen=True)
class PermanenceRules:
    """Thresholds of :func:`permanence_events`, in pixels of the frame.

    Attributes:
        move_px: a centre shift larger than this counts as moving (the block's own width is about 3 pixels).
        touch_px: the gripper within this distance of the block may be touching it, or hiding it.
        border_px: a block last seen this close to the frame's edge may have left the view.
        blend_pixels: fewest blended (cyan) pixels that count as the gripper inside the block.
        blend_margin: the margin of :func:`blend_mask`.
    """

    move_px: float = 2.0
    touch_px: float = 8.0
    border_px: int = 3
    blend_pixels: int = 2
    blend_margin: int = 40


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise distance; infinite where either is missing (NaN): an unseen gripper touches nothing."""
    d = np.linalg.norm(a - b, axis=-1)
    return np.where(np.isnan(d), np.inf, d)


def permanence_events(frames: np.ndarray, rules: PermanenceRules | None = None) -> dict[str, np.ndarray]:
    """Flags each of :data:`PIXEL_EVENTS` on the N - 1 steps between consecutive frames (N, H, W, 3).

    Step ``t`` (0-based) is the change from frame ``t`` to frame ``t + 1``; ``overlaps_gripper`` is judged on
    frame ``t + 1``.
    """
    rules = rules or PermanenceRules()
    frames = _frames(frames)
    if len(frames) < 2:
        raise ValueError(f"Expected at least 2 frames to compare, got {len(frames)}.")
    height, width = frames.shape[1:3]
    block, gripper = locate(frames, BLOCK), locate(frames, GRIPPER)
    before, after = slice(None, -1), slice(1, None)
    last = block.centre[before]
    at_border = (
        (last[:, 0] < rules.border_px)
        | (last[:, 1] < rules.border_px)
        | (last[:, 0] > height - 1 - rules.border_px)
        | (last[:, 1] > width - 1 - rules.border_px)
    )
    hidden = _distance(gripper.centre[after], last) <= rules.touch_px
    vanished = block.found[before] & ~block.found[after] & ~at_border & ~hidden
    both = block.found[before] & block.found[after]
    shift = _distance(block.centre[after], last)  # inf where either frame lost the block
    moved = shift > rules.move_px
    at_rest = np.concatenate([[True], both[:-1] & ~moved[:-1]])  # the first frame's block rests, as at a reset
    far = (_distance(gripper.centre[before], last) > rules.touch_px) & (
        _distance(gripper.centre[after], block.centre[after]) > rules.touch_px
    )
    # Blended pixels count only at the gripper: that is where a dream superimposing it on the block blends them.
    rows, cols = np.mgrid[:height, :width]
    g_row, g_col = gripper.centre[after, 0, None, None], gripper.centre[after, 1, None, None]
    near = np.hypot(rows - g_row, cols - g_col) <= rules.touch_px  # False where no gripper was found (NaN)
    blended = (blend_mask(frames[after], rules.blend_margin) & near).reshape(len(frames) - 1, -1).sum(1)
    return {
        "vanished": vanished,
        "moved_untouched": both & at_rest & moved & far,
        "overlaps_gripper": blended >= rules.blend_pixels,
    }


def count_events(events: dict[str, np.ndarray]) -> dict[str, int]:
    """How many steps each event was flagged on."""
    return {name: int(np.sum(flags)) for name, flags in events.items()}
