"""DreamerV3's agent: an actor-critic learning on imagined latent trajectories, and its latent policy.

One module per concept: :mod:`~agents.dreamer.actor`, :mod:`~agents.dreamer.critic`,
:mod:`~agents.dreamer.returns` (λ-returns and their scale), :mod:`~agents.dreamer.learner` (one behaviour
update), :mod:`~agents.dreamer.policy` (acting on real observations, saving, loading),
:mod:`~agents.dreamer.replay` (the online replay) and :mod:`~agents.dreamer.behaviour` (the agent in
:mod:`agents.online`'s loop).
"""

from agents.dreamer.actor import Actor
from agents.dreamer.behaviour import DreamerBehaviour
from agents.dreamer.config import AC_PRESETS, ActorCriticConfig, make_actor_critic_config
from agents.dreamer.critic import Critic
from agents.dreamer.learner import ActorCritic
from agents.dreamer.policy import DreamerPolicy, load_dreamer_policy, save_dreamer_policy
from agents.dreamer.replay import ReplayBuffer
from agents.dreamer.returns import ReturnScale, lambda_returns

__all__ = [
    "AC_PRESETS",
    "Actor",
    "ActorCritic",
    "ActorCriticConfig",
    "Critic",
    "DreamerBehaviour",
    "DreamerPolicy",
    "ReplayBuffer",
    "ReturnScale",
    "lambda_returns",
    "load_dreamer_policy",
    "make_actor_critic_config",
    "save_dreamer_policy",
]
