"""Private seeded streams: the same draws for the same seed, and the caller's global RNGs left as they were."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dreamgym.seeding import preserved_global_rngs, seeded_torch


def test_seeded_torch_repeats_its_draws_and_restores_the_callers_stream() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded_torch(7):
        first = torch.rand(5)
    with seeded_torch(7):
        again = torch.rand(5)
    with seeded_torch(8):
        other = torch.rand(5)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), before)


def test_preserved_global_rngs_restores_all_three_even_when_the_body_raises() -> None:
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    with pytest.raises(RuntimeError), preserved_global_rngs():
        random.seed(99)  # what SB3's load does with a checkpoint's seed
        np.random.seed(99)
        torch.manual_seed(99)
        raise RuntimeError("loading failed")
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
