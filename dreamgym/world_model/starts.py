"""Real context windows that dreams start from, cut from the training data and stored in the checkpoint."""

from __future__ import annotations

import numpy as np
import torch

from dreamgym.data import SequenceData
from dreamgym.errors import DatasetError

__all__ = ["sample_context_windows"]


def sample_context_windows(
    data: SequenceData, count: int, length: int, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """Samples ``count`` windows of ``length`` real steps, each ending on a step where the episode goes on.

    The model filters a window to get a start state whose history is real, which is what a dream started
    "from the data set" means; ending on a non-terminal step guarantees the dream has a future to imagine.
    The first row of each window has ``is_first`` set so the filter starts from a clean state. A pixel task's
    windows hold their camera frames too (``image``, uint8).
    """
    ends = np.flatnonzero(~data.is_terminal[length - 1 :]) + length - 1
    if len(ends) == 0:
        raise DatasetError(
            f"The data set has no non-terminal step with {length} steps of context before it; "
            "collect longer episodes or use a shorter context."
        )
    ends = rng.choice(ends, size=min(count, len(ends)), replace=False)
    rows = ends[:, None] - np.arange(length - 1, -1, -1)[None, :]
    is_first = data.is_first[rows].copy()
    is_first[:, 0] = True
    windows = {
        "obs": torch.as_tensor(data.obs[rows], dtype=torch.float32),
        "prev_action": torch.as_tensor(data.prev_action[rows], dtype=torch.float32),
        "is_first": torch.as_tensor(is_first),
    }
    if data.image is not None:
        windows["image"] = torch.as_tensor(data.image[rows])
    return windows
