"""An SB3 ``VecEnv`` over a batch of dreams, so SB3 trains on hundreds of dreams without subprocesses."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from dreamgym.envs.dream_vector_env import DreamVectorEnv

__all__ = ["DreamSB3VecEnv"]


class DreamSB3VecEnv(VecEnv):
    """Stable-Baselines3 view of a :class:`DreamVectorEnv`.

    SB3 expects same-step autoreset with ``terminal_observation`` in the info of an env that ended, so the
    underlying vector env runs in ``SAME_STEP`` mode and this class only reshapes its outputs.

    Example:
        >>> from stable_baselines3 import PPO
        >>> env = DreamSB3VecEnv("InvertedPendulum", num_envs=256, checkpoint="ckpt/")  # doctest: +SKIP
        >>> PPO("MlpPolicy", env).learn(100_000)  # doctest: +SKIP
    """

    def __init__(self, task: str, num_envs: int, checkpoint: str | Path | None = None, **dream_kwargs: Any):
        """``dream_kwargs`` are :class:`DreamVectorEnv`'s (horizon, uncertainty penalty, HALT...)."""
        if "autoreset_mode" in dream_kwargs:
            raise ValueError("DreamSB3VecEnv always autoresets in SAME_STEP mode, as SB3 expects.")
        self.venv = DreamVectorEnv(
            task,
            num_envs=num_envs,
            checkpoint=checkpoint,
            autoreset_mode=AutoresetMode.SAME_STEP,
            native_spaces=False,  # flat and [-1, 1], as the evaluation ladder scores the agent (see DreamVectorEnv)
            **dream_kwargs,
        )
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._actions: np.ndarray | None = None

    @property
    def dreams(self):
        return self.venv.dreams

    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, _ = self.venv.reset(seed=seeds)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs, -1)

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):  # only envs that ended, a small share of the batch
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos[i]["halted"] = bool(info["final_info"]["halted"][i])  # the ended step's, not the reset's
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        raise NotImplementedError(
            f"DreamSB3VecEnv steps all dreams as one batch and has no per-env {method_name!r}; "
            "use .venv or .dreams instead."
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [self.venv.render()]
