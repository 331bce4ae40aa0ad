"""Dreamer's actor: a bounded Gaussian over continuous actions in [-1, 1], read off the world model's latent state."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Independent, Normal

from dreamgym.world_model.networks import MLP

__all__ = ["Actor"]


class Actor(nn.Module):
    """π(a | s) on latent features: mean ``tanh(μ)``, standard deviation squashed into [min_std, max_std].

    The mean's tanh keeps it inside the action range; the std's bounds keep exploration alive (min) and the
    samples mostly inside the range (max). Samples are clipped to [-1, 1] where they are applied, which is what
    a real robot's actuator limits do too, and log-probabilities are of the unclipped sample.

    Example:
        >>> actor = Actor(feature_dim=48, action_dim=3, hidden=32, layers=1)
        >>> actor.act(torch.zeros(4, 48), deterministic=True).shape
        torch.Size([4, 3])
    """

    def __init__(
        self, feature_dim: int, action_dim: int, hidden: int, layers: int, min_std: float = 0.1, max_std: float = 1.0
    ):
        super().__init__()
        # What rebuilds this actor, recorded beside its weights (agents.dreamer.policy).
        self.sizes = dict(
            feature_dim=feature_dim,
            action_dim=action_dim,
            hidden=hidden,
            layers=layers,
            min_std=min_std,
            max_std=max_std,
        )
        self.action_dim = action_dim
        self.min_std, self.max_std = min_std, max_std
        self.net = MLP(feature_dim, hidden, layers, out_dim=2 * action_dim)

    def dist(self, features: torch.Tensor) -> Independent:
        mean, std = self.net(features).chunk(2, -1)
        std = (self.max_std - self.min_std) * torch.sigmoid(std + 2.0) + self.min_std
        return Independent(Normal(torch.tanh(mean), std), 1)

    def act(self, features: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """An action in [-1, 1]: the mean when ``deterministic``, else a sample (torch's global RNG)."""
        dist = self.dist(features)
        action = dist.mean if deterministic else dist.sample()
        return action.clamp(-1.0, 1.0)
