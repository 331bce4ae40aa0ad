"""MBPO's two sources of SAC batches: imagined transitions (a FIFO buffer) and real ones (the online replay)."""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from agents.dreamer.replay import ReplayBuffer

__all__ = ["MixedReplay", "ModelBuffer", "Transitions"]

_FIELDS = ("obs", "action", "reward", "next_obs", "done")
Transitions = dict[str, torch.Tensor]
"""``obs`` (N, obs_dim), ``action`` (N, action_dim), ``reward`` (N,), ``next_obs`` (N, obs_dim), ``done`` (N,)."""


class ModelBuffer:
    """The last ``capacity`` imagined transitions, as preallocated tensors written round-robin."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int):
        self.capacity = capacity
        self.data = {
            "obs": torch.zeros(capacity, obs_dim),
            "action": torch.zeros(capacity, action_dim),
            "reward": torch.zeros(capacity),
            "next_obs": torch.zeros(capacity, obs_dim),
            "done": torch.zeros(capacity),
        }
        self.position = self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, transitions: Transitions) -> None:
        count = len(transitions["obs"])
        if count > self.capacity:  # only the newest fit
            transitions = {k: v[-self.capacity :] for k, v in transitions.items()}
            count = self.capacity
        rows = (self.position + torch.arange(count)) % self.capacity
        for name in _FIELDS:
            self.data[name][rows] = transitions[name].to(self.data[name].dtype)
        self.position = (self.position + count) % self.capacity
        self.size = min(self.size + count, self.capacity)

    def sample(self, count: int, rng: np.random.Generator) -> Transitions:
        rows = torch.as_tensor(rng.integers(0, self.size, size=count))
        return {name: value[rows] for name, value in self.data.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"model_buffer.{k}": v[: self.size].clone() for k, v in self.data.items()}

    def load_state_dict(self, tensors: dict[str, torch.Tensor], position: int) -> None:
        size = len(tensors["model_buffer.obs"])
        for name in _FIELDS:
            self.data[name][:size] = tensors[f"model_buffer.{name}"]
        self.size, self.position = size, position


class MixedReplay:
    """What SB3's SAC samples its batches from: ``real_ratio`` real transitions, the rest imagined.

    SB3 calls ``sample(batch_size, env)`` once per gradient step; this answers with the same
    :class:`ReplayBufferSamples` its own buffers give, so SAC's update runs unchanged.
    """

    def __init__(self, real: ReplayBuffer, model: ModelBuffer, real_ratio: float, seed: int):
        self.real, self.model, self.real_ratio = real, model, real_ratio
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int, env: object = None) -> ReplayBufferSamples:
        real_count = round(batch_size * self.real_ratio) if len(self.model) else batch_size
        parts = [self.real.sample_transitions(real_count, self.rng)] if real_count else []
        if batch_size > real_count:
            parts.append(self.model.sample(batch_size - real_count, self.rng))
        batch = {name: torch.cat([part[name] for part in parts]) for name in _FIELDS}
        return ReplayBufferSamples(
            observations=batch["obs"],
            actions=batch["action"],
            next_observations=batch["next_obs"],
            dones=batch["done"][:, None],
            rewards=batch["reward"][:, None],
        )
