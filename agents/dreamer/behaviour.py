"""Dreamer as the behaviour of an online run: the latent actor-critic, learning after every world-model update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.dreamer.config import make_actor_critic_config
from agents.dreamer.learner import ActorCritic
from agents.dreamer.policy import DreamerPolicy, save_dreamer_policy
from dreamgym.tasks import TaskSpec
from dreamgym.world_model import RSSMState, WorldModel

__all__ = ["DreamerBehaviour"]


class DreamerBehaviour:
    """Acts through the RSSM posterior of real observations and learns on imagined latent trajectories.

    Implements :class:`agents.online.Behaviour`; the policy directory is ``out/policy`` (see
    :mod:`agents.dreamer.policy`).

    Args:
        world_model: the run's world model, whose features the actor reads.
        spec: the task.
        preset: size preset of the actor-critic.
        actor_gradient: ``"reinforce"`` or ``"dynamics"``.
        horizon: imagination horizon.
        termination: where imagined episodes end (see :class:`~agents.dreamer.config.ActorCriticConfig`).
    """

    name = "actor_critic"
    policy_dir = "policy"

    def __init__(
        self,
        world_model: WorldModel,
        spec: TaskSpec,
        preset: str,
        actor_gradient: str,
        horizon: int,
        termination: str = "task",
    ):
        cfg = make_actor_critic_config(preset, actor_gradient=actor_gradient, horizon=horizon, termination=termination)
        self.world_model = world_model
        self.learner = ActorCritic(world_model.cfg.feature_dim, spec.action_dim, cfg, spec.termination)
        self.policy = DreamerPolicy(world_model, self.learner.actor, deterministic=False)

    def act(self, obs: np.ndarray, is_first: np.ndarray) -> np.ndarray:
        self.policy.reset_where(is_first)
        return self.policy(obs)

    def update(
        self, world_model: WorldModel, batch: dict[str, torch.Tensor], posts: RSSMState, real_steps: int
    ) -> dict[str, torch.Tensor]:
        return self.learner.update(world_model, posts, 1.0 - batch["is_terminal"].float())

    def evaluation_policy(self) -> DreamerPolicy:
        return DreamerPolicy(self.world_model, self.learner.actor, deterministic=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor_optim": self.learner.actor_optimizer, "critic_optim": self.learner.critic_optimizer}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"learner.{k}": v for k, v in self.learner.state_dict().items()}
        return tensors | {f"memory.{k}": v for k, v in self.policy.memory().items()}

    def state_json(self) -> dict[str, Any]:
        return {}

    def load_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.learner.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("learner.")})
        self.policy.restore_memory({k[7:]: v for k, v in tensors.items() if k.startswith("memory.")})

    def save_policy(self, out: Path, spec: TaskSpec, starts: dict[str, torch.Tensor], extra: dict[str, Any]) -> Path:
        extra = extra | {"actor_critic": self.learner.cfg.to_dict()}
        return save_dreamer_policy(
            out / self.policy_dir, self.world_model, self.learner.actor, task=spec, starts=starts, extra=extra
        )
