"""Building blocks: LayerNorm+SiLU MLPs and the normalised GRU cell DreamerV3 uses for its deterministic state."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP", "NormGRUCell"]


class MLP(nn.Sequential):
    """``layers`` blocks of Linear -> LayerNorm -> SiLU, then an optional linear output layer.

    Args:
        in_dim: input width.
        hidden: width of each hidden block.
        layers: number of hidden blocks.
        out_dim: width of the output layer; ``None`` returns the last hidden activation.
        zero_out: start the output layer at zero, as DreamerV3 does for reward and value heads so that
            early predictions are 0 rather than random large numbers.
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, out_dim: int | None = None, zero_out: bool = False):
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden, bias=False), nn.LayerNorm(hidden), nn.SiLU()]
            width = hidden
        if out_dim is not None:
            head = nn.Linear(width, out_dim)
            if zero_out:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
            blocks.append(head)
        super().__init__(*blocks)


class NormGRUCell(nn.Module):
    """GRU cell with LayerNorm on the gate pre-activations and an update gate biased towards keeping h.

    One fused matmul computes all three gates, which matters on CPU where the RSSM is unrolled step by step.
    """

    def __init__(self, in_dim: int, deter: int):
        super().__init__()
        self.linear = nn.Linear(in_dim + deter, 3 * deter, bias=False)
        self.norm = nn.LayerNorm(3 * deter)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        parts = self.norm(self.linear(torch.cat([x, h], -1)))
        reset, cand, update = parts.chunk(3, -1)
        reset = torch.sigmoid(reset)
        cand = torch.tanh(reset * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * h
