"""Samples fixed-length training windows from a :class:`SequenceData` stream."""

from __future__ import annotations

import numpy as np

from dreamgym.data.sequence_data import SequenceData

__all__ = ["SequenceSampler"]

_KEYS = ("obs", "prev_action", "reward", "is_first", "is_terminal")


class SequenceSampler:
    """Draws batches of ``seq_len``-row windows uniformly from the flat stream of rows.

    Windows may cross episode boundaries: the ``is_first`` flag inside the window tells the world model to
    reset its state there, so no start position is wasted and short episodes are still sampled. The first row
    of every window is marked ``is_first`` because the model starts that window from a fresh state.

    Args:
        data: the rows to sample from.
        seq_len: rows per window (T); at most ``len(data)``.
        seed: seeds the sampler's own generator; the same seed gives the same batches.

    Example:
        >>> sampler = SequenceSampler(data, seq_len=50, seed=0)  # doctest: +SKIP
        >>> batch = sampler.sample(16)  # batch["obs"].shape == (16, 50, *data.obs_shape)  # doctest: +SKIP
    """

    def __init__(self, data: SequenceData, seq_len: int, seed: int = 0, rng: np.random.Generator | None = None) -> None:
        if seq_len < 1:
            raise ValueError(f"Expected `seq_len` >= 1, got {seq_len}.")
        if len(data) < seq_len:
            raise ValueError(
                f"Data has {len(data)} rows, fewer than `seq_len`={seq_len}; "
                "collect more steps or use a shorter sequence length."
            )
        self.data = data
        self.seq_len = seq_len
        # ``rng`` is public so a resumed training run can continue the exact stream it checkpointed.
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self._offsets = np.arange(seq_len)

    def sample(self, batch_size: int, rows: slice | None = None) -> dict[str, np.ndarray]:
        """Returns one batch: ``obs`` (B, T, *obs_shape), ``prev_action`` (B, T, A), ``reward``,
        ``is_first`` and ``is_terminal`` (B, T).

        The arrays are fresh copies (fancy indexing), so callers may modify them.

        Args:
            batch_size: sequences drawn (B).
            rows: keep only these sequences of the B drawn: a data-parallel rank's shard. The generator advances
                as for the whole batch, so ranks that share a seed draw one global batch between them.
        """
        if batch_size < 1:
            raise ValueError(f"Expected `batch_size` >= 1, got {batch_size}.")
        starts = self.rng.integers(0, len(self.data) - self.seq_len + 1, size=batch_size)
        if rows is not None:
            starts = starts[rows]
        rows = starts[:, None] + self._offsets  # (B, T) row indices; one gather per key, no Python loop
        batch = {key: getattr(self.data, key)[rows] for key in _KEYS}
        if self.data.image is not None:
            batch["image"] = self.data.image[rows]
        batch["is_first"][:, 0] = True
        return batch
