"""Side-by-side video: PyBullet next to the dream from the same start under the same actions, divergence below.

A camera world model's dream is its own decoded frames: :func:`pixel_side_by_side_video` shows the real frame, the
dreamed one and their absolute difference, with the object-permanence events of :mod:`dreamgym.transfer.locate`
marked on the side they happened. For a vector world model the dream is drawn as the robot itself: a second
PyBullet instance is posed at every step in the dreamed state
(:mod:`dreamgym.transfer.posing`: joint positions, torso height and pitch for planar walkers), so the two halves
of a frame compare like for like and a dream that bends a knee backwards shows it. Tasks without a puppet (Ant's
free base is not recoverable from its observation) fall back to bar frames of the dreamed vector.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dreamgym.data.policies import load_policy, reset_policy
from dreamgym.envs.render import render_vector_state
from dreamgym.seeding import seeded_torch
from dreamgym.tasks import TaskSpec, get_task
from dreamgym.transfer.fidelity import dream_from_states, dream_seeds, obs_scale
from dreamgym.transfer.posing import make_pose
from dreamgym.transfer.recording import BatchPolicy, load_for_task, random_policy
from dreamgym.world_model.checkpoint import Checkpoint

__all__ = ["SideBySideVideo", "pixel_side_by_side_video", "side_by_side_video", "write_video"]

PLOT_HEIGHT = 160


@dataclass(frozen=True)
class SideBySideVideo:
    """What was written: the file, its frame count and size, and the divergence curve it shows.

    Attributes:
        path: the video file (``.mp4``, ``.webm``, or ``.gif`` where no video codec is available).
        frames: number of frames (the start frame and one per step).
        size: (height, width) of a frame.
        divergence: (frames,) normalised observation error of the dream against PyBullet at each frame, in the
            unit of :mod:`dreamgym.transfer.fidelity` (RMSE over dimensions / training-data std).
        real_terminated_at, dream_terminated_at: step at which each side ended its episode, or ``None``.
        dream_frames: ``"puppet"`` (the robot posed in the dreamed state), ``"bars"``, or ``"decoded"`` (a camera
            model's frames; then ``divergence`` is the mean absolute pixel difference in [0, 1]).
        events: a camera model's object-permanence events (:mod:`dreamgym.transfer.locate`) per side,
            ``{"dream": {event: [frame, ...]}, "real": {...}}``; ``None`` for other videos.
    """

    path: Path
    frames: int
    size: tuple[int, int]
    divergence: np.ndarray
    real_terminated_at: int | None
    dream_terminated_at: int | None
    dream_frames: str
    events: dict[str, dict[str, list[int]]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "frames": self.frames,
            "size": list(self.size),
            "divergence": self.divergence.tolist(),
            "real_terminated_at": self.real_terminated_at,
            "dream_terminated_at": self.dream_terminated_at,
            "dream_frames": self.dream_frames,
            "events": self.events,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SideBySideVideo:
        """The record :meth:`to_dict` wrote (the video file itself stays where ``path`` says)."""
        return cls(
            path=Path(data["path"]),
            frames=data["frames"],
            size=tuple(data["size"]),
            divergence=np.asarray(data["divergence"], dtype=np.float32),  # as side_by_side_video measures it
            real_terminated_at=data["real_terminated_at"],
            dream_terminated_at=data["dream_terminated_at"],
            dream_frames=data["dream_frames"],
            events=data.get("events"),  # absent from records written before camera videos
        )


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    import cv2

    frame = np.ascontiguousarray(frame)
    cv2.putText(frame, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    return frame


def _divergence_strip(
    errors: np.ndarray,
    upto: int,
    total: int,
    width: int,
    ceiling: float,
    title: str = "divergence (RMSE / data std)",
    marks: np.ndarray | None = None,
) -> np.ndarray:
    """The divergence curve up to frame ``upto`` on fixed axes (all frames share x and y scales), with red ticks
    at the frames in ``marks`` (events) up to ``upto``."""
    import cv2

    strip = np.full((PLOT_HEIGHT, width, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 50, width - 10, 25, PLOT_HEIGHT - 20
    cv2.rectangle(strip, (left, top), (right, bottom), (180, 180, 180), 1)
    xs = left + np.arange(upto + 1) * (right - left) / max(total - 1, 1)
    ys = bottom - np.clip(errors[: upto + 1] / ceiling, 0, 1) * (bottom - top)
    points = np.stack([xs, ys], 1).round().astype(np.int32)
    cv2.polylines(strip, [points], False, (200, 60, 40), 2, cv2.LINE_AA)
    for t in [] if marks is None else [t for t in marks if t <= upto]:
        x = round(left + t * (right - left) / max(total - 1, 1))
        cv2.line(strip, (x, bottom), (x, bottom - 12), (220, 0, 0), 2)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(strip, f"{ceiling:.2f}", (4, top + 5), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(strip, "0", (30, bottom), font, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    text = f"{title} t={upto}: {errors[upto]:.3f}"
    cv2.putText(strip, text, (left, 17), font, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return strip


_FOURCC = {".mp4": "mp4v", ".webm": "VP80"}
"""OpenCV codec per container. VP8 in WebM plays in every browser's ``<video>``; mp4v (MPEG-4 part 2) plays in
desktop players but not in browsers, and the pip builds of OpenCV have no H.264 encoder."""


def _write(frames: Iterator[np.ndarray], path: Path, fps: int) -> tuple[Path, int, tuple[int, int]]:
    """Writes RGB frames as mp4 (mp4v) or WebM (VP8), one at a time as they come, so a long video is never held
    in memory whole; falls back to a gif next to it where OpenCV has no encoder. Returns the file written, the
    number of frames and their (height, width).

    The file is written beside ``path`` and moved into place when complete, so a failure part way leaves an
    earlier video at ``path`` as it was, not truncated.
    """
    import cv2

    first = next(frames)
    height, width = first.shape[:2]
    frames = itertools.chain([first], frames)
    path.parent.mkdir(parents=True, exist_ok=True)  # else OpenCV fails to open and looks like a missing codec
    count = 0
    if path.suffix.lower() != ".gif":
        staging = _staging(path)
        writer = cv2.VideoWriter(
            str(staging), cv2.VideoWriter_fourcc(*_FOURCC[path.suffix.lower()]), fps, (width, height)
        )
        try:
            if writer.isOpened():
                for frame in frames:
                    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                    count += 1
                writer.release()
                os.replace(staging, path)
                return path, count, (height, width)
        finally:
            writer.release()
            staging.unlink(missing_ok=True)
        path = path.with_suffix(".gif")
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]  # a gif encoder needs them all (palette)
    staging = _staging(path)
    try:
        images[0].save(staging, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path, len(images), (height, width)


def _staging(path: Path) -> Path:
    """A hidden sibling of ``path`` with its suffix, which tells the encoders the container."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def side_by_side_video(
    checkpoint: Checkpoint | str | Path,
    task: str | TaskSpec,
    policy: BatchPolicy,
    seed: int,
    path: str | Path,
    steps: int = 200,
    fps: int = 30,
) -> SideBySideVideo:
    """Renders PyBullet next to the dream from the same start and actions, with the divergence plotted below.

    PyBullet is reset with ``seed``; the dream starts from the model's posterior of that first real observation.
    At every step the policy picks an action from the *real* observation and both worlds take it, so the dream
    is open loop and any drift is the model's. The video stops after ``steps`` steps or when PyBullet ends the
    episode; a dream that ends earlier (continue head) is marked and frozen.

    Args:
        checkpoint: world model (path or loaded) trained on ``task``.
        task: the task; a checkpoint of another task is refused.
        policy: batched policy.
        seed: reset seed of PyBullet and seed of the dream noise; the same seed gives the same video.
        path: output file; ``.mp4`` (mp4v), ``.webm`` (VP8, plays in browsers) or ``.gif``. A video falls back
            to a gif where no encoder exists.
        steps: maximum number of steps.
        fps: frames per second of the video.
    """
    if not isinstance(steps, int | np.integer) or steps <= 0:
        raise ValueError(f"Expected a positive integer `steps`, got {steps!r}.")
    if Path(path).suffix.lower() not in (*_FOURCC, ".gif"):
        raise ValueError(f"Expected a video path ending in .mp4, .webm or .gif, got {str(path)!r}.")
    checkpoint, spec = load_for_task(checkpoint, task)
    scale = obs_scale(checkpoint)
    with contextlib.ExitStack() as closing:  # both PyBullet connections close, however the recording ends
        real_env = spec.make_env(render_mode="rgb_array")
        closing.callback(real_env.close)
        puppet_env = spec.make_env(render_mode="rgb_array")
        closing.callback(puppet_env.close)
        obs, _ = real_env.reset(seed=seed)
        reset_policy(policy)
        puppet_env.reset(seed=seed)
        pose = make_pose(spec, puppet_env)
        model = checkpoint.model
        first = torch.as_tensor(obs, dtype=torch.float32)[None, None]
        with torch.inference_mode(), seeded_torch(seed):
            post = model.observe(first, torch.zeros(1, 1, spec.action_dim), torch.ones(1, 1, dtype=torch.bool))
        dreams = dream_from_states(checkpoint, post.index((slice(None), -1)), first[:, 0], dream_seeds(seed, 1), steps)
        real_obs, dream_obs = [np.asarray(obs, dtype=np.float32)], [np.asarray(obs, dtype=np.float32)]
        real_frames, dream_frames = [real_env.render()], []
        real_end = dream_end = None

        def draw_dream(state: np.ndarray, t: int, reward: float) -> np.ndarray:
            if pose is None:
                height, width = real_frames[0].shape[:2]
                return render_vector_state(state, title="dream", step=t, reward=reward, size=(height, width))
            pose(puppet_env, state)
            return puppet_env.render()

        dream_frames.append(draw_dream(dream_obs[0], 0, 0.0))
        for t in range(1, steps + 1):
            action = np.asarray(policy(real_obs[-1][None]), dtype=np.float32)[0]
            obs, _, terminated, truncated, _ = real_env.step(action)
            real_obs.append(np.asarray(obs, dtype=np.float32))
            real_frames.append(real_env.render())
            if dream_end is None:
                out = dreams.step(action[None])
                dream_obs.append(out.obs[0])
                dream_frames.append(draw_dream(out.obs[0], t, float(out.reward[0])))
                dream_end = t if out.terminated[0] else None
            else:  # the dream has ended: hold its last frame
                dream_obs.append(dream_obs[-1])
                dream_frames.append(dream_frames[-1])
            if terminated or truncated:
                real_end = t if terminated else None
                break
    divergence = np.sqrt((((np.array(dream_obs) - np.array(real_obs)) / scale) ** 2).mean(1))
    ceiling = max(float(divergence.max()), 1e-6)

    def composed() -> Iterator[np.ndarray]:  # the strip's scale needs the whole curve, so frames are built last
        for t, (real_frame, dream_frame) in enumerate(zip(real_frames, dream_frames, strict=True)):
            dream_text = "dream" + (f" (ended t={dream_end})" if dream_end is not None and t >= dream_end else "")
            top = np.concatenate([_label(real_frame, f"PyBullet t={t}"), _label(dream_frame, dream_text)], 1)
            strip = _divergence_strip(divergence, t, len(real_frames), top.shape[1], ceiling)
            yield np.concatenate([top, strip], 0)

    written, frames, size = _write(composed(), Path(path), fps)
    return SideBySideVideo(
        path=written,
        frames=frames,
        size=size,
        divergence=divergence,
        real_terminated_at=real_end,
        dream_terminated_at=dream_end,
        dream_frames="bars" if pose is None else "puppet",
    )


EVENT_LABELS = {
    "vanished": "block vanished",
    "moved_untouched": "moved untouched",
    "overlaps_gripper": "gripper in block",
}


def pixel_side_by_side_video(
    checkpoint: Checkpoint | str | Path,
    task: str | TaskSpec,
    policy: Any,
    seed: int,
    path: str | Path,
    steps: int = 50,
    fps: int = 10,
    zoom: int = 4,
) -> SideBySideVideo:
    """A camera world model's video: PyBullet's frame, the dreamed frame from the same start and actions, and their
    absolute difference, side by side, the mean image error plotted below.

    Where the task's frames show a block (PandaPush), it and the gripper are located by colour in both sequences:
    a circle marks the block, and a step where an object-permanence event happens (the block vanishes, moves
    untouched, or blends into the gripper) frames that side's panel in red and names the event, with a red tick on
    the error curve for the dream's. PyBullet's own events are what the camera shows (the arm hiding the block),
    the dream's beyond them are the model's.

    Args:
        checkpoint: camera world model (path or loaded) of the pixel ``task``.
        task: the pixel task.
        policy: a :data:`~dreamgym.transfer.pixel_rollout.PixelPolicy` (see ``load_pixel_policy``), acting on the
            real observations.
        seed: reset seed of PyBullet and seed of the dream noise; the same seed gives the same video.
        path: output file: ``.mp4``, ``.webm`` or ``.gif``.
        steps: most steps.
        fps: frames per second.
        zoom: each 64x64 frame is shown ``zoom`` times larger (nearest neighbour, so pixels stay pixels).
    """
    import cv2

    from dreamgym.transfer.locate import BLOCK, locate, permanence_events
    from dreamgym.transfer.pixel_rollout import pixel_rollout

    if Path(path).suffix.lower() not in (*_FOURCC, ".gif"):
        raise ValueError(f"Expected a video path ending in .mp4, .webm or .gif, got {str(path)!r}.")
    if not isinstance(zoom, int | np.integer) or zoom < 1:
        raise ValueError(f"Expected a positive integer `zoom`, got {zoom!r}.")
    rollout = pixel_rollout(checkpoint, task, policy, seed, steps)
    real, dream = rollout.real_frames, rollout.dream_frames
    error = rollout.image_error
    sides = {"real": real, "dream": dream}
    flags = {side: permanence_events(frames) for side, frames in sides.items()}
    blocks = {side: locate(frames, BLOCK) for side, frames in sides.items()}
    events = {side: {k: (np.flatnonzero(v) + 1).tolist() for k, v in f.items()} for side, f in flags.items()}
    dream_marks = np.array(sorted({t for frames in events["dream"].values() for t in frames}), dtype=np.int64)
    ceiling = max(float(error.max()), 1e-6)
    header = 44

    def panel(frame: np.ndarray, side: str | None, t: int) -> np.ndarray:
        big = cv2.resize(frame, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        if side is None:
            return big
        if blocks[side].found[t]:
            row, col = blocks[side].centre[t]
            centre = (int((col + 0.5) * zoom), int((row + 0.5) * zoom))
            cv2.circle(big, centre, 4 * zoom, (255, 0, 255), 1, cv2.LINE_AA)
        if t > 0 and any(flags[side][name][t - 1] for name in flags[side]):
            cv2.rectangle(big, (0, 0), (big.shape[1] - 1, big.shape[0] - 1), (230, 0, 0), 3)
        return big

    def caption(width: int, lines: list[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
        strip = np.full((header, width, 3), 255, dtype=np.uint8)
        for i, (text, colour) in enumerate(lines):
            cv2.putText(strip, text, (4, 16 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
        return strip

    def composed() -> Iterator[np.ndarray]:
        for t in range(len(real)):
            diff = np.abs(dream[t].astype(np.int16) - real[t].astype(np.int16)).astype(np.uint8)
            panels, captions = [], []
            for frame, side, title in ((real[t], "real", f"PyBullet t={t}"), (dream[t], "dream", "dream")):
                if side == "dream" and rollout.dream_terminated_at is not None and t >= rollout.dream_terminated_at:
                    title += f" (ended t={rollout.dream_terminated_at})"
                happened = [EVENT_LABELS[k] for k in flags[side] if t > 0 and flags[side][k][t - 1]]
                lines = [(title, (20, 20, 20))] + ([(", ".join(happened), (220, 0, 0))] if happened else [])
                panels.append(panel(frame, side, t))
                captions.append(caption(panels[-1].shape[1], lines))
            panels.append(panel(diff, None, t))
            captions.append(caption(panels[-1].shape[1], [("|dream - PyBullet|", (20, 20, 20))]))
            top = np.concatenate([np.concatenate(captions, 1), np.concatenate(panels, 1)], 0)
            strip = _divergence_strip(
                error, t, len(real), top.shape[1], ceiling, "mean |dream - PyBullet| pixel error", dream_marks
            )
            yield np.concatenate([top, strip], 0)

    written, frames, size = _write(composed(), Path(path), fps)
    return SideBySideVideo(
        path=written,
        frames=frames,
        size=size,
        divergence=error,
        real_terminated_at=rollout.real_terminated_at,
        dream_terminated_at=rollout.dream_terminated_at,
        dream_frames="decoded",
        events=events,
    )


def write_video(
    checkpoint: str | Path, policy: str | Path, path: str | Path, steps: int = 50, seed: int = 0, fps: int = 10
) -> SideBySideVideo:
    """``dreamgym video``: the side-by-side video of a checkpoint's task, the kind chosen by the model.

    A camera model gets :func:`pixel_side_by_side_video`; a vector model :func:`side_by_side_video`. ``policy`` is
    ``"random"``, ``"scripted"`` (manipulation tasks), an SB3 ``.zip`` or a policy directory.
    """
    from dreamgym.transfer.pixel_rollout import load_pixel_policy
    from dreamgym.world_model.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    spec = get_task(loaded.task)
    if spec.image_shape is not None:
        return pixel_side_by_side_video(loaded, spec, load_pixel_policy(policy, spec, seed), seed, path, steps, fps)
    if policy == "random":
        act = random_policy(spec.action_dim, seed)
    elif policy == "scripted":
        from dreamgym.data.scripted import scripted_policy

        act = scripted_policy(spec, seed=seed)
    else:
        act = load_policy(policy, deterministic=True)
    return side_by_side_video(loaded, spec, act, seed, path, steps, fps)
