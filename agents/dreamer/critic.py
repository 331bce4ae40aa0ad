"""Dreamer's critic: a two-hot distribution over symlog returns, regularised towards a slow EMA copy of itself."""

from __future__ import annotations

import copy

import torch
from torch import nn

from dreamgym.world_model.functional import twohot_bins, twohot_decode, twohot_encode
from dreamgym.world_model.networks import MLP

__all__ = ["Critic"]


class Critic(nn.Module):
    """v(s) as a categorical over bins evenly spaced in symlog space, trained by cross-entropy on two-hot targets.

    A classification loss over symlog bins keeps the gradient's size independent of the returns' scale, so the
    same learning rate works whether a task pays 1 or 1000 per step. The slow critic (an EMA of the weights,
    not trained) regularises the fast one towards its own recent predictions, which damps the feedback of
    bootstrapped targets without the lag of a target network.

    Example:
        >>> critic = Critic(feature_dim=48, hidden=32, layers=1)
        >>> critic.value(torch.zeros(4, 48))  # the output layer starts at zero: every value is 0
        tensor([0., 0., 0., 0.])
    """

    def __init__(self, feature_dim: int, hidden: int, layers: int, bins: int = 255, limit: float = 20.0):
        super().__init__()
        self.net = MLP(feature_dim, hidden, layers, out_dim=bins, zero_out=True)
        self.slow = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("bins", twohot_bins(bins, limit), persistent=False)

    def value(self, features: torch.Tensor) -> torch.Tensor:
        """Expected return under the fast critic."""
        return twohot_decode(self.net(features), self.bins)

    def slow_value(self, features: torch.Tensor) -> torch.Tensor:
        """Expected return under the slow critic."""
        return twohot_decode(self.slow(features), self.bins)

    def loss(self, features: torch.Tensor, target: torch.Tensor, slow_reg: float) -> torch.Tensor:
        """Per-state loss: cross-entropy to two-hot(target) plus ``slow_reg`` times that to the slow critic's mean.

        ``features`` are detached by the caller; ``target`` (λ-returns) must not carry gradient.
        """
        log_probs = torch.log_softmax(self.net(features), -1)
        loss = -(twohot_encode(target, self.bins) * log_probs).sum(-1)
        if slow_reg:
            with torch.no_grad():
                slow_target = self.slow_value(features)
            loss = loss - slow_reg * (twohot_encode(slow_target, self.bins) * log_probs).sum(-1)
        return loss

    @torch.no_grad()
    def update_slow(self, rate: float) -> None:
        """Moves the slow critic ``rate`` of the way to the fast one."""
        for slow, fast in zip(self.slow.parameters(), self.net.parameters(), strict=True):
            slow.lerp_(fast, rate)
