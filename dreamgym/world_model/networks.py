"""Building blocks: LayerNorm+SiLU MLPs and the normalised GRU cell DreamerV3 uses for its deterministic state."""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["MLP", "EnsembleMLP", "NormGRUCell"]


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


class EnsembleMLP(nn.Module):
    """``members`` MLPs of one shape, evaluated together: (..., in_dim) -> (..., members, out_dim).

    Output heads on one shared MLP differ only in their last linear layer, so they extrapolate alike. Members
    with their own hidden layers (and their own random initialisation) are pinned together only where the data
    trains them, so their disagreement is more of a sign of missing data: as dynamics heads, it ranks a world
    model's error off the data better (``benchmarks/results/ensemble_heads.md``). Each layer is one einsum over
    the member axis, never a loop.

    Args:
        in_dim: input width.
        hidden: width of each member's hidden blocks (Linear -> LayerNorm -> SiLU, as :class:`MLP`).
        layers: hidden blocks per member.
        out_dim: width of each member's output.
        members: number of members.
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, out_dim: int, members: int):
        super().__init__()
        widths = [in_dim] + [hidden] * layers
        self.hidden_weights = nn.ParameterList(
            [
                nn.Parameter(_uniform_init(members, w_in, w_out, fan_in=w_in))
                for w_in, w_out in itertools.pairwise(widths)
            ]
        )
        self.norm_weights = nn.ParameterList([nn.Parameter(torch.ones(members, hidden)) for _ in range(layers)])
        self.norm_biases = nn.ParameterList([nn.Parameter(torch.zeros(members, hidden)) for _ in range(layers)])
        self.out_weight = nn.Parameter(_uniform_init(members, widths[-1], out_dim, fan_in=widths[-1]))
        self.out_bias = nn.Parameter(_uniform_init(members, out_dim, fan_in=widths[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        equation = "...i,kio->...ko"  # the input has no member axis; the first layer adds it
        for weight, gain, shift in zip(self.hidden_weights, self.norm_weights, self.norm_biases, strict=True):
            x = torch.einsum(equation, x, weight)
            x = nn.functional.silu(nn.functional.layer_norm(x, x.shape[-1:]) * gain + shift)
            equation = "...ki,kio->...ko"
        return torch.einsum(equation, x, self.out_weight) + self.out_bias


def _uniform_init(*shape: int, fan_in: int) -> torch.Tensor:
    """nn.Linear's default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for a stack of members."""
    bound = fan_in**-0.5
    return torch.empty(shape).uniform_(-bound, bound)
