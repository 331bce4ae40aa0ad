"""λ-returns of imagined trajectories and the percentile scale that normalises Dreamer's advantages."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ReturnScale", "lambda_returns"]


def lambda_returns(
    rewards: torch.Tensor, continues: torch.Tensor, values: torch.Tensor, gamma: float, lam: float
) -> torch.Tensor:
    """TD(λ) returns R_0..R_{H-1} of trajectories s_0..s_H.

    ``R_t = r_{t+1} + gamma c_{t+1} ((1 - λ) v_{t+1} + λ R_{t+1})`` with ``R_H = v_H``: λ = 0 is one-step TD,
    λ = 1 the discounted imagined return bootstrapped at the horizon. ``c`` is the continue head's probability
    that the episode goes on, so a predicted termination stops the bootstrap.

    Args:
        rewards: (B, H) reward of arriving in s_{t+1}.
        continues: (B, H) probability that s_{t+1} is not terminal.
        values: (B, H + 1) critic values v(s_0)..v(s_H).
    """
    horizon = rewards.shape[1]
    if continues.shape != rewards.shape or values.shape[1] != horizon + 1:
        raise ValueError(
            f"Expected rewards and continues of shape (B, H) and values (B, H + 1), got {tuple(rewards.shape)}, "
            f"{tuple(continues.shape)} and {tuple(values.shape)}."
        )
    discounts = gamma * continues
    running = values[:, -1]
    returns = []
    for t in reversed(range(horizon)):  # H is 15: a loop over time, batched over every trajectory
        running = rewards[:, t] + discounts[:, t] * ((1.0 - lam) * values[:, t + 1] + lam * running)
        returns.append(running)
    return torch.stack(returns[::-1], 1)


class ReturnScale(nn.Module):
    """EMA of the 5th and 95th percentiles of λ-returns; advantages are divided by max(1, P95 - P05).

    Dividing by the return range rather than its standard deviation makes sparse rewards (where the std is tiny
    and would blow noise up) and dense ones comparable, and the floor at 1 leaves small returns unscaled, so
    the entropy bonus keeps exploring where rewards are rare.
    """

    def __init__(self, decay: float = 0.99, low: float = 0.05, high: float = 0.95):
        super().__init__()
        self.decay, self.quantiles = decay, (low, high)
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))

    @torch.no_grad()
    def update(self, returns: torch.Tensor) -> torch.Tensor:
        """Folds the percentiles of ``returns`` into the EMA and returns the new scale."""
        flat = returns.detach().flatten().float()
        low, high = torch.quantile(flat, torch.tensor(self.quantiles, dtype=flat.dtype))
        self.low.lerp_(low, 1.0 - self.decay)
        self.high.lerp_(high, 1.0 - self.decay)
        return self.scale

    @property
    def scale(self) -> torch.Tensor:
        return torch.clamp(self.high - self.low, min=1.0)
