"""Episodes flattened into one stream of rows in the Dreamer convention, ready for sequence sampling."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SequenceData"]

_ARRAY_FIELDS = ("obs", "prev_action", "action", "reward", "is_first", "is_terminal", "episode_index")


@dataclass(frozen=True, eq=False)
class SequenceData:
    """All rows of a data set, one row per observation, episodes laid end to end.

    An episode of N steps (observations o_0..o_N, actions a_0..a_{N-1}) gives N+1 rows. Row 0 holds o_0 with
    a zero ``prev_action``, zero reward and ``is_first``; row k holds o_k, the action a_{k-1} that led to it,
    the reward r_{k-1} it earned and whether it is terminal. This is the layout a recurrent world model
    consumes: each row's inputs are the observation and the action that produced it.

    The arrays are read-only so a data set fingerprinted for a checkpoint cannot change afterwards.

    Attributes:
        obs: ``(rows, *obs_shape)`` float32 observations.
        prev_action: ``(rows, action_dim)`` float32 action taken *before* this row (zeros on first rows).
        action: ``(rows, action_dim)`` float32 action taken *at* this row (zeros on an episode's last row),
            for evaluation code that replays the recorded actions.
        reward: ``(rows,)`` float32 reward received on arriving at this row.
        is_first: ``(rows,)`` bool, true on the first row of each episode.
        is_terminal: ``(rows,)`` bool, true where the episode terminated (not where it was truncated).
        episode_index: ``(rows,)`` int64 episode each row belongs to, counting from 0.
        image: ``(rows, H, W, C)`` uint8 camera frames beside ``obs`` (a pixel task's), or ``None``.
        metadata: dreamgym metadata of the source data set(s).

    Example:
        >>> rows = SequenceData.from_episode(np.zeros((3, 4)), np.ones((2, 1)), np.ones(2), np.array([0, 1]))
        >>> len(rows), rows.num_episodes
        (3, 1)
    """

    obs: np.ndarray
    prev_action: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    is_first: np.ndarray
    is_terminal: np.ndarray
    episode_index: np.ndarray
    image: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dtypes = {
            "obs": np.float32,
            "prev_action": np.float32,
            "action": np.float32,
            "reward": np.float32,
            "is_first": np.bool_,
            "is_terminal": np.bool_,
            "episode_index": np.int64,
        }
        rows = len(self.obs)
        for name, dtype in dtypes.items():
            array = np.array(getattr(self, name), dtype=dtype)  # a private copy, so freezing it is safe
            if len(array) != rows:
                raise ValueError(f"Expected `{name}` to have {rows} rows like `obs`, got {len(array)}.")
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        if self.image is not None:
            image = np.array(self.image, dtype=np.uint8)
            if len(image) != rows or image.ndim != 4:
                raise ValueError(f"Expected `image` of shape ({rows}, H, W, C) like `obs`, got {image.shape}.")
            image.setflags(write=False)
            object.__setattr__(self, "image", image)
        if self.prev_action.shape != self.action.shape:
            raise ValueError(
                f"Expected `action` of shape {self.prev_action.shape} like `prev_action`, got {self.action.shape}."
            )

    @classmethod
    def from_episode(
        cls,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminations: np.ndarray,
        episode_index: int = 0,
        image: np.ndarray | None = None,
    ) -> SequenceData:
        """Lays one episode out as N+1 rows (see the class docstring)."""
        actions = np.asarray(actions, dtype=np.float32)
        if actions.ndim == 1:  # a scalar action per step
            actions = actions[:, None]
        steps = len(actions)
        zero_action = np.zeros((1, actions.shape[1]), dtype=np.float32)
        return cls(
            obs=observations,
            prev_action=np.concatenate([zero_action, actions]),
            action=np.concatenate([actions, zero_action]),
            reward=np.concatenate([[0.0], rewards]),
            is_first=np.arange(steps + 1) == 0,
            is_terminal=np.concatenate([[False], terminations]),
            episode_index=np.full(steps + 1, episode_index),
            image=image,
        )

    @classmethod
    def concatenate(cls, parts: Sequence[SequenceData], metadata: dict[str, Any] | None = None) -> SequenceData:
        """Joins data sets end to end, renumbering episodes so they stay distinct.

        Used by Dyna-style training, where each round adds a newly collected data set to the old ones.

        Args:
            parts: the data sets, in order; all must have the same observation and action shapes.
            metadata: metadata of the result; by default ``{"sources": [part.metadata, ...]}``.

        Raises:
            ValueError: ``parts`` is empty or the shapes differ.
        """
        if not parts:
            raise ValueError("Expected at least one SequenceData to concatenate, got none.")
        for i, part in enumerate(parts[1:], start=1):
            for name in ("obs", "action"):
                want, got = getattr(parts[0], name).shape[1:], getattr(part, name).shape[1:]
                if want != got:
                    raise ValueError(f"Expected `{name}` rows of shape {want} in part {i} (as in part 0), got {got}.")
        # Each part's own numbering is shifted to start where the previous part's episodes end.
        offsets = np.cumsum([0] + [part.num_episodes for part in parts[:-1]])
        if len({part.image is None for part in parts}) > 1:
            raise ValueError("Expected every part to have camera images or none to; got a mix.")
        arrays = {name: np.concatenate([getattr(part, name) for part in parts]) for name in _ARRAY_FIELDS}
        if parts[0].image is not None:
            arrays["image"] = np.concatenate([part.image for part in parts])
        arrays["episode_index"] = np.concatenate(
            [_renumbered(part.episode_index, offset) for part, offset in zip(parts, offsets, strict=True)]
        )
        if metadata is None:
            metadata = {"sources": [part.metadata for part in parts]}
        return cls(**arrays, metadata=metadata)

    def mirrored(self, obs_sign: Sequence[float], action_sign: Sequence[float]) -> SequenceData:
        """The same episodes reflected through a symmetry of the task (see ``TaskSpec.mirror``).

        A reflected episode is as physical as the original, so adding it doubles what a world model sees of
        the state space at no cost in real steps and removes any left/right bias the data happened to have.
        """
        if self.image is not None:
            raise ValueError("Mirroring flips vector observations; camera images would need the scene reflected too.")
        obs_sign = np.asarray(obs_sign, dtype=np.float32)
        action_sign = np.asarray(action_sign, dtype=np.float32)
        return SequenceData(
            obs=self.obs * obs_sign,
            prev_action=self.prev_action * action_sign,
            action=self.action * action_sign,
            reward=self.reward,
            is_first=self.is_first,
            is_terminal=self.is_terminal,
            episode_index=self.episode_index,
            metadata={**self.metadata, "mirrored": True},
        )

    def transitions(self) -> dict[str, np.ndarray]:
        """Every step as a flat transition ``(s, a, r, s', terminated)``, the layout model-free offline learners
        (behaviour cloning, IQL) sample from; row k (not first) is the arrival of the step from row k-1."""
        arrival = np.flatnonzero(~self.is_first)
        return {
            "observation": self.obs[arrival - 1],
            "action": self.prev_action[arrival],
            "reward": self.reward[arrival],
            "next_observation": self.obs[arrival],
            "terminated": self.is_terminal[arrival],
        }

    @property
    def num_episodes(self) -> int:
        """Number of episodes, counted by their first rows."""
        return int(self.is_first.sum())

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.obs.shape[1:])

    @property
    def action_dim(self) -> int:
        return int(self.action.shape[1])

    def __len__(self) -> int:
        return len(self.obs)

    def fingerprint(self) -> str:
        """Returns a short sha256 hex digest of the arrays, to record which data a world model was trained on.

        Metadata is left out on purpose: the same transitions under another description are the same data.
        """
        digest = hashlib.sha256()
        for name in _ARRAY_FIELDS + (("image",) if self.image is not None else ()):
            array = np.ascontiguousarray(getattr(self, name))
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"SequenceData(rows={len(self)}, episodes={self.num_episodes}, obs_shape={self.obs_shape}, "
            f"action_dim={self.action_dim})"
        )


def _renumbered(episode_index: np.ndarray, start: int) -> np.ndarray:
    """Shifts episode numbers so the first one becomes ``start``."""
    return episode_index - (episode_index[0] if len(episode_index) else 0) + start
