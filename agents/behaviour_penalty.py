"""A reward penalty for leaving the data set's behaviour, for fine-tuning a cloned policy in dreams offline.

MOPO's penalty charges for what the world model does not know; it cannot see an error all heads share, and a
long fine-tune finds those (on Hopper-medium, 3M dream steps took a MOPO policy from 42 to 14 normalised on a
pilot seed, ``benchmarks/results/offline_prereg.md``). Charging the distance between the action taken and the cloned
policy's action keeps the agent near the behaviour that produced the data, where the model was trained, in the
spirit of behaviour-regularised offline RL (BRAC's value penalty, Wu et al. 2019; TD3+BC, Fujimoto & Gu 2021).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

__all__ = ["BehaviourPenalty"]


class BehaviourPenalty(VecEnvWrapper):
    """Rewards ``r - weight * mean_i (a_i - mu_i(s))^2``, ``mu`` the frozen reference policy's deterministic action.

    The mean over action dimensions keeps ``weight`` comparable between tasks with different action sizes; the
    actions compared are the ones the environment executed (SB3 clips them to the action space first).
    """

    def __init__(self, venv: VecEnv, reference: ActorCriticPolicy, weight: float):
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"Expected a finite behaviour penalty weight >= 0, got {weight!r}.")
        super().__init__(venv)
        reference.set_training_mode(False)
        self.reference = reference
        for parameter in self.reference.parameters():
            parameter.requires_grad_(False)
        self.weight = weight
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._obs = self.venv.reset()
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float32)
        self.venv.step_async(actions)

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        reference, _ = self.reference.predict(self._obs, deterministic=True)  # clipped to the action space
        gap = np.mean((self._actions - reference) ** 2, axis=-1)
        self._obs = obs  # after an autoreset, the first observation of the new episode: where the next action acts
        return obs, rewards - self.weight * gap.astype(rewards.dtype), dones, infos
