"""Settings of MBPO-style SAC (Janner et al. 2019, "When to Trust Your Model") on dreamgym's world model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["MBPOConfig"]


@dataclass(frozen=True)
class MBPOConfig:
    """How SAC learns from real steps mixed with short rollouts branched off them in the world model.

    MBPO's insight is that a learned model is trustworthy for a few steps from states the robot really visited,
    not for whole episodes; so rollouts start at real states and stay short, and the policy learns mostly from
    them (``1 - real_ratio`` of each batch) at many gradient steps per real step.

    Attributes:
        real_ratio: share of each SAC batch drawn from real transitions (MBPO: 0.05).
        utd: SAC gradient steps per real step (MBPO: 20 on Hopper). The cost of an online run is mostly this.
        batch_size: SAC batch size.
        rollout_schedule: ``(start_step, end_step, min_length, max_length)``: the rollout length grows linearly
            from ``min_length`` at ``start_step`` real steps to ``max_length`` at ``end_step`` (MBPO's Hopper:
            20k, 100k, 1, 15; its HalfCheetah and Walker2d keep 1).
        trust_quantile: with an ensemble world model (``OnlineConfig.ensemble`` > 1), a rollout stops once its
            prior heads disagree more than this quantile of their disagreement one step from real states
            (``None``: rollouts run their full length); see :func:`~agents.mbpo.rollouts.branched_rollouts`.
        context: rollouts start only from posterior states with at least this many filtered steps before them
            in their replay window, so the latent state has seen enough of the real past to be trusted.
        model_capacity: imagined transitions kept (first in, first out).
        learning_rate: SAC's Adam learning rate for actor, critics and temperature.
        gamma: SAC's discount.
        tau: SAC's target-network EMA rate.
        net_arch: widths of the hidden layers of SAC's actor and critics.
        use_sde: SAC explores with generalised state-dependent noise (gSDE), as rl-zoo3's tuned SAC does on the
            PyBullet robots, instead of independent Gaussian noise per step.
    """

    real_ratio: float = 0.05
    utd: float = 10.0
    batch_size: int = 256
    rollout_schedule: tuple[int, int, int, int] = (20_000, 100_000, 1, 15)
    trust_quantile: float | None = None
    context: int = 8
    model_capacity: int = 400_000
    learning_rate: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    net_arch: tuple[int, ...] = (256, 256)
    use_sde: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rollout_schedule", tuple(int(v) for v in self.rollout_schedule))
        object.__setattr__(self, "net_arch", tuple(int(v) for v in self.net_arch))
        if not 0.0 <= self.real_ratio <= 1.0:
            raise ValueError(f"Expected `real_ratio` in [0, 1], got {self.real_ratio}.")
        for name in ("utd", "learning_rate", "tau"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Expected a positive `{name}` for MBPO, got {getattr(self, name)}.")
        for name in ("batch_size", "model_capacity"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected a positive `{name}` for MBPO, got {getattr(self, name)}.")
        if not self.net_arch or min(self.net_arch) < 1:
            raise ValueError(f"Expected `net_arch` as one or more positive layer widths, got {self.net_arch}.")
        if self.trust_quantile is not None and not 0.0 < self.trust_quantile <= 1.0:
            raise ValueError(f"Expected `trust_quantile` in (0, 1] or None, got {self.trust_quantile}.")
        if self.context < 0 or not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"Expected `context` >= 0 and `gamma` in (0, 1], got {self.context} and {self.gamma}.")
        if len(self.rollout_schedule) != 4:
            raise ValueError(f"Expected `rollout_schedule` as 4 integers, got {self.rollout_schedule}.")
        start, end, low, high = self.rollout_schedule
        if not (0 <= start <= end and 1 <= low <= high):
            raise ValueError(
                "Expected `rollout_schedule` (start_step, end_step, min_length, max_length) with "
                f"0 <= start_step <= end_step and 1 <= min_length <= max_length, got {self.rollout_schedule}."
            )

    def rollout_length(self, real_steps: int) -> int:
        """The rollout length at ``real_steps``, on the linear schedule."""
        start, end, low, high = self.rollout_schedule
        if real_steps <= start or end == start:
            return low if real_steps <= start else high
        fraction = min((real_steps - start) / (end - start), 1.0)
        return int(low + fraction * (high - low))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> MBPOConfig:
        """The config a run recorded; runs recorded before ``net_arch`` had ``hidden``, two layers of that width."""
        values = dict(values)
        if "hidden" in values:
            width = values.pop("hidden")
            values["net_arch"] = (width, width)
        return cls(**values)
