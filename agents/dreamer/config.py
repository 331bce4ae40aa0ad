"""Settings of Dreamer's actor-critic, with size presets named like the world model's (``debug``, ``small``,
``default`` = the paper's S size)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from dreamgym.envs.dream_batch import TERMINATIONS

__all__ = ["AC_PRESETS", "ActorCriticConfig", "make_actor_critic_config"]


@dataclass(frozen=True)
class ActorCriticConfig:
    """How the actor and critic learn on imagined latent trajectories (DreamerV3, Hafner et al. 2023).

    Attributes:
        hidden: width of the actor's and the critic's hidden layers.
        layers: hidden layers of each (LayerNorm + SiLU, as the world model's MLPs).
        horizon: imagined steps from every posterior state of the training batch.
        gamma: discount; the paper's 1 - 1/333, an effective horizon of a few hundred steps.
        lam: λ of the λ-returns, which trade the critic's bias against the imagined rewards' variance.
        entropy_scale: weight of the actor's entropy bonus (η); with returns normalised to about [0, 1] one
            value suits dense and sparse rewards alike.
        termination: where imagined episodes end, as in the dream envs: ``"task"`` by the task's own rule on the
            decoded state where the task has one (the continue head otherwise), ``"model"`` by the continue head
            alone, ``"either"`` by whichever ends it first. The continue head learns termination from the few
            terminal steps in replay, while the rule is exact wherever the decoded state is right; a pendulum
            or hopper learns mostly from when it falls, so this is where the returns' signal comes from.
        actor_gradient: ``"reinforce"`` (likelihood ratio with the critic as baseline; the world model runs
            under ``no_grad``, so imagination is cheap) or ``"dynamics"`` (backpropagate the λ-return through the
            imagined latents into the actor, as DreamerV3's 2023 release does for continuous actions).
        min_std: lower bound of the actor's standard deviation, so it never collapses to a deterministic policy
            in the middle of training.
        max_std: upper bound of the actor's standard deviation.
        value_bins: bins of the critic's two-hot distribution over symlog returns.
        value_limit: the bins span [-value_limit, value_limit] in symlog space.
        slow_critic_rate: EMA rate of the slow critic that regularises the fast one.
        slow_reg: weight of the regulariser pulling the critic's distribution to the slow critic's mean.
        return_decay: EMA decay of the 5th and 95th return percentiles used to scale advantages.
        return_low: lower percentile of the return scale.
        return_high: upper percentile of the return scale.
        actor_lr: learning rate of the actor's Adam.
        critic_lr: learning rate of the critic's Adam.
        eps: Adam epsilon of both.
        grad_clip: global gradient-norm limit of each.
    """

    hidden: int = 512
    layers: int = 2
    horizon: int = 15
    gamma: float = 0.997
    lam: float = 0.95
    entropy_scale: float = 3e-4
    termination: Literal["task", "model", "either"] = "task"
    actor_gradient: Literal["reinforce", "dynamics"] = "reinforce"
    min_std: float = 0.1
    max_std: float = 1.0
    value_bins: int = 255
    value_limit: float = 20.0
    slow_critic_rate: float = 0.02
    slow_reg: float = 1.0
    return_decay: float = 0.99
    return_low: float = 0.05
    return_high: float = 0.95
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    eps: float = 1e-5
    grad_clip: float = 100.0

    def __post_init__(self) -> None:
        if self.termination not in TERMINATIONS:
            raise ValueError(f"Unknown termination {self.termination!r}; expected one of {list(TERMINATIONS)}.")
        if self.actor_gradient not in ("reinforce", "dynamics"):
            raise ValueError(f"Unknown actor_gradient {self.actor_gradient!r}; expected 'reinforce' or 'dynamics'.")
        for name in ("hidden", "layers", "horizon", "value_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected a positive `{name}` for the actor-critic, got {getattr(self, name)}.")
        for name in ("gamma", "lam", "return_decay", "slow_critic_rate"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"Expected `{name}` in (0, 1], got {getattr(self, name)}.")
        if not 0.0 < self.min_std < self.max_std:
            raise ValueError(f"Expected 0 < min_std < max_std, got {self.min_std} and {self.max_std}.")
        if not 0.0 <= self.return_low < self.return_high <= 1.0:
            raise ValueError(f"Expected 0 <= return_low < return_high <= 1, got {self.return_low}, {self.return_high}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Sizes follow the world model's presets; learning rates are the paper's for S and raised for the smaller
# networks, which on CPU train for a few thousand updates, not a million.
AC_PRESETS: dict[str, dict] = {
    "debug": dict(hidden=32, layers=1, actor_lr=1e-3, critic_lr=1e-3),
    "small": dict(hidden=128, layers=2, actor_lr=1e-4, critic_lr=1e-4),
    "default": dict(hidden=512, layers=2),
}


def make_actor_critic_config(preset: str, **overrides) -> ActorCriticConfig:
    """The named preset with field-level overrides."""
    if preset not in AC_PRESETS:
        raise ValueError(f"Unknown actor-critic preset {preset!r}; expected one of {sorted(AC_PRESETS)}.")
    return ActorCriticConfig(**{**AC_PRESETS[preset], **overrides})
