"""Dreamer's behaviour learning: imagine from every posterior state, then one actor and one critic update."""

from __future__ import annotations

import torch
from torch import nn

from agents.dreamer.actor import Actor
from agents.dreamer.config import ActorCriticConfig
from agents.dreamer.critic import Critic
from agents.dreamer.returns import ReturnScale, lambda_returns
from dreamgym.tasks import TerminationRule
from dreamgym.world_model import RSSMState, WorldModel

__all__ = ["ActorCritic"]


class ActorCritic(nn.Module):
    """The actor, the critic, the return scale and their optimisers, updated on imagined latent trajectories.

    Only the world model's public API is used: :meth:`WorldModel.imagine` rolls the prior forward from the start
    states under the actor, :meth:`WorldModel.reward_and_continue` reads rewards and discounts off the imagined
    states (:meth:`WorldModel.decode` where the task's termination rule judges the decoded states). The world
    model's weights never change here.

    Args:
        feature_dim: size of the world model's latent features.
        action_dim: action dimensions.
        cfg: the actor-critic's settings.
        termination_rule: the task's own rule, applied to decoded imagined states as ``cfg.termination`` says.

    Example:
        >>> from dreamgym.world_model import make_config
        >>> from agents.dreamer.config import make_actor_critic_config
        >>> cfg, _ = make_config("debug", obs_dim=5, action_dim=1)
        >>> model, learner = WorldModel(cfg), ActorCritic(cfg.feature_dim, 1, make_actor_critic_config("debug"))
        >>> posts = model.observe(torch.zeros(2, 8, 5), torch.zeros(2, 8, 1), torch.zeros(2, 8, dtype=torch.bool))
        >>> metrics = learner.update(model, posts, torch.ones(2, 8))
    """

    def __init__(
        self,
        feature_dim: int,
        action_dim: int,
        cfg: ActorCriticConfig,
        termination_rule: TerminationRule | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        # The task's rule judges decoded imagined states (cfg.termination); without one, the continue head does.
        self.termination_rule = termination_rule if cfg.termination != "model" else None
        self.actor = Actor(feature_dim, action_dim, cfg.hidden, cfg.layers, cfg.min_std, cfg.max_std)
        self.critic = Critic(feature_dim, cfg.hidden, cfg.layers, cfg.value_bins, cfg.value_limit)
        self.return_scale = ReturnScale(cfg.return_decay, cfg.return_low, cfg.return_high)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, eps=cfg.eps)
        self.critic_optimizer = torch.optim.Adam(self.critic.net.parameters(), lr=cfg.critic_lr, eps=cfg.eps)

    def _imagine(self, world_model: WorldModel, start: RSSMState) -> tuple[RSSMState, torch.Tensor]:
        """Trajectories s_0..s_H (s_0 = start) and the unclipped actions a_0..a_{H-1} the actor sampled.

        The world model sees actions clipped to [-1, 1], as the robot applies them; REINFORCE needs the
        log-probability of what was sampled, so the raw samples are kept. Under ``"dynamics"`` the clip passes
        gradients straight through and everything stays differentiable.
        """
        dynamics = self.cfg.actor_gradient == "dynamics"
        sampled: list[torch.Tensor] = []

        def policy(state: RSSMState) -> torch.Tensor:
            dist = self.actor.dist(state.features if dynamics else state.features.detach())
            action = dist.rsample() if dynamics else dist.sample()
            sampled.append(action)
            return action + (action.clamp(-1.0, 1.0) - action).detach()

        with torch.set_grad_enabled(dynamics):
            states, _ = world_model.imagine(start, policy, self.cfg.horizon)
        trajectory = RSSMState(
            torch.cat([start.deter[:, None], states.deter], 1), torch.cat([start.stoch[:, None], states.stoch], 1)
        )
        return trajectory, torch.stack(sampled, 1)

    def _reward_and_continue(self, world_model: WorldModel, states: RSSMState) -> tuple[torch.Tensor, torch.Tensor]:
        """Rewards and continue probabilities of imagined states, their episodes ended as ``cfg.termination`` says
        (the same choice as the dream envs': :class:`~dreamgym.envs.dream_batch.DreamBatch`)."""
        if self.termination_rule is None:
            return world_model.reward_and_continue(states)
        decoded = world_model.decode(states)
        alive = ~self.termination_rule(decoded.obs.detach())
        if self.cfg.termination == "task":
            return decoded.reward, alive.to(decoded.reward.dtype)
        return decoded.reward, decoded.cont * alive  # "either": the rule can only end what the head continues

    def update(self, world_model: WorldModel, posts: RSSMState, start_cont: torch.Tensor) -> dict[str, torch.Tensor]:
        """One actor and one critic step from every state of ``posts`` (any batch shape, e.g. (B, T)).

        Args:
            world_model: the model to imagine in; its parameters receive no update.
            posts: posterior states of a replay batch; detached here.
            start_cont: 1 - is_terminal of those states, so no trajectory starts after the episode ended.

        Returns:
            Detached scalars for logging.
        """
        cfg = self.cfg
        start = RSSMState(posts.deter.detach().flatten(0, -2), posts.stoch.detach().flatten(0, -3))
        trajectory, raw_actions = self._imagine(world_model, start)
        features = trajectory.features
        with torch.set_grad_enabled(cfg.actor_gradient == "dynamics"):
            reward, cont = self._reward_and_continue(world_model, trajectory.index((slice(None), slice(1, None))))
            values = self.critic.value(features)
            returns = lambda_returns(reward, cont, values, cfg.gamma, cfg.lam)
        with torch.no_grad():  # how much each step counts: the chance, under the model, the episode got there
            weight = torch.cumprod(torch.cat([start_cont.flatten()[:, None], cfg.gamma * cont[:, :-1]], 1), 1)
        scale = self.return_scale.update(returns)
        advantage = (returns - values[:, :-1].detach()) / scale

        dist = self.actor.dist(features[:, :-1].detach())
        entropy = dist.entropy()
        if cfg.actor_gradient == "reinforce":
            objective = dist.log_prob(raw_actions.detach()) * advantage.detach()
        else:
            objective = advantage
        actor_loss = -(weight * (objective + cfg.entropy_scale * entropy)).mean()
        actor_grad = _step(self.actor_optimizer, actor_loss, list(self.actor.parameters()), cfg.grad_clip)

        critic_features = features[:, :-1].detach()
        critic_loss = (weight * self.critic.loss(critic_features, returns.detach(), cfg.slow_reg)).mean()
        critic_grad = _step(self.critic_optimizer, critic_loss, list(self.critic.net.parameters()), cfg.grad_clip)
        self.critic.update_slow(cfg.slow_critic_rate)
        return {
            "actor/loss": actor_loss.detach(),
            "actor/entropy": entropy.mean().detach(),
            "actor/std": dist.base_dist.stddev.mean().detach(),
            "actor/grad_norm": actor_grad,
            "critic/loss": critic_loss.detach(),
            "critic/value": values.mean().detach(),
            "critic/grad_norm": critic_grad,
            "imagination/return": returns.mean().detach(),
            "imagination/reward": reward.mean().detach(),
            "imagination/return_scale": scale.detach(),
        }


def _step(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter], clip: float
) -> torch.Tensor:
    """Backpropagates ``loss`` into ``params`` alone (not the world model it flowed through), clips and steps."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=params)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
    if not torch.isfinite(grad_norm):
        raise FloatingPointError(f"actor-critic loss {loss.item():.4g}, gradient norm {float(grad_norm):.4g}")
    optimizer.step()
    return grad_norm.detach()
