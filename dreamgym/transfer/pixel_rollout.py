"""Real and dreamed camera frames of a pixel task from the same start under the same actions.

PyBullet is reset with a seed; the camera world model filters that first frame and proprioception into its
posterior and from there dreams open loop: at every step the policy acts on the *real* observation and both
worlds take the action, so any drift between the two frame sequences is the model's. The video
(:mod:`dreamgym.transfer.video`) shows them side by side and the object-permanence counts
(:mod:`dreamgym.transfer.locate`) compare them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from dreamgym.data.policies import load_policy, load_sb3_model, reset_policy
from dreamgym.envs.native import present_observation
from dreamgym.seeding import seeded_torch
from dreamgym.tasks import TaskSpec
from dreamgym.transfer.fidelity import dream_from_states, dream_seeds
from dreamgym.transfer.recording import load_for_task, random_policy
from dreamgym.world_model.checkpoint import Checkpoint

__all__ = ["PixelPolicy", "PixelRollout", "load_pixel_policy", "pixel_rollout"]

PixelPolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Maps a batch of flat observations (N, obs_dim) and their frames (N, H, W, C) to actions (N, action_dim)."""


@dataclass(frozen=True)
class PixelRollout:
    """One episode's real and dreamed frames, step for step.

    Attributes:
        real_frames, dream_frames: (T + 1, H, W, C) uint8; frame 0 is the real start frame on both sides. A
            dream that ended before PyBullet holds its last frame.
        real_obs, dream_obs: (T + 1, obs_dim) the flat observations beside them.
        actions: (T, action_dim) the actions both took.
        real_terminated_at, dream_terminated_at: step at which each side ended its episode, or ``None``.
    """

    real_frames: np.ndarray
    dream_frames: np.ndarray
    real_obs: np.ndarray
    dream_obs: np.ndarray
    actions: np.ndarray
    real_terminated_at: int | None
    dream_terminated_at: int | None

    @property
    def image_error(self) -> np.ndarray:
        """(T + 1,) mean absolute difference of dreamed and real frames, in [0, 1] (1: every channel 255 off)."""
        diff = np.abs(self.dream_frames.astype(np.int16) - self.real_frames.astype(np.int16))
        return diff.reshape(len(diff), -1).mean(1) / 255.0


def _check_pixel_task(spec: TaskSpec) -> None:
    if spec.image_shape is None:
        raise ValueError(
            f"Task {spec.name!r} has no camera; expected a pixel task such as {spec.name + 'Pixels'!r} "
            "(dreamgym/<Task>Pixels-v0) and a world model trained on its pixel data."
        )


def load_pixel_policy(policy: str | Path | PixelPolicy, task: TaskSpec, seed: int = 0) -> PixelPolicy:
    """A policy for a pixel task's frames and proprioception.

    Args:
        policy: ``"random"`` (uniform in [-1, 1]), ``"scripted"`` (a manipulation task's noisy expert, reading the
            proprioception), a saved policy (SB3 ``.zip`` or a policy directory, see
            :func:`dreamgym.data.policies.load_policy`), or a :data:`PixelPolicy`. An SB3 policy trained on the
            pixel env's ``Dict`` (``MultiInputPolicy``) gets the frame beside the proprioception, or beside a goal
            task's ``Dict`` entries; one trained on the vector task gets the flat observation.
        task: the pixel task.
        seed: seeds the random and scripted policies.
    """
    _check_pixel_task(task)
    if callable(policy):
        return policy
    if policy == "random":
        act = random_policy(task.action_dim, seed)
        return lambda obs, image: act(obs)
    if policy == "scripted":
        from dreamgym.data.scripted import scripted_policy

        expert = scripted_policy(task, seed=seed)
        return lambda obs, image: expert(obs)
    path = Path(policy)
    if path.suffix == ".zip" and path.is_file():
        from gymnasium import spaces

        model = load_sb3_model(path)
        space = model.observation_space
        if isinstance(space, spaces.Dict) and "image" in space.spaces:
            view = SimpleNamespace(pixels=True, codec=task.goal.codec if task.goal is not None else None)

            def act(obs: np.ndarray, image: np.ndarray) -> np.ndarray:
                action, _ = model.predict(present_observation(view, obs, image), deterministic=True)
                return np.asarray(action, dtype=np.float32)

            return act
    flat = load_policy(path, deterministic=True)  # batched, on the flat observations

    def act_flat(obs: np.ndarray, image: np.ndarray) -> np.ndarray:
        return flat(obs)

    if callable(getattr(flat, "reset", None)):  # a recurrent policy's episode start, for reset_policy
        act_flat.reset = flat.reset
    return act_flat


def pixel_rollout(
    checkpoint: Checkpoint | str | Path,
    task: str | TaskSpec,
    policy: PixelPolicy,
    seed: int,
    steps: int,
) -> PixelRollout:
    """Runs ``policy`` in PyBullet for up to ``steps`` steps from reset ``seed`` and dreams the same actions.

    Args:
        checkpoint: camera world model (path or loaded) of the pixel ``task``.
        task: the pixel task; a checkpoint of another task is refused.
        policy: acts on the real observations (see :func:`load_pixel_policy`).
        seed: reset seed of PyBullet and seed of the dream's noise; the same seed gives the same frames.
        steps: most steps; PyBullet ending its episode ends the rollout.
    """
    if not isinstance(steps, int | np.integer) or steps <= 0:
        raise ValueError(f"Expected a positive integer `steps`, got {steps!r}.")
    checkpoint, spec = load_for_task(checkpoint, task)
    _check_pixel_task(spec)
    env = spec.make_env()  # Dict(image, proprio), the flat observation beside the frame
    try:
        obs, _ = env.reset(seed=seed)
        reset_policy(policy)
        real_frames, real_obs = [obs["image"]], [np.asarray(obs["proprio"], np.float32)]
        first_obs = torch.as_tensor(real_obs[0])[None]
        first_image = torch.as_tensor(obs["image"])[None]
        model = checkpoint.model
        with torch.inference_mode(), seeded_torch(seed):
            post = model.observe(
                first_obs[:, None],
                torch.zeros(1, 1, spec.action_dim),
                torch.ones(1, 1, dtype=torch.bool),
                image=first_image[:, None],
            )
        dreams = dream_from_states(
            checkpoint, post.index((slice(None), -1)), first_obs, dream_seeds(seed, 1), steps, image=first_image
        )
        dream_frames, dream_obs, actions = [obs["image"]], [real_obs[0]], []
        real_end = dream_end = None
        for t in range(1, steps + 1):
            action = np.asarray(policy(real_obs[-1][None], real_frames[-1][None]), dtype=np.float32).reshape(-1)
            obs, _, terminated, truncated, _ = env.step(action)
            actions.append(action)
            real_frames.append(obs["image"])
            real_obs.append(np.asarray(obs["proprio"], np.float32))
            if dream_end is None:
                out = dreams.step(action[None])
                dream_frames.append(out.image[0].copy())
                dream_obs.append(out.obs[0].copy())
                dream_end = t if out.terminated[0] else None
            else:  # the dream has ended: hold its last frame
                dream_frames.append(dream_frames[-1])
                dream_obs.append(dream_obs[-1])
            if terminated or truncated:
                real_end = t if terminated else None
                break
    finally:
        env.close()
    return PixelRollout(
        real_frames=np.stack(real_frames),
        dream_frames=np.stack(dream_frames),
        real_obs=np.stack(real_obs),
        dream_obs=np.stack(dream_obs),
        actions=np.stack(actions),
        real_terminated_at=real_end,
        dream_terminated_at=dream_end,
    )
