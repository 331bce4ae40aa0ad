"""DreamVectorEnv: N dreams stepped in one batched forward pass, as a ``gymnasium.vector.VectorEnv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dreamgym.envs.dream_batch import DreamBatch, DreamStep
from dreamgym.envs.loading import load_task_checkpoint, resolve_task
from dreamgym.envs.native import present_observation, set_native_spaces
from dreamgym.envs.render import render_vector_state
from dreamgym.envs.validation import validate_action_batch

__all__ = ["DreamVectorEnv"]


def _drop(info: dict[str, Any], envs: np.ndarray) -> None:
    """Marks ``envs`` as not having the per-env entries of a vector ``info`` (value zeroed, ``_key`` mask off)."""
    for key in [k for k in info if not k.startswith("_") and f"_{k}" in info]:
        info[key][envs] = 0
        info[f"_{key}"][envs] = False


class DreamVectorEnv(VectorEnv):
    """``num_envs`` dreams of one world model, stepped together.

    Made by ``gymnasium.make_vec("dreamgym/<Task>-dream-v0", num_envs=N, checkpoint=...)``. Env ``i`` of
    a vector env reset with ``seed=s`` dreams exactly what a single :class:`DreamEnv` reset with
    ``seed=s + i`` dreams, because each dream draws its noise from its own counters.

    Autoreset follows Gymnasium 1.x: with ``NEXT_STEP`` (the default) an env that ended is reset by the
    following ``step`` call, whose action for it is ignored; with ``SAME_STEP`` it is reset at once and
    the last observation is in ``info["final_obs"]``. A goal task observes the real env's ``Dict`` (a dict of
    batched arrays, as Gymnasium batches a ``Dict`` space), has ``compute_reward`` and reports
    ``info["is_success"]``. A pixel task observes ``Dict(image, proprio)``, the frames decoded by the world model.

    Args:
        task: dreamgym task name.
        num_envs: number of dreams.
        checkpoint: world-model checkpoint directory; the bundled model if ``None``.
        horizon: dream length before truncation; the task default if ``None``.
        termination_threshold: continue probability below which a dream terminates.
        uncertainty_penalty: MOPO-style reward penalty per unit of ensemble disagreement (needs an ensemble).
        halt_threshold: MOReL-style HALT: the dream terminates with reward ``-halt_penalty`` once the ensemble
            disagreement exceeds this; nats, or a calibration statistic (``"p99"``, ``"max"``, ...). ``None``: off.
        halt_scale: multiplies a named ``halt_threshold``.
        halt_penalty: MOReL's kappa, the penalty of the halting step.
        termination: ``"task"`` (the task's own termination rule on the dreamed state, where the task has one),
            ``"model"`` (the continue head) or ``"either"``; see :class:`~dreamgym.envs.dream_batch.DreamBatch`.
        binary_sampling: ``"mode"`` or ``"sample"``: how contact flags of a structured decoder are dreamed.
        autoreset_mode: an :class:`gymnasium.vector.AutoresetMode` or its string value.
        render_mode: ``"rgb_array"`` (renders env 0) or ``None``.
        max_episode_steps: what ``gymnasium.make_vec(..., max_episode_steps=N)`` passes; as the ``TimeLimit`` that
            ``gymnasium.make`` adds for it, it can only shorten a dream (to dream longer, raise ``horizon``).
        native_spaces: observations and actions in the real env's own spaces: a goal task's ``Dict``, a task's
            own action bounds (``False``: the flat observations and [-1, 1] actions dreamgym's pipeline works on).
        frames: a pixel task shows its decoded frames; ``False`` presents it as its vector twin (a goal task's
            ``Dict`` without ``image``, or the flat proprioception) and skips the image decoder, for agents that act
            on proprioception alone, as the bundled pixel tasks' reference policies do.
        compile_frames: a pixel task's frames are decoded through ``torch.compile``: about 1.2x faster steps of
            512 pixel dreams on one CPU thread, 1.9x with ``frame_dtype="bfloat16"`` on a CPU with AMX, after a
            compilation of tens of seconds (see :class:`~dreamgym.envs.dream_batch.DreamBatch`).
        frame_dtype: ``"float32"`` or ``"bfloat16"``, the precision of a pixel task's frame decoder: bfloat16 is
            faster on CPUs with bfloat16 units and changes the frames alone, by a few intensity levels (see
            :class:`~dreamgym.envs.dream_batch.DreamBatch`).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        task: str,
        num_envs: int = 1,
        checkpoint: str | Path | None = None,
        horizon: int | None = None,
        termination_threshold: float = 0.5,
        uncertainty_penalty: float = 0.0,
        halt_threshold: float | str | None = None,
        halt_scale: float = 1.0,
        halt_penalty: float = 100.0,
        termination: str = "task",
        binary_sampling: str = "mode",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
        native_spaces: bool = True,
        frames: bool = True,
        compile_frames: bool = False,
        frame_dtype: str = "float32",
    ):
        self.task = resolve_task(task, checkpoint)
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError("DreamVectorEnv supports autoreset modes NEXT_STEP and SAME_STEP, not DISABLED.")
        checkpoint_data = load_task_checkpoint(self.task, checkpoint)
        horizon = horizon if horizon is not None else self.task.dream_horizon
        if max_episode_steps is not None:
            if max_episode_steps < 1:
                raise ValueError(f"Expected a positive `max_episode_steps`, got {max_episode_steps!r}.")
            horizon = min(horizon, max_episode_steps)
        self.dreams = DreamBatch(
            checkpoint_data,
            num_envs=num_envs,
            horizon=horizon,
            termination_threshold=termination_threshold,
            uncertainty_penalty=uncertainty_penalty,
            halt_threshold=halt_threshold,
            halt_scale=halt_scale,
            halt_penalty=halt_penalty,
            termination=termination,
            binary_sampling=binary_sampling,
            frames=native_spaces and frames,  # with no frames shown the image decoder is skipped
            compile_frames=compile_frames,
            frame_dtype=frame_dtype,
        )
        self.checkpoint = checkpoint_data
        self.num_envs = self.dreams.num_envs
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self.render_mode = render_mode
        self.single_observation_space, self.single_action_space = set_native_spaces(
            self, self.task, native_spaces, frames
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._last_reward = np.zeros(self.num_envs, dtype=np.float32)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets all envs, or those in ``options["reset_mask"]``; ``seed`` is an int (env i gets seed + i)
        or a list with one seed (or None) per env."""
        self._np_random_seed = None
        mask = np.ones(self.num_envs, dtype=bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"Expected `reset_mask` of shape ({self.num_envs},), got {mask.shape}.")
        if isinstance(seed, int | np.integer):
            seed = [int(seed) + i for i in range(self.num_envs)]
        if seed is not None:
            if len(seed) != self.num_envs:
                raise ValueError(f"Expected {self.num_envs} seeds, one per env, got {len(seed)}.")
            seeded = np.array([s is not None for s in seed]) & mask
            values = torch.tensor([s if s is not None else 0 for s in seed], dtype=torch.int64)
            indices = torch.as_tensor(np.flatnonzero(seeded))
            self.dreams.set_seeds(indices, values[indices])
        obs = self.dreams.reset(torch.as_tensor(mask)).copy()
        self._autoreset[mask] = False
        self._last_reward[mask] = 0.0
        return self._present(obs), {}

    def _present(self, obs: np.ndarray, env: int | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """The batch's observations (or env ``env``'s) in the env's observation space."""
        image = None
        if self.pixels:
            image = self.dreams.image.numpy()
            image = (image if env is None else image[env]).copy()
        return present_observation(self, obs, image)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        mode = self.metadata["autoreset_mode"]
        resetting = self._autoreset.copy() if mode == AutoresetMode.NEXT_STEP else np.zeros(self.num_envs, bool)
        actions = validate_action_batch(actions, self.num_envs, self.task.action_dim, active=~resetting)
        if self.native_actions:
            actions = self.task.to_unit_actions(actions)
        result = self.dreams.step(actions)
        obs, reward = result.obs.copy(), result.reward.astype(np.float64)
        terminated, truncated = result.terminated.copy(), result.truncated.copy()
        info = self._info(result)
        if mode == AutoresetMode.NEXT_STEP:
            if resetting.any():
                obs[resetting] = self.dreams.reset(torch.as_tensor(resetting))[resetting]
                reward[resetting], terminated[resetting], truncated[resetting] = 0.0, False, False
                _drop(info, resetting)  # a reset step reports a reset's info (none), not the discarded step's
            self._autoreset = terminated | truncated
        else:
            done = terminated | truncated
            if done.any():
                final_obs = np.empty(self.num_envs, dtype=object)
                for i in np.flatnonzero(done):  # object arrays take rows one by one; only ended envs
                    final_obs[i] = self._present(obs[i].copy(), i)
                final_info = {key: value.copy() for key, value in info.items()}
                _drop(final_info, ~done)  # the ended envs' last step, as Gymnasium's vector envs report it
                _drop(info, done)  # ... while the step's own info is the reset's, which has none
                info["final_obs"], info["_final_obs"] = final_obs, done.copy()
                info["final_info"], info["_final_info"] = final_info, done.copy()
                obs[done] = self.dreams.reset(torch.as_tensor(done))[done]
        self._last_reward = reward.astype(np.float32)
        return self._present(obs), reward, terminated, truncated, info

    def _info(self, result: DreamStep) -> dict[str, Any]:
        """Per-env info in Gymnasium's vector convention: arrays plus ``_key`` masks of envs that have them."""
        has = np.ones(self.num_envs, dtype=bool)
        info = {
            "uncertainty": result.uncertainty.astype(np.float64),
            "_uncertainty": has,
            "halted": result.halted.copy(),
            "_halted": has.copy(),
        }
        if result.binary_prob is not None:
            info["contact_prob"], info["_contact_prob"] = result.binary_prob.copy(), has.copy()
        if result.success is not None:
            info["is_success"], info["_is_success"] = result.success.copy(), has.copy()
        return info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return render_vector_state(
            self.dreams.obs[0].numpy(),
            title=f"{self.task.name} dream 0/{self.num_envs}",
            step=int(self.dreams.steps[0]),
            reward=float(self._last_reward[0]),
        )
