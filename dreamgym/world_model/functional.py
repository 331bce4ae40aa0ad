"""Transforms from DreamerV3 that let one set of hyperparameters work across reward and observation scales."""

from __future__ import annotations

import torch

__all__ = ["symexp", "symlog", "twohot_bins", "twohot_decode", "twohot_encode"]


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * log(1 + |x|): compresses large magnitudes but stays linear near zero."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`symlog`."""
    return torch.sign(x) * torch.expm1(torch.abs(x))


def twohot_bins(num_bins: int, limit: float) -> torch.Tensor:
    """Evenly spaced bin centres in symlog space."""
    return torch.linspace(-limit, limit, num_bins)


def twohot_encode(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Encodes symlog(x) as weights on its two neighbouring bins, so the expectation recovers it exactly.

    Values outside the bin range are clamped to the outermost bin.
    """
    y = symlog(x).clamp(bins[0], bins[-1])
    upper = torch.searchsorted(bins, y.contiguous(), right=False).clamp(1, len(bins) - 1)
    lower = upper - 1
    lo_val, hi_val = bins[lower], bins[upper]
    weight_hi = (y - lo_val) / (hi_val - lo_val)
    out = torch.zeros(*x.shape, len(bins), dtype=x.dtype, device=x.device)
    # Out of place, so an ensemble trained under torch.func.vmap (benchmarks/ensemble_choice.py) can encode too.
    out = out.scatter(-1, lower.unsqueeze(-1), (1 - weight_hi).unsqueeze(-1))
    return out.scatter_add(-1, upper.unsqueeze(-1), weight_hi.unsqueeze(-1))


def twohot_decode(logits: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Expected value of a two-hot distribution, mapped back from symlog space."""
    return symexp((torch.softmax(logits, dim=-1) * bins).sum(-1))
