"""The online replay buffer: one stream of rows per env, in the data sets' row convention, sampled as windows."""

from __future__ import annotations

import numpy as np
import torch

from dreamgym.data import SequenceData

__all__ = ["ReplayBuffer"]

_FIELDS = ("obs", "prev_action", "reward", "is_first", "is_terminal")


class ReplayBuffer:
    """Rows of every env's experience, kept whole (no eviction) so a run can resume and replay anything.

    Row k of an env holds its k-th observation with the action that led to it, the reward it earned and
    whether it is terminal; the row after an episode's end is the next episode's first (``is_first``), as in
    :class:`~dreamgym.data.SequenceData`. Windows of ``seq_len`` rows are drawn uniformly over every env's valid
    starts; a window may cross an episode boundary, where ``is_first`` resets the model's state.

    Args:
        num_envs: envs appending one row each per step.
        capacity: rows kept per env; :meth:`add` refuses more.
        obs_dim: size of one observation.
        action_dim: size of one action.
    """

    def __init__(self, num_envs: int, capacity: int, obs_dim: int, action_dim: int):
        self.num_envs, self.capacity = num_envs, capacity
        self.obs = np.zeros((num_envs, capacity, obs_dim), np.float32)
        self.prev_action = np.zeros((num_envs, capacity, action_dim), np.float32)
        self.reward = np.zeros((num_envs, capacity), np.float32)
        self.is_first = np.zeros((num_envs, capacity), bool)
        self.is_terminal = np.zeros((num_envs, capacity), bool)
        self.length = 0  # every env appends on every step, so all streams have the same length

    def __len__(self) -> int:
        return self.length * self.num_envs

    def add(
        self,
        obs: np.ndarray,
        prev_action: np.ndarray,
        reward: np.ndarray,
        is_first: np.ndarray,
        is_terminal: np.ndarray,
    ) -> None:
        """Appends one row per env (arrays with a leading axis of ``num_envs``)."""
        if self.length >= self.capacity:
            raise ValueError(f"The replay buffer is full ({self.capacity} rows per env); create it with more capacity.")
        for name, value in zip(_FIELDS, (obs, prev_action, reward, is_first, is_terminal), strict=True):
            getattr(self, name)[:, self.length] = value
        self.length += 1

    def sample(self, batch_size: int, seq_len: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """A batch of windows (B, T): ``obs``, ``prev_action``, ``reward``, ``is_first`` (set on each window's first
        row, where the model starts from a fresh state) and ``is_terminal``."""
        starts_per_env = self.length - seq_len + 1
        if starts_per_env < 1:
            raise ValueError(f"The replay buffer holds {self.length} rows per env, fewer than seq_len={seq_len}.")
        flat = rng.integers(0, starts_per_env * self.num_envs, size=batch_size)
        env, start = flat // starts_per_env, flat % starts_per_env
        rows = start[:, None] + np.arange(seq_len)
        batch = {name: getattr(self, name)[env[:, None], rows] for name in _FIELDS}
        batch["is_first"][:, 0] = True
        return {name: torch.as_tensor(value) for name, value in batch.items()}

    def sample_transitions(self, count: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``count`` single real transitions drawn uniformly, in the form model-free agents learn from: ``obs``,
        ``action``, ``reward``, ``next_obs`` and ``done`` (terminated; a time limit is not a terminal state).

        Row k and row k + 1 of an env make a transition unless row k + 1 starts the next episode; rows are drawn
        and redrawn where they do not (reset rows are a small share of the buffer).
        """
        if self.length < 2 or not (~self.is_first[:, 1 : self.length]).any():
            raise ValueError("The replay buffer holds no transition yet (it needs two rows of one episode).")
        env = np.empty(0, np.int64)
        row = np.empty(0, np.int64)
        while len(env) < count:
            e = rng.integers(0, self.num_envs, size=count)
            k = rng.integers(0, self.length - 1, size=count)
            keep = ~self.is_first[e, k + 1]
            env, row = np.concatenate([env, e[keep]]), np.concatenate([row, k[keep]])
        env, row = env[:count], row[:count]
        return {
            "obs": torch.as_tensor(self.obs[env, row]),
            "action": torch.as_tensor(self.prev_action[env, row + 1]),
            "reward": torch.as_tensor(self.reward[env, row + 1]),
            "next_obs": torch.as_tensor(self.obs[env, row + 1]),
            "done": torch.as_tensor(self.is_terminal[env, row + 1].astype(np.float32)),
        }

    def episode_rows(self, env: int) -> slice:
        """Rows of ``env``'s current (unfinished) episode: from its last first row to the newest row."""
        firsts = np.flatnonzero(self.is_first[env, : self.length])
        return slice(int(firsts[-1]) if len(firsts) else 0, self.length)

    def to_sequence_data(self) -> SequenceData:
        """Every env's stream laid end to end as a :class:`SequenceData` (e.g. to cut dream start windows)."""
        n = self.length
        prev_action = self.prev_action[:, :n]
        following_first = np.concatenate([self.is_first[:, 1:n], np.ones((self.num_envs, 1), bool)], 1)
        action = np.concatenate([prev_action[:, 1:], np.zeros_like(prev_action[:, :1])], 1)
        action[following_first] = 0.0  # the action after an episode's last row was never taken in it
        is_first = self.is_first[:, :n].copy()
        is_first[:, 0] = True
        return SequenceData(
            obs=self.obs[:, :n].reshape(-1, self.obs.shape[-1]),
            prev_action=prev_action.reshape(-1, prev_action.shape[-1]),
            action=action.reshape(-1, action.shape[-1]),
            reward=self.reward[:, :n].reshape(-1),
            is_first=is_first.reshape(-1),
            is_terminal=self.is_terminal[:, :n].reshape(-1),
            episode_index=np.cumsum(is_first.reshape(-1)) - 1,
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The filled rows as tensors, for a safetensors checkpoint."""
        return {f"replay.{name}": torch.as_tensor(getattr(self, name)[:, : self.length].copy()) for name in _FIELDS}

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        length = tensors["replay.obs"].shape[1]
        if length > self.capacity or tensors["replay.obs"].shape[0] != self.num_envs:
            raise ValueError(
                f"Stored replay of shape {tuple(tensors['replay.obs'].shape)} does not fit a buffer of "
                f"{self.num_envs} envs x {self.capacity} rows."
            )
        for name in _FIELDS:
            getattr(self, name)[:, :length] = tensors[f"replay.{name}"].numpy()
        self.length = length
