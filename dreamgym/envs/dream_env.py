"""DreamEnv: one dream of a learned world model as an ordinary ``gymnasium.Env``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from dreamgym.envs.dream_batch import DreamBatch
from dreamgym.envs.loading import load_task_checkpoint, resolve_task
from dreamgym.envs.native import present_observation, set_native_spaces
from dreamgym.envs.render import render_vector_state
from dreamgym.envs.validation import validate_action

__all__ = ["DreamEnv"]


class DreamEnv(gym.Env[np.ndarray, np.ndarray]):
    """A real robot task, dreamed by a world model.

    Observation and action spaces equal the real task's, so a policy moves between this env and PyBullet
    unchanged. ``reset`` starts from a real context window of the training data, filtered by the model;
    ``step`` imagines forward: the observation is decoded from the latent state, the reward comes from
    the reward head, ``terminated`` from the task's own termination rule applied to the dreamed state (the
    continue head where the task has no observable rule) and ``truncated`` from the dream horizon.
    ``info["uncertainty"]`` is the ensemble disagreement (0 for a single model); ``info["halted"]`` is set on
    the step where HALT ended the dream; ``info["contact_prob"]`` holds the probability of each contact flag
    where the model decodes contacts as Bernoulli variables.

    A pixel task observes ``Dict(image, proprio)`` as its real env does, the image decoded by the world model's
    CNN decoder. A goal task (panda-gym) observes the real env's ``Dict`` (``observation``, ``achieved_goal``,
    ``desired_goal``), has ``compute_reward`` for HER and reports ``info["is_success"]``, as the real env does.

    Args:
        task: dreamgym task name, e.g. ``"Hopper"``.
        checkpoint: world-model checkpoint directory; the bundled model of the task if ``None``.
        horizon: dream length before truncation; the task's default dream horizon if ``None``.
        termination_threshold: the dream ends when the continue probability drops below this.
        uncertainty_penalty: MOPO-style reward penalty per unit of ensemble disagreement (needs an ensemble).
        halt_threshold: MOReL-style HALT: the dream terminates with reward ``-halt_penalty`` once the ensemble
            disagreement exceeds this; nats, or a calibration statistic (``"p99"``, ``"max"``, ...). ``None``: off.
        halt_scale: multiplies a named ``halt_threshold``.
        halt_penalty: MOReL's kappa, the penalty of the halting step.
        termination: ``"task"`` (the task's own termination rule on the dreamed state, where the task has one),
            ``"model"`` (the continue head) or ``"either"``; see :class:`~dreamgym.envs.dream_batch.DreamBatch`.
        binary_sampling: ``"mode"`` or ``"sample"``: how contact flags of a structured decoder are dreamed.
        render_mode: ``"rgb_array"`` or ``None``.
        native_spaces: observations and actions in the real env's own spaces: a goal task's ``Dict``, a task's
            own action bounds (``False``: the flat observations and [-1, 1] actions dreamgym's pipeline works on).
        frames: a pixel task shows its decoded frames; ``False`` presents it as its vector twin (a goal task's
            ``Dict`` without ``image``, or the flat proprioception) and skips the image decoder, for agents that act
            on proprioception alone, as the bundled pixel tasks' reference policies do.

    Example:
        >>> env = gymnasium.make("dreamgym/InvertedPendulum-dream-v0", checkpoint="ckpt/")  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        task: str,
        checkpoint: str | Path | None = None,
        horizon: int | None = None,
        termination_threshold: float = 0.5,
        uncertainty_penalty: float = 0.0,
        halt_threshold: float | str | None = None,
        halt_scale: float = 1.0,
        halt_penalty: float = 100.0,
        termination: str = "task",
        binary_sampling: str = "mode",
        render_mode: str | None = None,
        native_spaces: bool = True,
        frames: bool = True,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"Expected render_mode in {self.metadata['render_modes']} or None, got {render_mode!r}.")
        self.task = resolve_task(task, checkpoint)
        self.observation_space, self.action_space = set_native_spaces(self, self.task, native_spaces, frames)
        self.render_mode = render_mode
        self.checkpoint = load_task_checkpoint(self.task, checkpoint)
        self.dreams = DreamBatch(
            self.checkpoint,
            num_envs=1,
            horizon=horizon if horizon is not None else self.task.dream_horizon,
            termination_threshold=termination_threshold,
            uncertainty_penalty=uncertainty_penalty,
            halt_threshold=halt_threshold,
            halt_scale=halt_scale,
            halt_penalty=halt_penalty,
            termination=termination,
            binary_sampling=binary_sampling,
            frames=native_spaces and frames,  # with no frames shown the image decoder is skipped
        )
        self._last_reward = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.dreams.set_seeds(torch.zeros(1, dtype=torch.long), torch.tensor([seed]))
        obs = self.dreams.reset(torch.ones(1, dtype=torch.bool))
        self._last_reward = 0.0
        return self._present(obs[0]), {}

    def _present(self, obs: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        # The frame the dream shows now: the real start frame after a reset, then decoded ones.
        image = self.dreams.image[0].numpy().copy() if self.pixels else None
        return present_observation(self, obs.copy(), image)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = validate_action(action, self.task.action_dim)
        result = self.dreams.step(self.task.to_unit_actions(action) if self.native_actions else action)
        self._last_reward = float(result.reward[0])
        info = {"uncertainty": float(result.uncertainty[0]), "halted": bool(result.halted[0])}
        if result.binary_prob is not None:
            info["contact_prob"] = result.binary_prob[0].copy()
        if result.success is not None:
            info["is_success"] = bool(result.success[0])
        return (
            self._present(result.obs[0]),
            self._last_reward,
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            info,
        )

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return render_vector_state(
            self.dreams.obs[0].numpy(),
            title=f"{self.task.name} dream",
            step=int(self.dreams.steps[0]),
            reward=self._last_reward,
        )
