"""Counter-based random numbers keyed by (seed, episode, step) of each dream.

Dreams in a batch draw their noise from a hash of their own counters rather than from a shared stream, so
a dream's trajectory does not depend on which other dreams share its batch: env 3 of a vector env seeded
with 10 is the same dream as a single env seeded with 13, and it is generated in one vectorised op.
The hash is SplitMix64, computed in int64 with wrap-around multiplication.
"""

from __future__ import annotations

import torch

__all__ = ["STREAM_BINARY", "STREAM_MEMBER", "STREAM_RESET", "STREAM_STOCH", "counter_uniform"]

STREAM_RESET, STREAM_STOCH, STREAM_MEMBER, STREAM_BINARY = 1, 2, 3, 4

_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed int64
_MUL1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MUL2 = -7723592293110705685  # 0x94D049BB133111EB


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift on int64 (torch's >> is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    x = (x ^ _shift_right(x, 30)) * _MUL1
    x = (x ^ _shift_right(x, 27)) * _MUL2
    return x ^ _shift_right(x, 31)


def counter_uniform(
    seed: torch.Tensor, episode: torch.Tensor, step: torch.Tensor, stream: int, count: int
) -> torch.Tensor:
    """Uniform floats in (0, 1] of shape (N, count), a pure function of each row's counters and the stream.

    Each is the centre of one of 2**24 equal cells, so never 0 (safe for a logarithm); the top cell's centre
    rounds to exactly 1.0 in float32 (probability 2**-24), so a caller turning ``u`` into an index clamps it.

    Args:
        seed: (N,) int64 seed of each dream.
        episode: (N,) int64 episode counter since the seed was set.
        step: (N,) int64 step within the episode.
        stream: which use the numbers are for, so reset, latent and ensemble draws never coincide.
        count: numbers per dream.
    """
    key = _mix(seed * _GOLDEN + _mix(episode * _GOLDEN + _mix(step * _GOLDEN + stream)))
    lanes = torch.arange(1, count + 1, dtype=torch.int64, device=seed.device) * _GOLDEN
    bits = _mix(key[:, None] + lanes[None, :])
    return (_shift_right(bits, 40).to(torch.float32) + 0.5) * (1.0 / (1 << 24))
