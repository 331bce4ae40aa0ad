"""Behaviour cloning into an SB3 actor: the warm start for fine-tuning a policy in dreams from a fixed data set.

Offline, a policy trained from scratch in a learned model finds the model's errors before it finds good
behaviour: it starts far from the data, where the model knows least. Starting from the data set's own
behaviour and improving it in small, trust-region steps (BREMEN, Matsushima et al. 2021; PPO's clipping is
the trust region here) keeps the dreams where the model was trained, and the safeguards only have to stop the
drift, not find the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from tqdm.auto import tqdm

from dreamgym.data import SequenceData

__all__ = ["CloningConfig", "actor_parameters", "clone_behaviour", "frozen"]

# Parameters that belong to the critic alone; everything else in an ActorCriticPolicy shapes the actions.
_CRITIC_PREFIXES = ("value_net.", "mlp_extractor.value_net.", "vf_features_extractor.")


@dataclass(frozen=True)
class CloningConfig:
    """Behaviour-cloning settings.

    Attributes:
        updates: gradient updates of the actor (about 20 s per 10k on one CPU core for a 64x64 actor).
        batch_size: transitions per update.
        learning_rate: Adam step size.
        seed: seeds batch sampling.
    """

    updates: int = 10_000
    batch_size: int = 256
    learning_rate: float = 1e-3
    seed: int = 0


def actor_parameters(policy: ActorCriticPolicy) -> list[torch.nn.Parameter]:
    """The parameters that change the policy's actions (mean network and log std), not the critic's."""
    return [p for name, p in policy.named_parameters() if not name.startswith(_CRITIC_PREFIXES)]


@contextmanager
def frozen(parameters: list[torch.nn.Parameter]) -> Iterator[None]:
    """Stops gradients to ``parameters`` for the duration; an optimiser skips parameters without gradients."""
    before = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(parameters, before, strict=True):
            p.requires_grad_(flag)


def clone_behaviour(
    policy: ActorCriticPolicy, data: SequenceData, config: CloningConfig, progress: bool = True
) -> dict[str, float]:
    """Fits the policy's Gaussian to the data set's actions by maximum likelihood; the critic is untouched.

    Maximum likelihood, not a squared error on the mean, so the action spread is learned too: PPO explores
    with that spread, and the data's own spread is the scale on which the model has seen actions vary.

    Returns:
        the mean negative log-likelihood per transition before and after, and the learned action std.
    """
    steps = data.transitions()
    if len(steps["action"]) == 0:
        raise ValueError("Expected a data set with at least one transition to clone, got none.")
    if steps["action"].shape[1:] != policy.action_space.shape:
        raise ValueError(
            f"Expected data-set actions of shape {policy.action_space.shape} like the policy's, "
            f"got {steps['action'].shape[1:]}."
        )
    obs = torch.as_tensor(steps["observation"], device=policy.device)
    actions = torch.as_tensor(steps["action"], device=policy.device)
    parameters = actor_parameters(policy)
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)

    def nll(idx: torch.Tensor | slice) -> torch.Tensor:
        return -policy.get_distribution(obs[idx]).log_prob(actions[idx]).mean()

    policy.set_training_mode(True)
    with torch.no_grad():
        before = float(nll(slice(None)))
    for _ in tqdm(range(config.updates), desc="behaviour cloning", unit="upd", disable=not progress):
        loss = nll(torch.as_tensor(rng.integers(0, len(obs), config.batch_size)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    policy.set_training_mode(False)
    with torch.no_grad():
        after = float(nll(slice(None)))
    return {"nll_before": before, "nll_after": after, "action_std": float(policy.log_std.detach().exp().mean())}
