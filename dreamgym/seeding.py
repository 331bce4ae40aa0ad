"""Private seeded random streams: results that repeat with their seed and leave the caller's global RNGs alone.

Filtering a model samples posterior latents and a sampling policy draws actions, both from torch's global RNG;
every place that needs that to be reproducible draws inside :func:`seeded_torch`, so it neither depends on nor
changes what the rest of the process did with the RNG.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np

__all__ = ["preserved_global_rngs", "seeded_torch"]


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Seeds torch's global RNG for the body and restores the caller's state after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def preserved_global_rngs() -> Iterator[None]:
    """Restores Python's, NumPy's and torch's global RNG states on exit, whatever the body did to them."""
    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
